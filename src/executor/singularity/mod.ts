/**
 * The Singularity/Apptainer executor: `createSingularityExecutor` and the pure pieces it is built from
 * (argument vector, environment, cgroup probe, SIF cache).
 * @module
 */
export {
  createSingularityExecutor,
  SingularityExecutor,
  type SingularityExecutorOptions,
} from "./executor.ts";
export {
  envPrefix,
  type ResolvedEngine,
  resolveEngine,
  type SingularityEngine,
  type SingularityEngineChoice,
} from "./engine.ts";
export {
  type CgroupSupport,
  type ExecArgs,
  execArgs,
  type ExecArgsInput,
  execEnv,
  type ExecEnvInput,
} from "./exec_command.ts";
export {
  type CgroupProbe,
  type CgroupProbeHost,
  type CgroupProbeResult,
  defaultCgroupProbe,
  probeCgroupControllers,
  realCgroupProbeHost,
} from "./cgroup_probe.ts";
export { obtainSif, type ObtainSifOptions, sifBaseName } from "./sif_cache.ts";
export { containedPid, findContainedPid, type ProcessEntry, type ProcessTable } from "./process_tree.ts";
