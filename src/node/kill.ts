/**
 * `berth kill`: signal the berth running a job on this node and wait for it to finish. The berth stops its
 * container, writes the final state and releases its lock on SIGTERM, SIGINT and SIGQUIT; SIGKILL ends it at
 * once and leaves cleanup to `berth gc`.
 * @module
 */

import { BerthError } from "../errors.ts";
import { inspectLock, withDirLock } from "./lock.ts";
import { type KillSignal, processAlive, sendSignal } from "./process.ts";
import { lockPath } from "./runtime_dir.ts";

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
 * Signals job `uuid`'s berth and waits until it has exited.
 * @throws {BerthError} when it is still running after `waitMs`.
 */
export async function killJob(
  runtimeDir: string,
  uuid: string,
  options: KillOptions = {},
): Promise<KillOutcome> {
  const path = lockPath(runtimeDir, uuid);
  const status = await inspectLock(path);
  if (!status) return { kind: "absent" };
  const record = status.record;
  if (!status.running || !record) {
    await removeIfStale(runtimeDir, path);
    return { kind: "stale", pid: record?.pid ?? 0 };
  }
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
  await removeIfStale(runtimeDir, path);
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
