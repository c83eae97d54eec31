/**
 * Why a run is being stopped, and the one place that decides it: the first reason wins (a SIGTERM that
 * arrives while `max_run_time` is already stopping the container does not change the outcome).
 *
 * Signal handlers are installed by the CLI before anything else happens, so that a scancel during start-up is
 * honoured and a SIGUSR1/SIGUSR2 probe never kills berth; the runner subscribes when it starts.
 * @module
 */

import { ExitCode } from "../errors.ts";

/** Signals that cancel a run: scancel/bkill send SIGTERM, Ctrl-C SIGINT, Ctrl-\ SIGQUIT. */
export type CancelSignal = "SIGTERM" | "SIGINT" | "SIGQUIT";

/** Signals berth catches and ignores (probes by node tools; crunch-run uses them for log saves and prices). */
export type IgnoredSignal = "SIGUSR1" | "SIGUSR2";

/** Why a run was cancelled. */
export type CancelReason =
  | {
    /** A cancel signal arrived. */
    kind: "signal";
    /** Which one. */
    signal: CancelSignal;
  }
  | {
    /** `scheduling_parameters.max_run_time` passed. */
    kind: "timeout";
    /** The limit, in seconds. */
    seconds: number;
  }
  | {
    /**
     * The run cannot go on and the container must be stopped: for example the work dir filled up and the
     * container's output can no longer be written. The job fails (exit 125).
     */
    kind: "fault";
    /** One line saying what went wrong. */
    line: string;
  };

/** The names Go (and so crunch-run's log) gives signals: `caught signal: terminated`. */
export const SIGNAL_NAMES: Readonly<Record<CancelSignal | IgnoredSignal, string>> = {
  SIGTERM: "terminated",
  SIGINT: "interrupt",
  SIGQUIT: "quit",
  SIGUSR1: "user defined signal 1",
  SIGUSR2: "user defined signal 2",
};

/** berth's exit status for a cancelled run: 128 + the signal number, 124 after `max_run_time`, 125 for a fault. */
export function cancelExitCode(reason: CancelReason): number {
  if (reason.kind === "timeout") return ExitCode.Timeout;
  if (reason.kind === "fault") return ExitCode.Failure;
  return { SIGTERM: ExitCode.Sigterm, SIGINT: ExitCode.Sigint, SIGQUIT: ExitCode.Sigquit }[reason.signal];
}

/** One line saying why the run was cancelled, for the log and the state record. */
export function describeCancel(reason: CancelReason): string {
  switch (reason.kind) {
    case "timeout":
      return `maximum run time exceeded (${reason.seconds} s)`;
    case "fault":
      return reason.line;
    case "signal":
      return `caught signal: ${SIGNAL_NAMES[reason.signal]}`;
  }
}

/** The cancellation state of one run. */
export class Cancellation {
  #reason: CancelReason | null = null;
  #listeners: ((reason: CancelReason) => void)[] = [];
  #resolve!: (reason: CancelReason) => void;
  /** Resolves with the reason when the run is cancelled (never rejects). */
  readonly cancelled: Promise<CancelReason> = new Promise((resolve) => this.#resolve = resolve);

  /** The reason, or null while not cancelled. */
  get reason(): CancelReason | null {
    return this.#reason;
  }

  /** Cancels the run; only the first call has an effect. Returns true when this call cancelled it. */
  cancel(reason: CancelReason): boolean {
    if (this.#reason !== null) return false;
    this.#reason = reason;
    this.#resolve(reason);
    for (const l of this.#listeners.splice(0)) l(reason);
    return true;
  }

  /** Calls `listener` once when the run is cancelled (at once if it already is). */
  onCancel(listener: (reason: CancelReason) => void): void {
    if (this.#reason !== null) listener(this.#reason);
    else this.#listeners.push(listener);
  }
}

/** What {@link installSignalHandlers} reports for signals that do not cancel. */
export type IgnoredSignalListener = (signal: IgnoredSignal) => void;

/**
 * Installs berth's signal handlers: SIGTERM, SIGINT and SIGQUIT cancel the run (a repeated signal is
 * reported but changes nothing); SIGUSR1 and SIGUSR2 are caught so they cannot kill berth.
 *
 * @returns A function that removes the handlers again.
 */
export function installSignalHandlers(
  cancellation: Cancellation,
  onIgnored: IgnoredSignalListener = () => {},
  onRepeat: (signal: CancelSignal) => void = () => {},
): () => void {
  const installed: Array<[Deno.Signal, () => void]> = [];
  for (const signal of ["SIGTERM", "SIGINT", "SIGQUIT"] as const) {
    const handler = () => {
      if (!cancellation.cancel({ kind: "signal", signal })) onRepeat(signal);
    };
    Deno.addSignalListener(signal, handler);
    installed.push([signal, handler]);
  }
  for (const signal of ["SIGUSR1", "SIGUSR2"] as const) {
    const handler = () => onIgnored(signal);
    Deno.addSignalListener(signal, handler);
    installed.push([signal, handler]);
  }
  return () => {
    for (const [signal, handler] of installed) Deno.removeSignalListener(signal, handler);
  };
}
