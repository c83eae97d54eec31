/**
 * Exit statuses: how berth's own exit status follows from the outcome, and how a container's exit code is
 * described in the log (`Container exited with status code 137 (signal 9, SIGKILL)`, as crunch-run writes it).
 * @module
 */

import { ExitCode } from "../errors.ts";
import { cancelExitCode, type CancelReason } from "./cancel.ts";
import type { JobState } from "./state.ts";

const LINUX_SIGNALS = [
  "",
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];

/**
 * The log line for a container's exit code: a code of 128+N (N from 1 to 127) is also named as signal N.
 *
 * @example
 * ```ts
 * import { describeContainerExit } from "./exit_status.ts";
 * console.assert(describeContainerExit(137) === "Container exited with status code 137 (signal 9, SIGKILL)");
 * ```
 */
export function describeContainerExit(code: number): string {
  let suffix = "";
  if (code > 128 && code < 256) {
    const sig = code - 128;
    const name = LINUX_SIGNALS[sig];
    suffix = name ? ` (signal ${sig}, ${name})` : ` (signal ${sig})`;
  }
  return `Container exited with status code ${code}${suffix}`;
}

/** The outcome of a run, from which the exit status follows. */
export interface Outcome {
  /** The final state. */
  state: Exclude<JobState, "Running">;
  /** The container's exit code, when it ran to an exit. */
  exitCode: number | null;
  /** Why it was cancelled, when a signal or `max_run_time` did it. */
  cancel: CancelReason | null;
}

/**
 * berth's exit status: the container's code when `Complete`; 124, 143, 130 or 131 when cancelled by
 * `max_run_time` or a signal; 75 when `Queued`; 125 for any other failure.
 */
export function exitStatusFor(outcome: Outcome): number {
  switch (outcome.state) {
    case "Complete":
      return outcome.exitCode !== null && outcome.exitCode >= 0 && outcome.exitCode <= 255
        ? outcome.exitCode
        : ExitCode.Failure;
    case "Queued":
      return ExitCode.Requeue;
    case "Cancelled":
      return outcome.cancel ? cancelExitCode(outcome.cancel) : ExitCode.Failure;
  }
}
