/**
 * The run's clock, injectable so that tests drive every deadline with fake timers instead of sleeping, and a timer
 * for `max_run_time`, which may be longer than one `setTimeout` can wait (2^31-1 ms, about 24.8 days): long waits
 * are split into chunks.
 * @module
 */

/** The longest delay one `setTimeout` honours. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** A timer handle, as `setTimeout` returns it. */
export type TimerId = ReturnType<typeof setTimeout>;

/** Timer functions, injectable so tests need not wait. */
export interface TimerApi {
  /** Like `setTimeout`. */
  setTimeout(fn: () => void, ms: number): TimerId;
  /** Like `clearTimeout`. */
  clearTimeout(id: TimerId): void;
}

/** Timers and the time they run on: everything in the runner that waits or measures goes through one of these. */
export interface Clock extends TimerApi {
  /** Milliseconds on a monotonic scale (like `performance.now()`). */
  now(): number;
}

/** The real clock. */
export const REAL_CLOCK: Clock = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (id) => clearTimeout(id),
  now: () => performance.now(),
};

/**
 * Calls `onExpire` once after `ms` milliseconds, however long that is.
 * @returns A function that cancels the timer (safe to call more than once, and after it fired).
 */
export function startDeadline(ms: number, onExpire: () => void, timers: TimerApi = REAL_CLOCK): () => void {
  let id: TimerId | undefined;
  let left = ms;
  const arm = () => {
    const chunk = Math.min(left, MAX_TIMER_MS);
    left -= chunk;
    id = timers.setTimeout(() => {
      id = undefined;
      if (left > 0) arm();
      else onExpire();
    }, chunk);
  };
  arm();
  return () => {
    if (id !== undefined) timers.clearTimeout(id);
    id = undefined;
  };
}

/**
 * Waits for `promise` to settle, at most `ms` on `timers`' clock (a fake one in tests).
 * @returns true when it settled (resolved or rejected) in time, false when the time ran out first.
 */
export async function settlesWithin(
  promise: Promise<unknown>,
  ms: number,
  timers: TimerApi = REAL_CLOCK,
): Promise<boolean> {
  let timer: TimerId | undefined;
  try {
    return await Promise.race([
      promise.then(() => true, () => true),
      new Promise<boolean>((resolve) => timer = timers.setTimeout(() => resolve(false), ms)),
    ]);
  } finally {
    if (timer !== undefined) timers.clearTimeout(timer);
  }
}
