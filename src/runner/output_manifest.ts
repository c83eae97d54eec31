/**
 * `output.json`: what the job produced, one entry per file, directory and symlink below `output/`, with the size,
 * SHA-256 (files are hashed as streams, never read whole) and permission bits. Symlinks are recorded with their
 * target and never followed.
 *
 * The manifest is written as it is walked, one entry per line, so that an output of millions of files never
 * becomes one giant string or array in memory. Entries come depth first with each directory's names sorted
 * (byte order), which is path order compared component by component (`a/b` before `a-c`). The totals follow the
 * entries:
 *
 * ```json
 * {"uuid": "…", "entries": [
 * {"path": "a.txt", "type": "file", "size": 6, "mode": "0644", "sha256": "…"},
 * …
 * ], "files": 1, "bytes": 6, "complete": true}
 * ```
 *
 * The walk can be cut short through an `AbortSignal` (SIGTERM, `max_run_time`, berth's budget): the manifest is
 * then finished with what was walked and `"complete": false`, so a 10 TiB sparse file cannot keep berth from
 * exiting.
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { tempPathBeside } from "../atomic_write.ts";

/** The kinds of entry in the manifest. */
export type OutputEntryType = "file" | "directory" | "symlink" | "fifo" | "socket" | "other";

/** One entry of the manifest. */
export interface OutputEntry {
  /** Path relative to `output/`, with `/` separators. */
  path: string;
  /** What it is. */
  type: OutputEntryType;
  /** Size in bytes (files; 0 for the others). */
  size: number;
  /** Permission bits as four octal digits, e.g. `"0644"`. */
  mode: string;
  /** Hex SHA-256 of the content (files only). */
  sha256?: string;
  /** The link's target, as stored (symlinks only). */
  target?: string;
}

/** The content of `output.json`, as a reader parses it. */
export interface OutputManifest {
  /** The job's uuid. */
  uuid: string;
  /** Every entry, depth first, names sorted within each directory. */
  entries: OutputEntry[];
  /** Number of regular files. */
  files: number;
  /** Total bytes of the regular files. */
  bytes: number;
  /** False when the walk was cut short: the entries are those walked before that. */
  complete: boolean;
}

/** What writing the manifest found, for the log. */
export type ManifestTotals = Omit<OutputManifest, "uuid" | "entries"> & {
  /** Number of entries written. */
  entries: number;
};

const encoder = new TextEncoder();
const FLUSH_BYTES = 64 * 1024;

/** Thrown by {@link sha256File} when its signal fires. */
class WalkAborted extends Error {}

/** Hex SHA-256 of a file's content, read as a stream; stops (throwing) when `signal` fires. */
export async function sha256File(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path, { read: true });
  const reader = file.readable.getReader();
  try {
    for (;;) {
      if (signal?.aborted) throw new WalkAborted();
      const { done, value } = await reader.read();
      if (done) break;
      hash.update(value);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
  return hash.digest("hex");
}

function typeOf(info: Deno.FileInfo): OutputEntryType {
  if (info.isSymlink) return "symlink";
  if (info.isFile) return "file";
  if (info.isDirectory) return "directory";
  if (info.isFifo) return "fifo";
  if (info.isSocket) return "socket";
  return "other";
}

const byteOrder = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * Walks `root` (without following symlinks) and writes the manifest to `path` as it goes: to a temporary file
 * beside `path`, renamed over it at the end (also when cut short, so the manifest is always valid JSON).
 * @returns The totals, with `complete: false` when `signal` cut the walk short.
 * @throws the file system's error when the manifest cannot be written (the temporary file is removed).
 */
export async function writeOutputManifest(
  root: string,
  path: string,
  uuid: string,
  signal?: AbortSignal,
): Promise<ManifestTotals> {
  const tmp = tempPathBeside(path);
  const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
  let buffered = "";
  const flush = async () => {
    const data = encoder.encode(buffered);
    buffered = "";
    for (let off = 0; off < data.length;) off += await file.write(data.subarray(off));
  };
  const emit = async (text: string) => {
    buffered += text;
    if (buffered.length >= FLUSH_BYTES) await flush();
  };
  const totals: ManifestTotals = { entries: 0, files: 0, bytes: 0, complete: true };
  try {
    await emit(`{"uuid": ${JSON.stringify(uuid)}, "entries": [`);
    const walk = async (dir: string, rel: string): Promise<void> => {
      if (signal?.aborted) throw new WalkAborted();
      const names: string[] = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
      names.sort(byteOrder);
      for (const name of names) {
        if (signal?.aborted) throw new WalkAborted();
        const full = join(dir, name);
        const relPath = rel === "" ? name : `${rel}/${name}`;
        const info = await Deno.lstat(full);
        const type = typeOf(info);
        const entry: OutputEntry = {
          path: relPath,
          type,
          size: type === "file" ? info.size : 0,
          mode: ((info.mode ?? 0) & 0o7777).toString(8).padStart(4, "0"),
        };
        if (type === "file") entry.sha256 = await sha256File(full, signal);
        if (type === "symlink") entry.target = await Deno.readLink(full);
        await emit(`${totals.entries === 0 ? "" : ","}\n${JSON.stringify(entry)}`);
        totals.entries++;
        if (type === "file") {
          totals.files++;
          totals.bytes += entry.size;
        }
        if (type === "directory") await walk(full, relPath);
      }
    };
    try {
      await walk(root, "");
    } catch (err) {
      if (!(err instanceof WalkAborted)) throw err;
      totals.complete = false;
    }
    await emit(
      `\n], "files": ${totals.files}, "bytes": ${totals.bytes}, "complete": ${totals.complete}}\n`,
    );
    await flush();
    await file.syncData();
    file.close();
    await Deno.rename(tmp, path);
    return totals;
  } catch (err) {
    try {
      file.close();
    } catch { /* closed already */ }
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}
