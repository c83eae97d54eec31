/**
 * Random-access index of a tar archive on disk: reads only the 512-byte headers and seeks over the data, so a
 * 1 GiB image tarball is indexed in milliseconds and without reading its layers.
 *
 * Handles ustar/POSIX names (with `prefix`), GNU long names and long link names (`L`/`K` entries) and PAX
 * extended headers (`x`; `path`, `linkpath`, `size`). Global PAX headers (`g`) are skipped.
 *
 * A streaming tar reader from npm (tar-stream) cannot seek; this module exists because reading every byte of a
 * large tarball just to find `manifest.json` would make every job start pay for the image's size.
 *
 * @module
 */

import { ImageError } from "../errors.ts";

/** One entry of a tar archive. */
export interface TarEntry {
  /** Entry name as stored (PAX/GNU long names applied), without a leading "./". */
  name: string;
  /** Entry type: "file", "directory", "symlink", "hardlink" or "other". */
  type: "file" | "directory" | "symlink" | "hardlink" | "other";
  /** Size of the data in bytes (0 for non-files). */
  size: number;
  /** Byte offset of the entry's data in the archive. */
  offset: number;
  /** Link target for symlinks and hard links, else "". */
  linkName: string;
}

const BLOCK = 512;
const decoder = new TextDecoder();

function cString(buf: Uint8Array, start: number, len: number): string {
  let end = start;
  while (end < start + len && buf[end] !== 0) end++;
  return decoder.decode(buf.subarray(start, end));
}

function octal(buf: Uint8Array, start: number, len: number, archive: string): number {
  // GNU base-256 for large sizes: high bit of first byte set.
  if (buf[start] & 0x80) {
    let n = 0;
    for (let i = start + 1; i < start + len; i++) n = n * 256 + buf[i];
    return n;
  }
  const text = cString(buf, start, len).trim();
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) throw new ImageError(`Image tarball "${archive}" is not a valid tar archive`);
  return parseInt(text, 8);
}

function checksumOk(block: Uint8Array): boolean {
  const stored = parseInt(cString(block, 148, 8).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : block[i];
  return stored === sum;
}

function parsePax(data: Uint8Array): Map<string, string> {
  const out = new Map<string, string>();
  const text = decoder.decode(data);
  let i = 0;
  while (i < text.length) {
    const sp = text.indexOf(" ", i);
    if (sp < 0) break;
    const len = parseInt(text.slice(i, sp), 10);
    if (!(len > 0)) break;
    const record = text.slice(sp + 1, i + len - 1); // drop trailing "\n"
    const eq = record.indexOf("=");
    if (eq > 0) out.set(record.slice(0, eq), record.slice(eq + 1));
    i += len;
  }
  return out;
}

async function readExactly(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let got = 0;
  while (got < buf.length) {
    const n = await file.read(buf.subarray(got));
    if (n === null) break;
    got += n;
  }
  return got;
}

/**
 * Lists the entries of the tar archive at `path` without reading their data.
 * @throws {ImageError} when the file is missing, truncated or not a tar archive.
 */
export async function indexTar(path: string): Promise<TarEntry[]> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    throw new ImageError(
      `Cannot open image tarball "${path}": ${
        err instanceof Deno.errors.NotFound ? "no such file" : String(err)
      }`,
      { cause: err },
    );
  }
  try {
    const total = (await file.stat()).size;
    const entries: TarEntry[] = [];
    const header = new Uint8Array(BLOCK);
    let pos = 0;
    let longName: string | null = null;
    let longLink: string | null = null;
    let pax: Map<string, string> | null = null;
    for (;;) {
      await file.seek(pos, Deno.SeekMode.Start);
      const got = await readExactly(file, header);
      if (got < BLOCK) throw new ImageError(`Image tarball "${path}" is truncated`);
      if (header.every((b) => b === 0)) break; // end-of-archive marker
      if (!checksumOk(header)) throw new ImageError(`Image tarball "${path}" is not a valid tar archive`);
      const typeflag = String.fromCharCode(header[156] || 48);
      let size = octal(header, 124, 12, path);
      const dataOffset = pos + BLOCK;
      if (pax?.has("size")) {
        size = Number(pax.get("size"));
        if (!Number.isSafeInteger(size) || size < 0) {
          throw new ImageError(`Image tarball "${path}" is not a valid tar archive`);
        }
      }
      if (dataOffset + size > total) throw new ImageError(`Image tarball "${path}" is truncated`);
      const next = dataOffset + Math.ceil(size / BLOCK) * BLOCK;
      if (typeflag === "L" || typeflag === "K" || typeflag === "x" || typeflag === "g") {
        if (size > 1 << 20) throw new ImageError(`Image tarball "${path}" has an oversized extended header`);
        const data = new Uint8Array(size);
        await file.seek(dataOffset, Deno.SeekMode.Start);
        if (await readExactly(file, data) < size) {
          throw new ImageError(`Image tarball "${path}" is truncated`);
        }
        if (typeflag === "L") longName = cString(data, 0, size);
        else if (typeflag === "K") longLink = cString(data, 0, size);
        else if (typeflag === "x") pax = parsePax(data);
        pos = next;
        continue;
      }
      const magic = cString(header, 257, 6);
      const prefix = magic.startsWith("ustar") ? cString(header, 345, 155) : "";
      let name = cString(header, 0, 100);
      if (prefix !== "") name = `${prefix}/${name}`;
      name = pax?.get("path") ?? longName ?? name;
      const linkName = pax?.get("linkpath") ?? longLink ?? cString(header, 157, 100);
      longName = longLink = null;
      pax = null;
      const type: TarEntry["type"] = typeflag === "0" || typeflag === "7" || header[156] === 0
        ? "file"
        : typeflag === "5"
        ? "directory"
        : typeflag === "2"
        ? "symlink"
        : typeflag === "1"
        ? "hardlink"
        : "other";
      entries.push({
        name: name.replace(/^(\.\/)+/, ""),
        type,
        size: type === "file" ? size : 0,
        offset: dataOffset,
        linkName,
      });
      pos = next;
    }
    return entries;
  } finally {
    file.close();
  }
}

/**
 * Reads the data of one file entry found by {@link indexTar}, refusing entries larger than `maxBytes`.
 * @throws {ImageError} when the entry is too large or the file is shorter than the index says.
 */
export async function readTarEntry(path: string, entry: TarEntry, maxBytes: number): Promise<Uint8Array> {
  if (entry.size > maxBytes) {
    throw new ImageError(`Image tarball "${path}": entry "${entry.name}" is larger than ${maxBytes} bytes`);
  }
  using file = await Deno.open(path, { read: true });
  await file.seek(entry.offset, Deno.SeekMode.Start);
  const data = new Uint8Array(entry.size);
  if (await readExactly(file, data) < entry.size) {
    throw new ImageError(`Image tarball "${path}" is truncated`);
  }
  return data;
}
