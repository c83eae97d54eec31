/**
 * The host's statistics (`logs/hoststat.txt`), as crunch-run's host reporter: berth's own cgroup (on a batch
 * system, the job's allocation), berth's resident memory (`procmem`), the load average (`load`), the host's
 * memory (`hostmem`), and the disk space of the tmp dir (`statfs`) and the work dir (`statfs:<dir>`). The runner
 * starts it first thing and stops it last; at stop it logs `Maximum berth memory rss usage was N bytes`.
 * @module
 */

import { reportUntilStopped } from "./_loop.ts";
import { openStatsFile } from "./_stats_file.ts";
import type { StatsHandle } from "./crunchstat.ts";
import { StatsReporter } from "./reporter.ts";

/** Options for {@link startHoststat}. */
export interface HoststatOptions {
  /** Milliseconds between reports (`--crunchstat-interval` × 1000); 0 disables. */
  intervalMs: number;
  /** berth's own log (`crunch-run.txt`), for the maxima at stop. */
  log: (message: string) => void;
  /** Path of the statistics file (`<work dir>/logs/hoststat.txt`). */
  statsFile: string;
  /** The node-local scratch dir (`--tmp-dir`). @default none */
  tmpDir?: string;
  /** The job's work dir. @default none */
  workDir?: string;
  /** More processes to report by name (berth itself is always reported as `berth`). @default {} */
  processes?: Record<string, number>;
  /** Where `/proc` and `/sys` are. @default "/" */
  root?: string;
  /** Timestamp source for the statistics file (tests). @default the real clock */
  clock?: () => string;
}

/** Starts the host statistics reporter; see the module doc. */
export async function startHoststat(options: HoststatOptions): Promise<StatsHandle> {
  if (options.intervalMs <= 0) return { stop: () => Promise.resolve() };
  const file = await openStatsFile(options.statsFile, options.clock);
  const write = (line: string) => file.log(line);
  const reporter = new StatsReporter({
    write,
    log: options.log,
    root: options.root,
    tmpDir: options.tmpDir,
    diskDirs: options.workDir ? [options.workDir] : [],
    processes: { berth: Deno.pid, ...options.processes },
    hostLines: true,
  });
  return reportUntilStopped(reporter, {
    pid: () => Deno.pid,
    intervalMs: options.intervalMs,
    sampleMs: options.intervalMs,
    write,
  }, () => {
    reporter.logProcessMaxima();
    file.closeFile();
  });
}
