/**
 * When a shared SIF cache may be believed. A cache directory on a shared filesystem is written by many users;
 * a file named `sha256-<id>.sif` there is only a claim. berth uses an entry only when nobody it does not trust
 * could have written it, and when the record written beside it by the conversion still describes it:
 *
 * - Trusted writers: the invoking user, root, and, when the site configures one (`cacheGroup`), the members of
 *   the cache group. Everyone else is a stranger.
 * - The cache directory: owned by a trusted writer (or its group is the cache group), never writable by
 *   others (`o+w`, sticky or not), group-writable only when its group is the cache group. Strangers then cannot
 *   add, rename or replace anything in it, so what berth checked stays what the engine opens.
 * - Each entry and its record (`sha256-<id>.sif.json`): regular files (no symlinks), owned like the directory,
 *   writable by nobody else.
 * - The record names the image ID the SIF was converted from, and the SIF's size, modification time and
 *   sha256. Every use compares the ID, size and time (a few `lstat`s, no reading of the image); the sha256 only
 *   when asked (`verifyContent`), since it reads the whole file.
 *
 * @module
 */

import { createHash } from "node:crypto";

/** The record written beside each cache entry (`<entry>.json`). */
export interface SifRecord {
  /** The image ID (config digest) the SIF was converted from: the cache key. */
  image_id: string;
  /** The SIF's size in bytes. */
  size: number;
  /** The SIF's modification time, milliseconds since the epoch. */
  mtime_ms: number;
  /** Hex sha256 of the SIF's content. */
  sha256: string;
  /** The uid that converted it. */
  built_by_uid: number;
}

/** Who may write a trusted cache. */
export interface CacheTrust {
  /** The invoking user's uid. */
  uid: number;
  /** The cache group's gid, when the site configured one. */
  cacheGroup?: number;
}

/** The mode bits, user, group of a file, as `lstat` gives them. */
type Owned = Pick<Deno.FileInfo, "uid" | "gid" | "mode">;

/** Why `info` (of the file or directory `what`) could have been written by a stranger, or null when it could not. */
export function strangerWritable(info: Owned, trust: CacheTrust): string | null {
  const mode = (info.mode ?? 0) & 0o7777;
  const group = trust.cacheGroup !== undefined && info.gid === trust.cacheGroup;
  const octal = mode.toString(8).padStart(4, "0");
  if (mode & 0o002 || (mode & 0o020 && !group)) {
    const viaGroup = (mode & 0o002) === 0;
    return `it may be written by others (mode ${octal}${viaGroup ? `, group ${info.gid}` : ""})`;
  }
  if (info.uid !== trust.uid && info.uid !== 0 && !group) {
    return `it is owned by uid ${info.uid}, neither this user (${trust.uid}), root, nor the cache group`;
  }
  return null;
}

/** The hex sha256 of a file, read as a stream. */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash("sha256");
  using file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
  return hash.digest("hex");
}

/** The record of the finished conversion `sif` (mode already set), for image `imageId`. */
export async function recordOf(sif: string, imageId: string, uid: number): Promise<SifRecord> {
  const info = await Deno.lstat(sif);
  return {
    image_id: imageId,
    size: info.size,
    mtime_ms: info.mtime?.getTime() ?? 0,
    sha256: await fileSha256(sif),
    built_by_uid: uid,
  };
}

/** The outcome of {@link checkEntry}. */
export type EntryCheck =
  | { ok: true }
  | { ok: false; missing: true }
  | { ok: false; missing: false; reason: string };

/**
 * Checks the cache entry `entry` (and its record `entry.json`) for `imageId`; see the module doc.
 * @returns `{ ok: true }` when it may be used; otherwise whether it is simply missing, or why it is not trusted.
 */
export async function checkEntry(
  entry: string,
  imageId: string,
  trust: CacheTrust,
  verifyContent = false,
): Promise<EntryCheck> {
  const bad = (reason: string): EntryCheck => ({ ok: false, missing: false, reason });
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(entry);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { ok: false, missing: true };
    throw err;
  }
  if (!info.isFile) return bad("it is not a regular file");
  const entryProblem = strangerWritable(info, trust);
  if (entryProblem !== null) return bad(entryProblem);
  const recordPath = `${entry}.json`;
  let recordInfo: Deno.FileInfo;
  try {
    recordInfo = await Deno.lstat(recordPath);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return bad("there is no record of the image it was built from");
    throw err;
  }
  if (!recordInfo.isFile) return bad(`its record "${recordPath}" is not a regular file`);
  const recordProblem = strangerWritable(recordInfo, trust);
  if (recordProblem !== null) {
    return bad(`its record "${recordPath}": ${recordProblem.replace(/^it /, "is ")}`);
  }
  let record: Partial<SifRecord>;
  try {
    record = JSON.parse(await Deno.readTextFile(recordPath));
  } catch {
    return bad(`its record "${recordPath}" is not valid JSON`);
  }
  if (record.image_id !== imageId) return bad(`its record names image ${JSON.stringify(record.image_id)}`);
  if (record.size !== info.size || record.mtime_ms !== info.mtime?.getTime()) {
    return bad("its size or modification time differs from its record (changed or damaged)");
  }
  if (verifyContent && (await fileSha256(entry)) !== record.sha256) {
    return bad("its content does not match its record (sha256)");
  }
  return { ok: true };
}
