/**
 * berth's runtime dir: where every running berth keeps its lock file and where a broken node is marked.
 *
 * Layout (the same names the runner uses): `berth-<uuid>.lock` per running job, `berth-all.lock` (a directory
 * lock held for a moment while a job lock is created or a stale one removed, so the two never race), and
 * `berth-broken`, the broken-node marker. The default is `/var/lock` when berth may write there, else
 * `$XDG_RUNTIME_DIR/berth`, else `$TMPDIR/berth-<uid>`.
 *
 * @module
 */

import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { readEnv } from "../env.ts";

/** The broken-node marker's file name. */
export const BROKEN_MARKER_NAME = "berth-broken";
/** The directory lock's file name. */
export const DIR_LOCK_NAME = "berth-all.lock";

/** Job uuids berth accepts in file names: letters, digits, `.`, `_`, `-`, not starting with punctuation. */
export const JOB_UUID_PATTERN: RegExp = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** The lock file name of job `uuid`. */
export function lockFileName(uuid: string): string {
  return `berth-${uuid}.lock`;
}

/** The job uuid of a lock file name, or null when `name` is not a job lock (the directory lock is not). */
export function jobOfLockFile(name: string): string | null {
  if (name === DIR_LOCK_NAME) return null;
  const m = /^berth-(.+)\.lock$/.exec(name);
  return m && JOB_UUID_PATTERN.test(m[1]) ? m[1] : null;
}

/** The path of job `uuid`'s lock file. */
export function lockPath(runtimeDir: string, uuid: string): string {
  return join(runtimeDir, lockFileName(uuid));
}

/** The path of the broken-node marker. */
export function brokenMarkerPath(runtimeDir: string): string {
  return join(runtimeDir, BROKEN_MARKER_NAME);
}

/**
 * Checks a job uuid given on the command line.
 * @throws {UsageError} when it could not name a lock file.
 */
export function checkJobUuid(command: string, uuid: string): string {
  if (!JOB_UUID_PATTERN.test(uuid)) {
    throw new UsageError(
      `${command}: "${uuid}" is not a job uuid (letters, digits, ".", "_" and "-", at most 128 characters)`,
    );
  }
  return uuid;
}

/** True when berth may create files in `dir` (probed by creating and removing one). */
export async function writableDir(dir: string): Promise<boolean> {
  try {
    const probe = await Deno.makeTempFile({ dir, prefix: ".berth-probe-" });
    await Deno.remove(probe);
    return true;
  } catch {
    return false;
  }
}

/** The default runtime dir; see the module doc. Does not create it. */
export async function defaultRuntimeDir(): Promise<string> {
  if (await writableDir("/var/lock")) return "/var/lock";
  const xdg = readEnv("XDG_RUNTIME_DIR");
  if (xdg) return join(xdg, "berth");
  return join(readEnv("TMPDIR") || "/tmp", `berth-${Deno.uid() ?? "user"}`);
}

/** `--runtime-dir` when given, else the default. */
export async function chooseRuntimeDir(option: string | undefined): Promise<string> {
  return option && option !== "" ? option : await defaultRuntimeDir();
}
