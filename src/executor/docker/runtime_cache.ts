/**
 * The runtime description (the log's `Using container runtime: …` line, from `GET /version`) kept on the node for
 * a few minutes, so that an array of short jobs does not ask for it again and again: Podman's compatible
 * `/version` runs conmon and runc and looks up their packages (dpkg/rpm), which takes 0.3 s on a quiet node and
 * several seconds on a busy one, longer than a whole short job.
 *
 * One small JSON file per engine socket in the user's runtime dir (`engine-<hash>.json`, see
 * `src/node/fact_cache.ts`). An entry is used only
 * while its key still matches — the socket path, the socket file's identity (device, inode and change time: a
 * restarted engine makes a new socket) and the `/_ping` headers (server name and version, API version) — and for
 * at most {@link RUNTIME_CACHE_TTL_MS}, so an upgraded conmon or runc under a running service shows within that
 * time. The description is only ever logged and recorded, never acted on; a cache that cannot be read or written
 * is simply not used.
 * @module
 */

import { cachedFact, factCachePath } from "../../node/fact_cache.ts";

/** How long a cached description is used. */
export const RUNTIME_CACHE_TTL_MS = 10 * 60_000;

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
export function runtimeCachePath(dir: string, socket: string): Promise<string> {
  return factCachePath(dir, "engine", socket);
}

/**
 * The engine's runtime description: from the cache when a matching, fresh entry is there, else from `describe`
 * (then cached). Never throws.
 * @returns the description, or null when the cache had none and `describe` could not say.
 */
export function cachedRuntime(o: RuntimeCacheOptions): Promise<string | null> {
  return cachedFact({
    dir: o.dir,
    prefix: "engine",
    subject: o.socket,
    key: o.key,
    ttlMs: RUNTIME_CACHE_TTL_MS,
    ask: o.describe,
    accept: (value) => typeof value === "string" ? value : null,
    now: o.now,
  });
}
