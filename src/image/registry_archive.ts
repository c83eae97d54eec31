/**
 * Writes a registry image as a `docker save` archive: `manifest.json`, the config as `<id hex>.json`, and each
 * layer uncompressed as `<diff id hex>/layer.tar`, exactly the layout berth reads from tarballs. The
 * Singularity/Apptainer executor converts this archive the way it converts any tarball, so a registry image and
 * the same image saved to a tarball give the same SIF, cached once under the same image ID.
 *
 * Every layer is checked twice while it streams to disk: the compressed bytes against the manifest's digest and
 * size, the uncompressed bytes against the config's `rootfs.diff_ids`. Nothing is held in memory beyond one
 * chunk: a tar header is written as a placeholder and filled in once the layer's size is known.
 *
 * @module
 */

import { Sha256 } from "./digest.ts";
import { referenceName } from "./reference.ts";
import type { Descriptor, RegistryClient, ResolvedImage } from "./registry_client.ts";
import { verifyingStream } from "./registry_client.ts";
import { RegistryError } from "./registry_error.ts";

/** What {@link writeRegistryArchive} needs. */
export interface WriteRegistryArchiveOptions {
  /** The resolved image. */
  image: ResolvedImage;
  /** A client for the image's registry and repository. */
  client: RegistryClient;
  /** The archive's path; must not exist yet. Removed again when writing fails. */
  dst: string;
  /** Compressed bytes downloaded so far over all layers' total. */
  onProgress?: (p: { done: number; total: number }) => void;
}

const BLOCK = 512;
const GZIP_TYPES = new Set([
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
]);
const PLAIN_TYPES = new Set([
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.docker.image.rootfs.diff.tar",
]);

function octal(value: number, width: number): string {
  return value.toString(8).padStart(width - 1, "0") + "\0";
}

/**
 * A ustar header for a regular file. Sizes above the 11-digit octal limit (8 GiB) use the base-256 form GNU tar
 * and Go's archive/tar read.
 */
export function tarFileHeader(name: string, size: number): Uint8Array {
  const enc = new TextEncoder();
  const h = new Uint8Array(BLOCK);
  const put = (text: string, at: number) => h.set(enc.encode(text), at);
  if (enc.encode(name).byteLength > 100) throw new Error(`tar entry name "${name}" is longer than 100 bytes`);
  put(name, 0);
  put(octal(0o644, 8), 100);
  put(octal(0, 8), 108);
  put(octal(0, 8), 116);
  if (size < 8 ** 11) {
    put(octal(size, 12), 124);
  } else {
    h[124] = 0x80;
    let v = BigInt(size);
    for (let i = 135; i > 124; i--) {
      h[i] = Number(v & 0xffn);
      v >>= 8n;
    }
  }
  put(octal(0, 12), 136);
  h.fill(0x20, 148, 156);
  h[156] = "0".charCodeAt(0);
  put("ustar\0", 257);
  put("00", 263);
  const sum = h.reduce((a, b) => a + b, 0);
  put(octal(sum, 7) + " ", 148);
  return h;
}

async function writeAll(file: Deno.FsFile, data: Uint8Array): Promise<void> {
  let at = 0;
  while (at < data.byteLength) at += await file.write(data.subarray(at));
}

function padding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

function hexOf(digest: string): string {
  return digest.slice(digest.indexOf(":") + 1);
}

function decompressor(layer: Descriptor, what: string): TransformStream<Uint8Array, Uint8Array> | null {
  if (GZIP_TYPES.has(layer.mediaType)) {
    return new DecompressionStream("gzip") as unknown as TransformStream<Uint8Array, Uint8Array>;
  }
  if (PLAIN_TYPES.has(layer.mediaType)) return null;
  throw new RegistryError(
    `${what} has media type "${layer.mediaType}"; berth reads gzip-compressed and uncompressed tar layers only`,
  );
}

/** Writes one entry whose content is streamed; returns the content's size. */
async function writeStreamedEntry(
  file: Deno.FsFile,
  name: string,
  content: ReadableStream<Uint8Array>,
  onChunk: (chunk: Uint8Array) => void,
): Promise<number> {
  const headerAt = await file.seek(0, Deno.SeekMode.Current);
  await writeAll(file, new Uint8Array(BLOCK));
  let size = 0;
  for await (const chunk of content) {
    onChunk(chunk);
    size += chunk.byteLength;
    await writeAll(file, chunk);
  }
  await writeAll(file, padding(size));
  const end = await file.seek(0, Deno.SeekMode.Current);
  await file.seek(headerAt, Deno.SeekMode.Start);
  await writeAll(file, tarFileHeader(name, size));
  await file.seek(end, Deno.SeekMode.Start);
  return size;
}

async function writeEntry(file: Deno.FsFile, name: string, data: Uint8Array): Promise<void> {
  await writeAll(file, tarFileHeader(name, data.byteLength));
  await writeAll(file, data);
  await writeAll(file, padding(data.byteLength));
}

/**
 * Downloads the image's layers into a docker-save archive at `opts.dst`.
 * @throws {RegistryError} when a layer cannot be fetched or does not verify; file errors as Deno throws them.
 *   `opts.dst` does not exist afterwards then.
 */
export async function writeRegistryArchive(opts: WriteRegistryArchiveOptions): Promise<void> {
  const { image, client } = opts;
  const diffIds = image.config.rootfs?.diff_ids ?? [];
  const total = image.manifest.layers.reduce((a, l) => a + (l.size > 0 ? l.size : 0), 0);
  let done = 0;
  const file = await Deno.open(opts.dst, { createNew: true, write: true, read: true });
  try {
    const layerNames: string[] = [];
    const written = new Set<string>();
    for (const [i, layer] of image.manifest.layers.entries()) {
      const diffId = diffIds[i];
      const name = `${hexOf(diffId)}/layer.tar`;
      layerNames.push(name);
      if (written.has(name)) continue;
      const what = `layer ${layer.digest}`;
      const unpack = decompressor(layer, what);
      const fetched = (await client.blob(layer.digest)).pipeThrough(
        verifyingStream(layer.digest, layer.size >= 0 ? layer.size : null, what, (n) => {
          done += n;
          opts.onProgress?.({ done, total });
        }),
      );
      const content = unpack ? fetched.pipeThrough(unpack) : fetched;
      const diff = new Sha256();
      try {
        await writeStreamedEntry(file, name, content, (c) => diff.update(c));
      } catch (err) {
        if (err instanceof RegistryError) throw err;
        if (err instanceof Deno.errors.NotCapable) throw err;
        if (err instanceof TypeError && /corrupt|invalid|gzip|deflate/i.test(err.message)) {
          throw new RegistryError(`${what} is not valid gzip data: ${err.message}`, { cause: err });
        }
        throw err;
      }
      const got = diff.digest();
      if (got !== diffId) {
        throw new RegistryError(`${what} unpacks to ${got}, but the image config lists ${diffId}`);
      }
      written.add(name);
    }
    const configName = `${hexOf(image.id)}.json`;
    await writeEntry(file, configName, image.configBytes);
    const ref = image.reference;
    const manifest = [{
      Config: configName,
      RepoTags: ref.tag ? [`${referenceName(ref)}:${ref.tag}`] : [],
      Layers: layerNames,
    }];
    await writeEntry(file, "manifest.json", new TextEncoder().encode(JSON.stringify(manifest)));
    await writeAll(file, new Uint8Array(BLOCK * 2));
  } catch (err) {
    file.close();
    await Deno.remove(opts.dst).catch(() => {});
    throw err;
  }
  file.close();
}
