/**
 * How long the Docker-API executor waits for the engine, per kind of request: one table, so the budgets berth
 * documents can be checked against it. From an engine that stops answering to `wait()` or the failing call
 * rejecting: at most {@link ENGINE_BOUNDS.createMs} before start (the longest single request), at most
 * `threshold × (interval + probe)` (= 125 s by default) while the container runs. From `stop()` to `wait()`
 * settled: {@link ENGINE_BOUNDS.stopSettleMs}; `close()` after `stop()`: {@link ENGINE_BOUNDS.closeAfterStopMs}.
 *
 * The runner puts its own, slightly longer deadline around every executor call; these bounds sit below it so
 * that the executor's precise error wins the race.
 *
 * @module
 */

/** Time bounds of the Docker-API executor, in milliseconds. */
export const ENGINE_BOUNDS = {
  /** `GET /_ping`, the API negotiation. */
  pingMs: 5_000,
  /**
   * `GET /version`, read once for the runtime description, off the critical path. Podman's runs conmon and the
   * OCI runtime (3–7 s measured on a loaded 2-core node).
   */
  versionMs: 30_000,
  /** Container and image inspections, and the removal of a leftover container before create. */
  inspectMs: 10_000,
  /** `POST /containers/create`. */
  createMs: 30_000,
  /** `POST /containers/{id}/start`. */
  startMs: 30_000,
  /** Opening the attach connection, up to the engine's upgrade answer. */
  attachMs: 30_000,
  /** The SIGKILL request of `stop()` and `close()`. */
  killMs: 4_000,
  /** From `stop()` until `wait()` settles (the exit status, or the engine declared unresponsive). */
  stopSettleMs: 4_500,
  /** `close()` when `stop()` came first or the engine already proved unresponsive: the cancel path. */
  closeAfterStopMs: 4_000,
  /** `close()` otherwise (a finished or failed run on an engine that answers). */
  closeMs: 30_000,
  /** An image load fails when the engine takes no byte of the tarball for this long. */
  loadStallMs: 60_000,
  /** An image load fails when it has not finished after this long. */
  loadOverallMs: 60 * 60_000,
  /** How long `wait()` lets the output drain after the exit (engine liveness is watched meanwhile). */
  drainMs: 5 * 60_000,
  /** Watchdog: default interval between two checks of the engine. */
  watchdogIntervalMs: 15_000,
  /** Watchdog: longest wait for one check's answer (less when the interval is shorter). */
  watchdogProbeMs: 10_000,
} as const;

/** Consecutive failed watchdog checks after which the engine counts as unresponsive. */
export const WATCHDOG_THRESHOLD = 5;

/** A duration for messages: `5 min`, `30 s`, `200 ms`. */
export function describeMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  if (ms >= 1000 && ms % 1000 === 0) return `${ms / 1000} s`;
  if (ms >= 1000) return `${(ms / 1000).toFixed(1)} s`;
  return `${ms} ms`;
}
