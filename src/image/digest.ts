/**
 * SHA-256 digests in the `sha256:<hex>` form registries and engines use, computed over streams so that a layer
 * or a SIF file is never read whole into memory.
 * @module
 */

import { createHash, type Hash } from "node:crypto";

/** A running SHA-256 over chunks fed one by one. */
export class Sha256 {
  #hash: Hash = createHash("sha256");
  /** Bytes fed so far. */
  bytes = 0;

  /** Adds one chunk. */
  update(chunk: Uint8Array): void {
    this.#hash.update(chunk);
    this.bytes += chunk.byteLength;
  }

  /** The digest as `sha256:<64 hex>`; call once, after the last chunk. */
  digest(): string {
    return `sha256:${this.#hash.digest("hex")}`;
  }
}

/** The `sha256:<hex>` digest of some bytes. */
export function sha256Of(data: Uint8Array): string {
  const h = new Sha256();
  h.update(data);
  return h.digest();
}

/**
 * The `sha256:<hex>` digest of a file, read in chunks.
 * @throws {Deno.errors.NotFound} and other file errors, as `Deno.open` throws them.
 */
export async function sha256File(path: string): Promise<string> {
  using file = await Deno.open(path, { read: true });
  const h = new Sha256();
  for await (const chunk of file.readable) h.update(chunk);
  return h.digest();
}
