/**
 * What registry references resolved to, remembered next to the SIF cache (`<cache>/refs/`), so that a node that
 * fetched an image once (`berth pull` on a login node or in a prolog) can run it later without the registry:
 * `--pull missing` and `--pull never` look here before asking the registry.
 *
 * One small JSON file per reference, named by the sha256 of its canonical text (`name:tag` or `name@digest`),
 * written by an atomic rename. It records the image ID (the config digest, which keys the SIF cache), the
 * manifest digest and the config exactly as the registry served it: the config's own digest is the image ID, so
 * a record whose config does not hash to its ID is ignored. The tag → image mapping itself is only as
 * trustworthy as the cache directory, like the SIF entries it points to.
 *
 * @module
 */

import { join } from "node:path";
import type { ImageConfig } from "./docker_archive.ts";
import { sha256Of } from "./digest.ts";
import { referenceName, type RegistryReference } from "./reference.ts";

/** A remembered resolution. */
export interface ReferenceRecord {
  /** The canonical reference this record is for (`name:tag` or `name@digest`). */
  reference: string;
  /** The manifest (or index) digest the reference resolved to. */
  manifestDigest: string;
  /** The image ID (config digest). */
  id: string;
  /** The config as served. */
  config: ImageConfig;
  /** When it was resolved (ISO 8601). */
  resolvedAt: string;
  /** The record's file (for trust checks by the cache's owner). */
  path: string;
}

/** The directory of reference records inside an image cache. */
export const REFS_DIR = "refs";

/** The keys a reference is remembered under: `name@digest` when pinned, `name:tag` when tagged (both if both). */
export function referenceKeys(ref: RegistryReference): string[] {
  const name = referenceName(ref);
  return [
    ...(ref.digest ? [`${name}@${ref.digest}`] : []),
    ...(ref.tag ? [`${name}:${ref.tag}`] : []),
  ];
}

function recordPath(cacheDir: string, key: string): string {
  return join(cacheDir, REFS_DIR, `${sha256Of(new TextEncoder().encode(key)).slice("sha256:".length)}.json`);
}

function validRecord(value: unknown, key: string, path: string): ReferenceRecord | null {
  if (value === null || typeof value !== "object") return null;
  const r = value as Record<string, unknown>;
  if (r.reference !== key || typeof r.manifestDigest !== "string" || typeof r.id !== "string") return null;
  if (typeof r.configText !== "string") return null;
  if (sha256Of(new TextEncoder().encode(r.configText)) !== r.id) return null;
  try {
    const config = JSON.parse(r.configText);
    return {
      reference: key,
      manifestDigest: r.manifestDigest,
      id: r.id,
      config,
      resolvedAt: String(r.resolvedAt ?? ""),
      path,
    };
  } catch {
    return null;
  }
}

/**
 * The record for `ref` (its digest key first, then its tag key), or null when there is none or it is damaged.
 * A pinned reference only matches a record with the same manifest digest.
 */
export async function readReferenceRecord(
  cacheDir: string,
  ref: RegistryReference,
): Promise<ReferenceRecord | null> {
  for (const key of referenceKeys(ref)) {
    const path = recordPath(cacheDir, key);
    let text: string;
    try {
      text = await Deno.readTextFile(path);
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable) throw err;
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      continue;
    }
    const record = validRecord(parsed, key, path);
    if (record && (!ref.digest || record.manifestDigest === ref.digest)) return record;
  }
  return null;
}

/**
 * Remembers what `ref` resolved to, under each of its keys and under `name@manifestDigest`.
 * @param configBytes The config exactly as served (its sha256 is `id`).
 * @throws file errors when the cache directory cannot be written (callers log them: the run goes on).
 */
export async function writeReferenceRecord(
  cacheDir: string,
  ref: RegistryReference,
  resolved: { manifestDigest: string; id: string; configBytes: Uint8Array },
): Promise<void> {
  const dir = join(cacheDir, REFS_DIR);
  // The records directory takes the cache directory's mode (a group-shared cache stays group-shared), never
  // writable by others.
  const mode = ((await Deno.stat(cacheDir)).mode ?? 0o755) & 0o3775;
  try {
    await Deno.mkdir(dir, { mode });
    await Deno.chmod(dir, mode);
  } catch (err) {
    if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
  }
  const configText = new TextDecoder().decode(resolved.configBytes);
  const keys = new Set([...referenceKeys(ref), `${referenceName(ref)}@${resolved.manifestDigest}`]);
  for (const key of keys) {
    const path = recordPath(cacheDir, key);
    const tmp = `${path}.${crypto.randomUUID().slice(0, 8)}.partial`;
    const record = {
      reference: key,
      manifestDigest: resolved.manifestDigest,
      id: resolved.id,
      configText,
      resolvedAt: new Date().toISOString(),
    };
    try {
      await Deno.writeTextFile(tmp, JSON.stringify(record) + "\n", { mode: 0o644 });
      await Deno.chmod(tmp, 0o644);
      await Deno.rename(tmp, path);
    } finally {
      await Deno.remove(tmp).catch(() => {});
    }
  }
}
