/**
 * A registry image (`docker://…`) as a SIF file in the shared cache, keyed by its CONFIG digest (the image ID):
 * the same image from a tarball and from a registry is converted once, and a run can say exactly what ran.
 *
 * Why berth reads the registry itself instead of handing `docker://ref` to `singularity build`: the cache key
 * (the config digest) and the image config (Entrypoint, WorkingDir, Env: the runner needs them for "same job,
 * same result") are only known from the manifest and config, which must be fetched first anyway. Fetching the
 * layers too and writing a docker-save archive means one conversion path for both image forms (identical SIFs),
 * layer digests verified by berth, credentials that never reach a subprocess's argv or environment, and the same
 * behaviour on every Singularity 3.x / Apptainer 1.x generation (their docker:// auth variables and `--nohttps`
 * spelling differ). The cost is one temporary copy of the uncompressed layers in the job's temp dir during the
 * conversion. See src/image/registry_client.ts for the network permission this needs.
 *
 * Pull policy: unless `always`, a reference recorded in `<cache>/refs/` whose SIF is in the cache is used without
 * contacting the registry (a tag as last resolved on this cache, a digest exactly); `never` without one is an
 * {@link ImageAbsentError}.
 *
 * @module
 */

import { join } from "node:path";
import { errorLine } from "../../errors.ts";
import {
  ImageAbsentError,
  type ImageConfig,
  type PullPolicy,
  readReferenceRecord,
  referenceString,
  REFS_DIR,
  RegistryClient,
  type RegistryCredentials,
  type RegistryReference,
  writeReferenceRecord,
  writeRegistryArchive,
} from "../../image/mod.ts";
import type { ImageProgress, LogFn } from "../types.ts";
import { findCachedSif, obtainSif } from "./sif_cache.ts";
import { strangerWritable } from "./sif_trust.ts";

/** What {@link obtainRegistrySif} needs. */
export interface ObtainRegistrySifOptions {
  /** The image. */
  reference: RegistryReference;
  /** `--pull`. */
  policy: PullPolicy;
  /** Credentials for the reference's registry, or null. */
  credentials: RegistryCredentials | null;
  /** Plain HTTP (`--insecure-registry`). */
  insecure: boolean;
  /** The shared SIF cache, or undefined/"" for none. */
  cacheDir: string | undefined;
  /** The executor's own temp dir (archive and, without a cache, the SIF). */
  localDir: string;
  /** Converts a docker-save tarball into a SIF at `dst` (the executor's `convertImage`). */
  convert: (tarball: string, dst: string) => Promise<void>;
  /** The job log. */
  log: LogFn;
  /** Download progress (compressed bytes). */
  onProgress?: (p: ImageProgress) => void;
  /** Aborts downloads. */
  signal?: AbortSignal;
  /** The gid whose members' cache entries (and reference records) are trusted (`--image-cache-group`). */
  cacheGroup?: number;
  /** Re-hash a cached SIF against its record before use (`--image-cache-verify`). */
  verifyContent?: boolean;
}

/** A registry image ready to run. */
export interface RegistrySif {
  /** The SIF file. */
  sif: string;
  /** The image ID (config digest). */
  id: string;
  /** The image config. */
  config: ImageConfig;
  /** The manifest digest the reference resolved to. */
  manifestDigest: string;
}

/**
 * True when the reference records under `<cache>/refs/` may be trusted: the directory and the record are real
 * (no symlinks) and could not have been written by a stranger (sec's rules in `sif_trust.ts`, the same as for
 * the SIF entries they point to).
 */
async function trustedRecord(
  cacheDir: string,
  path: string,
  cacheGroup: number | undefined,
): Promise<boolean> {
  const trust = { uid: Deno.uid() ?? 0, cacheGroup };
  try {
    for (const p of [join(cacheDir, REFS_DIR), path]) {
      const info = await Deno.lstat(p);
      if (info.isSymlink || strangerWritable(info, trust) !== null) return false;
    }
    return true;
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    return false;
  }
}

/**
 * Returns a SIF for a registry image, fetching and converting it only when the cache (or the pull policy) says so.
 * @throws {ImageAbsentError} for `never` when the cache does not have it; {@link RegistryError} when the
 *   registry fails; what `convert` throws.
 */
export async function obtainRegistrySif(opts: ObtainRegistrySifOptions): Promise<RegistrySif> {
  const { reference: ref, log } = opts;
  const text = referenceString(ref);
  const cacheDir = opts.cacheDir || undefined;
  if (opts.policy !== "always" && cacheDir) {
    const found = await readReferenceRecord(cacheDir, ref);
    const record = found && await trustedRecord(cacheDir, found.path, opts.cacheGroup) ? found : null;
    const sif = record
      ? await findCachedSif({
        cacheDir,
        imageId: record.id,
        cacheGroup: opts.cacheGroup,
        verifyContent: opts.verifyContent,
      })
      : null;
    if (record && sif) {
      log(
        `Image "${text}" is in the image cache (image ID ${record.id}, manifest digest ${record.manifestDigest}, ` +
          `resolved ${record.resolvedAt}); not contacting the registry (--pull ${opts.policy})`,
      );
      return { sif, id: record.id, config: record.config, manifestDigest: record.manifestDigest };
    }
  }
  if (opts.policy === "never") {
    throw new ImageAbsentError(
      `Image "${text}" is not in the image cache${
        cacheDir ? ` "${cacheDir}"` : " (no --image-cache given)"
      } and ` +
        `--pull never forbids fetching it: run "berth pull" with the same --image-cache first, or use --pull missing`,
    );
  }
  log(
    `Resolving image "${text}" at the registry${
      opts.credentials ? " with credentials from --registry-auth" : ""
    }` +
      `${opts.insecure ? " (insecure registry: plain HTTP)" : ""}`,
  );
  const client = new RegistryClient(ref, {
    credentials: opts.credentials,
    insecure: opts.insecure,
    signal: opts.signal,
  });
  const image = await client.resolve();
  log(`Image "${text}" resolved to manifest digest ${image.manifestDigest}, image ID ${image.id}`);
  const sif = await obtainSif({
    imageId: image.id,
    cacheDir,
    cacheGroup: opts.cacheGroup,
    verifyContent: opts.verifyContent,
    localDir: opts.localDir,
    log,
    convert: async (dst) => {
      const work = await Deno.makeTempDir({ dir: opts.localDir, prefix: "registry-" });
      try {
        const tarball = join(work, "image.tar");
        const layers = image.manifest.layers.length;
        log(`Fetching ${layers} layer${layers === 1 ? "" : "s"} of image "${text}"`);
        await writeRegistryArchive({ image, client, dst: tarball, onProgress: opts.onProgress });
        await opts.convert(tarball, dst);
      } finally {
        await Deno.remove(work, { recursive: true }).catch((err) => {
          log(`Cannot remove "${work}": ${errorLine(err)}`);
        });
      }
    },
  });
  if (cacheDir) {
    await writeReferenceRecord(cacheDir, ref, image).catch((err) => {
      log(
        `Cannot record "${text}" in the image cache (${
          errorLine(err)
        }); a later --pull never will not find it`,
      );
    });
  }
  return { sif, id: image.id, config: image.config, manifestDigest: image.manifestDigest };
}
