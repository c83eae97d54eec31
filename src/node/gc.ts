/**
 * `berth gc`: removes what crashed or killed berths left behind on this node: containers carrying berth's label
 * whose job is not running, stale lock files, and job temp dirs whose job is not running.
 *
 * "Not running" always means: no live berth holds the job's lock. A berth takes its lock before it creates its
 * temp dir and its container, and everything is listed before the locks are looked at, so a job that starts
 * while gc runs is never mistaken for a dead one. gc must be given the same runtime dir as the runs.
 * @module
 */

import { join } from "node:path";
import { errorLine } from "../errors.ts";
import { JOB_LABEL, MANAGED_LABEL } from "../executor/docker/create_body.ts";
import { type ApiEngine, connectEngine } from "./engines.ts";
import { jobRunning, listJobs } from "./jobs.ts";
import { inspectLock, withDirLock } from "./lock.ts";
import { jobOfTmpDir, tmpDirBelongsTo } from "./tmp_dirs.ts";

/** Options for {@link collectGarbage}. */
export interface GcOptions {
  /** The runtime dir the runs use. */
  runtimeDir: string;
  /** The tmp dir the runs use (`--tmp-dir`). */
  tmpDir: string;
  /** Docker-API engines to clean. */
  engines: ApiEngine[];
  /** Only these jobs; empty for all. @default [] */
  only?: string[];
  /** Temp dirs changed more recently than this are left alone, milliseconds. @default 60000 */
  tmpMinAgeMs?: number;
  /** Timeout for each engine request, milliseconds. @default 10000 */
  timeoutMs?: number;
}

/** What {@link collectGarbage} did. */
export interface GcReport {
  /** One line per thing removed. */
  removed: string[];
  /** Engines that were not there (only a problem when named explicitly, then also in `failures`). */
  notes: string[];
  /** What could not be done. */
  failures: string[];
}

interface ContainerSummary {
  Id: string;
  Names?: string[];
  Labels?: Record<string, string>;
  State?: string;
}

/** Removes leftovers; see the module doc. Never throws for a single failed removal (it is in `failures`). */
export async function collectGarbage(o: GcOptions): Promise<GcReport> {
  const report: GcReport = { removed: [], notes: [], failures: [] };
  const only = new Set(o.only ?? []);
  const wanted = (uuid: string) => only.size === 0 || only.has(uuid);

  for (const engine of o.engines) await collectContainers(engine, o, wanted, report);

  // Stale locks.
  const listing = await listJobs(o.runtimeDir);
  for (const job of listing.jobs.filter((j) => j.stale && wanted(j.uuid))) {
    const removed = await withDirLock(o.runtimeDir, async () => {
      const status = await inspectLock(job.path);
      if (!status || status.running) return false;
      await Deno.remove(job.path);
      return true;
    }).catch((err) => {
      report.failures.push(`Cannot remove stale lock "${job.path}": ${errorLine(err)}`);
      return false;
    });
    if (removed) {
      report.removed.push(`removed stale lock ${job.path} (job ${job.uuid}, pid ${job.pid || "?"})`);
    }
  }

  await collectTmpDirs(o, only, report);
  return report;
}

async function collectContainers(
  engine: ApiEngine,
  o: GcOptions,
  wanted: (uuid: string) => boolean,
  report: GcReport,
): Promise<void> {
  const timeoutMs = o.timeoutMs ?? 10_000;
  const c = await connectEngine(engine, timeoutMs);
  if (!c.ok) {
    const line = `${engine.engine} at unix://${engine.socket}: ${c.reason}`;
    if (engine.explicit) report.failures.push(`Cannot clean containers on ${line}`);
    else report.notes.push(`skipped ${line}`);
    return;
  }
  const { transport, family } = c.conn;
  try {
    const containers = await transport.json<ContainerSummary[]>("GET", "/containers/json", {
      query: { all: true, filters: JSON.stringify({ label: [`${MANAGED_LABEL}=true`] }) },
      signal: AbortSignal.timeout(timeoutMs),
    });
    for (const ctr of containers) {
      const jobs = jobsOfLabel(ctr.Labels?.[JOB_LABEL] ?? "");
      if (!jobs.some(wanted)) continue;
      if (await anyRunning(o.runtimeDir, jobs)) continue;
      const uuid = jobs[0];
      const name = (ctr.Names?.[0] ?? ctr.Id.slice(0, 12)).replace(/^\//, "");
      try {
        await transport.request("DELETE", `/containers/${encodeURIComponent(ctr.Id)}`, {
          query: { force: true, v: true },
          accept: [404],
          signal: AbortSignal.timeout(timeoutMs),
        }).then((res) => res.body?.cancel());
        report.removed.push(
          `removed container ${name} (job ${uuid || "?"}, ${ctr.State ?? "?"}) on ${family}`,
        );
      } catch (err) {
        report.failures.push(`Cannot remove container ${name} on ${family}: ${errorLine(err)}`);
      }
    }
  } catch (err) {
    report.failures.push(`Cannot list containers on ${family} at unix://${engine.socket}: ${errorLine(err)}`);
  } finally {
    transport.close();
  }
}

/**
 * The job uuids a container's `org.berth.job` label may stand for: the label itself, and, for a label of the
 * form `berth-<uuid>` (the container name, which the executor may use as the label), that uuid first.
 */
export function jobsOfLabel(label: string): string[] {
  if (label === "") return [""];
  return label.startsWith("berth-") && label.length > 6 ? [label.slice(6), label] : [label];
}

async function anyRunning(runtimeDir: string, jobs: string[]): Promise<boolean> {
  for (const j of jobs) if (j !== "" && await jobRunning(runtimeDir, j)) return true;
  return false;
}

async function collectTmpDirs(o: GcOptions, only: Set<string>, report: GcReport): Promise<void> {
  const minAge = o.tmpMinAgeMs ?? 60_000;
  const candidates: { name: string; path: string }[] = [];
  try {
    for await (const e of Deno.readDir(o.tmpDir)) {
      if (!e.isDirectory || jobOfTmpDir(e.name) === null) continue;
      if (only.size > 0 && ![...only].some((u) => tmpDirBelongsTo(e.name, u))) continue;
      candidates.push({ name: e.name, path: join(o.tmpDir, e.name) });
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      report.failures.push(`Cannot read tmp dir "${o.tmpDir}": ${errorLine(err)}`);
    }
    return;
  }
  if (candidates.length === 0) return;
  // Listed before the running jobs are looked at: a job starting now locks before making its temp dir.
  const running = (await listJobs(o.runtimeDir)).jobs.filter((j) => !j.stale).map((j) => j.uuid);
  for (const c of candidates) {
    if (running.some((u) => tmpDirBelongsTo(c.name, u))) continue;
    try {
      const st = await Deno.lstat(c.path);
      if (!st.isDirectory || (st.mtime && Date.now() - st.mtime.getTime() < minAge)) continue;
      await Deno.remove(c.path, { recursive: true });
      report.removed.push(`removed stale tmp dir ${c.path} (job ${jobOfTmpDir(c.name)})`);
    } catch (err) {
      report.failures.push(`Cannot remove stale tmp dir "${c.path}": ${errorLine(err)}`);
    }
  }
}
