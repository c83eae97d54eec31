/**
 * The text of `berth report`: one `name: value` line per fact, aligned.
 * @module
 */

import type { RunReport } from "./summary.ts";

/** Bytes in binary units: `1.5 GiB`, `512 B`. */
export function formatBytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(1)} ${units[i]}`;
}

/** A duration: `1h02m03s`, `4m05s`, `6.7s`. */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m${sec}s` : `${m}m${sec}s`;
}

/** A phase's duration: `850 ms`, `1.23 s`. */
export function formatPhaseMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** The phase timings on one line, in the order they ran: `engine 12 ms, image 1.23 s, …`. */
export function formatPhases(phases: Record<string, number>): string {
  return Object.entries(phases).map(([k, v]) => `${k.replace(/_/g, " ")} ${formatPhaseMs(v)}`).join(", ");
}

/** The report as lines of text. */
export function formatReport(r: RunReport, chartPath: string | null): string[] {
  const rows: [string, string][] = [];
  const add = (k: string, v: string | null) => rows.push([k, v ?? "-"]);
  add("job", r.uuid || null);
  add("work dir", r.workDir);
  add("state", r.state);
  add("exit code", r.exitCode === null ? null : String(r.exitCode));
  if (r.exitStatus !== null && r.exitStatus !== r.exitCode) add("berth exit", String(r.exitStatus));
  if (r.error) add("error", r.error);
  add("started", r.startedAt);
  add("finished", r.finishedAt ?? (r.state === "Running" ? "(still running)" : null));
  add("duration", r.durationMs === null ? null : formatDuration(r.durationMs));
  add("engine", r.runtime);
  add("image", r.image);

  let mem: string | null = null;
  if (r.peakRss !== null) {
    mem = `peak rss ${formatBytes(r.peakRss)}`;
    if (r.ramLimit && r.ramLimit > 0) {
      mem += ` of ${formatBytes(r.ramLimit)} limit (${Math.floor((100 * r.peakRss) / r.ramLimit)}%)`;
    }
  } else if (r.ramLimit) {
    mem = `no samples; limit ${formatBytes(r.ramLimit)}`;
  }
  add("memory", mem);

  let cpu: string | null = null;
  if (r.cpuUser !== null && r.cpuSys !== null) {
    cpu = `${(r.cpuUser + r.cpuSys).toFixed(2)} s (${r.cpuUser.toFixed(2)} user + ${
      r.cpuSys.toFixed(2)
    } sys)`;
    if (r.cpus !== null) cpu += ` on ${Number(r.cpus.toFixed(2))} CPU${r.cpus === 1 ? "" : "s"}`;
    if (r.durationMs && r.durationMs > 0) {
      cpu += `, ${(((r.cpuUser + r.cpuSys) * 1000) / r.durationMs).toFixed(2)} cores busy on average`;
    }
  }
  add("cpu", cpu);
  add(
    "output",
    r.outputFiles === null
      ? null
      : `${r.outputFiles} file${r.outputFiles === 1 ? "" : "s"}, ${formatBytes(r.outputBytes ?? 0)}${
        r.outputComplete === false ? " (output.json incomplete: its walk was cut short)" : ""
      }`,
  );
  if (r.phases) add("phases", formatPhases(r.phases));
  add("samples", `${r.series.mem.length} memory, ${r.series.cpu.length} cpu (logs/crunchstat.txt)`);
  if (chartPath) add("chart", chartPath);
  const width = Math.max(...rows.map(([k]) => k.length)) + 1;
  return rows.map(([k, v]) => `${(k + ":").padEnd(width)} ${v}`);
}
