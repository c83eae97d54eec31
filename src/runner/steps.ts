/**
 * Cancellation as a property of the run: every step of the lifecycle runs through one {@link StepRunner}, which
 * races the step against the run's cancellation and the step's own deadline, hands a result that arrives after
 * the step was given up to a clean-up function, and records how long each phase took.
 *
 * After the run was cancelled (signal, `max_run_time`, a fault), cancellable steps are refused at once, and the
 * clean-up steps that still run share what is left of the cancel budget ({@link Budget.cancelMs}), so that berth
 * exits in bounded time whatever the engine does.
 *
 * Time comes from an injectable {@link Clock} (tests use fake timers), and a fault injector can make any phase
 * hang, fail or stall, so that every phase can be tested under every fault.
 * @module
 */

import type { Cancellation } from "./cancel.ts";
import { type Clock, REAL_CLOCK, settlesWithin, type TimerId } from "./deadline.ts";

/**
 * The steps of a run, in order. The phase timings in `state.json` and `crunch-run.txt` use these names:
 * `setup` (first state record, statistics), `engine` (engine negotiation), `mounts`, `image`, `create`,
 * `diagnostics` (node-info, container.json), `start`, `first_output` (from the start to the container's first
 * output byte), `wait` (the container's run), `stop` (after a cancel: killing it and hearing of its exit; then
 * removing it), `flush` (stdio files), `output` (ownership of the output), `manifest` (`output.json`), `hook`
 * (broken-node hook or marker), `cleanup` (temp dir, host statistics).
 */
export type StepName =
  | "setup"
  | "engine"
  | "mounts"
  | "image"
  | "create"
  | "diagnostics"
  | "start"
  | "first_output"
  | "wait"
  | "stop"
  | "flush"
  | "output"
  | "manifest"
  | "hook"
  | "cleanup";

/** Milliseconds spent in each phase that ran (repeated steps add up). */
export type PhaseTimings = Partial<Record<StepName, number>>;

/**
 * A test's hook into every step: called as the step starts, inside the race, with the step's abort signal. It
 * may wait (a stall), throw (a failure) or never settle (a hang).
 */
export type FaultInjector = (step: StepName, signal: AbortSignal) => Promise<void> | void;

/** Thrown by {@link StepRunner.run} when the run was cancelled before or during a cancellable step. */
export class StepCancelledError extends Error {
  /** The step that was given up. */
  readonly step: StepName;
  constructor(step: StepName) {
    super(`Step "${step}" was given up: the run was cancelled`);
    this.name = "StepCancelledError";
    this.step = step;
  }
}

/** Thrown by {@link StepRunner.run} (unless the step supplies its own error) when a step passes its deadline. */
export class StepTimeoutError extends Error {
  /** The step that was given up. */
  readonly step: StepName;
  /** Its deadline in milliseconds. */
  readonly ms: number;
  constructor(step: StepName, ms: number) {
    super(
      ms > 0
        ? `Step "${step}" did not finish within ${formatSeconds(ms)}`
        : `Step "${step}" had no time left: the stop budget was used up by the steps before it`,
    );
    this.name = "StepTimeoutError";
    this.step = step;
    this.ms = ms;
  }
}

/** How one step runs. */
export interface StepOptions<T> {
  /** The longest the step may take. After a cancel it is further capped by what is left of the cancel budget. */
  deadlineMs?: number;
  /** The error thrown when the deadline passes. @default a {@link StepTimeoutError} */
  timeoutError?: (ms: number) => Error;
  /** Receives a result that arrives after the step was given up (for example, closes a late executor). */
  late?: (value: T) => unknown;
  /**
   * True: the step is given up as soon as the run is cancelled (and refused once it is). False: a clean-up step
   * that runs after a cancel too, within the cancel budget.
   * @default true
   */
  cancellable?: boolean;
  /** Milliseconds of the cancel budget to leave for later steps (caps this step after a cancel). @default 0 */
  reserveMs?: number;
  /** False: not part of the cancel budget (the final steps have their own small bounds). @default true */
  inCancelBudget?: boolean;
  /**
   * When set, passing the deadline first fires the step's abort signal and then gives the step this many more
   * milliseconds to return what it has (a walk that stops early and says so); only then is it given up.
   */
  wrapUpMs?: number;
}

/** What a {@link StepRunner} needs. */
export interface StepRunnerOptions {
  /** The run's cancellation. */
  cancellation: Cancellation;
  /** Milliseconds everything after a cancel must fit in. */
  cancelBudgetMs: number;
  /** The clock. @default {@link REAL_CLOCK} */
  clock?: Clock;
  /** A test's fault injector. */
  inject?: FaultInjector;
  /** Where each phase's duration is logged, one line per step. */
  log?: (message: string) => void;
}

type Settled<T> =
  | { kind: "value"; value: T }
  | { kind: "error"; error: unknown }
  | { kind: "cancelled" }
  | { kind: "timeout" };

/** Formats milliseconds as seconds with three decimals (`1.234 s`). */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(3)} s`;
}

/** Runs the steps of one run; see the module doc. */
export class StepRunner {
  readonly #cancellation: Cancellation;
  readonly #clock: Clock;
  readonly #inject: FaultInjector | undefined;
  readonly #log: (message: string) => void;
  readonly #cancelBudgetMs: number;
  readonly #phases: PhaseTimings = {};
  readonly #abandoned = new Set<Promise<unknown>>();
  #cancelledAt: number | null = null;
  #current: StepName = "setup";

  constructor(options: StepRunnerOptions) {
    this.#cancellation = options.cancellation;
    this.#clock = options.clock ?? REAL_CLOCK;
    this.#inject = options.inject;
    this.#log = options.log ?? (() => {});
    this.#cancelBudgetMs = options.cancelBudgetMs;
    options.cancellation.onCancel(() => this.#cancelledAt ??= this.#clock.now());
  }

  /** The clock the steps run on. */
  get clock(): Clock {
    return this.#clock;
  }

  /** The phase timings so far, rounded to whole milliseconds. */
  get phases(): PhaseTimings {
    const out: PhaseTimings = {};
    for (const [k, v] of Object.entries(this.#phases)) out[k as StepName] = Math.round(v);
    return out;
  }

  /** Milliseconds left of the cancel budget (less `reserveMs`); Infinity while the run is not cancelled. */
  cancelBudgetLeft(reserveMs = 0): number {
    if (this.#cancelledAt === null) return Infinity;
    return Math.max(0, this.#cancelBudgetMs - reserveMs - (this.#clock.now() - this.#cancelledAt));
  }

  /** Records a phase measured elsewhere (the first output byte) and logs it. */
  mark(step: StepName, ms: number): void {
    this.#phases[step] = (this.#phases[step] ?? 0) + ms;
    this.#log(`Phase ${step}: ${formatSeconds(ms)}`);
  }

  /**
   * Waits (at most `ms`) for the steps that were given up and have a `late` function (steps that create
   * something) to settle, so that what they created is there when its owner cleans up.
   */
  async settleAbandoned(ms: number): Promise<void> {
    if (this.#abandoned.size === 0) return;
    await settlesWithin(Promise.allSettled([...this.#abandoned]), ms, this.#clock);
  }

  /**
   * Runs one step: `work` gets an abort signal that fires when the step is given up.
   * @returns what `work` returned.
   * @throws {StepCancelledError} when the run is (or becomes) cancelled and the step is cancellable.
   * @throws the step's timeout error (by default {@link StepTimeoutError}) when it passes its deadline.
   * @throws whatever `work` throws.
   */
  async run<T>(
    step: StepName,
    work: (signal: AbortSignal) => Promise<T>,
    options: StepOptions<T> = {},
  ): Promise<T> {
    const cancellable = options.cancellable ?? true;
    if (cancellable && this.#cancellation.reason !== null) throw new StepCancelledError(step);
    this.#current = step;
    const clock = this.#clock;
    const abort = new AbortController();
    const started = clock.now();
    const inject = this.#inject;
    const running = (async () => {
      if (inject) await inject(step, abort.signal);
      return await work(abort.signal);
    })();
    const own = options.deadlineMs ?? Infinity;
    const inBudget = options.inCancelBudget ?? true;
    /** Milliseconds left until this step's deadline, counting the cancel budget once the run is cancelled. */
    const left = () => {
      const ownLeft = own - (clock.now() - started);
      return inBudget ? Math.min(ownLeft, this.cancelBudgetLeft(options.reserveMs ?? 0)) : ownLeft;
    };
    let timer: TimerId | undefined;
    let limit = left();
    const settled = await new Promise<Settled<T>>((resolve) => {
      running.then(
        (value) => resolve({ kind: "value", value }),
        (error) => resolve({ kind: "error", error }),
      );
      const expire = () => {
        if (options.wrapUpMs === undefined || abort.signal.aborted) return resolve({ kind: "timeout" });
        abort.abort();
        timer = clock.setTimeout(() => resolve({ kind: "timeout" }), options.wrapUpMs);
      };
      const arm = () => {
        if (abort.signal.aborted) return; // already winding up
        if (timer !== undefined) clock.clearTimeout(timer);
        timer = undefined;
        limit = left();
        // No time left at all: expire now, before the step's work begins, rather than on the next timer tick.
        if (limit <= 0) expire();
        else if (limit !== Infinity) timer = clock.setTimeout(expire, limit);
      };
      arm();
      // A cancel either gives the step up, or (for a clean-up step) brings its deadline forward to the budget.
      this.#cancellation.cancelled.then(() =>
        cancellable ? resolve({ kind: "cancelled" }) : inBudget && arm()
      );
    });
    if (timer !== undefined) clock.clearTimeout(timer);
    const ms = clock.now() - started;
    this.#phases[step] = (this.#phases[step] ?? 0) + ms;
    const how = {
      value: "",
      error: " (failed)",
      cancelled: " (given up: cancelled)",
      timeout: " (timed out)",
    };
    this.#log(`Phase ${step}: ${formatSeconds(ms)}${how[settled.kind]}`);
    switch (settled.kind) {
      case "value":
        return settled.value;
      case "error":
        throw settled.error;
      default: {
        abort.abort();
        const late = options.late;
        if (late) {
          const tracked: Promise<unknown> = running.then((value) => late(value), () => {}).finally(() => {
            this.#abandoned.delete(tracked);
          });
          this.#abandoned.add(tracked);
        } else {
          running.catch(() => {});
        }
        if (settled.kind === "cancelled") throw new StepCancelledError(step);
        const ownMs = Math.max(0, Math.round(limit));
        throw options.timeoutError?.(ownMs) ?? new StepTimeoutError(step, ownMs);
      }
    }
  }

  /** The step started last (the one a failure belongs to). */
  get current(): StepName {
    return this.#current;
  }
}
