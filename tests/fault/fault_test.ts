/**
 * The fault-injection suite (#14 item 5): every phase × fault on Docker, Podman and the Singularity CLI fixture,
 * each case a real run judged by `_fault.ts` (exit code, final `state.json`, the log's last line, the
 * broken-node marker, nothing left behind, the time from the fault to the exit within the README's bound).
 *
 * The cases, by where the fault comes from:
 * - `_engine_api_cases.ts`: every Engine API call held (SIGTERM/SIGINT), stalled, dropped or answered late, the
 *   engine frozen while the container runs, `max_run_time` while the engine holds a call (Docker, Podman);
 * - `_singularity_cases.ts`: each runtime step slow, hung or failing, the SIF cache lock (Singularity fixture);
 * - `_signal_cases.ts`: SIGTERM and SIGINT while the container runs;
 * - `_exit_codes_cases.ts`: the container exiting with each reserved code;
 * - `_disk_cases.ts`: a tiny tmpfs as the work dir and as the tmp dir;
 * - `_output_cases.ts`: SIGTERM while `output.json` hashes a huge sparse file;
 * - `_runner_phases_cases.ts`: SIGTERM at the runner's own phases through its fault injector (in-process).
 *
 * All cases run as concurrent steps of one test (they mostly wait on engines and bounds): the suite takes a few
 * minutes, not the sum of its cases. The measured table is written to `.build/fault-report.md` (and `.json`).
 */

import { type FaultCase, runConcurrently, runFaultCase } from "./_fault.ts";
import { FAULT_ENGINES, SINGULARITY } from "./_rigs.ts";
import { diskCases } from "./_disk_cases.ts";
import { engineApiCases } from "./_engine_api_cases.ts";
import { exitCodeCases } from "./_exit_codes_cases.ts";
import { outputCases } from "./_output_cases.ts";
import { runnerPhaseCases } from "./_runner_phases_cases.ts";
import { signalCases } from "./_signal_cases.ts";
import { singularityCases, singularityWarmUp } from "./_singularity_cases.ts";

Deno.test({
  name: "fault injection: every phase × fault on Docker, Podman and the Singularity fixture",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn(t) {
    // One plain Singularity run first: the cases after it share the SIF cache it fills.
    await t.step({
      name: "singularity whole run: no fault (fills the shared SIF cache)",
      fn: () => runFaultCase(singularityWarmUp()),
    });
    const cases: FaultCase[] = [];
    for (const engine of FAULT_ENGINES) {
      if (engine.socket !== null) cases.push(...engineApiCases(engine));
      if (engine === SINGULARITY) cases.push(...singularityCases());
      cases.push(
        ...signalCases(engine),
        ...exitCodeCases(engine),
        ...diskCases(engine),
        ...outputCases(engine),
        ...runnerPhaseCases(engine),
      );
    }
    await runConcurrently(t, cases);
  },
});
