/**
 * Reading `logs/crunchstat.txt` back into time series for the run report: memory (rss, cache, swap) at each
 * report, and the CPU use over each interval (cores busy = (user + sys seconds) / interval seconds).
 * @module
 */

/** A memory sample. */
export interface MemPoint {
  /** Epoch milliseconds. */
  t: number;
  /** Resident memory, bytes (v2: memory.current). */
  rss: number;
  /** Page cache, bytes (v1 only). */
  cache?: number;
  /** Swap, bytes. */
  swap?: number;
}

/** A CPU sample. */
export interface CpuPoint {
  /** Epoch milliseconds (end of the interval). */
  t: number;
  /** Cumulative user seconds. */
  user: number;
  /** Cumulative system seconds. */
  sys: number;
  /** CPUs available. */
  cpus: number;
  /** Cores busy over the interval that ended here; absent for the first sample. */
  busy?: number;
}

/** Everything the report takes from `crunchstat.txt`. */
export interface StatsSeries {
  /** Memory samples in time order. */
  mem: MemPoint[];
  /** CPU samples in time order. */
  cpu: CpuPoint[];
}

/** Epoch milliseconds of a berth log timestamp (`2026-01-02T03:04:05.123456789Z`), or NaN. */
export function parseLogTimestamp(ts: string): number {
  return Date.parse(ts.replace(/\.(\d{3})\d*Z$/, ".$1Z"));
}

const LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (.*)$/;

/** Parses the text of a `crunchstat.txt` file; lines it does not know are skipped. */
export function parseCrunchstatLog(text: string): StatsSeries {
  const out: StatsSeries = { mem: [], cpu: [] };
  for (const raw of text.split("\n")) {
    const m = LINE.exec(raw);
    if (!m) continue;
    const t = parseLogTimestamp(m[1]);
    if (Number.isNaN(t)) continue;
    const msg = m[2];
    if (msg.startsWith("mem ")) {
      const v: Record<string, number> = {};
      for (const [, n, name] of msg.matchAll(/ (\d+) (\w+)/g)) v[name] = Number(n);
      if (v.rss === undefined) continue;
      out.mem.push({
        t,
        rss: v.rss,
        ...(v.cache !== undefined ? { cache: v.cache } : {}),
        ...(v.swap !== undefined ? { swap: v.swap } : {}),
      });
    } else if (msg.startsWith("cpu ")) {
      const c =
        /^cpu ([\d.]+) user ([\d.]+) sys ([\d.]+) cpus(?: -- interval ([\d.]+) seconds (-?[\d.]+) user (-?[\d.]+) sys)?/
          .exec(msg);
      if (!c) continue;
      const point: CpuPoint = { t, user: Number(c[1]), sys: Number(c[2]), cpus: Number(c[3]) };
      if (c[4] !== undefined && Number(c[4]) > 0) {
        point.busy = Math.max(0, (Number(c[5]) + Number(c[6])) / Number(c[4]));
      }
      out.cpu.push(point);
    }
  }
  return out;
}
