/**
 * Reads what berth needs from a `docker save` tarball without unpacking it: the image ID (the sha256 of the
 * config file, exactly as Docker computes it), the config, the layer list and the tags. Also refuses archives
 * whose entries could escape a directory they are unpacked into.
 *
 * @module
 */

import { ImageError } from "../errors.ts";
import { indexTar, readTarEntry, type TarEntry } from "./tar_index.ts";

/** The parts of a docker-save archive berth uses. */
export interface ImageManifest {
  /** `sha256:<hex>`: the digest of the config file, which is the image ID Docker reports after `docker load`. */
  id: string;
  /** The image config (`config.Env`, `config.WorkingDir`, `config.User`, `rootfs.diff_ids`, …). */
  config: ImageConfig;
  /** Layer tarball entry names in the archive, bottom layer first. */
  layers: string[];
  /** Tags recorded in the archive (may be empty). */
  repoTags: string[];
}

/** The fields of an image config berth reads; others are kept but untyped. */
export interface ImageConfig {
  config?: {
    Env?: string[];
    Cmd?: string[];
    Entrypoint?: string[];
    WorkingDir?: string;
    User?: string;
  };
  rootfs?: { type: string; diff_ids: string[] };
  [key: string]: unknown;
}

const MAX_JSON_BYTES = 16 << 20;

function unsafeName(name: string): boolean {
  return name.startsWith("/") || name.split("/").includes("..");
}

/** Joins a symlink target to the directory of its entry, or returns null when it leaves the archive. */
function resolveInside(entryName: string, target: string): string | null {
  if (target.startsWith("/")) return null;
  const parts = entryName.split("/").slice(0, -1);
  for (const seg of target.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (parts.length === 0) return null;
      parts.pop();
    } else parts.push(seg);
  }
  return parts.join("/");
}

/**
 * Indexes the archive and checks every entry name and link target stays inside it.
 * @throws {ImageError} naming the first unsafe entry.
 */
export async function indexImageArchive(path: string): Promise<Map<string, TarEntry>> {
  const entries = await indexTar(path);
  const byName = new Map<string, TarEntry>();
  for (const e of entries) {
    if (unsafeName(e.name)) {
      throw new ImageError(`Image tarball "${path}" has an unsafe entry "${e.name}" (absolute or with "..")`);
    }
    if (e.type === "symlink" && resolveInside(e.name, e.linkName) === null) {
      throw new ImageError(
        `Image tarball "${path}" has a symlink "${e.name}" pointing outside the archive ("${e.linkName}")`,
      );
    }
    if (e.type === "hardlink" && unsafeName(e.linkName)) {
      throw new ImageError(
        `Image tarball "${path}" has a hard link "${e.name}" pointing outside the archive`,
      );
    }
    byName.set(e.name.replace(/\/+$/, ""), e);
  }
  return byName;
}

function follow(path: string, byName: Map<string, TarEntry>, name: string): TarEntry {
  let entry = byName.get(name);
  for (let hops = 0; entry && entry.type !== "file" && hops < 10; hops++) {
    const target: string | null = entry.type === "symlink"
      ? resolveInside(entry.name, entry.linkName)
      : entry.type === "hardlink"
      ? entry.linkName
      : null;
    entry = target === null ? undefined : byName.get(target);
  }
  if (!entry || entry.type !== "file") {
    throw new ImageError(`Image tarball "${path}" lacks "${name}" named in its manifest.json`);
  }
  return entry;
}

async function sha256Hex(data: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function parseJsonEntry(path: string, name: string, data: Uint8Array): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(data));
  } catch {
    throw new ImageError(`Image tarball "${path}": "${name}" is not valid JSON`);
  }
}

/**
 * Reads the manifest and config of the single image in a docker-save tarball.
 * @throws {ImageError} when the file is missing, truncated, unsafe, not a docker-save archive, or holds other
 * than exactly one image.
 */
export async function readImageManifest(path: string): Promise<ImageManifest> {
  const byName = await indexImageArchive(path);
  const manifestEntry = byName.get("manifest.json");
  if (!manifestEntry || manifestEntry.type !== "file") {
    throw new ImageError(`Image tarball "${path}" is not a docker-save archive (it has no manifest.json)`);
  }
  const manifest = parseJsonEntry(
    path,
    "manifest.json",
    await readTarEntry(path, manifestEntry, MAX_JSON_BYTES),
  );
  if (!Array.isArray(manifest) || manifest.length !== 1) {
    const n = Array.isArray(manifest) ? manifest.length : 0;
    throw new ImageError(`Image tarball "${path}" holds ${n} images; berth needs exactly one`);
  }
  const item = manifest[0] as { Config?: unknown; Layers?: unknown; RepoTags?: unknown };
  if (
    typeof item.Config !== "string" || !Array.isArray(item.Layers) ||
    !item.Layers.every((l) => typeof l === "string")
  ) {
    throw new ImageError(`Image tarball "${path}" has a manifest.json without "Config" and "Layers"`);
  }
  const configEntry = follow(path, byName, item.Config);
  const configBytes = await readTarEntry(path, configEntry, MAX_JSON_BYTES);
  const config = parseJsonEntry(path, item.Config, configBytes);
  if (config === null || typeof config !== "object" || Array.isArray(config)) {
    throw new ImageError(`Image tarball "${path}": config "${item.Config}" is not a JSON object`);
  }
  for (const layer of item.Layers as string[]) follow(path, byName, layer);
  const repoTags = Array.isArray(item.RepoTags)
    ? item.RepoTags.filter((t): t is string => typeof t === "string")
    : [];
  return {
    id: `sha256:${await sha256Hex(configBytes)}`,
    config: config as ImageConfig,
    layers: item.Layers as string[],
    repoTags,
  };
}
