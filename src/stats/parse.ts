/**
 * Parsers for the kernel's statistics files. Each takes the file's text and returns plain numbers; none of them
 * throws on odd input (a line that does not parse is skipped, as crunch-run does).
 * @module
 */

/** `name value` pairs of a `memory.stat` file (v1 or v2). */
export function parseMemoryStat(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^(\S+) (\d+)$/.exec(line.trim());
    if (m) out.set(m[1], Number(m[2]));
  }
  return out;
}

/** A single integer file (`memory.current`); null when it does not hold one. */
export function parseSingleNumber(text: string): number | null {
  const m = /^\s*(\d+)\s*$/.exec(text);
  return m ? Number(m[1]) : null;
}

/** CPU time in seconds. */
export interface CpuTimes {
  /** User time, seconds. */
  user: number;
  /** System time, seconds. */
  sys: number;
}

/** v1 `cpuacct.stat`: `user N` and `system N` in clock ticks (USER_HZ, 100 on Linux). */
export function parseCpuacctStat(text: string, userHz = 100): CpuTimes | null {
  const user = /^user (\d+)$/m.exec(text);
  const sys = /^system (\d+)$/m.exec(text);
  if (!user || !sys) return null;
  return { user: Number(user[1]) / userHz, sys: Number(sys[1]) / userHz };
}

/** v2 `cpu.stat`: `user_usec` and `system_usec`. */
export function parseCpuStatV2(text: string): CpuTimes | null {
  const user = /^user_usec (\d+)$/m.exec(text);
  const sys = /^system_usec (\d+)$/m.exec(text);
  if (!user || !sys) return null;
  return { user: Number(user[1]) / 1e6, sys: Number(sys[1]) / 1e6 };
}

/** v2 `cpu.max` (`200000 100000` → 2); null for `max <period>` (no limit). */
export function parseCpuMax(text: string): number | null {
  const m = /^\s*(\d+)\s+(\d+)\s*$/.exec(text);
  if (!m || Number(m[2]) <= 0) return null;
  return Number(m[1]) / Number(m[2]);
}

/** v1 CFS quota and period in microseconds → CPUs; null when the quota is -1 (no limit). */
export function parseCfsQuota(quotaText: string, periodText: string): number | null {
  const quota = Number(quotaText.trim());
  const period = Number(periodText.trim());
  if (!Number.isFinite(quota) || !Number.isFinite(period) || quota <= 0 || period <= 0) return null;
  return quota / period;
}

/** The number of CPUs in a cpuset list such as `0,4-7`; null when the text is not a list. */
export function parseCpuList(text: string): number | null {
  const list = text.trim();
  if (list === "") return null;
  let count = 0;
  for (const part of list.split(",")) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) return null;
    count += m[2] === undefined ? 1 : Number(m[2]) - Number(m[1]) + 1;
  }
  return count;
}

/** The number of `processor\t:` lines in `/proc/cpuinfo`. */
export function countCpuinfoProcessors(text: string): number {
  return text.split("\n").filter((l) => /^processor\s*:/.test(l)).length;
}

/** Bytes read and written, per device or interface. */
export interface IoCounters {
  /** Bytes read (disk) or received (network). */
  read: number;
  /** Bytes written (disk) or sent (network). */
  write: number;
}

/** v1 `blkio.*io_service_bytes`: `maj:min Read|Write N` lines, per device. Devices lacking either are left out. */
export function parseBlkio(text: string): Map<string, IoCounters> {
  const partial = new Map<string, { read?: number; write?: number }>();
  for (const line of text.split("\n")) {
    const m = /^(\d+:\d+) (Read|Write) (\d+)$/.exec(line.trim());
    if (!m) continue;
    const entry = partial.get(m[1]) ?? {};
    if (m[2] === "Read") entry.read = Number(m[3]);
    else entry.write = Number(m[3]);
    partial.set(m[1], entry);
  }
  const out = new Map<string, IoCounters>();
  for (const [dev, e] of partial) {
    if (e.read !== undefined && e.write !== undefined) out.set(dev, { read: e.read, write: e.write });
  }
  return out;
}

/** v2 `io.stat`: `maj:min rbytes=N wbytes=N ...` lines, per device. */
export function parseIoStat(text: string): Map<string, IoCounters> {
  const out = new Map<string, IoCounters>();
  for (const line of text.split("\n")) {
    const dev = /^(\d+:\d+)\s/.exec(line);
    const r = /\brbytes=(\d+)/.exec(line);
    const w = /\bwbytes=(\d+)/.exec(line);
    if (dev && r && w) out.set(dev[1], { read: Number(r[1]), write: Number(w[1]) });
  }
  return out;
}

/** `/proc/<pid>/net/dev`: bytes received (`read`) and sent (`write`) per interface, `lo` left out. */
export function parseNetDev(text: string): Map<string, IoCounters> {
  const out = new Map<string, IoCounters>();
  for (const line of text.split("\n")) {
    const words = line.replace(/:/, ": ").trim().split(/\s+/);
    if (words.length !== 17) continue;
    const name = words[0].replace(/:$/, "");
    if (name === "" || name === "lo" || !words[0].endsWith(":")) continue;
    const rx = Number(words[1]);
    const tx = Number(words[9]);
    if (!Number.isInteger(rx) || !Number.isInteger(tx)) continue;
    out.set(name, { read: rx, write: tx });
  }
  return out;
}

/** Fields of `/proc/<pid>/stat` that berth uses. */
export interface ProcStat {
  /** One-letter process state (`R`, `S`, `Z`, …). */
  state: string;
  /** Start time after boot, in clock ticks: with the pid, it identifies a process across pid reuse. */
  startTime: number;
  /** Resident set size in pages. */
  rssPages: number;
}

/** Parses `/proc/<pid>/stat`; the command name may itself contain `)` and spaces. */
export function parseProcStat(text: string): ProcStat | null {
  const paren = text.lastIndexOf(")");
  if (paren < 0) return null;
  const f = text.slice(paren + 2).trim().split(" ");
  // f[0] is field 3 (state); field N is f[N - 3].
  if (f.length < 22) return null;
  const startTime = Number(f[19]);
  const rssPages = Number(f[21]);
  if (!Number.isFinite(startTime) || !Number.isFinite(rssPages)) return null;
  return { state: f[0], startTime, rssPages };
}
