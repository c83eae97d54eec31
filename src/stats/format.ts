/**
 * The text of crunchstat's statistics lines, byte for byte in crunch-run's shapes. Pure functions: a sample in,
 * one line out; the interval suffix (` -- interval …`) is added when a previous sample is given.
 * @module
 */

import type { CpuTimes, IoCounters } from "./parse.ts";
import type { DiskSpace } from "./statfs.ts";

/** The memory statistics crunchstat reports, in this order. */
export const REPORTED_MEMORY_STATS = ["cache", "swap", "pgmajfault", "rss"] as const;

/** A memory value by crunchstat's rule: the v1 hierarchical `total_<name>` when present, else `<name>`. */
export function memoryValue(stats: Map<string, number>, name: string): number | undefined {
  return stats.get(`total_${name}`) ?? stats.get(name);
}

/** `mem <v> cache <v> swap <v> pgmajfault <v> rss`, leaving out the statistics that are missing. */
export function formatMemLine(stats: Map<string, number>): string {
  let line = "mem";
  for (const name of REPORTED_MEMORY_STATS) {
    const v = memoryValue(stats, name);
    if (v !== undefined) line += ` ${v} ${name}`;
  }
  return line;
}

/** A CPU sample: cumulative times, CPUs available, and when it was taken (milliseconds, monotonic). */
export interface CpuSample extends CpuTimes {
  /** CPUs available to the group (a fraction under a CFS quota). */
  cpus: number;
  /** Monotonic time of the sample, milliseconds. */
  at: number;
}

const interval = (now: number, then: number) => `-- interval ${((now - then) / 1000).toFixed(4)} seconds`;

/** `cpu <user> user <sys> sys <n> cpus[ -- interval <s> seconds <user> user <sys> sys]`. */
export function formatCpuLine(cur: CpuSample, prev?: CpuSample): string {
  let line = `cpu ${cur.user.toFixed(4)} user ${cur.sys.toFixed(4)} sys ${cur.cpus.toFixed(2)} cpus`;
  if (prev) {
    line += ` ${interval(cur.at, prev.at)} ${(cur.user - prev.user).toFixed(4)} user ${
      (cur.sys - prev.sys).toFixed(4)
    } sys`;
  }
  return line;
}

/** `blkio:<dev> <write> write <read> read[ -- interval <s> seconds <w> write <r> read]`. */
export function formatBlkioLine(
  dev: string,
  cur: IoCounters,
  at: number,
  prev?: IoCounters & { at: number },
): string {
  let line = `blkio:${dev} ${cur.write} write ${cur.read} read`;
  if (prev) line += ` ${interval(at, prev.at)} ${cur.write - prev.write} write ${cur.read - prev.read} read`;
  return line;
}

/** `net:<iface> <tx> tx <rx> rx[ -- interval <s> seconds <tx> tx <rx> rx]`. */
export function formatNetLine(
  iface: string,
  cur: IoCounters,
  at: number,
  prev?: IoCounters & { at: number },
): string {
  let line = `net:${iface} ${cur.write} tx ${cur.read} rx`;
  if (prev) line += ` ${interval(at, prev.at)} ${cur.write - prev.write} tx ${cur.read - prev.read} rx`;
  return line;
}

/**
 * `statfs <avail> available <used> used <total> total[ -- interval <s> seconds <used> used]`; with a `label`,
 * the word is `statfs:<label>` (host statistics name each directory they watch).
 */
export function formatStatfsLine(
  cur: DiskSpace,
  at: number,
  prev?: DiskSpace & { at: number },
  label?: string,
): string {
  let line = `statfs${
    label ? `:${label}` : ""
  } ${cur.available} available ${cur.used} used ${cur.total} total`;
  if (prev) line += ` ${interval(at, prev.at)} ${cur.used - prev.used} used`;
  return line;
}

/** `procmem <rss> <name> <rss> <name> …` with names sorted; "" when there is nothing to report. */
export function formatProcmemLine(rssByName: Map<string, number>): string {
  const names = [...rssByName.keys()].sort();
  if (names.length === 0) return "";
  return "procmem" + names.map((n) => ` ${rssByName.get(n)} ${n}`).join("");
}
