/**
 * The jobs on this node, from the lock files in the runtime dir (`berth list`).
 * @module
 */

import { join } from "node:path";
import { inspectLock, withDirLock } from "./lock.ts";
import { BROKEN_MARKER_NAME, jobOfLockFile, lockPath } from "./runtime_dir.ts";

/** One job lock found in the runtime dir. */
export interface JobEntry {
  /** The job uuid (from the record, else from the file name). */
  uuid: string;
  /** The pid of its berth; 0 when the record does not say. */
  pid: number;
  /** The state the berth last recorded; "" when not known. */
  state: string;
  /** The engine; "" when not known yet. */
  engine: string;
  /** When the berth started (ISO 8601); "" when not known. */
  started: string;
  /** True when no live berth holds the lock: the job is not running, the file was left behind. */
  stale: boolean;
  /** The lock file. */
  path: string;
  /** The job's work dir, when recorded. */
  workDir?: string;
}

/** What `berth list` shows. */
export interface NodeListing {
  /** Jobs, oldest first. */
  jobs: JobEntry[];
  /** True when the broken-node marker exists. */
  broken: boolean;
}

/**
 * Lists the jobs whose lock files are in `runtimeDir` (a missing dir lists nothing). Reads only: stale locks are
 * reported, not removed (`berth gc` removes them). Holds the directory lock while looking, so a job that is
 * just starting is never reported stale.
 */
export async function listJobs(runtimeDir: string): Promise<NodeListing> {
  const names: string[] = [];
  let broken = false;
  try {
    for await (const entry of Deno.readDir(runtimeDir)) {
      if (entry.name === BROKEN_MARKER_NAME) broken = true;
      else if (jobOfLockFile(entry.name) !== null && (entry.isFile || entry.isSymlink)) {
        names.push(entry.name);
      }
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { jobs: [], broken: false };
    throw err;
  }
  const jobs = await withDirLock(runtimeDir, async () => {
    const out: JobEntry[] = [];
    for (const name of names) {
      const status = await inspectLock(join(runtimeDir, name));
      if (!status) continue; // removed meanwhile
      const r = status.record;
      out.push({
        uuid: r?.uuid ?? jobOfLockFile(name)!,
        pid: r?.pid ?? 0,
        state: r?.state ?? "",
        engine: r?.engine ?? "",
        started: r?.started ?? "",
        stale: !status.running,
        path: status.path,
        ...(r?.work_dir ? { workDir: r.work_dir } : {}),
      });
    }
    return out;
  }, false);
  jobs.sort((a, b) => a.started.localeCompare(b.started) || a.uuid.localeCompare(b.uuid));
  return { jobs, broken };
}

/** True when a live berth holds job `uuid`'s lock in `runtimeDir`. */
export async function jobRunning(runtimeDir: string, uuid: string): Promise<boolean> {
  return (await inspectLock(lockPath(runtimeDir, uuid)))?.running ?? false;
}

/** One line of `berth list`: `uuid pid state engine started`, with `stale` as the state of a stale lock. */
export function formatJobLine(job: JobEntry): string {
  const dash = (s: string) => (s === "" ? "-" : s);
  return [
    job.uuid,
    job.pid > 0 ? String(job.pid) : "-",
    job.stale ? "stale" : dash(job.state),
    dash(job.engine),
    dash(job.started),
  ].join(" ");
}
