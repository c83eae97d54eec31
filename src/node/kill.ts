/**
 * `berth kill`: signal the berth running a job on this node and wait for it to finish. The berth stops its
 * container, writes the final state and releases its lock on SIGTERM, SIGINT and SIGQUIT; SIGKILL ends it at
 * once and leaves cleanup to `berth gc`.
 * @module
 */

import { BerthError, UsageError } from "../errors.ts";
import { inspectLock, type LockStatus, withDirLock } from "./lock.ts";
import { type KillSignal, processAlive, sendSignal } from "./process.ts";
import { lockPath, type RuntimeDirEntry } from "./runtime_dir.ts";
import { userName } from "./users.ts";

/** What {@link killJob} found and did. */
export type KillOutcome =
  /** No lock file: the job is not running here (or never was). */
  | { kind: "absent" }
  /** A lock file whose berth is already gone; the file was removed. */
  | { kind: "stale"; pid: number }
  /** The berth was signalled and has exited. */
  | { kind: "stopped"; pid: number; waitedMs: number };

/** Options for {@link killJob}. */
export interface KillOptions {
  /** The signal to send. @default "TERM" */
  signal?: KillSignal;
  /** How long to wait for the berth to exit, in milliseconds. @default 10000 */
  waitMs?: number;
}

/**
 * Signals job `uuid`'s berth and waits until it has exited. The job is looked for in every dir of `dirs` (see
 * `runtimeDirsToSearch`): stale locks found on the way are removed.
 * @throws {UsageError} when the uuid runs more than once among `dirs` (two users' jobs with one uuid: root must
 *   name the runtime dir).
 * @throws {BerthError} when it is still running after `waitMs`.
 */
export async function killJob(
  dirs: readonly RuntimeDirEntry[],
  uuid: string,
  options: KillOptions = {},
): Promise<KillOutcome> {
  const found: { dir: RuntimeDirEntry; status: LockStatus }[] = [];
  for (const dir of dirs) {
    const status = await inspectLock(lockPath(dir.path, uuid));
    if (status) found.push({ dir, status });
  }
  const running = found.filter((f) => f.status.running && f.status.record);
  if (running.length > 1) {
    const where = await Promise.all(
      running.map(async (f) => `${await userName(f.dir.uid)} in ${f.dir.path}`),
    );
    throw new UsageError(
      `kill: job "${uuid}" runs more than once on this node (${where.join("; ")}): pass --runtime-dir`,
    );
  }
  for (const f of found.filter((f) => !running.includes(f))) await removeIfStale(f.dir.path, f.status.path);
  if (running.length === 0) {
    return found.length === 0 ? { kind: "absent" } : { kind: "stale", pid: found[0].status.record?.pid ?? 0 };
  }
  const { dir, status } = running[0];
  const record = status.record!;
  const signal = options.signal ?? "TERM";
  const waitMs = options.waitMs ?? 10_000;
  const started = performance.now();
  await sendSignal(record.pid, signal);
  while (await processAlive(record.pid, record.starttime)) {
    const waited = performance.now() - started;
    if (waited >= waitMs) {
      throw new BerthError(
        `Job "${uuid}": berth (pid ${record.pid}) is still running ${
          (waited / 1000).toFixed(1)
        } s after SIG${signal}`,
      );
    }
    await new Promise((res) => setTimeout(res, 50));
  }
  await removeIfStale(dir.path, status.path);
  return { kind: "stopped", pid: record.pid, waitedMs: Math.round(performance.now() - started) };
}

/** Removes lock file `path` if no live berth holds it (after SIGKILL the berth could not remove it itself). */
export async function removeIfStale(runtimeDir: string, path: string): Promise<boolean> {
  return await withDirLock(runtimeDir, async () => {
    const status = await inspectLock(path);
    if (!status || status.running) return false;
    try {
      await Deno.remove(path);
      return true;
    } catch {
      return false;
    }
  }, false);
}
