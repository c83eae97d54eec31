/**
 * Replacing a small file atomically: readers see the old content or the new, never a mix or an empty file.
 * @module
 */

import { basename, dirname, join } from "node:path";

const encoder = new TextEncoder();

/** A fresh temporary name beside `path` (hidden, unique per process and call), for a write renamed over it. */
export function tempPathBeside(path: string): string {
  return join(dirname(path), `.${basename(path)}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
}

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** The new file's mode. @default 0o644 */
  mode?: number;
  /** Flush the data to disk before the rename (a record that must survive a crash). @default true */
  durable?: boolean;
}

/**
 * Writes `text` to a temporary file beside `path` (see {@link tempPathBeside}), flushes it to disk unless told not
 * to, and renames it over `path`. The temporary file is removed when anything fails.
 */
export async function writeFileAtomic(
  path: string,
  text: string,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const tmp = tempPathBeside(path);
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: options.mode ?? 0o644 });
    try {
      const data = encoder.encode(text);
      let off = 0;
      while (off < data.length) off += await file.write(data.subarray(off));
      if (options.durable ?? true) await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}
