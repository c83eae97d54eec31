/**
 * What berth does when the node looks unable to run containers (engine unreachable or unresponsive, disk
 * full): run the `--broken-node-hook` program, or else write the marker file that `berth check` and
 * `berth list` report, so that the dispatcher stops sending work here. The job itself goes back to `Queued`.
 * @module
 */

import { errorLine } from "../errors.ts";
import type { LogFn } from "../executor/types.ts";

/** How long the hook may run before it is killed. */
export const HOOK_TIMEOUT_MS = 60_000;

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

/**
 * Logs that the node looks broken, then runs the hook (its stdout and stderr go into the log) or writes the
 * marker. Never throws: a failing hook or marker is logged.
 */
export async function reportBrokenNode(err: unknown, options: BrokenNodeOptions): Promise<void> {
  const { log } = options;
  log(`Error suggests node is unable to run containers: ${errorLine(err)}`);
  if (options.hook === "") {
    log(`Writing ${options.markerPath} to mark node as broken`);
    try {
      await Deno.writeTextFile(options.markerPath, `${new Date().toISOString()} ${errorLine(err)}\n`, {
        mode: 0o644,
      });
    } catch (e) {
      log(`Error writing ${options.markerPath}: ${errorLine(e)}`);
    }
    return;
  }
  log(`Running broken node hook ${JSON.stringify(options.hook)}`);
  const abort = new AbortController();
  const limit = options.hookTimeoutMs ?? HOOK_TIMEOUT_MS;
  const timer = setTimeout(() => abort.abort(), limit);
  try {
    const out = await new Deno.Command(options.hook, {
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: abort.signal,
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    if (text.trim() !== "") log(text.replace(/\n$/, ""));
    if (abort.signal.aborted) log(`Error running broken node hook: killed after ${limit / 1000} s`);
    else if (!out.success) {
      log(`Error running broken node hook: exit status ${out.code}${out.signal ? ` (${out.signal})` : ""}`);
    }
  } catch (e) {
    log(`Error running broken node hook: ${errorLine(e)}`);
  } finally {
    clearTimeout(timer);
  }
}
