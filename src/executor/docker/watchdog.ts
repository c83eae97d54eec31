/**
 * A watchdog that checks, at an interval, that the engine still answers, and declares it unresponsive after a
 * number of failed checks in a row. It runs while berth waits on something the engine may never finish (a
 * container's exit, an image load's reply): without it a frozen engine would hang berth forever.
 *
 * Each check is bounded (the smaller of the interval and {@link WatchdogOptions.probeTimeoutMs}); the next one is
 * scheduled one interval after the previous one settled, and the watchdog keeps re-arming until stopped, whatever
 * else happens (a stop of the container, `max_run_time`). Timers are injectable so tests drive it with a fake
 * clock.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import type { LogFn } from "../types.ts";
import { describeMs } from "./bounds.ts";

/** The timer functions the watchdog uses (the global ones by default); timer handles are opaque. */
export interface WatchdogTimers {
  /** As the global `setTimeout`. */
  setTimeout(fn: () => void, ms: number): unknown;
  /** As the global `clearTimeout`. */
  clearTimeout(id: unknown): void;
}

/** Options of {@link startWatchdog}. */
export interface WatchdogOptions {
  /**
   * One check: resolves with "" when the engine is fine, else with a description of the problem (or rejects).
   * `signal` aborts when the check's time is up.
   */
  probe(signal: AbortSignal): Promise<string>;
  /** Time between two checks. */
  intervalMs: number;
  /** Longest wait for one check's answer; the interval when that is shorter. */
  probeTimeoutMs: number;
  /** Failed checks in a row after which the engine counts as unresponsive. */
  threshold: number;
  /** Prefix of the log lines, e.g. `Docker watchdog`. */
  label: string;
  /** What the checks are, for the final error: `container inspections`. */
  checks: string;
  /** Name of the engine in the final error: `Docker`. */
  engine: string;
  /** Where each failed check is logged. */
  log: LogFn;
  /** Timer functions; the global ones by default. */
  timers?: WatchdogTimers;
}

/** A running watchdog. */
export interface Watchdog {
  /** Resolves with a broken-node {@link EngineError} once the engine is declared unresponsive; never rejects. */
  readonly failed: Promise<EngineError>;
  /** Stops checking. Idempotent. */
  stop(): void;
}

const GLOBAL_TIMERS: WatchdogTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/** Starts a watchdog; the first check runs one interval from now. */
export function startWatchdog(options: WatchdogOptions): Watchdog {
  const timers = options.timers ?? GLOBAL_TIMERS;
  const probeMs = Math.min(options.intervalMs, options.probeTimeoutMs);
  let stopped = false;
  let failures = 0;
  let timer: unknown;
  let giveUp: (err: EngineError) => void = () => {};
  const failed = new Promise<EngineError>((resolve) => giveUp = resolve);

  /** One check, settled within `probeMs`: "" or the problem. */
  const check = (): Promise<string> => {
    const controller = new AbortController();
    return new Promise<string>((resolve) => {
      const deadline = timers.setTimeout(() => {
        controller.abort(new DOMException("watchdog check timed out", "TimeoutError"));
        resolve(`no answer within ${describeMs(probeMs)}`);
      }, probeMs);
      options.probe(controller.signal).then(
        (problem) => resolve(problem),
        (err) => resolve(err instanceof Error ? err.message : String(err)),
      ).finally(() => timers.clearTimeout(deadline));
    });
  };

  const tick = async () => {
    if (stopped) return;
    const problem = await check();
    if (stopped) return;
    if (problem === "") {
      failures = 0;
    } else {
      failures++;
      options.log(`${options.label}: ${problem}`);
      if (failures >= options.threshold) {
        options.log(`${options.label}: giving up`);
        stopped = true;
        giveUp(
          new EngineError(
            `${options.engine} engine unresponsive: ${options.threshold} ${options.checks} in a row failed, ` +
              `the last with: ${problem}`,
            { brokenNode: true },
          ),
        );
        return;
      }
    }
    timer = timers.setTimeout(tick, options.intervalMs);
  };
  timer = timers.setTimeout(tick, options.intervalMs);
  return {
    failed,
    stop() {
      stopped = true;
      if (timer !== undefined) timers.clearTimeout(timer);
    },
  };
}
