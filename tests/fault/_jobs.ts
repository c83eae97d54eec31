/**
 * The fault suite's jobs and the outcomes most of its cases expect, in one place.
 * @module
 */

import { testImage } from "../images/mod.ts";
import { CANCEL_BOUND_S, type Expectation, UNRESPONSIVE_BOUND_S } from "./_fault.ts";

const busybox = await testImage("busybox");

/** A busybox job with a tmp output mount, running `script`. */
export function busyboxJob(script: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    container_image: busybox.path,
    command: ["sh", "-c", script],
    mounts: { "/out": { kind: "tmp" } },
    ...extra,
  };
}

/** A job that runs until it is stopped (100 s): the fault comes while it runs, or before. */
export const LONG_JOB: Record<string, unknown> = busyboxJob("echo running; sleep 100");
/** A job that writes a line and an output file and exits 0. */
export const SHORT_JOB: Record<string, unknown> = busyboxJob("echo hello; echo out > /out/f");

/** Cancelled by a signal (143 for SIGTERM, 130 for SIGINT) within 25 s; `exitCode` 137 when it was running. */
export function cancelled(code = 143, exitCode: number | null = null): Expectation {
  return { code, state: "Cancelled", exitCode, marker: false, boundS: CANCEL_BOUND_S };
}

/** A fault of this node: Queued, exit 75, the marker written, within 3 min. */
export const NODE_FAULT: Expectation = {
  code: 75,
  state: "Queued",
  exitCode: null,
  marker: true,
  boundS: UNRESPONSIVE_BOUND_S,
  logLine: /^Error suggests node is unable to run containers: /,
};

/** The job ran to its exit 0 (a fault that did not stop it), within `boundS`. */
export function complete(boundS = UNRESPONSIVE_BOUND_S): Expectation {
  return { code: 0, state: "Complete", exitCode: 0, marker: false, boundS };
}
