/**
 * Fault injection on the Singularity CLI fixture: each step berth asks of the runtime (`--version`,
 * `exec --help`, `build`, `exec`) made slow, hung or failing by a wrapper in front of the fixture
 * (`_singularity_wrapper.ts`), SIGTERM/SIGINT at each of them, the wait for another job's conversion of the same
 * image (the SIF cache lock), and `max_run_time` during a conversion that hangs. See `_fault.ts` for what every
 * case asserts (for Singularity "nothing left" includes no runtime process and no partial SIF in the cache).
 * @module
 */

import { join } from "node:path";
import { assertEquals } from "../helpers/assert.ts";
import { extraRun, type Running, spawnBerth, Workspace } from "../e2e/_harness.ts";
import { testImage } from "../images/mod.ts";
import { CANCEL_BOUND_S, type Expectation, type FaultCase, UNRESPONSIVE_BOUND_S } from "./_fault.ts";
import { logSays, signal, SINGULARITY, singularityRig } from "./_rigs.ts";
import { writeSingularityWrapper } from "./_singularity_wrapper.ts";

const busybox = await testImage("busybox");
const singularity = SINGULARITY;
const LONG_JOB = {
  container_image: busybox.path,
  command: ["sh", "-c", "echo running; sleep 100"],
  mounts: { "/out": { kind: "tmp" } },
};
const CANCELLED: Expectation = {
  code: 143,
  state: "Cancelled",
  exitCode: null,
  marker: false,
  boundS: CANCEL_BOUND_S,
};

/** SIGTERM once the wrapper started `step`. */
function sigtermAt(step: string) {
  return async ({ run, reached }: { run: Running; reached(step: string): Promise<void> }) => {
    await reached(step);
    signal(run, "SIGTERM");
  };
}

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

/** The Singularity fixture's own cases (the runtime's steps, the SIF lock). */
export function singularityCases(): FaultCase[] {
  const engine = singularity;
  return [
    {
      engine,
      phase: "engine",
      fault: "SIGTERM while --version does not answer",
      blockedBy: "the query process is left running, notes/sing.md fault → sing",
      job: LONG_JOB,
      expect: CANCELLED,
      rig: singularityRig([{ step: "version", mode: "pause" }], sigtermAt("version")),
    },
    {
      engine,
      phase: "engine",
      fault: "--version never answers",
      job: LONG_JOB,
      expect: {
        code: 75,
        state: "Queued",
        exitCode: null,
        marker: true,
        boundS: UNRESPONSIVE_BOUND_S,
        logLine: /^Error suggests node is unable to run containers: /,
      },
      rig: singularityRig([{ step: "version", mode: "pause" }], ({ reached }) => reached("version")),
    },
    {
      engine,
      phase: "create",
      fault: "SIGTERM while exec --help does not answer",
      blockedBy: "the query process is left running, notes/sing.md fault → sing",
      job: LONG_JOB,
      expect: CANCELLED,
      rig: singularityRig([{ step: "help", mode: "pause" }], sigtermAt("help")),
    },
    {
      engine,
      phase: "image",
      fault: "SIGTERM while the build does not start",
      job: LONG_JOB,
      expect: CANCELLED,
      rig: singularityRig([{ step: "build", mode: "pause" }], sigtermAt("build"), { privateCache: "cache" }),
    },
    {
      engine,
      phase: "image",
      fault: "SIGTERM after the build wrote the image, before it exited",
      job: LONG_JOB,
      expect: CANCELLED,
      rig: singularityRig([{ step: "build", mode: "after" }], async ({ run, reached }) => {
        await reached("done");
        signal(run, "SIGTERM");
      }, { privateCache: "cache" }),
    },
    {
      engine,
      phase: "image",
      fault: "the build fails (FATAL)",
      job: LONG_JOB,
      expect: {
        code: 125,
        state: "Cancelled",
        exitCode: null,
        marker: false,
        boundS: CANCEL_BOUND_S,
        logLine: /FATAL: +injected build failure/,
      },
      rig: singularityRig(
        [{ step: "build", mode: "fail", message: "injected build failure" }],
        ({ reached }) => reached("build"),
        { privateCache: "cache" },
      ),
    },
    {
      engine,
      phase: "image",
      fault: "max_run_time 3 s, the build hangs",
      blockedBy: "the build starts after close() and is left running, notes/sing.md 21:10 fault → sing",
      job: { ...LONG_JOB, scheduling_parameters: { max_run_time: 3 } },
      // Measured from berth's start (it takes the job's lock at once).
      expect: {
        code: 124,
        state: "Cancelled",
        exitCode: null,
        marker: false,
        boundS: 3 + CANCEL_BOUND_S,
        logLine: /^maximum run time exceeded/,
      },
      rig: singularityRig([{ step: "build", mode: "pause" }], () => Promise.resolve(), {
        privateCache: "cache",
      }),
    },
    {
      engine,
      phase: "sif-lock",
      fault: "SIGTERM while another job converts the image",
      job: LONG_JOB,
      expect: CANCELLED,
      rig: lockWaitRig,
    },
    {
      engine,
      phase: "start",
      fault: "SIGTERM while exec does not start",
      job: LONG_JOB,
      expect: CANCELLED,
      rig: singularityRig([{ step: "exec", mode: "pause" }], sigtermAt("exec")),
    },
    {
      engine,
      phase: "start",
      fault: "exec fails (FATAL)",
      job: LONG_JOB,
      expect: {
        code: 125,
        state: "Cancelled",
        exitCode: null,
        marker: false,
        boundS: CANCEL_BOUND_S,
        logLine: /FATAL: +injected exec failure/,
      },
      rig: singularityRig(
        [{ step: "exec", mode: "fail", message: "injected exec failure" }],
        ({ reached }) => reached("exec"),
      ),
    },
    {
      engine,
      phase: "wait",
      fault: "SIGTERM while the container runs",
      job: LONG_JOB,
      expect: { ...CANCELLED, exitCode: 137 },
      rig: singularityRig([], async ({ ws, run }) => {
        await logSays(ws, "Waiting for container to finish");
        signal(run, "SIGTERM");
      }),
    },
    {
      engine,
      phase: "wait",
      fault: "SIGINT while the container runs",
      job: LONG_JOB,
      expect: { ...CANCELLED, code: 130, exitCode: 137 },
      rig: singularityRig([], async ({ ws, run }) => {
        await logSays(ws, "Waiting for container to finish");
        signal(run, "SIGINT");
      }),
    },
  ];
}

/** A plain run that fills the shared SIF cache, to run before the cases that use it run side by side. */
export function singularityWarmUp(): FaultCase {
  return {
    engine: singularity,
    phase: "whole run",
    fault: "none",
    job: { ...LONG_JOB, command: ["sh", "-c", "echo hello"] },
    expect: { code: 0, state: "Complete", exitCode: 0, marker: false, boundS: UNRESPONSIVE_BOUND_S },
    rig: singularityRig([], ({ reached }) => reached("version")),
  };
}
