/**
 * Replacing a small file atomically: readers see the old content or the new, never a mix or an empty file.
 * @module
 */

import { basename, dirname, join } from "node:path";

const encoder = new TextEncoder();

/**
 * Writes `text` to a temporary file beside `path`, flushes it to disk, and renames it over `path`.
 * The temporary file is removed when anything fails.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`);
  try {
    const file = await Deno.open(tmp, { write: true, createNew: true, mode: 0o644 });
    try {
      const data = encoder.encode(text);
      let off = 0;
      while (off < data.length) off += await file.write(data.subarray(off));
      await file.syncData();
    } finally {
      file.close();
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}
