/**
 * berth's runtime dirs: where every running berth keeps its job lock and where a broken node is marked.
 *
 * A runtime dir belongs to ONE user: it is owned by that user and writable by nobody else, so that no file another
 * user (or root) created there can block a run, and nobody else can hold a job's lock. Layout: `berth-<uuid>.lock`
 * per running job (mode 0600; a uuid too long for a file name is shortened, see {@link lockFileName}),
 * `berth-all.lock` (the directory lock, held for a moment while a job lock is created or a stale one removed),
 * and `berth-broken`, the broken-node marker (mode 0644).
 *
 * The default runtime dir of the user with uid U is the first usable of
 * 1. `/var/lock/berth-U` (node-wide and the same in every session and batch job of the user; `/var/lock` is
 *    usually the sticky, world-writable `/run/lock`);
 * 2. `$XDG_RUNTIME_DIR/berth` (when /var/lock is closed to the user);
 * 3. `/tmp/berth-U`.
 * "Usable" means: a real directory (not a symlink) owned by U and not writable by group or others, or missing
 * with a parent in which U may create it (then it is created, mode 0755). A candidate another user planted is
 * skipped, so nobody can block another user's runs by creating a directory first.
 *
 * Node tools (`list`, `kill`, `gc`, `check`) without `--runtime-dir` look in every candidate of the calling user
 * that exists and is theirs; root looks in every user's (each `/var/lock/berth-N`, `/run/user/N/berth` and
 * `/tmp/berth-N` owned by N), and so sees and acts on every job of the node.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { dirname, join } from "node:path";
import { BerthError, errorLine, UsageError } from "../errors.ts";
import { readEnv } from "../env.ts";
import { JOB_UUID_PATTERN, MAX_JOB_UUID_LENGTH } from "../job/mod.ts";

/** The broken-node marker's file name. */
export const BROKEN_MARKER_NAME = "berth-broken";
/** The directory lock's file name. */
export const DIR_LOCK_NAME = "berth-all.lock";
/** Node-wide parent of the per-user runtime dirs (`berth-<uid>` in it). */
export const LOCK_BASE = "/var/lock";
/** Where the per-user login runtime dirs (`XDG_RUNTIME_DIR`) are, for root's scan. */
export const USER_RUN_BASE = "/run/user";
/** The last-resort parent of the per-user runtime dirs. */
export const TMP_BASE = "/tmp";

/** Longest job uuid kept whole in a lock file name (`berth-` + uuid + `.lock` must fit in 255 bytes). */
const LOCK_NAME_UUID_MAX = 200;

/** True when `uuid` is a job uuid a job file may carry (the pattern and length of `src/job/`). */
export function isJobUuid(uuid: string): boolean {
  return uuid.length <= MAX_JOB_UUID_LENGTH && JOB_UUID_PATTERN.test(uuid);
}

/**
 * The lock file name of job `uuid`: `berth-<uuid>.lock`, or for a uuid longer than 200 characters
 * `berth-<first 180>~<16 hex of its sha256>.lock` (`~` never occurs in a uuid, so the two forms cannot meet).
 */
export function lockFileName(uuid: string): string {
  if (uuid.length <= LOCK_NAME_UUID_MAX) return `berth-${uuid}.lock`;
  const digest = createHash("sha256").update(uuid).digest("hex").slice(0, 16);
  return `berth-${uuid.slice(0, 180)}~${digest}.lock`;
}

/**
 * The job uuid of a lock file name (for a shortened name, its first 180 characters followed by `~`), or null
 * when `name` is not a job lock (the directory lock is not).
 */
export function jobOfLockFile(name: string): string | null {
  if (name === DIR_LOCK_NAME) return null;
  const m = /^berth-(.+)\.lock$/.exec(name);
  if (!m) return null;
  const short = /^(.+)~[0-9a-f]{16}$/.exec(m[1]);
  if (short) return isJobUuid(short[1]) ? `${short[1]}~` : null;
  return isJobUuid(m[1]) ? m[1] : null;
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
 * @throws {UsageError} when it is not a job uuid.
 */
export function checkJobUuid(command: string, uuid: string): string {
  if (!isJobUuid(uuid)) {
    throw new UsageError(
      `${command}: "${uuid}" is not a job uuid (letters, digits, ".", "_" and "-", at most ` +
        `${MAX_JOB_UUID_LENGTH} characters)`,
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

/** berth's effective uid (0 when the profile does not let berth ask: then it is treated as root). */
export function currentUid(): number {
  try {
    return Deno.uid() ?? 0;
  } catch {
    return 0;
  }
}

/** The default runtime dir candidates of user `uid`, in order of preference (see the module doc). */
export function runtimeDirCandidates(
  uid: number,
  xdgRuntimeDir = readEnv("XDG_RUNTIME_DIR") ?? "",
): string[] {
  const out = [join(LOCK_BASE, `berth-${uid}`)];
  if (xdgRuntimeDir.startsWith("/")) out.push(join(xdgRuntimeDir, "berth"));
  out.push(join(TMP_BASE, `berth-${uid}`));
  return out;
}

/**
 * Why `info` (from `lstat`) cannot be user `uid`'s runtime dir, or null when it can: it must be a directory
 * (not a symlink), owned by `uid`, and not writable by group or others.
 */
export function unusableReason(info: Deno.FileInfo, uid: number): string | null {
  if (info.isSymlink) return "it is a symlink";
  if (!info.isDirectory) return "it is not a directory";
  if (info.uid !== null && info.uid !== uid) return `it belongs to uid ${info.uid}, not ${uid}`;
  if (((info.mode ?? 0) & 0o022) !== 0) {
    return `it is writable by other users (mode ${((info.mode ?? 0) & 0o7777).toString(8).padStart(4, "0")})`;
  }
  return null;
}

/**
 * Creates `dir` (mode 0755 whatever the umask; missing parents too) unless it exists, then checks that it is
 * `uid`'s (see {@link unusableReason}). Returns why it cannot be used, or null.
 */
async function ensureOwnDir(dir: string, uid: number): Promise<string | null> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(dir);
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) {
      if (err instanceof Deno.errors.NotCapable) throw err;
      return errorLine(err);
    }
    try {
      await Deno.mkdir(dir, { recursive: true, mode: 0o755 });
      info = await Deno.lstat(dir);
      if (!info.isSymlink && info.uid === uid) await Deno.chmod(dir, 0o755);
      info = await Deno.lstat(dir);
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable) throw err;
      return `cannot create it: ${errorLine(err)}`;
    }
  }
  return unusableReason(info, uid);
}

/**
 * The runtime dir `berth run` uses, created if missing: `--runtime-dir` when given, else the first usable
 * default candidate (see the module doc).
 * @throws {UsageError} when the given dir cannot be created or is not a private dir of the caller.
 * @throws {BerthError} when no default candidate is usable.
 */
export async function chooseRuntimeDir(option: string | undefined): Promise<string> {
  const uid = currentUid();
  if (option && option !== "") {
    const why = await ensureOwnDir(option, uid);
    if (why !== null) throw new UsageError(`Cannot use runtime dir "${option}": ${why}`);
    return option;
  }
  const reasons: string[] = [];
  for (const dir of runtimeDirCandidates(uid)) {
    try {
      const why = await ensureOwnDir(dir, uid);
      if (why === null) return dir;
      reasons.push(`"${dir}": ${why}`);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotCapable)) throw err;
      reasons.push(`"${dir}": not allowed by berth's permission profile`);
    }
  }
  throw new BerthError(`No usable runtime dir (pass --runtime-dir): ${reasons.join("; ")}`);
}

/** A runtime dir a node tool looks in, and whose it is. */
export interface RuntimeDirEntry {
  /** The directory. */
  path: string;
  /** Its owner's uid. */
  uid: number;
}

/**
 * The runtime dirs a node tool (`list`, `kill`, `gc`, `check`) looks in: `--runtime-dir` alone when given (it
 * need not exist); else the caller's default candidates that exist and are theirs; for root, every user's.
 * Reads only: never creates a directory.
 */
export async function runtimeDirsToSearch(option: string | undefined): Promise<RuntimeDirEntry[]> {
  const uid = currentUid();
  if (option && option !== "") {
    let owner = uid;
    try {
      owner = (await Deno.stat(option)).uid ?? uid;
    } catch { /* missing: nothing to find there */ }
    return [{ path: option, uid: owner }];
  }
  const out: RuntimeDirEntry[] = [];
  const add = async (path: string, owner: number) => {
    if (out.some((e) => e.path === path)) return;
    try {
      if (unusableReason(await Deno.lstat(path), owner) === null) out.push({ path, uid: owner });
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable) return; // outside the profile: not berth's to look at
    }
  };
  for (const dir of runtimeDirCandidates(uid)) await add(dir, uid);
  if (uid !== 0) return out;
  for (
    const [base, pattern, sub] of [
      [LOCK_BASE, /^berth-(\d+)$/, ""],
      [USER_RUN_BASE, /^(\d+)$/, "berth"],
      [TMP_BASE, /^berth-(\d+)$/, ""],
    ] as const
  ) {
    for (const name of await dirNames(base)) {
      const m = pattern.exec(name);
      if (m) await add(join(base, name, sub), Number(m[1]));
    }
  }
  return out;
}

async function dirNames(dir: string): Promise<string[]> {
  const names: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) if (e.isDirectory) names.push(e.name);
  } catch { /* missing, unreadable or outside the profile: nothing there for berth */ }
  return names.sort();
}

/**
 * The runtime dir `berth run` would use, without creating it (for `berth check`): `--runtime-dir` when given,
 * else the first default candidate that is usable or could be created.
 */
export async function plannedRuntimeDir(option: string | undefined): Promise<string> {
  if (option && option !== "") return option;
  const uid = currentUid();
  const candidates = runtimeDirCandidates(uid);
  for (const dir of candidates) {
    try {
      if (unusableReason(await Deno.lstat(dir), uid) === null) return dir;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound && await writableDir(dirname(dir))) return dir;
    }
  }
  return candidates[0];
}
