/**
 * `berth gc`: removes what crashed or killed berths left behind on this node: containers carrying berth's label
 * whose run is over, stale lock files, and job temp dirs whose run is over.
 *
 * Whose: an ordinary user's gc touches only what is theirs (containers labelled with their uid, their runtime
 * dirs, temp dirs they own); root's touches everybody's.
 *
 * Whether a run is over is never guessed from names or ages when it can be known:
 * - a container names its run's lock file and run token in its labels (`container_name.ts`): it is a leftover
 *   when no live berth holds that lock with that token, whatever runtime dir gc was given;
 * - a job temp dir holds its own lock (`tmp_dirs.ts`): it is a leftover when that lock exists and nobody holds
 *   it; one without a lock file (its berth died between creating and locking it) is left alone until it is older
 *   than the minimum age;
 * - a lock file is stale when nobody holds it.
 * Containers of older berths (no owner label) are judged by the job lock in the searched runtime dirs, and only
 * by root.
 * @module
 */

import { join } from "node:path";
import { errorLine } from "../errors.ts";
import { JOB_LABEL, MANAGED_LABEL } from "../executor/docker/create_body.ts";
import { runOfLabels } from "./container_name.ts";
import { type ApiEngine, connectEngine } from "./engines.ts";
import { jobRunning, listJobs } from "./jobs.ts";
import { inspectLock, withDirLock } from "./lock.ts";
import { currentUid, type RuntimeDirEntry } from "./runtime_dir.ts";
import { JOB_TMP_PREFIX, jobOfTmpDir, tmpDirBelongsTo, tmpDirState } from "./tmp_dirs.ts";

/** Options for {@link collectGarbage}. */
export interface GcOptions {
  /** The runtime dirs to clean and to judge legacy containers by (from `runtimeDirsToSearch`). */
  runtimeDirs: readonly RuntimeDirEntry[];
  /** The tmp dir the runs use (`--tmp-dir`). */
  tmpDir: string;
  /** Docker-API engines to clean. */
  engines: ApiEngine[];
  /** Only these jobs; empty for all. @default [] */
  only?: string[];
  /** Temp dirs without a lock file changed more recently than this are left alone, milliseconds. @default 60000 */
  tmpMinAgeMs?: number;
  /** Timeout for each engine request, milliseconds. @default 10000 */
  timeoutMs?: number;
  /** The caller's uid: 0 cleans everybody's leftovers, any other only its own. @default berth's uid */
  uid?: number;
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
  const uid = o.uid ?? currentUid();

  for (const engine of o.engines) await collectContainers(engine, o, uid, wanted, report);

  for (const dir of o.runtimeDirs) {
    if (uid !== 0 && dir.uid !== uid) {
      report.notes.push(`skipped runtime dir ${dir.path}: it is uid ${dir.uid}'s, not this user's`);
      continue;
    }
    let jobs;
    try {
      jobs = (await listJobs(dir.path, dir.uid)).jobs;
    } catch (err) {
      report.failures.push(`Cannot read runtime dir "${dir.path}": ${errorLine(err)}`);
      continue;
    }
    for (const job of jobs.filter((j) => j.stale && wanted(j.uuid))) {
      const removed = await withDirLock(dir.path, async () => {
        const status = await inspectLock(job.path);
        if (!status || status.running) return false;
        await Deno.remove(job.path);
        return true;
      }, false).catch((err) => {
        report.failures.push(`Cannot remove stale lock "${job.path}": ${errorLine(err)}`);
        return false;
      });
      if (removed) {
        report.removed.push(`removed stale lock ${job.path} (job ${job.uuid}, pid ${job.pid || "?"})`);
      }
    }
  }

  await collectTmpDirs(o, uid, only, report);
  return report;
}

async function collectContainers(
  engine: ApiEngine,
  o: GcOptions,
  uid: number,
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
      const labels = ctr.Labels ?? {};
      const run = runOfLabels(labels);
      const jobs = run.uid !== null ? [run.uuid ?? ""] : jobsOfLabel(labels[JOB_LABEL] ?? "");
      if (!jobs.some(wanted)) continue;
      if (run.uid === null ? uid !== 0 : uid !== 0 && run.uid !== uid) continue; // not the caller's
      const name = (ctr.Names?.[0] ?? ctr.Id.slice(0, 12)).replace(/^\//, "");
      let live: boolean;
      try {
        live = run.uid !== null && run.lockPath !== null && run.run !== null
          ? await runLive(run.lockPath, run.run)
          : await anyRunning(o.runtimeDirs, jobs);
      } catch (err) {
        report.failures.push(`Cannot tell whether container ${name} is in use: ${errorLine(err)}`);
        continue;
      }
      if (live) continue;
      try {
        await transport.request("DELETE", `/containers/${encodeURIComponent(ctr.Id)}`, {
          query: { force: true, v: true },
          accept: [404],
          signal: AbortSignal.timeout(timeoutMs),
        }).then((res) => res.body?.cancel());
        report.removed.push(
          `removed container ${name} (job ${jobs[0] || "?"}, ${ctr.State ?? "?"}) on ${family}`,
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

/** True when a live berth holds the lock at `lockPath` for run `run`. */
async function runLive(lockPath: string, run: string): Promise<boolean> {
  const status = await inspectLock(lockPath);
  return status !== null && status.running && status.record?.run === run;
}

/**
 * The job uuids an older berth's `org.berth.job` label may stand for: the label itself, and, for a label of the
 * form `berth-<uuid>` (the container name, which older berths used as the label), that uuid first.
 */
export function jobsOfLabel(label: string): string[] {
  if (label === "") return [""];
  return label.startsWith("berth-") && label.length > 6 ? [label.slice(6), label] : [label];
}

async function anyRunning(dirs: readonly RuntimeDirEntry[], jobs: string[]): Promise<boolean> {
  for (const d of dirs) for (const j of jobs) if (j !== "" && await jobRunning(d.path, j)) return true;
  return false;
}

async function collectTmpDirs(o: GcOptions, uid: number, only: Set<string>, report: GcReport): Promise<void> {
  const minAge = o.tmpMinAgeMs ?? 60_000;
  let names: string[];
  try {
    names = [];
    for await (const e of Deno.readDir(o.tmpDir)) {
      if (!e.isDirectory || !e.name.startsWith(JOB_TMP_PREFIX) || jobOfTmpDir(e.name) === null) continue;
      if (only.size > 0 && ![...only].some((u) => tmpDirBelongsTo(e.name, u))) continue;
      names.push(e.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      report.failures.push(`Cannot read tmp dir "${o.tmpDir}": ${errorLine(err)}`);
    }
    return;
  }
  for (const name of names.sort()) {
    const path = join(o.tmpDir, name);
    try {
      const st = await Deno.lstat(path);
      if (!st.isDirectory || (uid !== 0 && st.uid !== uid)) continue;
      const state = await tmpDirState(path);
      if (state === "live") continue;
      if (state === "unknown" && st.mtime && Date.now() - st.mtime.getTime() < minAge) continue;
      await Deno.remove(path, { recursive: true });
      report.removed.push(`removed stale tmp dir ${path} (job ${jobOfTmpDir(name)})`);
    } catch (err) {
      report.failures.push(`Cannot remove stale tmp dir "${path}": ${errorLine(err)}`);
    }
  }
}
