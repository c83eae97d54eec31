/**
 * Turning a job into the {@link ContainerSpec} an executor applies.
 * @module
 */

import type { ContainerSpec } from "../executor/types.ts";
import type { Job } from "../job/mod.ts";
import type { PreparedMounts } from "./mounts.ts";
import type { RunOptions } from "./options.ts";

/** The container name of a job (Docker names need two characters at least, so a prefix is added). */
export function containerName(uuid: string): string {
  return `berth-${uuid}`;
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
  /** The container's stdio, from the stdio files' owner. */
  stdio: Pick<ContainerSpec, "stdin" | "stdout" | "stderr">;
}

/** The spec for one job's container; see the module doc for how image defaults are resolved. */
export function buildContainerSpec(input: SpecInput): ContainerSpec {
  const { job, options } = input;
  const rc = job.runtime_constraints;
  return {
    name: containerName(job.uuid),
    image: input.imageId,
    command: [...job.command],
    workingDir: job.cwd === "." ? "" : job.cwd,
    env: { ...job.environment },
    mounts: input.mounts.binds,
    vcpus: rc.vcpus,
    ram: options.enableMemoryLimit ? rc.ram : 0,
    gpu: { stack: rc.gpu.stack, deviceCount: rc.gpu.device_count },
    enableNetwork: options.enableNetworking === "always" || rc.API,
    networkMode: options.networkMode,
    cgroupParent: options.cgroupParent,
    ...input.stdio,
  };
}
