/**
 * Recognising a Singularity Image Format file by its content: every SIF starts with a 32-byte launch line
 * (`#!/usr/bin/env run-singularity\n`, NUL-padded) followed by the magic `SIF_MAGIC\0` and the format version
 * (github.com/sylabs/sif, `pkg/sif/sif.go`: `HdrLaunchLen` 32, `HdrMagic`, `HdrMagicLen` 10). The file's name
 * plays no part: a `.sif` that is a tarball is a tarball, and a SIF named `image.tar` is a SIF.
 *
 * @module
 */

/** Offset of the magic in a SIF global header. */
export const SIF_MAGIC_OFFSET = 32;

/** The magic, NUL included (`HdrMagicLen` is 10). */
export const SIF_MAGIC: Uint8Array = new TextEncoder().encode("SIF_MAGIC\0");

/** How many leading bytes {@link hasSifMagic} needs. */
export const SIF_PROBE_LENGTH: number = SIF_MAGIC_OFFSET + SIF_MAGIC.length;

/**
 * True when `head` (the first bytes of a file) carries the SIF magic at its place.
 *
 * @example
 * ```ts
 * import { hasSifMagic } from "./sif.ts";
 * const head = new Uint8Array(64);
 * head.set(new TextEncoder().encode("SIF_MAGIC\0"), 32);
 * console.assert(hasSifMagic(head));
 * ```
 */
export function hasSifMagic(head: Uint8Array): boolean {
  if (head.byteLength < SIF_PROBE_LENGTH) return false;
  return SIF_MAGIC.every((b, i) => head[SIF_MAGIC_OFFSET + i] === b);
}

/**
 * Reads the first bytes of a file and tells whether it is a SIF.
 * @throws the file errors of `Deno.open` (missing, unreadable, a directory).
 */
export async function isSifFile(path: string): Promise<boolean> {
  using file = await Deno.open(path, { read: true });
  const head = new Uint8Array(SIF_PROBE_LENGTH);
  let filled = 0;
  while (filled < head.byteLength) {
    const n = await file.read(head.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return hasSifMagic(head.subarray(0, filled));
}
