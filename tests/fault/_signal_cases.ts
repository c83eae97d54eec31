/**
 * SIGTERM and SIGINT while the container runs, on every engine: the container is killed (137), the run ends
 * `Cancelled` with 143 or 130 within 25 s, nothing left. See `_fault.ts` for what every case asserts.
 * @module
 */

import type { EngineCase } from "../e2e/_harness.ts";
import type { FaultCase } from "./_fault.ts";
import { cancelled, LONG_JOB } from "./_jobs.ts";
import { logSays, plainRig, signal } from "./_rigs.ts";

/** The signal cases for `engine`. */
export function signalCases(engine: EngineCase): FaultCase[] {
  return ([["SIGTERM", 143], ["SIGINT", 130]] as const).map(([sig, code]) => ({
    engine,
    phase: "wait",
    fault: `${sig} while the container runs`,
    job: LONG_JOB,
    expect: cancelled(code, 137),
    rig: plainRig(async (ws, run) => {
      await logSays(ws, "Waiting for container to finish");
      signal(run, sig);
    }),
  }));
}
