/**
 * Node operations: job locks in the runtime dir, listing and killing jobs, garbage collection, the node health
 * check, and detaching a run into the background.
 * @module
 */
export {
  acquireJobLock,
  type HeldJobLock,
  inspectLock,
  JobLockedError,
  type JobLockInfo,
  type JobLockRecord,
} from "./lock.ts";
export {
  formatJobLine,
  type JobEntry,
  jobRunning,
  listJobs,
  listNodeJobs,
  type NodeListing,
} from "./jobs.ts";
export { killJob, type KillOptions, type KillOutcome } from "./kill.ts";
export { collectGarbage, type GcOptions, type GcReport } from "./gc.ts";
export { type CheckOptions, type CheckResult, formatCheck, runChecks } from "./check.ts";
export { type Detached, DetachError, type DetachOptions, detachRun } from "./detach.ts";
export {
  BROKEN_MARKER_NAME,
  brokenMarkerPath,
  checkJobUuid,
  chooseRuntimeDir,
  isJobUuid,
  lockFileName,
  lockPath,
  plannedRuntimeDir,
  runtimeDirCandidates,
  type RuntimeDirEntry,
  runtimeDirsToSearch,
} from "./runtime_dir.ts";
export { createJobTmpDir, jobOfTmpDir, type JobTmpDir, jobTmpDirPrefix } from "./tmp_dirs.ts";
export { type ContainerIdentity, containerIdentity, type RunIdentity } from "./container_name.ts";
export { type ContainerUser, containerUserFor, invokingUser } from "./identity.ts";
export { KILL_SIGNALS, type KillSignal, processAlive } from "./process.ts";
