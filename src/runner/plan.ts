/**
 * The validate step: everything that can be checked before anything is created. A problem here is a usage or
 * job-file error (exit 2), and no work dir, temp dir, lock or container exists yet.
 * @module
 */

import {
  credentialsFor,
  type ImageSource,
  readRegistryAuth,
  type RegistryCredentials,
} from "../image/mod.ts";
import type { ParsedJob } from "../job/mod.ts";
import { resolveImageSource } from "./image.ts";
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
  /**
   * The image, checked as far as this node can without an engine: a tarball's manifest is read, a SIF file is
   * known by its content, a registry reference is normalised.
   */
  image: ImageSource;
  /** Credentials for a registry image's registry, from `--registry-auth`; null for none. */
  credentials: RegistryCredentials | null;
}

/**
 * Checks the work dir, the engine and hook the user named, the mounts' host sources, the image (a tarball's
 * manifest, a SIF's header, a registry reference) and the `--registry-auth` file.
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
  // Only a file's first bytes, and for a tarball its headers, manifest.json and config, are read (the index seeks
  // over the layers), so a truncated, unsafe or foreign image is refused here, before anything is created.
  const image = await resolveImageSource(
    parsed.job.container_image,
    parsed.path,
    options.keepMount,
    options.engine,
  );
  let credentials: RegistryCredentials | null = null;
  if (options.registryAuth !== "") {
    // Read even for other image forms: a bad --registry-auth file is a usage error whatever the job.
    const file = await readRegistryAuth(options.registryAuth);
    if (image.kind === "registry") credentials = credentialsFor(file, image.reference.registry);
  }
  return { parsed, options, sources, image, credentials };
}
