/**
 * SIGTERM at the phases no engine can be made to pause at, on every engine: the runner runs in this process
 * (as `berth run` does after parsing) with the real executors, and its fault injector holds the phase (setting up
 * mounts, writing the diagnostics, the output ownership walk) until the cancel gives it up, or wedges a clean-up
 * step for ever (flushing the stdio files, removing the temp dir): the budget must still end the run within
 * 25 s with nothing left. See `_fault.ts` for what every case asserts.
 * @module
 */

import type { EngineCase } from "../e2e/_harness.ts";
import { CANCEL_BOUND_S, type Expectation, type FaultCase } from "./_fault.ts";
import { cancelled, complete, SHORT_JOB } from "./_jobs.ts";
import { plainRig } from "./_rigs.ts";
import type { StepName } from "../../src/runner/steps.ts";

const CANCELLED = cancelled();
/** After the container exited by itself, a SIGTERM does not change the outcome (what came first decides). */
const COMPLETE = complete(CANCEL_BOUND_S);

/** SIGTERM at the runner's own phases on `engine`, run in this process with the fault injector. */
export function runnerPhaseCases(engine: EngineCase): FaultCase[] {
  const at = (step: StepName, expect: Expectation, wedge = false, logLine?: RegExp): FaultCase => ({
    engine,
    phase: step,
    fault: `SIGTERM while the runner's fault injector ${wedge ? "wedges" : "holds"} the step (in-process)`,
    job: SHORT_JOB,
    expect: logLine ? { ...expect, logLine } : expect,
    rig: plainRig(() => Promise.resolve()),
    runner: { step, signal: "SIGTERM", wedge },
  });
  return [
    at("mounts", CANCELLED),
    at("diagnostics", CANCELLED),
    at("output", COMPLETE, false, /^Output ownership fix cut short: berth is stopping/),
    // A walk that never returns leaves no output.json at all: the output was not collected, the job failed.
    at("output", { ...CANCELLED, code: 125, exitCode: 0 }, true, /^Cannot collect the output: /),
    // Output that may not have reached logs/stdout.txt fails the job: Complete promises the whole record.
    at(
      "flush",
      { ...CANCELLED, code: 125, exitCode: 0 },
      true,
      /^Cannot write the container's output: it did not/,
    ),
  ];
}
