/**
 * What berth does when a fault of this node stops the job (its engine unreachable or unresponsive, its tmp dir
 * full): run the `--broken-node-hook` program, or else write the marker file that `berth check` and
 * `berth list` report, so that the dispatcher stops sending work here. The job itself goes back to `Queued`.
 *
 * The hook has a time limit ({@link BUDGET.hookMs}). A hook that cannot be started at all (missing, not
 * executable, not allowed by berth's permission profile) must not leave the node unmarked: the marker is
 * written instead. `berth run` checks the hook before anything is created, so this is the last line of defence.
 * @module
 */

import { errorLine } from "../errors.ts";
import type { LogFn } from "../executor/types.ts";
import { BUDGET } from "./budget.ts";
import { describeFailure, runBounded } from "./subprocess.ts";

/** How long the hook may run before it is killed. */
export const HOOK_TIMEOUT_MS: number = BUDGET.hookMs;

/** What {@link reportBrokenNode} needs. */
export interface BrokenNodeOptions {
  /** The program to run, without arguments; "" to write the marker instead. */
  hook: string;
  /** The marker file's path. */
  markerPath: string;
  /** The job log; the hook's output goes here too. */
  log: LogFn;
  /** Limit for the hook. @default {@link HOOK_TIMEOUT_MS} */
  hookTimeoutMs?: number;
}

async function writeMarker(err: unknown, options: BrokenNodeOptions): Promise<void> {
  const { log } = options;
  log(`Writing ${options.markerPath} to mark node as broken`);
  try {
    await Deno.writeTextFile(options.markerPath, `${new Date().toISOString()} ${errorLine(err)}\n`, {
      mode: 0o644,
    });
  } catch (e) {
    log(`Error writing ${options.markerPath}: ${errorLine(e)}`);
  }
}

/**
 * Logs that the node looks broken, then runs the hook (its stdout and stderr go into the log) or writes the
 * marker. Never throws: a failing hook or marker is logged.
 */
export async function reportBrokenNode(err: unknown, options: BrokenNodeOptions): Promise<void> {
  const { log } = options;
  log(`Error suggests node is unable to run containers: ${errorLine(err)}`);
  if (options.hook === "") return await writeMarker(err, options);
  log(`Running broken node hook ${JSON.stringify(options.hook)}`);
  const limit = options.hookTimeoutMs ?? HOOK_TIMEOUT_MS;
  const result = await runBounded(options.hook, [], limit);
  if (result.text.trim() !== "") log(result.text.replace(/\n$/, ""));
  const failure = describeFailure(result, limit);
  if (failure !== null) log(`Error running broken node hook: ${failure}`);
  if (result.startError !== null) await writeMarker(err, options);
}
