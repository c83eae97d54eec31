/**
 * `output.json`: what the job produced, one entry per file, directory and symlink below `output/`, sorted by
 * path, with the size, SHA-256 (files are hashed as streams, never read whole) and permission bits. Symlinks
 * are recorded with their target and never followed.
 * @module
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { writeFileAtomic } from "./atomic_write.ts";

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
  /** Hex SHA-256 of the content (files only). */
  sha256?: string;
  /** Permission bits as four octal digits, e.g. `"0644"`. */
  mode: string;
  /** The link's target, as stored (symlinks only). */
  target?: string;
}

/** The content of `output.json`. */
export interface OutputManifest {
  /** The job's uuid. */
  uuid: string;
  /** Number of regular files. */
  files: number;
  /** Total bytes of the regular files. */
  bytes: number;
  /** Every entry, sorted by path. */
  entries: OutputEntry[];
}

/** Hex SHA-256 of a file's content, read as a stream. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash("sha256");
  const file = await Deno.open(path, { read: true });
  for await (const chunk of file.readable) hash.update(chunk);
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

/** Walks `root` (without following symlinks) and describes every entry below it. */
export async function buildOutputManifest(root: string, uuid: string): Promise<OutputManifest> {
  const entries: OutputEntry[] = [];
  const walk = async (dir: string, rel: string) => {
    const names: string[] = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    names.sort();
    for (const name of names) {
      const path = join(dir, name);
      const relPath = rel === "" ? name : `${rel}/${name}`;
      const info = await Deno.lstat(path);
      const type = typeOf(info);
      const entry: OutputEntry = {
        path: relPath,
        type,
        size: type === "file" ? info.size : 0,
        mode: ((info.mode ?? 0) & 0o7777).toString(8).padStart(4, "0"),
      };
      if (type === "file") entry.sha256 = await sha256File(path);
      if (type === "symlink") entry.target = await Deno.readLink(path);
      entries.push(entry);
      if (type === "directory") await walk(path, relPath);
    }
  };
  await walk(root, "");
  entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const files = entries.filter((e) => e.type === "file");
  return { uuid, files: files.length, bytes: files.reduce((n, e) => n + e.size, 0), entries };
}

/** Writes the manifest to `path` atomically, as indented JSON. */
export async function writeOutputManifest(path: string, manifest: OutputManifest): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(manifest, null, 2) + "\n");
}
