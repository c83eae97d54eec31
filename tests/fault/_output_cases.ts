/**
 * Faults during output collection, after the container exited by itself: a SIGTERM while berth hashes a 1 TiB
 * sparse output file for `output.json` (the walk is cut short within the budget, `output.json` says
 * `"complete": false`, and the job stays `Complete`: what happened first decides). See `_fault.ts` for what every
 * case asserts.
 * @module
 */

import { assertEquals } from "../helpers/assert.ts";
import type { EngineCase, Workspace } from "../e2e/_harness.ts";
import { CANCEL_BOUND_S, type FaultCase, type Rig } from "./_fault.ts";
import { busyboxJob, complete } from "./_jobs.ts";
import { logSays, plainRig, signal } from "./_rigs.ts";

/** SIGTERM once the manifest walk runs (the ownership walk has finished); then `output.json` must be partial. */
function sigtermDuringManifest(ws: Workspace): Promise<Rig> {
  return plainRig(async (ws, run) => {
    await logSays(ws, "Phase output: ");
    signal(run, "SIGTERM");
  })(ws).then((rig) => ({
    ...rig,
    async after() {
      const manifest = JSON.parse(await ws.read("output.json"));
      assertEquals(manifest.complete, false, "output.json says it is incomplete");
    },
  }));
}

/** SIGTERM while the output is collected, on `engine`. */
export function outputCases(engine: EngineCase): FaultCase[] {
  return [{
    engine,
    phase: "manifest",
    fault: "SIGTERM while a 1 TiB sparse output file is hashed",
    job: busyboxJob("truncate -s 1099511627776 /out/sparse && echo written"),
    expect: { ...complete(CANCEL_BOUND_S), logLine: /^output\.json is incomplete: the walk was cut short/ },
    rig: sigtermDuringManifest,
  }];
}
