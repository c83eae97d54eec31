/**
 * Fault injection on the Singularity CLI fixture: each step berth asks of the runtime (`--version`,
 * `exec --help`, `build`, `exec`) made slow, hung or failing by a wrapper in front of the fixture
 * (`_singularity_wrapper.ts`), SIGTERM at each of them, the wait for another job's conversion of the same image
 * (the SIF cache lock), and `max_run_time` during a conversion that hangs. See `_fault.ts` for what every case
 * asserts (for Singularity "nothing left" includes no runtime process and no partial SIF in the cache).
 * @module
 */

import { join } from "node:path";
import { assertEquals } from "../helpers/assert.ts";
import { extraRun, type Running, spawnBerth, Workspace } from "../e2e/_harness.ts";
import { CANCEL_BOUND_S, type FaultCase } from "./_fault.ts";
import { cancelled, complete, LONG_JOB, NODE_FAULT } from "./_jobs.ts";
import { logSays, signal, SINGULARITY, singularityRig } from "./_rigs.ts";
import { type WrapperFault, writeSingularityWrapper } from "./_singularity_wrapper.ts";

const singularity = SINGULARITY;
type Step = WrapperFault["step"];

/**
 * The conversion-lock case: another berth converts the same image into the same cache (its build hangs), this one
 * waits for the lock and gets SIGTERM while waiting. It must exit in time, and never start a build of its own.
 */
function lockWaitRig(ws: Workspace) {
  return (async () => {
    const cache = join(ws.root, "cache");
    const holderWs = await Workspace.create(singularity, "f-lockholder");
    const holderWrapper = await writeSingularityWrapper(join(holderWs.root, "bin"), [{
      step: "build",
      mode: "pause",
    }]);
    await holderWs.writeJob(LONG_JOB);
    const holder = await spawnBerth(
      holderWs.args(["--singularity-binary", holderWrapper.path, "--image-cache", cache]),
      extraRun(holderWrapper.path),
    );
    await holderWrapper.reached("build");
    const wrapper = await writeSingularityWrapper(join(ws.root, "bin"), []);
    const stopHolder = async () => {
      try {
        holder.child.kill("SIGTERM");
      } catch { /* exited */ }
      await holder.done;
    };
    return {
      args: ["--singularity-binary", wrapper.path, "--image-cache", cache],
      env: extraRun(wrapper.path),
      caches: [cache],
      async fault(run: Running) {
        await logSays(ws, "Waiting for another job converting image");
        signal(run, "SIGTERM");
      },
      async after() {
        assertEquals((await wrapper.steps()).filter((s) => s === "build"), [], "no build after the SIGTERM");
        const r = await (async () => {
          await stopHolder();
          return await holder.done;
        })();
        assertEquals(r.code, 143, `the lock holder: ${r.stderr.slice(-2000)}`);
      },
      async dispose() {
        try {
          holder.child.kill("SIGKILL");
        } catch { /* exited */ }
        await holder.done;
        await holderWs.dispose();
      },
    };
  })();
}

/** SIGTERM once the wrapper started `step` (or, for a build in `after` mode, once the image is written). */
function sigtermAt(
  phase: string,
  step: Step,
  fault: string,
  o: { after?: boolean } = {},
) {
  return {
    engine: singularity,
    phase,
    fault,
    job: LONG_JOB,
    expect: cancelled(),
    rig: singularityRig(
      [{ step, mode: o.after ? "after" : "pause" }],
      async ({ run, reached }: { run: Running; reached(step: string): Promise<void> }) => {
        await reached(o.after ? "done" : step);
        signal(run, "SIGTERM");
      },
      step === "build" ? { privateCache: "cache" } : {},
    ),
  } satisfies FaultCase;
}

/** The runtime's own failure at `step` (a `FATAL:` line, exit 255): the job fails with 125, the node untouched. */
function fatalAt(phase: string, step: Step): FaultCase {
  const message = `injected ${step} failure`;
  return {
    engine: singularity,
    phase,
    fault: `${step} fails (FATAL)`,
    job: LONG_JOB,
    expect: { ...cancelled(125), logLine: new RegExp(`FATAL: +${message}`) },
    rig: singularityRig(
      [{ step, mode: "fail", message }],
      ({ reached }) => reached(step),
      step === "build" ? { privateCache: "cache" } : {},
    ),
  };
}

/** The Singularity fixture's own cases (the runtime's steps, the SIF lock). */
export function singularityCases(): FaultCase[] {
  return [
    sigtermAt("engine", "version", "SIGTERM while --version does not answer"),
    {
      engine: singularity,
      phase: "engine",
      fault: "--version never answers",
      job: LONG_JOB,
      expect: NODE_FAULT,
      rig: singularityRig([{ step: "version", mode: "pause" }], ({ reached }) => reached("version")),
    },
    sigtermAt("create", "help", "SIGTERM while exec --help does not answer"),
    sigtermAt("image", "build", "SIGTERM while the build does not start"),
    sigtermAt("image", "build", "SIGTERM after the build wrote the image, before it exited", { after: true }),
    fatalAt("image", "build"),
    {
      engine: singularity,
      phase: "image",
      fault: "max_run_time 3 s, the build hangs",
      job: { ...LONG_JOB, scheduling_parameters: { max_run_time: 3 } },
      // Measured from berth's start (it takes the job's lock at once).
      expect: { ...cancelled(124), boundS: 3 + CANCEL_BOUND_S, logLine: /^maximum run time exceeded/ },
      rig: singularityRig([{ step: "build", mode: "pause" }], () => Promise.resolve(), {
        privateCache: "cache",
      }),
    },
    {
      engine: singularity,
      phase: "sif-lock",
      fault: "SIGTERM while another job converts the image",
      job: LONG_JOB,
      expect: cancelled(),
      rig: lockWaitRig,
    },
    sigtermAt("start", "exec", "SIGTERM while exec does not start"),
    fatalAt("start", "exec"),
  ];
}

/** A plain run that fills the shared SIF cache, to run before the cases that use it run side by side. */
export function singularityWarmUp(): FaultCase {
  return {
    engine: singularity,
    phase: "whole run",
    fault: "none",
    job: { ...LONG_JOB, command: ["sh", "-c", "echo hello"] },
    expect: complete(),
    rig: singularityRig([], ({ reached }) => reached("version")),
  };
}
