/**
 * One statistics reporter: samples a process's cgroup, writes crunchstat lines, warns on memory thresholds and
 * keeps the maxima that are logged when the job ends. It has no timers of its own ({@link startCrunchstat} and
 * {@link startHoststat} drive it), so tests call its steps directly.
 * @module
 */

import { StatsRoot } from "./stats_root.ts";
import { findCgroupFiles } from "./cgroup_files.ts";
import { CgroupReader, type CgroupSnapshot } from "./cgroup_reader.ts";
import {
  type CpuSample,
  formatBlkioLine,
  formatCpuLine,
  formatMemLine,
  formatNetLine,
  formatProcmemLine,
  formatStatfsLine,
  memoryValue,
  REPORTED_MEMORY_STATS,
} from "./format.ts";
import type { IoCounters } from "./parse.ts";
import { type DiskSpace, diskSpace } from "./statfs.ts";
import { DEFAULT_MEMORY_THRESHOLDS, MemoryThresholds } from "./thresholds.ts";

/** Options for {@link StatsReporter}. */
export interface StatsReporterOptions {
  /** Writes one statistics line (to `crunchstat.txt` or `hoststat.txt`; the receiver timestamps it). */
  write: (line: string) => void;
  /** Writes one message to berth's own log (`crunch-run.txt`): memory warnings and maxima. */
  log: (message: string) => void;
  /** Where `/proc` and `/sys` are. @default "/" */
  root?: string;
  /** RAM limit in bytes for the memory warnings and the rss maximum's percentage; 0 for none. @default 0 */
  ramLimit?: number;
  /** Percentages of `ramLimit` to warn at. @default [90, 95, 99] */
  thresholds?: readonly number[];
  /** Directory whose filesystem is reported as `statfs …` (crunch-run's TempDir). @default none */
  tmpDir?: string;
  /** More directories whose filesystems are reported as `statfs:<dir> …`. @default [] */
  diskDirs?: readonly string[];
  /** Processes whose resident memory is reported as `procmem <rss> <name> …`, by name. @default {} */
  processes?: Record<string, number>;
  /** Also report the host's load average (`load …`) and memory (`hostmem …`). @default false */
  hostLines?: boolean;
}

type Stamped<T> = T & { at: number };

/** Samples one process's statistics; see the module doc. */
export class StatsReporter {
  readonly #o: StatsReporterOptions;
  readonly #root: StatsRoot;
  readonly #thresholds: MemoryThresholds;
  #reader: CgroupReader | null = null;
  #pid = 0;
  #cpus: number | null = null;
  #gone = new Set<string>();

  // Latest values (every sample) and maxima, for the totals logged at the end.
  #lastMemory: Map<string, number> | null = null;
  #maxMemory = new Map<string, number>();
  #maxProcess = new Map<string, number>();
  #latestCpu: CpuSample | null = null;
  #latestBlkio = new Map<string, IoCounters>();
  #latestNet = new Map<string, IoCounters>();
  #maxDisk: DiskSpace | null = null;

  // Values at the previous full report, for the interval deltas.
  #reportedCpu: CpuSample | undefined;
  #reportedBlkio = new Map<string, Stamped<IoCounters>>();
  #reportedNet = new Map<string, Stamped<IoCounters>>();
  #reportedDisk = new Map<string, Stamped<DiskSpace>>();

  constructor(options: StatsReporterOptions) {
    this.#o = options;
    this.#root = new StatsRoot(options.root ?? "/");
    this.#thresholds = new MemoryThresholds(
      options.ramLimit ?? 0,
      options.thresholds ?? DEFAULT_MEMORY_THRESHOLDS,
    );
  }

  /** The process being watched (0 before {@link attach}). */
  get pid(): number {
    return this.#pid;
  }

  /**
   * Finds the statistics files of `pid` and logs where they are (`notice: reading stats from …`). Says in the
   * job log when neither memory nor CPU statistics can be read.
   */
  async attach(pid: number): Promise<void> {
    this.#pid = pid;
    const files = await findCgroupFiles(this.#root, pid, this.#o.write);
    this.#reader = new CgroupReader(this.#root, files);
    const missing = [
      !files.memoryStat && !files.memoryCurrent ? "memory" : "",
      !files.cpuacctStat && !files.cpuStat ? "CPU" : "",
    ].filter((s) => s !== "");
    if (missing.length > 0) {
      this.#o.log(
        `Cannot read ${missing.join(" or ")} statistics of process ${pid}: no cgroup statistics files found`,
      );
    }
    if (this.#o.tmpDir) this.#o.write(`notice: monitoring temp dir ${this.#o.tmpDir}`);
  }

  /**
   * The frequent sample (every second): memory, with the threshold warnings and maxima, and the latest CPU,
   * block I/O and network totals (so the totals logged at the end are fresh even for a short job).
   */
  async sample(): Promise<CgroupSnapshot | null> {
    return await this.#take(false);
  }

  async #take(withCpuCount: boolean): Promise<CgroupSnapshot | null> {
    const r = this.#reader;
    if (!r) return null;
    const snap = await r.snapshot(withCpuCount || this.#cpus === null);
    if (snap.cpus !== null) this.#cpus = snap.cpus;
    const mem = snap.memory;
    if (mem) {
      this.#lastMemory = mem;
      for (const [k, v] of mem) if (v > (this.#maxMemory.get(k) ?? -1)) this.#maxMemory.set(k, v);
      const rss = memoryValue(mem, "rss");
      if (rss !== undefined) { for (const msg of this.#thresholds.check(rss)) this.#o.log(msg); }
    } else {
      this.#noteGone("memory", r.files.memoryStat ?? r.files.memoryCurrent);
    }
    if (snap.cpu) {
      this.#latestCpu = { ...snap.cpu, cpus: this.#cpus ?? 0, at: now() };
    } else {
      this.#noteGone("CPU", r.files.cpuacctStat ?? r.files.cpuStat);
    }
    for (const [dev, io] of snap.blkio ?? []) this.#latestBlkio.set(dev, io);
    for (const [name, io] of snap.net ?? []) this.#latestNet.set(name, io);
    return snap;
  }

  /** The full report (every `--crunchstat-interval`): all statistics lines, in crunch-run's order. */
  async report(): Promise<void> {
    const snap = await this.#take(true);
    if (!snap) return;
    const w = this.#o.write;
    if (snap.memory) w(formatMemLine(snap.memory));

    if (this.#o.processes) {
      const line = formatProcmemLine(await this.#processRss());
      if (line !== "") w(line);
    }

    const at = now();
    if (snap.cpu && this.#latestCpu) {
      const cur = this.#latestCpu;
      w(formatCpuLine(cur, this.#reportedCpu));
      this.#reportedCpu = cur;
    }
    for (const [dev, io] of snap.blkio ?? []) {
      w(formatBlkioLine(dev, io, at, this.#reportedBlkio.get(dev)));
      this.#reportedBlkio.set(dev, { ...io, at });
    }
    for (const [name, io] of snap.net ?? []) {
      w(formatNetLine(name, io, at, this.#reportedNet.get(name)));
      this.#reportedNet.set(name, { ...io, at });
    }

    const dirs: [string, string | undefined][] = [];
    if (this.#o.tmpDir) dirs.push([this.#o.tmpDir, undefined]);
    for (const d of this.#o.diskDirs ?? []) dirs.push([d, d]);
    for (const [dir, label] of dirs) {
      const space = await diskSpace(dir);
      if (!space) continue;
      const t = now();
      w(formatStatfsLine(space, t, this.#reportedDisk.get(dir), label));
      this.#reportedDisk.set(dir, { ...space, at: t });
      if (label === undefined && space.used > (this.#maxDisk?.used ?? -1)) this.#maxDisk = space;
    }

    if (this.#o.hostLines) {
      try {
        w(`load ${Deno.loadavg().map((n) => n.toFixed(2)).join(" ")}`);
      } catch { /* not permitted */ }
      try {
        const m = Deno.systemMemoryInfo();
        w(`hostmem ${m.total} total ${m.available} available ${m.swapTotal} swaptotal ${m.swapFree} swapfree`);
      } catch { /* not permitted */ }
    }
  }

  /** The most recent memory values (for tests and the report), or null before the first sample. */
  get lastMemory(): Map<string, number> | null {
    return this.#lastMemory;
  }

  /**
   * Logs the job's totals and maxima to berth's log, as crunch-run's `LogMaxima`: CPU, disk I/O, disk usage,
   * memory (`rss` as a percentage of the limit), network.
   */
  logMaxima(): void {
    const log = this.#o.log;
    const cpu = this.#latestCpu;
    if (cpu) {
      log(
        `Total CPU usage was ${cpu.user.toFixed(6)} user and ${cpu.sys.toFixed(6)} sys on ${
          cpu.cpus.toFixed(2)
        } CPUs`,
      );
    }
    for (const [dev, io] of this.#latestBlkio) {
      log(`Total disk I/O on ${dev} was ${io.write} bytes written and ${io.read} bytes read`);
    }
    const disk = this.#maxDisk;
    if (disk && disk.total > 0) {
      log(
        `Maximum disk usage was ${
          Math.floor((100 * disk.used) / disk.total)
        }%, ${disk.used}/${disk.total} bytes`,
      );
    }
    const limit = this.#o.ramLimit ?? 0;
    for (const name of REPORTED_MEMORY_STATS) {
      const v = this.#maxMemory.get(`total_${name}`) ?? this.#maxMemory.get(name);
      if (v === undefined) continue;
      const units = name === "pgmajfault" ? "faults" : "bytes";
      if (name === "rss" && limit > 0) {
        log(`Maximum container memory rss usage was ${Math.floor((100 * v) / limit)}%, ${v}/${limit} bytes`);
      } else {
        log(`Maximum container memory ${name} usage was ${v} ${units}`);
      }
    }
    for (const [name, io] of this.#latestNet) {
      log(`Total network I/O on ${name} was ${io.write} bytes written and ${io.read} bytes read`);
    }
  }

  /** Logs `Maximum <name> memory rss usage was N bytes` for each process in `processes`. */
  logProcessMaxima(): void {
    for (const [name, v] of [...this.#maxProcess].sort(([a], [b]) => a.localeCompare(b))) {
      this.#o.log(`Maximum ${name} memory rss usage was ${v} bytes`);
    }
  }

  /** Resident memory of each reported process, from `VmRSS` in `/proc/<pid>/status`. */
  async #processRss(): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    const entries = Object.entries(this.#o.processes ?? {});
    const texts = await this.#root.readMany(entries.map(([, pid]) => `/proc/${pid}/status`));
    for (const [name, pid] of entries) {
      const m = /^VmRSS:\s*(\d+) kB$/m.exec(texts.get(`/proc/${pid}/status`) ?? "");
      if (!m) continue;
      const rss = Number(m[1]) * 1024;
      out.set(name, rss);
      if (rss > (this.#maxProcess.get(name) ?? -1)) this.#maxProcess.set(name, rss);
    }
    return out;
  }

  /** Says once per statistic that its file has stopped being readable (normally: the container has exited). */
  #noteGone(what: string, path: string | undefined): void {
    if (path === undefined || this.#gone.has(what)) return;
    this.#gone.add(what);
    this.#o.write(`notice: ${what} stats no longer available from ${path} (process exited?)`);
  }
}

function now(): number {
  return performance.now();
}
