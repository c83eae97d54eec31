/**
 * A container exiting with each of berth's reserved codes (2, 75, 124, 125, 130, 131, 143) on every engine: berth
 * exits 1 (state `Complete`, the real code in `state.json` `exit_code`, a log line saying so), never the reserved
 * code itself, and never marks the node; a code that is not reserved passes through. See `_fault.ts` for what
 * every case asserts. The "fault → exit" time of these rows is the whole run (the fault is the job itself).
 * @module
 */

import { RESERVED_EXIT_CODES } from "../../src/errors.ts";
import type { EngineCase } from "../e2e/_harness.ts";
import { type FaultCase, UNRESPONSIVE_BOUND_S } from "./_fault.ts";
import { busyboxJob } from "./_jobs.ts";
import { plainRig } from "./_rigs.ts";

/** A container exiting with each reserved code (and one that is not), on `engine`. */
export function exitCodeCases(engine: EngineCase): FaultCase[] {
  const cases: FaultCase[] = [...RESERVED_EXIT_CODES, 3].map((code) => {
    const reserved = RESERVED_EXIT_CODES.has(code);
    return {
      engine,
      phase: "wait",
      fault: `container exits ${code}`,
      job: busyboxJob(`echo exiting ${code}; exit ${code}`),
      expect: {
        code: reserved ? 1 : code,
        state: "Complete",
        exitCode: code,
        marker: false,
        boundS: UNRESPONSIVE_BOUND_S,
        logLine: reserved
          ? new RegExp(`^Container exit code ${code} is one of berth's own exit statuses: berth exits 1 `)
          : new RegExp(`^Container exited with status code ${code}$`),
      },
      rig: plainRig(() => Promise.resolve()),
    };
  });
  return cases;
}
