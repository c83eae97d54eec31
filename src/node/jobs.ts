/**
 * The jobs on this node, from the lock files in the runtime dirs (`berth list`).
 * @module
 */

import { join } from "node:path";
import { inspectLock, withDirLock } from "./lock.ts";
import { BROKEN_MARKER_NAME, jobOfLockFile, lockPath, type RuntimeDirEntry } from "./runtime_dir.ts";
import { userName } from "./users.ts";

/** One job lock found in a runtime dir. */
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
  /** The uid the berth runs as (the record's, else the runtime dir's owner), when known. */
  uid?: number;
  /** The run token, when recorded. */
  run?: string;
}

/** What `berth list` shows. */
export interface NodeListing {
  /** Jobs, oldest first. */
  jobs: JobEntry[];
  /** True when a broken-node marker exists. */
  broken: boolean;
  /** The broken-node markers found. */
  markers: string[];
}

/**
 * Lists the jobs whose lock files are in `runtimeDir` (a missing dir lists nothing). Reads only: stale locks are
 * reported, not removed (`berth gc` removes them). Holds the directory lock while looking, so a job that is
 * just starting is never reported stale. `owner` is recorded as the uid of jobs whose record has none.
 */
export async function listJobs(runtimeDir: string, owner?: number): Promise<NodeListing> {
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
    if (err instanceof Deno.errors.NotFound) return { jobs: [], broken: false, markers: [] };
    throw err;
  }
  const jobs = await withDirLock(runtimeDir, async () => {
    const out: JobEntry[] = [];
    for (const name of names) {
      const status = await inspectLock(join(runtimeDir, name));
      if (!status) continue; // removed meanwhile
      const r = status.record;
      const uid = r?.uid ?? owner;
      out.push({
        uuid: r?.uuid ?? jobOfLockFile(name)!,
        pid: r?.pid ?? 0,
        state: r?.state ?? "",
        engine: r?.engine ?? "",
        started: r?.started ?? "",
        stale: !status.running,
        path: status.path,
        ...(r?.work_dir ? { workDir: r.work_dir } : {}),
        ...(uid !== undefined ? { uid } : {}),
        ...(r?.run ? { run: r.run } : {}),
      });
    }
    return out;
  }, false);
  sortJobs(jobs);
  return { jobs, broken, markers: broken ? [join(runtimeDir, BROKEN_MARKER_NAME)] : [] };
}

/** Lists the jobs of every runtime dir in `dirs` together (see {@link listJobs}). */
export async function listNodeJobs(dirs: readonly RuntimeDirEntry[]): Promise<NodeListing> {
  const all: NodeListing = { jobs: [], broken: false, markers: [] };
  for (const dir of dirs) {
    const one = await listJobs(dir.path, dir.uid);
    all.jobs.push(...one.jobs);
    all.markers.push(...one.markers);
  }
  all.broken = all.markers.length > 0;
  sortJobs(all.jobs);
  return all;
}

function sortJobs(jobs: JobEntry[]): void {
  jobs.sort((a, b) => a.started.localeCompare(b.started) || a.uuid.localeCompare(b.uuid));
}

/** True when a live berth holds job `uuid`'s lock in `runtimeDir`. */
export async function jobRunning(runtimeDir: string, uuid: string): Promise<boolean> {
  return (await inspectLock(lockPath(runtimeDir, uuid)))?.running ?? false;
}

/**
 * One line of `berth list`: `uuid pid state engine started user`, with `stale` as the state of a stale lock and
 * `-` for what is not known.
 */
export async function formatJobLine(job: JobEntry): Promise<string> {
  const dash = (s: string) => (s === "" ? "-" : s);
  return [
    job.uuid,
    job.pid > 0 ? String(job.pid) : "-",
    job.stale ? "stale" : dash(job.state),
    dash(job.engine),
    dash(job.started),
    job.uid === undefined ? "-" : await userName(job.uid),
  ].join(" ");
}
