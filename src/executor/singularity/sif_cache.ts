/**
 * The shared SIF cache (`--image-cache DIR`): one converted image per image ID, shared by every job on every
 * node that mounts the directory, and by users who do not trust each other (see `sif_trust.ts` for when an
 * entry is believed).
 *
 * Layout of the cache directory, for image ID `sha256:<hex>`:
 * - `sha256-<hex>.sif` — the entry (mode 0555). It only ever appears by an atomic rename of a finished
 *   conversion, so a file with this name that berth wrote is always complete.
 * - `sha256-<hex>.sif.json` — its record (mode 0444): the image ID it was converted from, its size, time and
 *   sha256. Renamed into place before the entry, so an entry berth wrote always has one.
 * - `sha256-<hex>.sif.lock` — the lock file (`flock`, exclusive), held by the one job converting that image.
 *   Lock files stay; they are empty.
 * - `.sha256-<hex>.<random>.sif-partial` (and `.json-partial`) — a conversion in progress. Hidden and with a
 *   suffix no entry has, so nothing mistakes it for an image. One whose lock is free belongs to a conversion
 *   that died (its process was killed) and is removed by the next job that takes the lock.
 *
 * A job that misses takes the image's lock, looks again (another job may have converted it meanwhile: the 20
 * jobs of a job array that start together convert once), converts into a partial file and renames it into
 * place. An entry that is there but not trusted (planted, damaged, of another image) is treated as missing and
 * replaced, with one log line. flock works across nodes on NFS (Linux emulates it with POSIX locks there). A
 * cache directory that cannot be written, or that strangers could write, is not an error: the image is
 * converted into the job's own temp dir, with a log line.
 *
 * @module
 */

import { join } from "node:path";
import { errorLine, ImageError } from "../../errors.ts";
import type { LogFn } from "../types.ts";
import { type CacheTrust, checkEntry, type EntryCheck, recordOf, strangerWritable } from "./sif_trust.ts";

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
  /** The gid of the site's cache group, whose members' entries are trusted; none: only the user's and root's. */
  cacheGroup?: number;
  /** Re-hash a cached entry against its record before using it (reads the whole file). @default false */
  verifyContent?: boolean;
  /** The invoking user. @default `Deno.uid()` */
  uid?: number;
}

const PARTIAL = /^\.([a-z0-9]+-[0-9a-f]+)\.([0-9a-z]+)\.(?:sif|json)-partial$/;
/** Mode of a cache entry: readable and executable (a SIF runs through its `#!` line) by all, writable by none. */
const ENTRY_MODE = 0o555;
/** Mode of an entry's record. */
const RECORD_MODE = 0o444;

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

/** What {@link findCachedSif} needs: the cache, the image, and who is trusted. */
export type FindCachedSifOptions =
  & Pick<ObtainSifOptions, "imageId" | "cacheGroup" | "verifyContent" | "uid">
  & {
    /** The shared cache directory. */
    cacheDir: string;
  };

/**
 * The cache entry for `opts.imageId` when the cache has one that may be trusted (the rules of `sif_trust.ts`),
 * else null. Looks only: converts nothing, locks nothing, logs nothing.
 */
export async function findCachedSif(opts: FindCachedSifOptions): Promise<string | null> {
  const trust: CacheTrust = { uid: opts.uid ?? Deno.uid() ?? 0, cacheGroup: opts.cacheGroup };
  const entry = join(opts.cacheDir, `${sifBaseName(opts.imageId)}.sif`);
  try {
    if (strangerWritable(await Deno.stat(opts.cacheDir), trust) !== null) return null;
    return (await checkEntry(entry, opts.imageId, trust, opts.verifyContent ?? false)).ok ? entry : null;
  } catch {
    return null;
  }
}

/**
 * Returns the path of a SIF file for `opts.imageId`, converting it (once, across all jobs sharing the cache) when
 * the cache does not have a trusted entry for it yet.
 * @throws whatever `opts.convert` throws; nothing is left in the cache then.
 */
export async function obtainSif(opts: ObtainSifOptions): Promise<string> {
  const { cacheDir, log } = opts;
  const base = sifBaseName(opts.imageId);
  if (cacheDir === undefined || cacheDir === "") return await obtainLocal(opts.localDir, base, opts);
  const trust: CacheTrust = { uid: opts.uid ?? Deno.uid() ?? 0, cacheGroup: opts.cacheGroup };
  const entry = join(cacheDir, `${base}.sif`);
  const check = () => checkEntry(entry, opts.imageId, trust, opts.verifyContent ?? false);
  const fallBack = (why: string) => {
    log(`Cannot use image cache "${cacheDir}": ${why}; converting into the job's temp dir instead`);
    return obtainLocal(opts.localDir, base, opts);
  };

  let lock: Deno.FsFile;
  try {
    await Deno.mkdir(cacheDir, { recursive: true });
    const dirProblem = strangerWritable(await Deno.stat(cacheDir), trust);
    if (dirProblem !== null) return await fallBack(dirProblem);
    if ((await check()).ok) {
      log(`Using cached image "${entry}"`);
      return entry;
    }
    lock = await Deno.open(join(cacheDir, `${base}.sif.lock`), { create: true, write: true });
  } catch (err) {
    return await fallBack(errorLine(err));
  }
  try {
    if (!(await lock.tryLock(true))) {
      log(`Waiting for another job converting image ${opts.imageId} in "${cacheDir}"`);
      await lock.lock(true);
    }
    const found: EntryCheck = await check();
    if (found.ok) {
      log(`Using cached image "${entry}" (converted by another job)`);
      return entry;
    }
    if (!found.missing) log(`Ignoring cached image "${entry}": ${found.reason}; converting it again`);
    await sweepPartials(cacheDir, base, log);
    const partial = join(cacheDir, `.${base}.${randomSuffix()}.sif-partial`);
    const recordPartial = join(cacheDir, `.${base}.${randomSuffix()}.json-partial`);
    try {
      // The build refuses an existing destination, so only probe that the directory takes new files.
      (await Deno.open(partial, { createNew: true, write: true })).close();
      await Deno.remove(partial);
      // An untrusted entry that is not a file (a directory, say) cannot be renamed over: remove it first.
      if (!found.missing && !(await Deno.lstat(entry).then((i) => i.isFile, () => true))) {
        await Deno.remove(entry);
      }
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
      await Deno.chmod(partial, ENTRY_MODE);
      const record = await recordOf(partial, opts.imageId, trust.uid);
      await Deno.writeTextFile(recordPartial, JSON.stringify(record) + "\n", {
        createNew: true,
        mode: RECORD_MODE,
      });
      await Deno.chmod(recordPartial, RECORD_MODE);
      await Deno.rename(recordPartial, `${entry}.json`);
      await Deno.rename(partial, entry);
    } finally {
      await Deno.remove(partial).catch(() => {});
      await Deno.remove(recordPartial).catch(() => {});
    }
    log(`Saved converted image in "${entry}"`);
    return entry;
  } finally {
    lock.close();
  }
}
