/**
 * Job temp dirs: the private scratch dir each run makes in the node's tmp dir (`--tmp-dir`, shared by every user
 * of the node), named `berth-run-<uuid (first 48 characters)>-<random>`, mode 0700. Everything else a run needs
 * in the tmp dir (tmp mounts, the Singularity executor's own dir, statistics files) lives inside it, so one
 * owner removes it all and `berth gc` has one kind of entry to judge.
 *
 * While the run goes on, its berth holds an `flock` on `<dir>/.berth-run.lock` (created right after the dir), so
 * `berth gc` can tell a live temp dir from a leftover whatever runtime dir the run used, without trusting names
 * or ages. Only the `berth-run-` prefix is berth's: no other name in the tmp dir is ever taken for a job's.
 * @module
 */

import { join } from "node:path";
import { errorLine } from "../errors.ts";
import { JOB_UUID_PATTERN } from "../job/mod.ts";

/** The name prefix of every job temp dir. */
export const JOB_TMP_PREFIX = "berth-run-";
/** The lock file inside a job temp dir that its berth holds for the whole run. */
export const TMP_LOCK_NAME = ".berth-run.lock";

/** The temp dir name prefix of job `uuid`. */
export function jobTmpDirPrefix(uuid: string): string {
  return `${JOB_TMP_PREFIX}${uuid.slice(0, 48)}-`;
}

/** The (possibly shortened) job uuid of a job temp dir name, or null when `name` is not one. */
export function jobOfTmpDir(name: string): string | null {
  if (!name.startsWith(JOB_TMP_PREFIX)) return null;
  const m = /^(.+)-[A-Za-z0-9]{6,}$/.exec(name.slice(JOB_TMP_PREFIX.length));
  return m && JOB_UUID_PATTERN.test(m[1]) ? m[1] : null;
}

/** True when temp dir `name` belongs to job `uuid`. */
export function tmpDirBelongsTo(name: string, uuid: string): boolean {
  return jobOfTmpDir(name) === uuid.slice(0, 48);
}

/** A job temp dir held by this process. */
export interface JobTmpDir {
  /** The directory (absolute when `tmpRoot` is). */
  readonly path: string;
  /** Removes the directory with everything in it and drops its lock. Never throws; returns why it failed. */
  release(): Promise<string | null>;
}

/**
 * Creates job `uuid`'s temp dir in `tmpRoot` (mode 0700) and takes its lock.
 * @throws the file system's error when the dir or its lock file cannot be created (nothing is left then).
 */
export async function createJobTmpDir(tmpRoot: string, uuid: string): Promise<JobTmpDir> {
  const path = await Deno.makeTempDir({ dir: tmpRoot, prefix: jobTmpDirPrefix(uuid) });
  let lock: Deno.FsFile;
  try {
    lock = await Deno.open(join(path, TMP_LOCK_NAME), {
      read: true,
      write: true,
      createNew: true,
      mode: 0o600,
    });
    await lock.lock(true);
  } catch (err) {
    await Deno.remove(path, { recursive: true }).catch(() => {});
    throw err;
  }
  let released: Promise<string | null> | null = null;
  return {
    path,
    release() {
      released ??= (async () => {
        let failure: string | null = null;
        try {
          await Deno.remove(path, { recursive: true });
        } catch (err) {
          if (!(err instanceof Deno.errors.NotFound)) failure = errorLine(err);
        }
        try {
          lock.close(); // drops the flock
        } catch { /* already closed */ }
        return failure;
      })();
      return released;
    },
  };
}

/**
 * Whether a job temp dir is in use: `"live"` when a berth holds its lock, `"dead"` when its lock file exists and
 * nobody holds it, `"unknown"` when it has no lock file (a berth that died between creating the dir and locking
 * it, or a berth that is doing just that: the caller decides by age) or it cannot be looked into.
 */
export async function tmpDirState(path: string): Promise<"live" | "dead" | "unknown"> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(join(path, TMP_LOCK_NAME), { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    return "unknown";
  }
  try {
    return (await file.tryLock(false)) ? "dead" : "live";
  } finally {
    file.close();
  }
}
