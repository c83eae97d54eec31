/**
 * The Singularity/Apptainer executor: `createSingularityExecutor` and the pure pieces it is built from
 * (capability detection, argument vector, limits, launch script, cgroup probe, SIF cache).
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
  describeRuntime,
  detectCapabilities,
  parseHelpFlags,
  parseVersionLine,
  queryVersionLine,
  type RuntimeCapabilities,
  type RuntimeVersion,
  type SingularityFlavour,
} from "./capabilities.ts";
export { containerEnv, execArgs, type ExecArgsInput, execEnv, flagsUsed } from "./exec_command.ts";
export { CPU_PERIOD_US, cpuQuota, type LimitInput, type LimitPlan, planLimits } from "./limits.ts";
export {
  LAUNCH_SCRIPT_PATH,
  type LaunchScript,
  launchScript,
  type LaunchScriptInput,
  launchToken,
  type LaunchVerdict,
  mountinfoPath,
  shellQuote,
} from "./launch_script.ts";
export { LaunchStderr } from "./launch_stderr.ts";
export {
  type CgroupHierarchy,
  type CgroupProbe,
  type CgroupProbeHost,
  type CgroupProbeResult,
  type CgroupSupport,
  defaultCgroupProbe,
  probeCgroupControllers,
  realCgroupProbeHost,
  supportOf,
} from "./cgroup_probe.ts";
export { obtainSif, type ObtainSifOptions, sifBaseName } from "./sif_cache.ts";
export { plainBuildLine } from "./convert.ts";
export {
  containedPid,
  containerInitPid,
  findContainedPid,
  findContainerInit,
  killPid,
  type ProcessEntry,
  type ProcessTable,
  waitGone,
} from "./process_tree.ts";
