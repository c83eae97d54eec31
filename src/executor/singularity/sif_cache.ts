/**
 * The shared SIF cache (`--image-cache DIR`): one converted image per image ID, shared by every job on every
 * node that mounts the directory.
 *
 * Layout of the cache directory, for image ID `sha256:<hex>`:
 * - `sha256-<hex>.sif` — the entry. It only ever appears by an atomic rename of a finished conversion, so a
 *   file with this name is always complete.
 * - `sha256-<hex>.sif.lock` — the lock file (`flock`, exclusive), held by the one job converting that image.
 *   Lock files stay; they are empty.
 * - `.sha256-<hex>.<random>.sif-partial` — a conversion in progress. Hidden and with a suffix no entry has, so
 *   nothing mistakes it for an image. One whose lock is free belongs to a conversion that died (its process was
 *   killed) and is removed by the next job that takes the lock.
 *
 * A job that misses takes the image's lock, looks again (another job may have converted it meanwhile: the 20
 * jobs of a job array that start together convert once), converts into a partial file and renames it into
 * place. flock works across nodes on NFS (Linux emulates it with POSIX locks there). A cache directory that
 * cannot be written is not an error: the image is converted into the job's own temp dir, with a log line.
 *
 * @module
 */

import { join } from "node:path";
import { errorLine, ImageError } from "../../errors.ts";
import type { LogFn } from "../types.ts";

/** What {@link obtainSif} needs. */
export interface ObtainSifOptions {
  /** The image ID (`sha256:<hex>`, the config digest); the cache key. */
  imageId: string;
  /** The shared cache directory, or undefined for none. */
  cacheDir: string | undefined;
  /** The job's own directory, used without a cache or when the cache cannot be written. */
  localDir: string;
  /** Converts the image into the given path (which does not exist yet). */
  convert: (dst: string) => Promise<void>;
  /** The job log. */
  log: LogFn;
}

const PARTIAL = /^\.([a-z0-9]+-[0-9a-f]+)\.([0-9a-z]+)\.sif-partial$/;

/**
 * The file name stem for an image ID: `sha256:<hex>` → `sha256-<hex>` (no ":" in cache paths).
 * @throws {ImageError} when the ID is not `<algorithm>:<hex digest>`.
 */
export function sifBaseName(imageId: string): string {
  const m = /^([a-z0-9]+):([0-9a-f]{32,128})$/.exec(imageId);
  if (!m) throw new ImageError(`Invalid image ID "${imageId}": expected "sha256:" and a hex digest`);
  return `${m[1]}-${m[2]}`;
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

function randomSuffix(): string {
  return crypto.getRandomValues(new Uint32Array(2)).reduce((s, n) => s + n.toString(36), "");
}

/** Converts into `dir` unless this executor already did; returns the SIF path. */
async function obtainLocal(dir: string, base: string, opts: ObtainSifOptions): Promise<string> {
  const entry = join(dir, `${base}.sif`);
  if (await isFile(entry)) return entry;
  const partial = join(dir, `.${base}.${randomSuffix()}.sif-partial`);
  try {
    await opts.convert(partial);
    await Deno.rename(partial, entry);
  } finally {
    await Deno.remove(partial).catch(() => {});
  }
  return entry;
}

/**
 * Removes partial files of conversions that are not running: those of this image (the caller holds its lock),
 * and those of other images whose lock is free.
 */
async function sweepPartials(cacheDir: string, base: string, log: LogFn): Promise<void> {
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(cacheDir))).map((e) => e.name);
  } catch {
    return;
  }
  for (const name of names) {
    const m = PARTIAL.exec(name);
    if (!m) continue;
    let other: Deno.FsFile | undefined;
    try {
      if (m[1] !== base) {
        other = await Deno.open(join(cacheDir, `${m[1]}.sif.lock`), { create: true, write: true });
        if (!(await other.tryLock(true))) continue;
      }
      await Deno.remove(join(cacheDir, name));
      log(`Removed "${join(cacheDir, name)}" left by a conversion that did not finish`);
    } catch {
      // Gone already, or not ours to judge.
    } finally {
      other?.close();
    }
  }
}

/**
 * Returns the path of a SIF file for `opts.imageId`, converting it (once, across all jobs sharing the cache) when
 * the cache does not have it yet.
 * @throws whatever `opts.convert` throws; nothing is left in the cache then.
 */
export async function obtainSif(opts: ObtainSifOptions): Promise<string> {
  const { cacheDir, log } = opts;
  const base = sifBaseName(opts.imageId);
  if (cacheDir === undefined || cacheDir === "") return await obtainLocal(opts.localDir, base, opts);

  const entry = join(cacheDir, `${base}.sif`);
  if (await isFile(entry)) {
    log(`Using cached image "${entry}"`);
    return entry;
  }
  let lock: Deno.FsFile;
  try {
    await Deno.mkdir(cacheDir, { recursive: true });
    lock = await Deno.open(join(cacheDir, `${base}.sif.lock`), { create: true, write: true });
  } catch (err) {
    log(
      `Cannot use image cache "${cacheDir}" (${errorLine(err)}); converting into the job's temp dir instead`,
    );
    return await obtainLocal(opts.localDir, base, opts);
  }
  try {
    if (!(await lock.tryLock(true))) {
      log(`Waiting for another job converting image ${opts.imageId} in "${cacheDir}"`);
      await lock.lock(true);
    }
    if (await isFile(entry)) {
      log(`Using cached image "${entry}" (converted by another job)`);
      return entry;
    }
    await sweepPartials(cacheDir, base, log);
    const partial = join(cacheDir, `.${base}.${randomSuffix()}.sif-partial`);
    try {
      // The build refuses an existing destination, so only probe that the directory takes new files.
      (await Deno.open(partial, { createNew: true, write: true })).close();
      await Deno.remove(partial);
    } catch (err) {
      log(
        `Cannot write to image cache "${cacheDir}" (${
          errorLine(err)
        }); converting into the job's temp dir instead`,
      );
      return await obtainLocal(opts.localDir, base, opts);
    }
    try {
      await opts.convert(partial);
      await Deno.rename(partial, entry);
    } finally {
      await Deno.remove(partial).catch(() => {});
    }
    log(`Saved converted image in "${entry}"`);
    return entry;
  } finally {
    lock.close();
  }
}
