/**
 * The three forms an image comes in, as the runner hands them to an executor, and what an executor hands back
 * once the image is usable.
 *
 * - `tarball`: a `docker save` archive on the host (a path, or the one `.tar` of a `keep:` collection); its
 *   manifest is read before anything is created.
 * - `sif`: a Singularity Image Format file, recognised by its content ({@link isSifFile}), run as it is by
 *   Singularity/Apptainer; Docker and Podman cannot run it.
 * - `registry`: `docker://NAME[:TAG][@sha256:DIGEST]`, pulled by the engine (Docker/Podman) or fetched by berth
 *   into the SIF cache (Singularity/Apptainer), as the pull policy allows.
 *
 * @module
 */

import { type ImageConfig, type ImageManifest, readImageManifest } from "./docker_archive.ts";
import type { PullPolicy } from "./pull_policy.ts";
import { isLoopbackRegistry, referenceString, type RegistryReference } from "./reference.ts";
import type { RegistryCredentials } from "./registry_auth.ts";
import { isSifFile } from "./sif.ts";
import { sha256File } from "./digest.ts";

/** Where an image comes from; see the module doc. */
export type ImageSource =
  | {
    /** A docker-save archive. */
    kind: "tarball";
    /** Its path. */
    path: string;
    /** Its manifest (image ID, config, layers), read when the job was checked. */
    manifest: ImageManifest;
  }
  | {
    /** A SIF file. */
    kind: "sif";
    /** Its path. */
    path: string;
  }
  | {
    /** A registry image. */
    kind: "registry";
    /** The normalised reference. */
    reference: RegistryReference;
  };

/** An image made usable by an executor, and what the run records about it (provenance). */
export interface PreparedImage {
  /** `sha256:<hex>`: the config digest for tarball and registry images; for a SIF file, its own sha256. */
  id: string;
  /** The image config (Entrypoint, Cmd, WorkingDir, Env, User); empty for a SIF file, which carries its own. */
  config: ImageConfig;
  /** The canonical registry reference (registry images only). */
  reference?: string;
  /** The manifest digest the reference resolved to (registry images only). */
  manifestDigest?: string;
  /** `sha256:<hex>` of the SIF file, for a SIF source. */
  sifSha256?: string;
}

/** How the run wants the image made usable (`berth run` and `berth pull` options). */
export interface PrepareImageOptions {
  /** `--pull`: when a registry may be asked. */
  pull: PullPolicy;
  /** Credentials for the registry image's registry (from `--registry-auth`), or null. */
  credentials: RegistryCredentials | null;
  /** `--insecure-registry HOST[:PORT]` values: registries spoken to over plain HTTP / without TLS checks. */
  insecureRegistries: readonly string[];
  /** Progress of a load, pull, fetch or conversion. */
  onProgress?: (p: { done: number; total: number }) => void;
  /** Aborts the work (the run was cancelled). */
  signal?: AbortSignal;
}

/**
 * True when `registry` is spoken to over plain HTTP (Podman: without TLS verification): one of the
 * `--insecure-registry` values (host names compare case-insensitively), or a loopback registry, which Docker
 * treats as insecure by itself, so every engine does the same.
 */
export function isInsecureRegistry(registry: string, insecure: readonly string[]): boolean {
  const r = registry.toLowerCase();
  return isLoopbackRegistry(r) || insecure.some((i) => i.trim().toLowerCase() === r);
}

/** What an image was, for the log: `id sha256:…, reference …, manifest digest sha256:…, SIF sha256 sha256:…`. */
export function describePreparedImage(prepared: PreparedImage): string {
  return [
    `id ${prepared.id}`,
    ...(prepared.reference ? [`reference ${prepared.reference}`] : []),
    ...(prepared.manifestDigest ? [`manifest digest ${prepared.manifestDigest}`] : []),
    ...(prepared.sifSha256 ? [`SIF sha256 ${prepared.sifSha256}`] : []),
  ].join(", ");
}

/** How engines refer to the kinds, for messages: "a docker-save tarball", "a SIF file", "a registry image". */
export function describeSource(source: ImageSource): string {
  switch (source.kind) {
    case "tarball":
      return `docker-save tarball "${source.path}"`;
    case "sif":
      return `SIF file "${source.path}"`;
    case "registry":
      return `registry image "${referenceString(source.reference)}"`;
  }
}

/**
 * Identifies an image file on the host by its content: a SIF, or else a docker-save tarball whose manifest is
 * read (only headers, `manifest.json` and the config; the layers are seeked over).
 * @throws {ImageError} for a file that is neither (as {@link readImageManifest} throws); file errors of
 *   `Deno.open`.
 */
export async function identifyImageFile(path: string): Promise<ImageSource> {
  if (await isSifFile(path)) return { kind: "sif", path };
  return { kind: "tarball", path, manifest: await readImageManifest(path) };
}

/**
 * A SIF file as a prepared image: used as it is (no conversion, no copy); its sha256 is its ID and provenance.
 * The file is read once, in chunks, to hash it.
 * @throws file errors of `Deno.open`.
 */
export async function prepareSifFile(path: string): Promise<PreparedImage> {
  const sha = await sha256File(path);
  return { id: sha, config: {}, sifSha256: sha };
}
