/**
 * What `berth report` says about a job, gathered from its work dir: `state.json`, `logs/container.json`,
 * `logs/crunch-run.txt` (the totals crunchstat logged at the end), `logs/crunchstat.txt` (samples, for a job
 * still running or one whose totals are missing) and `output.json` (or the `output/` tree itself).
 * @module
 */

import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { parseCrunchstatLog, type StatsSeries } from "./crunchstat_log.ts";

/** A job's summary. Fields are null when the work dir does not tell. */
export interface RunReport {
  /** The work dir. */
  workDir: string;
  /** Job uuid. */
  uuid: string;
  /** `Running`, `Complete`, `Cancelled`, `Queued`. */
  state: string;
  /** The container's exit code. */
  exitCode: number | null;
  /** berth's exit status. */
  exitStatus: number | null;
  /** Start time (ISO 8601). */
  startedAt: string | null;
  /** End time (ISO 8601). */
  finishedAt: string | null;
  /** Run time in milliseconds (up to now for a running job). */
  durationMs: number | null;
  /** Engine and version (`docker Engine 20.10.24, …`). */
  runtime: string | null;
  /** The container image as the job names it. */
  image: string | null;
  /** The error line of a failed run. */
  error: string | null;
  /** `runtime_constraints.ram`, bytes. */
  ramLimit: number | null;
  /** `runtime_constraints.vcpus`. */
  vcpus: number | null;
  /** Peak resident memory, bytes. */
  peakRss: number | null;
  /** Total CPU time, seconds. */
  cpuUser: number | null;
  /** Total CPU time, seconds. */
  cpuSys: number | null;
  /** CPUs available to the container. */
  cpus: number | null;
  /** Regular files in the output. */
  outputFiles: number | null;
  /** Bytes of the regular files in the output. */
  outputBytes: number | null;
  /** False when `output.json` says its walk was cut short; null when it does not say. */
  outputComplete: boolean | null;
  /** Milliseconds per phase from `state.json` (`engine`, `image`, `create`, …, in the order they ran); null if none. */
  phases: Record<string, number> | null;
  /** The samples from `crunchstat.txt`. */
  series: StatsSeries;
}

async function readText(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch {
    return null;
  }
}

async function readJson(path: string): Promise<Record<string, unknown> | null> {
  const text = await readText(path);
  if (text === null) return null;
  try {
    const v = JSON.parse(text);
    return v && typeof v === "object" && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}

const str = (v: unknown) => (typeof v === "string" && v !== "" ? v : null);
const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : null);

/**
 * Reads the summary of the job in `workDir`.
 * @throws {UsageError} when `workDir` has no `state.json` (not a berth work dir).
 */
export async function readRunReport(workDir: string, now: Date = new Date()): Promise<RunReport> {
  const state = await readJson(join(workDir, "state.json"));
  if (!state) {
    throw new UsageError(
      `Cannot report on "${workDir}": it has no readable state.json (is it a berth work dir?)`,
    );
  }
  const container = await readJson(join(workDir, "logs", "container.json"));
  const constraints = (container?.runtime_constraints ?? {}) as Record<string, unknown>;
  const crunchLog = (await readText(join(workDir, "logs", "crunch-run.txt"))) ?? "";
  const series = parseCrunchstatLog((await readText(join(workDir, "logs", "crunchstat.txt"))) ?? "");

  const startedAt = str(state.started_at);
  const finishedAt = str(state.finished_at);
  const start = startedAt ? Date.parse(startedAt) : NaN;
  const end = finishedAt ? Date.parse(finishedAt) : now.getTime();

  // Totals from the end-of-job lines, else from the samples.
  const peakLine = /Maximum container memory rss usage was (?:\d+%, )?(\d+)(?:\/\d+)? bytes/.exec(crunchLog);
  const samplePeak = series.mem.length ? Math.max(...series.mem.map((p) => p.rss)) : null;
  const cpuLine = /Total CPU usage was ([\d.]+) user and ([\d.]+) sys on ([\d.]+) CPUs/.exec(crunchLog);
  const lastCpu = series.cpu.at(-1);

  const output = await outputTotals(workDir);
  return {
    workDir,
    uuid: str(state.uuid) ?? str(container?.uuid) ?? "",
    state: str(state.state) ?? "unknown",
    exitCode: num(state.exit_code),
    exitStatus: num(state.exit_status),
    startedAt,
    finishedAt,
    durationMs: Number.isNaN(start) ? null : Math.max(0, end - start),
    runtime: str(state.runtime),
    image: str(container?.container_image),
    error: str(state.error),
    ramLimit: num(constraints.ram),
    vcpus: num(constraints.vcpus),
    peakRss: peakLine ? Math.max(Number(peakLine[1]), samplePeak ?? 0) : samplePeak,
    cpuUser: cpuLine ? Number(cpuLine[1]) : lastCpu?.user ?? null,
    cpuSys: cpuLine ? Number(cpuLine[2]) : lastCpu?.sys ?? null,
    cpus: cpuLine ? Number(cpuLine[3]) : lastCpu?.cpus ?? null,
    outputFiles: output?.files ?? null,
    outputBytes: output?.bytes ?? null,
    outputComplete: output?.complete ?? null,
    phases: phasesOf(state.phases),
    series,
  };
}

/** The phase timings of a state record: a map of non-negative numbers, or null. */
function phasesOf(value: unknown): Record<string, number> | null {
  if (!value || typeof value !== "object" || Array.isArray(value)) return null;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(value)) if (num(v) !== null && (v as number) >= 0) out[k] = v as number;
  return Object.keys(out).length > 0 ? out : null;
}

/** Files and bytes of the output: from `output.json`, else by walking `output/` (never following symlinks). */
async function outputTotals(
  workDir: string,
): Promise<{ files: number; bytes: number; complete: boolean | null } | null> {
  const manifest = await readJson(join(workDir, "output.json"));
  if (manifest && typeof manifest.files === "number" && typeof manifest.bytes === "number") {
    const complete = typeof manifest.complete === "boolean" ? manifest.complete : null;
    return { files: manifest.files, bytes: manifest.bytes, complete };
  }
  const root = join(workDir, "output");
  let files = 0;
  let bytes = 0;
  const walk = async (dir: string): Promise<void> => {
    for await (const e of Deno.readDir(dir)) {
      const p = join(dir, e.name);
      if (e.isDirectory) await walk(p);
      else if (e.isFile) {
        files++;
        bytes += (await Deno.lstat(p)).size;
      }
    }
  };
  try {
    await walk(root);
  } catch {
    return null;
  }
  return { files, bytes, complete: null };
}
