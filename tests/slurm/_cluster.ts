/**
 * The Slurm test harness: the one-node cluster of `scripts/slurm-cluster` (started here when it is not running,
 * and stopped again by whoever started it), and thin wrappers over Slurm's client commands (`sbatch`,
 * `scontrol`, `scancel`) that always name the cluster's own `slurm.conf` (through `scripts/slurm-cluster client`).
 *
 * There is no accounting database (no `sacct`): a job's state comes from `scontrol show job`, which keeps a
 * finished job for MinJobAge (300 s) — far longer than any test waits.
 * @module
 */

import { join } from "node:path";
import { REPO_ROOT } from "../helpers/berth.ts";

/** The cluster's state dir (`BERTH_SLURM_DIR`, as `scripts/slurm-cluster` reads it). */
export const SLURM_DIR: string = Deno.env.get("BERTH_SLURM_DIR") || "/tmp/berth-slurm";
/** The script that starts and stops the cluster. */
export const CLUSTER_SCRIPT: string = join(REPO_ROOT, "scripts", "slurm-cluster");

/** The output of a finished command. */
export interface CommandResult {
  /** Exit code. */
  code: number;
  /** stdout, decoded. */
  stdout: string;
  /** stderr, decoded. */
  stderr: string;
}

/** A Slurm client command. */
export type SlurmClient = "sbatch" | "scancel" | "scontrol" | "squeue" | "sinfo";

/**
 * Runs the Slurm client command `program ARGS...` against the test cluster (with `env` added to the environment)
 * and collects its output. It goes through `scripts/slurm-cluster client`, which names the cluster's
 * `slurm.conf`: Deno allows only programs that exist when the test run starts, and Slurm may be installed later,
 * by the cluster script itself.
 */
export function slurm(
  program: SlurmClient,
  args: string[],
  env: Record<string, string> = {},
): Promise<CommandResult> {
  return clusterScript(["client", program, ...args], env);
}

/** Runs `scripts/slurm-cluster ARGS...` and collects its output. */
async function clusterScript(args: string[], env: Record<string, string> = {}): Promise<CommandResult> {
  const out = await new Deno.Command(CLUSTER_SCRIPT, {
    args,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Whether the cluster could be used, and if not why; `startedHere` when this process started it. */
export interface ClusterStatus {
  /** True when the node answers. */
  up: boolean;
  /** Why it is not up (one line), or "". */
  reason: string;
  /** True when this test process started it (and so must stop it). */
  startedHere: boolean;
  /** Seconds `scripts/slurm-cluster start` took, or 0 when it was already running. */
  startSeconds: number;
}

/**
 * Makes sure the cluster runs: `scripts/slurm-cluster status`, else `start` (which installs Slurm when missing).
 * Never throws: a cluster that cannot run here is reported in the result.
 */
export async function ensureCluster(): Promise<ClusterStatus> {
  const none = { up: false, startedHere: false, startSeconds: 0 };
  try {
    if ((await clusterScript(["status"])).code === 0) {
      return { up: true, reason: "", startedHere: false, startSeconds: 0 };
    }
    const started = performance.now();
    const res = await clusterScript(["start"]);
    const startSeconds = (performance.now() - started) / 1000;
    if (res.code !== 0) {
      const why = (res.stderr + res.stdout).trim().split("\n").filter((l) => l.includes("error")).at(-1);
      return { ...none, reason: why ?? `scripts/slurm-cluster start exited ${res.code}` };
    }
    return { up: true, reason: "", startedHere: true, startSeconds };
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      return {
        ...none,
        reason:
          `this test run may not run "${CLUSTER_SCRIPT}" and Slurm's commands (run it through scripts/test, ` +
          `whose BERTH_EXTRA_RUN allows them)`,
      };
    }
    return { ...none, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** Stops the cluster (`scripts/slurm-cluster stop`). */
export function stopCluster(): Promise<CommandResult> {
  return clusterScript(["stop"]);
}

/** `scripts/slurm-cluster status`: exit 0 when the node answers, 1 otherwise. */
export function clusterStatus(): Promise<CommandResult> {
  return clusterScript(["status"]);
}

/** Options for {@link submit}. */
export interface SubmitOptions {
  /** The submit script. */
  script: string;
  /** Arguments for the script. */
  args: string[];
  /** sbatch options before the script. */
  sbatchOptions: string[];
  /** Environment for sbatch, which passes it on to the job (sbatch's default `--export=ALL`). */
  env: Record<string, string>;
}

/** `sbatch --parsable`: submits a batch job and returns its id. */
export async function submit(opts: SubmitOptions): Promise<string> {
  const res = await slurm(
    "sbatch",
    ["--parsable", ...opts.sbatchOptions, opts.script, ...opts.args],
    opts.env,
  );
  const id = res.stdout.trim().split(";")[0];
  if (res.code !== 0 || !/^\d+$/.test(id)) {
    throw new Error(`sbatch failed (exit ${res.code}): ${res.stderr.trim() || res.stdout.trim()}`);
  }
  return id;
}

/** A job as `scontrol show job` describes it: `JobState`, `ExitCode`, `Restarts`, `Reason`, … */
export type JobInfo = Record<string, string>;

/** `scontrol show job -o ID`, as fields. */
export async function jobInfo(id: string): Promise<JobInfo> {
  const res = await slurm("scontrol", ["show", "job", "-o", id]);
  if (res.code !== 0) throw new Error(`scontrol show job ${id} failed: ${res.stderr.trim()}`);
  const info: JobInfo = {};
  for (const m of res.stdout.matchAll(/(?:^|\s)([A-Za-z:/]+)=(\S*)/g)) info[m[1]] ??= m[2];
  return info;
}

/** Job states after which a job does not run again (without a requeue). */
export const FINAL_STATES: ReadonlySet<string> = new Set([
  "COMPLETED",
  "FAILED",
  "CANCELLED",
  "TIMEOUT",
  "NODE_FAIL",
  "OUT_OF_MEMORY",
  "BOOT_FAIL",
  "DEADLINE",
  "PREEMPTED",
]);

/** Polls `scontrol show job` every 250 ms until `done(info)` holds; throws after `timeoutMs`. */
export async function waitForJob(
  id: string,
  what: string,
  done: (info: JobInfo) => boolean,
  timeoutMs: number,
): Promise<JobInfo> {
  const deadline = performance.now() + timeoutMs;
  let info: JobInfo = {};
  while (performance.now() < deadline) {
    info = await jobInfo(id);
    if (done(info)) return info;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(
    `Slurm job ${id} did not reach "${what}" within ${timeoutMs / 1000} s (JobState=${info.JobState} ` +
      `Reason=${info.Reason} Restarts=${info.Restarts})`,
  );
}

/** Waits until the job has ended (a state in {@link FINAL_STATES}). */
export function waitForEnd(id: string, timeoutMs: number): Promise<JobInfo> {
  return waitForJob(id, "a final state", (i) => FINAL_STATES.has(i.JobState), timeoutMs);
}

/** Polls `probe` every 100 ms until it returns true; throws after `timeoutMs`. */
export async function waitUntil(
  what: string,
  probe: () => Promise<boolean>,
  timeoutMs: number,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await probe()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`Timed out after ${timeoutMs / 1000} s waiting for ${what}`);
}

/** The cluster's KillWait in seconds (`scontrol show config`). */
export async function killWaitSeconds(): Promise<number> {
  const res = await slurm("scontrol", ["show", "config"]);
  const m = /^KillWait\s*=\s*(\d+)/m.exec(res.stdout);
  if (!m) throw new Error(`scontrol show config has no KillWait: ${res.stderr.trim()}`);
  return Number(m[1]);
}
