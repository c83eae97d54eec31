/**
 * berth's time budget: every bound the runner puts on a step, in one table, so that the guarantees in the README
 * ("What berth guarantees when things go wrong") follow from numbers that live in one place.
 *
 * The two guarantees and how the numbers add up:
 *
 * - **From SIGTERM/SIGINT/SIGQUIT (or `max_run_time`) to berth's exit: at most 25 s, even with a dead engine**
 *   (inside Slurm's default KillWait of 30 s). After the cancel, everything up to the final record shares
 *   {@link BUDGET.cancelMs} (20 s): the engine gets {@link BUDGET.stopGraceMs} to report the container's exit
 *   after the kill, {@link BUDGET.closeAfterFaultMs} to remove it, the stdio files {@link BUDGET.flushAfterFaultMs}
 *   to flush; output collection (ownership fix, `output.json`) gets what is left of the 20 s less
 *   {@link BUDGET.finalReserveMs}, and is cut short (recorded as incomplete) when that runs out; the temp dir,
 *   host statistics and the final `state.json` each get {@link BUDGET.finalStepMs} out of that reserve. The
 *   remaining 5 s are margin for Deno's own exit.
 * - **From an engine that stops answering to exit 75: at most 3 min.** Before the start, each engine step has its
 *   own deadline ({@link BUDGET.engineMs}, {@link BUDGET.createMs}, {@link BUDGET.startMs}); passing it counts as
 *   an unresponsive engine (a fault of this node). While the container runs, the executor's watchdog decides.
 *   Clean-up after an engine fault is bounded like clean-up after a cancel.
 *
 * Every subprocess the runner starts (NVIDIA preparation, `uname`/`df` for node-info, the broken-node hook) has a
 * time limit too. Executors bound their own engine requests below these deadlines, so that their more precise
 * error wins the race.
 * @module
 */

/** The runner's time limits, in milliseconds. */
export const BUDGET = {
  /** Documented bound from a cancel (signal or `max_run_time`) to berth's exit. */
  cancelGuaranteeMs: 25_000,
  /** Everything after a cancel, up to and including the final record, must fit in this. */
  cancelMs: 20_000,
  /** Of {@link BUDGET.cancelMs}, what is kept back for the steps after output collection. */
  finalReserveMs: 3_000,
  /** Each step after output collection on a cancelled run: temp dir removal, host statistics, final record. */
  finalStepMs: 1_000,
  /** After the container was killed: how long the engine may take to report its exit. */
  stopGraceMs: 5_000,
  /** Removing the container after a cancel or an engine fault. */
  closeAfterFaultMs: 5_000,
  /** Removing the container after a normal exit (a busy but healthy engine may be slow). */
  closeMs: 60_000,
  /** Flushing the stdio files after a cancel or fault. */
  flushAfterFaultMs: 2_000,
  /** Flushing the stdio files after a normal exit. */
  flushMs: 10_000,
  /** Stopping a statistics reporter (its final totals are logged). */
  statsStopMs: 2_000,
  /** Choosing the engine and reading its version (`auto` may try every engine). */
  engineMs: 60_000,
  /** Creating the container (and, for Docker, attaching its stdio). */
  createMs: 90_000,
  /** Starting the container. */
  startMs: 90_000,
  /** Any helper program the runner starts itself (`nvidia-smi`, `nvidia-modprobe`, `uname`, `df`). */
  subprocessMs: 10_000,
  /** The `--broken-node-hook` program. */
  hookMs: 30_000,
  /** The documented bound from an engine that stops answering to exit 75. */
  unresponsiveGuaranteeMs: 180_000,
} as const;

/** The budget table's type, so tests can run the lifecycle with other numbers. */
export type Budget = { readonly [K in keyof typeof BUDGET]: number };
