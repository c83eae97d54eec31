/**
 * Reads the current values of a process's statistics files (found by {@link findCgroupFiles}), all in one batch
 * per sample. A value is null when its file is missing or has vanished (the container has exited).
 * @module
 */

import type { StatsRoot } from "./stats_root.ts";
import type { CgroupFiles } from "./cgroup_files.ts";
import {
  countCpuinfoProcessors,
  type CpuTimes,
  type IoCounters,
  parseBlkio,
  parseCfsQuota,
  parseCpuacctStat,
  parseCpuList,
  parseCpuMax,
  parseCpuStatV2,
  parseIoStat,
  parseMemoryStat,
  parseNetDev,
  parseSingleNumber,
} from "./parse.ts";

/** The values of one sample. */
export interface CgroupSnapshot {
  /**
   * Every `memory.stat` value; in v2, `rss` is `memory.current` and `swap` is `memory.swap.current`, as
   * crunch-run reports them.
   */
  memory: Map<string, number> | null;
  /** Cumulative user and system CPU time in seconds. */
  cpu: CpuTimes | null;
  /** CPUs available (only when asked for): see {@link CgroupReader.snapshot}. */
  cpus: number | null;
  /** Block I/O bytes per device. */
  blkio: Map<string, IoCounters> | null;
  /** Network bytes per interface (loopback left out). */
  net: Map<string, IoCounters> | null;
}

/** Current values of one process's cgroup statistics. */
export class CgroupReader {
  readonly #root: StatsRoot;
  readonly #files: CgroupFiles;

  constructor(root: StatsRoot, files: CgroupFiles) {
    this.#root = root;
    this.#files = files;
  }

  /** The files being read. */
  get files(): CgroupFiles {
    return this.#files;
  }

  /**
   * Reads a sample. With `withCpuCount`, also the CPUs available: a CPU quota (v2 `cpu.max`, v1 CFS quota) when
   * set, else the size of the cpuset, else the processors in `/proc/cpuinfo`.
   */
  async snapshot(withCpuCount: boolean): Promise<CgroupSnapshot> {
    const f = this.#files;
    const paths = [
      f.memoryStat,
      f.memoryCurrent,
      f.memorySwapCurrent,
      f.cpuacctStat,
      f.cpuStat,
      f.blkio,
      f.ioStat,
      f.netDev,
    ];
    if (withCpuCount) paths.push(f.cpuMax, f.cfsQuota, f.cfsPeriod, f.cpuset, "/proc/cpuinfo");
    const t = await this.#root.readMany(paths.filter((p): p is string => p !== undefined));
    const text = (p: string | undefined) => (p === undefined ? null : t.get(p) ?? null);

    let memory: Map<string, number> | null = null;
    if (f.memoryStat || f.memoryCurrent) {
      const stat = text(f.memoryStat);
      const m = stat === null ? new Map<string, number>() : parseMemoryStat(stat);
      const current = parseSingleNumber(text(f.memoryCurrent) ?? "");
      if (current !== null) m.set("rss", current);
      const swap = parseSingleNumber(text(f.memorySwapCurrent) ?? "");
      if (swap !== null) m.set("swap", swap);
      memory = m.size > 0 ? m : null;
    }

    let cpu: CpuTimes | null = null;
    if (f.cpuacctStat) cpu = parseCpuacctStat(text(f.cpuacctStat) ?? "");
    else if (f.cpuStat) cpu = parseCpuStatV2(text(f.cpuStat) ?? "");

    let cpus: number | null = null;
    if (withCpuCount) {
      cpus = parseCpuMax(text(f.cpuMax) ?? "") ??
        parseCfsQuota(text(f.cfsQuota) ?? "", text(f.cfsPeriod) ?? "") ??
        parseCpuList(text(f.cpuset) ?? "") ??
        countCpuinfoProcessors(text("/proc/cpuinfo") ?? "");
    }

    let blkio: Map<string, IoCounters> | null = null;
    if (f.blkio) blkio = text(f.blkio) === null ? null : parseBlkio(text(f.blkio)!);
    else if (f.ioStat) blkio = text(f.ioStat) === null ? null : parseIoStat(text(f.ioStat)!);

    const netText = text(f.netDev);
    const net = netText === null ? null : parseNetDev(netText);
    return { memory, cpu, cpus, blkio, net };
  }
}
