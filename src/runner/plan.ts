/**
 * The validate step: everything that can be checked before anything is created. A problem here is a usage or
 * job-file error (exit 2), and no work dir, temp dir, lock or container exists yet.
 * @module
 */

import { ImageError, JobFileError } from "../errors.ts";
import { type ImageManifest, readImageManifest } from "../image/mod.ts";
import type { ParsedJob } from "../job/mod.ts";
import { resolveImageTarball } from "./image.ts";
import { type MountSources, resolveMountSources } from "./mount_sources.ts";
import type { RunOptions } from "./options.ts";
import { checkNamedTargets } from "./preflight.ts";
import { checkWorkDir } from "./work_dir.ts";

/** A job checked against this node, ready to run. */
export interface RunPlan {
  /** The parsed job file. */
  parsed: ParsedJob;
  /** The run's options. */
  options: RunOptions;
  /** Resolved host paths of bind and collection mounts. */
  sources: MountSources;
  /** The image tarball's path. */
  imageTarball: string;
  /** What the tarball's manifest says: the image ID, config and layers. */
  manifest: ImageManifest;
}

/**
 * Checks the work dir, the engine and hook the user named, the mounts' host sources, and the image tarball's
 * presence and manifest.
 * @param hostEnv berth's host environment snapshot (`DOCKER_HOST`, `CONTAINER_HOST`).
 * @throws {UsageError} for a work dir that is not new or empty, or a named socket, program or hook that cannot be
 *   used (see `preflight.ts`); {@link JobFileError} for a mount source or image the node does not have or may not
 *   hand out.
 */
export async function planRun(
  parsed: ParsedJob,
  options: RunOptions,
  hostEnv: Record<string, string>,
): Promise<RunPlan> {
  await checkWorkDir(options.workDir);
  await checkNamedTargets(options, hostEnv);
  const sources = await resolveMountSources(parsed.job, parsed.path, options.keepMount, options.allowBind);
  const imageTarball = await resolveImageTarball(parsed.job.container_image, parsed.path, options.keepMount);
  let manifest: ImageManifest;
  try {
    // Only the archive's headers, manifest.json and config are read (the index seeks over the layers), so a
    // truncated, unsafe or foreign tarball is refused here, before anything is created.
    manifest = await readImageManifest(imageTarball);
  } catch (err) {
    if (err instanceof ImageError) {
      throw new JobFileError(parsed.path, "container_image", `names an unusable image: ${err.message}`, {
        cause: err,
      });
    }
    throw err;
  }
  return { parsed, options, sources, imageTarball, manifest };
}
