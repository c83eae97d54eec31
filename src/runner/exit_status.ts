/**
 * Exit statuses: how berth's own exit status follows from the outcome, and how a container's exit code is
 * described in the log (`Container exited with status code 137 (signal 9, SIGKILL)`, as crunch-run writes it).
 * @module
 */

import { ExitCode, RESERVED_EXIT_CODES } from "../errors.ts";
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
  /** Why it was cancelled, when a signal, `max_run_time` or a fault did it. */
  cancel: CancelReason | null;
  /**
   * berth's exit status for a `Cancelled` run that no cancel reason explains: 125 (a failure of the engine or of
   * the job's setup) or 2 (the user's own mistake, such as a `DOCKER_HOST` that is not a unix socket).
   * @default 125
   */
  failureStatus?: number;
}

/**
 * berth's exit status:
 * - `Complete`: the container's exit code, unless it is one of berth's reserved codes (2, 75, 124, 125, 130, 131,
 *   143): then 1, the real code staying in `state.json`;
 * - `Cancelled`: 124, 143, 130 or 131 when `max_run_time` or a signal stopped it, else 125 (or the failure's own
 *   status, 2 for a usage error);
 * - `Queued`: 75 (a fault of this node).
 */
export function exitStatusFor(outcome: Outcome): number {
  switch (outcome.state) {
    case "Complete": {
      const code = outcome.exitCode;
      if (code === null || !Number.isInteger(code) || code < 0 || code > 255) return ExitCode.Failure;
      return RESERVED_EXIT_CODES.has(code) ? ExitCode.ContainerReserved : code;
    }
    case "Queued":
      return ExitCode.Requeue;
    case "Cancelled":
      return outcome.cancel ? cancelExitCode(outcome.cancel) : outcome.failureStatus ?? ExitCode.Failure;
  }
}

/** The log line for a container exit code berth does not pass through, or null when it passes through. */
export function reservedCodeNote(code: number): string | null {
  if (!RESERVED_EXIT_CODES.has(code)) return null;
  return `Container exit code ${code} is one of berth's own exit statuses: berth exits ` +
    `${ExitCode.ContainerReserved} instead (the container's code is in state.json "exit_code")`;
}
