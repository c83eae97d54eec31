/**
 * A small on-node cache for facts about an engine that are slow to ask and rarely change (Podman's `/version`,
 * a Singularity program's `--version` and `exec --help`), so that an array of short jobs does not ask again and
 * again. One JSON file per subject in the user's runtime dir (`<prefix>-<hash>.json`, mode 0600, written through
 * a temp file and a rename so readers see a whole entry or none).
 *
 * An entry is used only while its key (everything the fact depends on, chosen by the caller) still matches and
 * for at most the caller's time to live; an entry from the future counts as stale. A cache that cannot be read or
 * written is simply not used: the fact is asked again, never a failure.
 * @module
 */

import { join } from "node:path";
import { writeFileAtomic } from "../atomic_write.ts";

/** The largest cache file read (a fact is a few hundred bytes to a few KiB). */
const MAX_CACHE_BYTES = 64 * 1024;

/** What {@link cachedFact} needs. */
export interface FactCacheOptions<T> {
  /** The directory of the cache files (the user's runtime dir). */
  dir: string;
  /** The file name's prefix (`engine`, `singularity`). */
  prefix: string;
  /** What the fact is about (a socket or program path): names the file. */
  subject: string;
  /** Everything that must be unchanged for an entry to be used. */
  key: string;
  /** How long an entry is used, in milliseconds. */
  ttlMs: number;
  /** Asks for the fact; null when it could not be had (nothing is cached then). */
  ask: () => Promise<T | null>;
  /** The cached value as read back, or null when it is not a well-formed fact (the entry is then ignored). */
  accept: (value: unknown) => T | null;
  /** The time now, in milliseconds. @default `Date.now()` */
  now?: number;
}

/** What a cache file holds. */
interface CacheEntry {
  key: string;
  value: unknown;
  at: number;
}

/** The cache file for `subject` in `dir`. */
export async function factCachePath(dir: string, prefix: string, subject: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(subject)));
  const hex = Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  return join(dir, `${prefix}-${hex}.json`);
}

/**
 * The cached fact when a matching, fresh entry is there (without asking), else the answer of `ask` (then cached).
 * Never throws unless `ask` does.
 * @returns the fact, or null when the cache had none and `ask` could not say.
 */
export async function cachedFact<T>(o: FactCacheOptions<T>): Promise<T | null> {
  const found = await readCachedFact(o);
  if (found !== null) return found;
  const value = await o.ask();
  if (value !== null) await writeCachedFact(o, value);
  return value;
}

/** The cached fact when a matching, fresh, well-formed entry is there, else null. Never throws. */
export async function readCachedFact<T>(o: Omit<FactCacheOptions<T>, "ask">): Promise<T | null> {
  const now = o.now ?? Date.now();
  const entry = await readEntry(await factCachePath(o.dir, o.prefix, o.subject));
  if (entry === null || entry.key !== o.key || now - entry.at < 0 || now - entry.at >= o.ttlMs) return null;
  return o.accept(entry.value);
}

/** Records a fact; a cache that cannot be written is left alone. Never throws. */
export async function writeCachedFact<T>(
  o: Omit<FactCacheOptions<T>, "ask" | "accept">,
  value: T,
): Promise<void> {
  const path = await factCachePath(o.dir, o.prefix, o.subject);
  const entry: CacheEntry = { key: o.key, value, at: o.now ?? Date.now() };
  try {
    // Not flushed to disk: a cache entry lost in a crash is merely asked again.
    await writeFileAtomic(path, JSON.stringify(entry) + "\n", { mode: 0o600, durable: false });
  } catch {
    // Not written: the fact is asked again next time.
  }
}

async function readEntry(path: string): Promise<CacheEntry | null> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isFile || info.size > MAX_CACHE_BYTES) return null;
    const e = JSON.parse(await Deno.readTextFile(path));
    if (typeof e?.key !== "string" || typeof e?.at !== "number" || !("value" in e)) return null;
    return { key: e.key, value: e.value, at: e.at };
  } catch {
    return null;
  }
}
