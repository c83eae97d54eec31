/**
 * The timing shared by the container and host reporters: wait for a process ID, then a sample every second and
 * a full report every interval, until stopped. Never two samples at once; stopping interrupts any wait.
 * @module
 */

import type { StatsReporter } from "./reporter.ts";

/** Timing options of {@link runReporter}. */
export interface LoopOptions {
  /** The process to watch; polled every 100 ms until it is above 0. */
  pid: () => number | Promise<number>;
  /** Milliseconds between full reports. */
  intervalMs: number;
  /** Milliseconds between memory samples (threshold warnings and maxima). */
  sampleMs: number;
  /** Writes a statistics line (for the warnings about a missing process ID). */
  write: (line: string) => void;
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** Runs `reporter` until `signal` aborts; see the module doc. Never rejects. */
export async function runReporter(
  reporter: StatsReporter,
  o: LoopOptions,
  signal: AbortSignal,
): Promise<void> {
  const started = performance.now();
  let warned = false;
  let pid = 0;
  while (!signal.aborted) {
    try {
      pid = await o.pid();
    } catch {
      pid = 0;
    }
    if (pid > 0) break;
    if (!warned && performance.now() - started >= o.intervalMs) {
      warned = true;
      o.write(`warning: no process ID after ${(o.intervalMs / 1000).toFixed(1)}s -- still waiting...`);
    }
    await pause(100, signal);
  }
  if (pid <= 0) {
    o.write("warning: never got a process ID to read statistics for");
    return;
  }
  try {
    await reporter.attach(pid);
    await reporter.report();
    let lastReport = performance.now();
    while (!signal.aborted) {
      const next = Math.min(o.sampleMs, Math.max(0, lastReport + o.intervalMs - performance.now()));
      await pause(next, signal);
      if (signal.aborted) break;
      if (performance.now() - lastReport >= o.intervalMs) {
        lastReport = performance.now();
        await reporter.report();
      } else {
        await reporter.sample();
      }
    }
  } catch (err) {
    o.write(`warning: statistics stopped: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Starts {@link runReporter} and returns the handle both reporters give out: `stop()` ends the loop, then runs
 * `finish` (log the totals, close the file) once, however often it is called.
 */
export function reportUntilStopped(
  reporter: StatsReporter,
  o: LoopOptions,
  finish: () => void,
): { stop(): Promise<void> } {
  const abort = new AbortController();
  const loop = runReporter(reporter, o, abort.signal);
  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        abort.abort();
        await loop;
        finish();
      })();
      return stopping;
    },
  };
}
