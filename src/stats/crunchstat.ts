/**
 * The container's resource statistics (`logs/crunchstat.txt`), as crunch-run's container reporter: the runner
 * starts it right after starting the container and stops it once the container has exited.
 *
 * ```ts ignore
 * const stats = await startCrunchstat({
 *   pid: () => executor.pid(),
 *   intervalMs: 10_000,
 *   ramLimit: job.runtime_constraints.ram,
 *   log: (m) => logger.log(m),           // crunch-run.txt: memory warnings, totals at the end
 *   statsFile: `${workDir}/logs/crunchstat.txt`,
 *   tmpDir: jobTmpDir,
 * });
 * // ... executor.wait() ...
 * await stats.stop();                     // logs "Total CPU usage was …", "Maximum container memory …"
 * ```
 *
 * @module
 */

import { reportUntilStopped } from "./_loop.ts";
import { openStatsFile } from "./_stats_file.ts";
import { StatsReporter } from "./reporter.ts";

/** Options for {@link startCrunchstat}. */
export interface CrunchstatOptions {
  /** Host PID of a process in the container, 0 while there is none (the executor's `pid()`). */
  pid: () => number | Promise<number>;
  /** Milliseconds between full reports (`--crunchstat-interval` × 1000); 0 disables statistics. */
  intervalMs: number;
  /** The job's RAM limit in bytes (`runtime_constraints.ram`) for the 90/95/99% warnings; 0 for none. */
  ramLimit: number;
  /** berth's own log (`crunch-run.txt`): memory warnings and the totals at stop. */
  log: (message: string) => void;
  /** Path of the statistics file (`<work dir>/logs/crunchstat.txt`). */
  statsFile: string;
  /** The job's scratch dir, whose filesystem is reported as `statfs`. @default none */
  tmpDir?: string;
  /** Where `/proc` and `/sys` are (tests point this at a fixture tree). @default "/" */
  root?: string;
  /** Milliseconds between memory samples. @default 1000 */
  sampleMs?: number;
  /** Timestamp source for the statistics file (tests). @default the real clock */
  clock?: () => string;
}

/** A running statistics reporter. */
export interface StatsHandle {
  /** Stops sampling, logs the totals and maxima to berth's log, closes the statistics file. Idempotent. */
  stop(): Promise<void>;
}

/** Starts the container statistics reporter; see the module doc. Resolves once the statistics file is open. */
export async function startCrunchstat(options: CrunchstatOptions): Promise<StatsHandle> {
  if (options.intervalMs <= 0) return { stop: () => Promise.resolve() };
  const file = await openStatsFile(options.statsFile, options.clock);
  const write = (line: string) => file.log(line);
  const reporter = new StatsReporter({
    write,
    log: options.log,
    root: options.root,
    ramLimit: options.ramLimit,
    tmpDir: options.tmpDir,
  });
  return reportUntilStopped(reporter, {
    pid: options.pid,
    intervalMs: options.intervalMs,
    sampleMs: options.sampleMs ?? 1000,
    write,
  }, () => {
    reporter.logMaxima();
    file.closeFile();
  });
}
