/**
 * Turning a job into the {@link ContainerSpec} an executor applies literally. The runner resolves here what
 * engines would otherwise each decide their own way (SEAMS decision 3, "same job, same result"):
 *
 * - command = the image's `Entrypoint` followed by the job's `command` (Docker's rule, applied on every engine);
 * - working directory = the job's `cwd`, else the image's `WorkingDir`, else `/` (never left to the engine);
 * - environment = the image's `Env`, overlaid by the job's `environment`: the container's whole environment;
 * - user = who the container runs as (null: the image's user).
 * @module
 */

import type { ImageConfig } from "../image/mod.ts";
import type { ContainerSpec, ContainerUser } from "../executor/types.ts";
import type { ContainerIdentity } from "../node/container_name.ts";
import type { Job } from "../job/mod.ts";
import type { PreparedMounts } from "./mounts.ts";
import type { RunOptions } from "./options.ts";

/** What an image says about how to run it, read defensively (the config comes from an untrusted tarball). */
export interface ImageDefaults {
  /** `config.Entrypoint`; empty when absent. */
  entrypoint: string[];
  /** `config.WorkingDir` when it is an absolute path; "" otherwise. */
  workingDir: string;
  /** `config.Env` as a map (entries without `=` are ignored; a later entry wins). */
  env: Record<string, string>;
  /** `config.User`; "" when absent. */
  user: string;
}

const isStringArray = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === "string");

/** Reads {@link ImageDefaults} from an image config; wrong types count as absent. */
export function imageDefaults(config: ImageConfig): ImageDefaults {
  const c: Record<string, unknown> = config.config && typeof config.config === "object"
    ? config.config as Record<string, unknown>
    : {};
  const env: Record<string, string> = {};
  for (const entry of isStringArray(c.Env) ? c.Env : []) {
    const eq = entry.indexOf("=");
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  const wd = typeof c.WorkingDir === "string" && c.WorkingDir.startsWith("/") ? c.WorkingDir : "";
  return {
    entrypoint: isStringArray(c.Entrypoint) ? c.Entrypoint : [],
    workingDir: wd,
    env,
    user: typeof c.User === "string" ? c.User : "",
  };
}

/** Everything {@link buildContainerSpec} combines. */
export interface SpecInput {
  /** The job. */
  job: Job;
  /** The run's options. */
  options: RunOptions;
  /** The prepared mounts. */
  mounts: PreparedMounts;
  /** The image ID. */
  imageId: string;
  /** The image's defaults. */
  image: ImageDefaults;
  /** The container's stdio, from the stdio files' owner. */
  stdio: Pick<ContainerSpec, "stdin" | "stdout" | "stderr">;
  /** Who the container runs as; null for the image's user. */
  user: ContainerUser | null;
  /** The container's name and labels, unique per user and run (`src/node/container_name.ts`). */
  identity: ContainerIdentity;
  /** Checks the mounts' host paths again (`host_paths.ts`); the executor calls it at its last moment. */
  verifyHostPaths?: () => Promise<void>;
}

/** The spec for one job's container; see the module doc for how the image's defaults are resolved. */
export function buildContainerSpec(input: SpecInput): ContainerSpec {
  const { job, options, image } = input;
  const rc = job.runtime_constraints;
  return {
    name: input.identity.name,
    image: input.imageId,
    command: [...image.entrypoint, ...job.command],
    workingDir: job.cwd !== "." ? job.cwd : image.workingDir || "/",
    env: { ...image.env, ...job.environment },
    user: input.user,
    labels: { ...input.identity.labels },
    mounts: input.mounts.binds,
    vcpus: rc.vcpus,
    ram: options.enableMemoryLimit ? rc.ram : 0,
    gpu: { stack: rc.gpu.stack, deviceCount: rc.gpu.device_count },
    enableNetwork: options.enableNetworking === "always" || rc.API,
    networkMode: options.networkMode,
    cgroupParent: options.cgroupParent,
    ...input.stdio,
    ...(input.verifyHostPaths ? { verifyHostPaths: input.verifyHostPaths } : {}),
  };
}
