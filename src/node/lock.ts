/**
 * Job locks: every running berth holds an exclusive `flock` on `<runtime dir>/berth-<uuid>.lock` for its whole
 * life, with a JSON record of who it is. The kernel drops the lock when the process dies, however it dies, so
 * "is the job running" is answered by trying to take the lock, never by trusting the file's existence.
 *
 * The record: `{"uuid", "pid", "uid", "run", "state", "engine", "started", "starttime", "work_dir"}`;
 * `starttime` is the process's start time in clock ticks (from `/proc/<pid>/stat`), so that a pid reused by
 * another process is not mistaken for the job; `run` is a random token naming this run (its container carries it
 * too, see `container_name.ts`), so that two runs of one uuid are never confused. Readers also accept records
 * with only `uuid` and `pid`.
 *
 * Lock files are mode 0600: nobody but their owner (and root) can open one, so nobody else can hold a shared
 * lock on it and make a run believe its job is already running. The directory lock is opened read-only when it
 * exists (flock needs no write access), so a directory lock created by one process never locks out another.
 *
 * @module
 */

import { BerthError, errorLine } from "../errors.ts";
import { currentUid, DIR_LOCK_NAME, lockPath } from "./runtime_dir.ts";
import { processAlive, processStartTime } from "./process.ts";
import { join } from "node:path";

/** What a lock file says about its job. */
export interface JobLockRecord {
  /** The job uuid. */
  uuid: string;
  /** The pid of the berth running it. */
  pid: number;
  /** The uid the berth runs as, when known. */
  uid?: number;
  /** The run's token (8 hex digits), when known. */
  run?: string;
  /** What the job is doing (`Starting`, `Running`, …); "" when the record does not say. */
  state: string;
  /** The engine (`docker`, `podman`, `singularity`, `apptainer`); "" when not known yet. */
  engine: string;
  /** When the berth started, ISO 8601 UTC; "" when the record does not say. */
  started: string;
  /** The berth process's start time in clock ticks after boot, when known. */
  starttime?: number;
  /** The job's work dir, when known. */
  work_dir?: string;
}

/** What the caller of {@link acquireJobLock} says about the job; more can be set later with `update`. */
export interface JobLockInfo {
  /** @default "Starting" */
  state?: string;
  /** @default "" */
  engine?: string;
  /** @default none */
  workDir?: string;
}

/** A job lock held by this process. */
export interface HeldJobLock {
  /** The lock file's path. */
  readonly path: string;
  /** The record as last written. */
  readonly record: JobLockRecord;
  /** Rewrites the record with new `state` or `engine` (for `berth list`). Never throws. */
  update(patch: { state?: string; engine?: string }): Promise<void>;
  /** Removes the lock file and drops the lock. Idempotent; never throws. */
  release(): Promise<void>;
}

/** Thrown by {@link acquireJobLock} when another live berth already runs the job on this node. */
export class JobLockedError extends BerthError {
  /** The uuid of the job that is already running. */
  readonly uuid: string;
  /** The pid of the berth running it (0 when its record cannot be read). */
  readonly pid: number;
  constructor(uuid: string, pid: number, path: string) {
    super(
      `Job "${uuid}" is already running on this node${
        pid > 0 ? ` (pid ${pid})` : ""
      }: lock "${path}" is held`,
    );
    this.uuid = uuid;
    this.pid = pid;
  }
}

const encoder = new TextEncoder();

/**
 * Runs `fn` holding the runtime dir's directory lock, which serializes creating and removing job lock files.
 * With `create: false` (readers), a missing directory lock file means there is nothing to serialize with.
 * Keep `fn` short: every berth starting or ending on the node waits for it (berth's own use is a few synchronous
 * calls, microseconds).
 */
export async function withDirLock<T>(runtimeDir: string, fn: () => Promise<T>, create = true): Promise<T> {
  const path = join(runtimeDir, DIR_LOCK_NAME);
  let file: Deno.FsFile | null = null;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound || err instanceof Deno.errors.PermissionDenied)) throw err;
    if (create && err instanceof Deno.errors.NotFound) {
      file = await Deno.open(path, { read: true, write: true, create: true, mode: 0o600 });
    } else if (create) throw err;
  }
  try {
    await file?.lock(true);
    return await fn();
  } finally {
    file?.close();
  }
}

/** A fresh run token: 8 random hex digits. */
export function newRunToken(): string {
  return Array.from(crypto.getRandomValues(new Uint8Array(4)), (b) => b.toString(16).padStart(2, "0")).join(
    "",
  );
}

/**
 * Takes job `uuid`'s lock in `runtimeDir` (created if missing) and writes its record. Hold the result for the
 * whole run and `release()` it at the very end.
 * @throws {JobLockedError} when another berth holds the lock.
 * @throws {BerthError} when the runtime dir or lock file cannot be used.
 */
export async function acquireJobLock(
  runtimeDir: string,
  uuid: string,
  info: JobLockInfo = {},
): Promise<HeldJobLock> {
  const path = lockPath(runtimeDir, uuid);
  try {
    await Deno.mkdir(runtimeDir, { recursive: true, mode: 0o755 });
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    throw new BerthError(`Cannot create runtime dir "${runtimeDir}": ${errorLine(err)}`, { cause: err });
  }
  const record: JobLockRecord = {
    uuid,
    pid: Deno.pid,
    uid: currentUid(),
    run: newRunToken(),
    state: info.state ?? "Starting",
    engine: info.engine ?? "",
    started: new Date().toISOString(),
  };
  const starttime = await processStartTime(Deno.pid);
  if (starttime !== null) record.starttime = starttime;
  if (info.workDir) record.work_dir = info.workDir;
  let held: Deno.FsFile;
  try {
    // Lock and record under the directory lock, so that readers never see a held lock without its record. Only
    // synchronous calls in there: each trip through the thread pool would keep every other berth that starts or
    // ends at the same moment waiting (20 jobs at once on a busy node queued for seconds, #17).
    const got = await withDirLock(runtimeDir, () => {
      const f = Deno.openSync(path, { read: true, write: true, create: true, mode: 0o600 });
      try {
        if (!f.tryLockSync(true)) {
          f.close();
          return Promise.resolve(null);
        }
        writeRecordSync(f, record);
      } catch (err) {
        f.close();
        return Promise.reject(err);
      }
      return Promise.resolve(f);
    });
    if (got === null) {
      const other = await readLockRecord(path);
      throw new JobLockedError(uuid, other?.pid ?? 0, path);
    }
    held = got;
  } catch (err) {
    if (err instanceof BerthError || err instanceof Deno.errors.NotCapable) throw err;
    throw new BerthError(`Cannot lock "${path}": ${errorLine(err)}`, { cause: err });
  }
  let released = false;
  return {
    path,
    get record() {
      return { ...record };
    },
    update(patch) {
      if (released) return Promise.resolve();
      if (patch.state !== undefined) record.state = patch.state;
      if (patch.engine !== undefined) record.engine = patch.engine;
      try {
        writeRecordSync(held, record); // a few hundred bytes into the job's own file
      } catch { /* the record is informational */ }
      return Promise.resolve();
    },
    async release() {
      if (released) return;
      released = true;
      try {
        await withDirLock(runtimeDir, () => {
          try {
            Deno.removeSync(path);
          } catch { /* already gone */ }
          return Promise.resolve();
        });
      } catch {
        await Deno.remove(path).catch(() => {});
      }
      try {
        held.close(); // closing drops the flock
      } catch { /* already closed */ }
    },
  };
}

function writeRecordSync(file: Deno.FsFile, record: JobLockRecord): void {
  const data = encoder.encode(JSON.stringify(record) + "\n");
  file.seekSync(0, Deno.SeekMode.Start);
  let off = 0;
  while (off < data.length) off += file.writeSync(data.subarray(off));
  file.truncateSync(data.length);
}

/**
 * The record in lock file `path`, or null when the file is missing, empty or not a record. Retries a few times
 * when the text does not parse, since the holder may be rewriting it at that moment.
 */
export async function readLockRecord(path: string): Promise<JobLockRecord | null> {
  for (let attempt = 0; attempt < 3; attempt++) {
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch {
      return null;
    }
    if (text.trim() === "") return null;
    try {
      const r = JSON.parse(text);
      if (typeof r?.uuid !== "string" || !Number.isInteger(r?.pid)) return null;
      return {
        uuid: r.uuid,
        pid: r.pid,
        ...(Number.isInteger(r.uid) ? { uid: r.uid } : {}),
        ...(typeof r.run === "string" ? { run: r.run } : {}),
        state: typeof r.state === "string" ? r.state : "",
        engine: typeof r.engine === "string" ? r.engine : "",
        started: typeof r.started === "string" ? r.started : "",
        ...(Number.isInteger(r.starttime) ? { starttime: r.starttime } : {}),
        ...(typeof r.work_dir === "string" ? { work_dir: r.work_dir } : {}),
      };
    } catch {
      await new Promise((res) => setTimeout(res, 20));
    }
  }
  return null;
}

/** The status of one lock file. */
export interface LockStatus {
  /** The lock file's path. */
  path: string;
  /** Its record, or null when it has none (empty or corrupt). */
  record: JobLockRecord | null;
  /** True when some process holds the lock. */
  held: boolean;
  /** True when the lock is held AND the recorded process is alive: the job is really running. */
  running: boolean;
}

/** Looks at lock file `path` without disturbing its holder (a non-blocking shared lock attempt); null if missing. */
export async function inspectLock(path: string): Promise<LockStatus | null> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
  let held: boolean;
  try {
    held = !(await file.tryLock(false));
  } finally {
    file.close(); // also drops the shared lock if it was taken
  }
  const record = await readLockRecord(path);
  const running = held && record !== null && await processAlive(record.pid, record.starttime);
  return { path, record, held, running };
}
