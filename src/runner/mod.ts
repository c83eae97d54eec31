/**
 * The job lifecycle (`berth run`): checking a job against this node ({@link planRun}), then running it to its
 * final state ({@link runJob}), with every resource it creates released on every path.
 *
 * Data flows one way: the CLI parses options and the job file, the runner turns the job into mounts and a
 * container spec, the executor drives the engine. The runner never reads the job file and never speaks HTTP.
 * @module
 */
export { ENGINE_CHOICES, type EngineChoice, type NetworkingChoice, type RunOptions } from "./options.ts";
export { planRun, type RunPlan } from "./plan.ts";
export { type RunEnvironment, runJob } from "./lifecycle.ts";
export {
  cancelExitCode,
  Cancellation,
  type CancelReason,
  type CancelSignal,
  describeCancel,
  installSignalHandlers,
  SIGNAL_NAMES,
} from "./cancel.ts";
export { type ExecutorFactories, type SelectedEngine, selectEngine } from "./engine.ts";
export { REAL_FACTORIES } from "./factories.ts";
export { type JobState, type StateRecord } from "./state.ts";
export { type OutputEntry, type OutputManifest } from "./output_manifest.ts";
export { BUDGET, type Budget } from "./budget.ts";
export { checkWorkDir, type WorkDirLayout, workDirLayout } from "./work_dir.ts";
