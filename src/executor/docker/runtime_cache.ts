/**
 * The runtime description (the log's `Using container runtime: …` line, from `GET /version`) kept on the node for
 * a few minutes, so that an array of short jobs does not ask for it again and again: Podman's compatible
 * `/version` runs conmon and runc and looks up their packages (dpkg/rpm), which takes 0.3 s on a quiet node and
 * several seconds on a busy one, longer than a whole short job.
 *
 * One small JSON file per engine socket in the user's runtime dir (`engine-<hash>.json`). An entry is used only
 * while its key still matches — the socket path, the socket file's identity (device, inode and change time: a
 * restarted engine makes a new socket) and the `/_ping` headers (server name and version, API version) — and for
 * at most {@link RUNTIME_CACHE_TTL_MS}, so an upgraded conmon or runc under a running service shows within that
 * time. The description is only ever logged and recorded, never acted on; a cache that cannot be read or written
 * is simply not used.
 * @module
 */

import { join } from "node:path";

/** How long a cached description is used. */
export const RUNTIME_CACHE_TTL_MS = 10 * 60_000;

/** The largest cache file read (a description is a few hundred bytes). */
const MAX_CACHE_BYTES = 16 * 1024;

/** What a cache file holds. */
interface CacheEntry {
  key: string;
  runtime: string;
  at: number;
}

/** What {@link cachedRuntime} needs. */
export interface RuntimeCacheOptions {
  /** The directory of the cache files (the user's runtime dir). */
  dir: string;
  /** The engine socket's path (names the file). */
  socket: string;
  /** Everything that must be unchanged for an entry to be used (see the module doc). */
  key: string;
  /** Asks the engine; null when it could not say (nothing is cached then). */
  describe: () => Promise<string | null>;
  /** The time now, in milliseconds. @default `Date.now()` */
  now?: number;
}

/**
 * The key of an engine's cache entry: the socket file's identity and the `/_ping` facts.
 * @returns null when the socket cannot be looked at (the cache is not used then).
 */
export function runtimeCacheKey(socket: string, ping: { server: string; apiVersion: string }): string | null {
  try {
    const s = Deno.statSync(socket);
    return JSON.stringify([socket, s.dev, s.ino, s.ctime?.getTime() ?? null, ping.server, ping.apiVersion]);
  } catch {
    return null;
  }
}

/** The cache file of `socket` in `dir`. */
export async function runtimeCachePath(dir: string, socket: string): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(socket)));
  const hex = Array.from(digest.subarray(0, 8), (b) => b.toString(16).padStart(2, "0")).join("");
  return join(dir, `engine-${hex}.json`);
}

/**
 * The engine's runtime description: from the cache when a matching, fresh entry is there, else from `describe`
 * (then cached). Never throws.
 * @returns the description, or null when the cache had none and `describe` could not say.
 */
export async function cachedRuntime(o: RuntimeCacheOptions): Promise<string | null> {
  const now = o.now ?? Date.now();
  const path = await runtimeCachePath(o.dir, o.socket);
  const found = await readEntry(path);
  if (found !== null && found.key === o.key && now - found.at >= 0 && now - found.at < RUNTIME_CACHE_TTL_MS) {
    return found.runtime;
  }
  const runtime = await o.describe();
  if (runtime !== null) await writeEntry(path, { key: o.key, runtime, at: now });
  return runtime;
}

async function readEntry(path: string): Promise<CacheEntry | null> {
  try {
    const info = await Deno.lstat(path);
    if (!info.isFile || info.size > MAX_CACHE_BYTES) return null;
    const e = JSON.parse(await Deno.readTextFile(path));
    if (typeof e?.key !== "string" || typeof e?.runtime !== "string" || typeof e?.at !== "number") {
      return null;
    }
    return { key: e.key, runtime: e.runtime, at: e.at };
  } catch {
    return null;
  }
}

/** Writes the entry through a temp file and a rename, so readers see a whole entry or none. */
async function writeEntry(path: string, entry: CacheEntry): Promise<void> {
  const tmp = `${path}.tmp-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  try {
    await Deno.writeTextFile(tmp, JSON.stringify(entry) + "\n", { createNew: true, mode: 0o600 });
    await Deno.rename(tmp, path);
  } catch {
    await Deno.remove(tmp).catch(() => {});
  }
}
