/**
 * The lifecycle against a fake executor and a fake clock: every phase cancelled, late results cleaned up, engine
 * failures and node faults told apart, every deadline passed, the outcome decided by what happened first. No test
 * sleeps: time moves only when a test advances the clock.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { EngineError, UsageError } from "../../src/errors.ts";
import { acquireJobLock } from "../../src/node/lock.ts";
import { BUDGET } from "../../src/runner/budget.ts";
import {
  Cancellation,
  type CancelReason,
  type RunEnvironment,
  runJob,
  type RunPlan,
} from "../../src/runner/mod.ts";
import type { FaultInjector, StepName } from "../../src/runner/steps.ts";
import {
  advanceWhenArmed,
  type Behavior,
  FakeClock,
  FakeExecutor,
  fakeFactories,
  fakePlan,
  faultPlan,
  until,
} from "./_fakes.ts";
import { withTempDir } from "./_job.ts";

const SIGTERM: CancelReason = { kind: "signal", signal: "SIGTERM" };

interface Harness {
  dir: string;
  plan: RunPlan;
  exec: FakeExecutor;
  clock: FakeClock;
  cancellation: Cancellation;
  env: RunEnvironment;
  /** Lines of crunch-run.txt without timestamps. */
  log(): Promise<string[]>;
  state(): Promise<Record<string, unknown>>;
  /** Names left in the tmp dir and lock files left in the runtime dir. */
  leftovers(): Promise<string[]>;
}

async function harness(
  dir: string,
  o: {
    fields?: Record<string, unknown>;
    factory?: Behavior;
    env?: Partial<RunEnvironment>;
    hook?: string;
  } = {},
): Promise<Harness> {
  const plan = await fakePlan(dir, o.fields, o.hook ? { brokenNodeHook: o.hook } : {});
  const exec = new FakeExecutor();
  const clock = new FakeClock();
  const cancellation = new Cancellation();
  const env: RunEnvironment = {
    factories: fakeFactories(exec, o.factory),
    cancellation,
    hostEnv: {},
    stderr: { writeSync: (d) => d.length },
    stderrIsTerminal: false,
    clock,
    ...o.env,
  };
  const read = (rel: string) => Deno.readTextFile(join(plan.options.workDir, rel));
  return {
    dir,
    plan,
    exec,
    clock,
    cancellation,
    env,
    log: async () =>
      (await read("logs/crunch-run.txt")).trimEnd().split("\n").map((l) => l.replace(/^\S+ /, "")),
    state: async () => JSON.parse(await read("state.json")),
    leftovers: async () => {
      const names: string[] = [];
      for await (const e of Deno.readDir(plan.options.tmpDir)) names.push(`tmp/${e.name}`);
      for await (const e of Deno.readDir(plan.options.runtimeDir)) {
        if (e.name.endsWith(".lock") && e.name !== "berth-all.lock") names.push(`rt/${e.name}`);
      }
      for await (const e of Deno.readDir(plan.options.workDir)) {
        if (e.name.startsWith(".")) names.push(`work/${e.name}`);
      }
      names.push(...[...exec.containers].map((c) => `container ${c}`));
      return names;
    },
  };
}

/**
 * Starts the run with a container that runs until it is stopped, and sends SIGTERM once the runner waits for it.
 * `stopKills: false` is an engine that no longer answers a kill.
 */
async function sigtermWhileRunning(h: Harness, stopKills = true): Promise<{ run: Promise<number> }> {
  h.exec.exitCode = null;
  h.exec.stopKills = stopKills;
  const run = runJob(h.plan, h.env);
  await h.exec.entered("wait");
  h.cancellation.cancel(SIGTERM);
  return { run };
}

/** Asserts the record of a finished run: exit status, state, last log line, nothing left behind. */
async function assertFinished(h: Harness, status: number, state: string, exitCode: number | null) {
  const record = await h.state();
  assertEquals(record.state, state, JSON.stringify(record));
  assertEquals(record.exit_status, status);
  assertEquals(record.exit_code, exitCode);
  const log = await h.log();
  assertEquals(log.at(-1), state);
  assertEquals(log.at(-2), `berth finished: exit status ${status}`);
  assertEquals(await h.leftovers(), [], "nothing left behind");
}

Deno.test("runJob() runs a job to Complete and records every phase", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir);
    const status = await runJob(h.plan, h.env);
    assertEquals(status, 0);
    await assertFinished(h, 0, "Complete", 0);
    assertEquals(h.exec.calls, ["runtime", "prepareImage", "create", "start", "wait", "close"]);
    assertEquals([h.exec.spec?.command, h.exec.spec?.workingDir, h.exec.spec?.user], [["true"], "/", null]);
    const stdout = await Deno.readTextFile(join(h.plan.options.workDir, "logs/stdout.txt"));
    assertMatch(stdout, /^\S+Z hello\n$/);
    const log = await h.log();
    for (
      const step of ["setup", "engine", "mounts", "image", "create", "start", "first_output", "wait", "stop"]
    ) {
      assert(log.some((l) => l.startsWith(`Phase ${step}: `)), `a line for phase ${step}: ${log.join("\n")}`);
    }
    const phases = (await h.state()).phases as Record<string, number>;
    for (const step of ["engine", "mounts", "image", "create", "start", "wait", "output", "manifest"]) {
      assertEquals(typeof phases[step], "number", `phases.${step}`);
    }
    const manifest = JSON.parse(await Deno.readTextFile(join(h.plan.options.workDir, "output.json")));
    assertEquals(manifest.complete, true);
  });
});

Deno.test("runJob() passes a reserved container exit code through as 1, the real code in state.json", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir);
    h.exec.exitCode = 75;
    assertEquals(await runJob(h.plan, h.env), 1);
    await assertFinished(h, 1, "Complete", 75);
    assert(
      (await h.log()).some((l) => l.startsWith("Container exit code 75 is one of berth's own exit statuses")),
    );
  });
});

/** Takes the job lock as berth does, but runs `before` when berth releases it (before the release itself). */
function lockReleasedAfter(before: () => Promise<void>): typeof acquireJobLock {
  return async (...args) => {
    const lock = await acquireJobLock(...args);
    return {
      ...lock,
      path: lock.path,
      record: lock.record,
      update: (patch) => lock.update(patch),
      release: async () => {
        await before();
        await lock.release();
      },
    };
  };
}

Deno.test("runJob() releases the job lock only after the final state.json is written", async () => {
  await withTempDir(async (dir) => {
    let stateAtRelease = "";
    const h = await harness(dir, {
      env: {
        acquireLock: lockReleasedAfter(async () => {
          stateAtRelease = JSON.parse(await Deno.readTextFile(join(dir, "work/state.json"))).state;
        }),
      },
    });
    assertEquals(await runJob(h.plan, h.env), 0);
    assertEquals(stateAtRelease, "Complete");
  });
});

const PHASES_BEFORE_WAIT: StepName[] = [
  "setup",
  "engine",
  "mounts",
  "image",
  "create",
  "start",
];
// max_run_time counts from the moment berth holds the job's lock (SEAMS decision 7): every phase is bounded.
const MAX_RUN_TIME = { scheduling_parameters: { max_run_time: 7 } };
/** The two ways a run is cancelled in a phase: a signal, or max_run_time passing (7 s on the fake clock). */
const CANCELS = [
  {
    what: "SIGTERM",
    status: 143,
    fields: {},
    cancel: (h: Harness) => h.cancellation.cancel(SIGTERM),
    line: "caught signal: terminated",
    error: "caught signal: terminated",
    ms: 0,
  },
  {
    what: "max_run_time",
    status: 124,
    fields: MAX_RUN_TIME,
    cancel: (h: Harness) => h.clock.advance(7000),
    line: "maximum run time exceeded. Stopping container.",
    error: "maximum run time exceeded (7 s)",
    ms: 7000,
  },
];
for (const c of CANCELS) {
  for (const step of PHASES_BEFORE_WAIT) {
    Deno.test(`runJob() honours ${c.what} during the ${step} phase: Cancelled, ${c.status}, nothing left`, async () => {
      await withTempDir(async (dir) => {
        const faults = faultPlan({ hangAt: step });
        const h = await harness(dir, { fields: c.fields, env: { inject: faults.inject } });
        const run = runJob(h.plan, h.env);
        await faults.reached(step);
        c.cancel(h);
        assertEquals(await run, c.status);
        await assertFinished(h, c.status, "Cancelled", null);
        assertEquals((await h.state()).error, c.error);
        const log = await h.log();
        assert(log.includes(c.line), log.join("\n"));
        assert(
          log.includes(`Phase ${step}: ${(c.ms / 1000).toFixed(3)} s (given up: cancelled)`),
          log.join("\n"),
        );
        if (h.exec.calls.includes("runtime")) assertEquals(h.exec.calls.at(-1), "close");
      });
    });
  }
}

Deno.test("runJob() writes the diagnostics while the container runs, and honours SIGTERM during them", async () => {
  await withTempDir(async (dir) => {
    const faults = faultPlan({ hangAt: "diagnostics" });
    const h = await harness(dir, { env: { inject: faults.inject } });
    h.exec.exitCode = null;
    const run = runJob(h.plan, h.env);
    await faults.reached("diagnostics");
    await h.exec.entered("wait");
    h.cancellation.cancel(SIGTERM);
    assertEquals(await run, 143);
    await assertFinished(h, 143, "Cancelled", 137);
    const log = await h.log();
    assert(log.includes("Phase diagnostics: 0.000 s (given up: cancelled)"), log.join("\n"));
    assertEquals(h.exec.calls, ["runtime", "prepareImage", "create", "start", "wait", "stop", "close"]);
  });
});

Deno.test("runJob() starts the container without waiting for the runtime's description, and records it", async () => {
  await withTempDir(async (dir) => {
    let open!: () => void;
    const h = await harness(dir);
    h.exec.behavior.runtime = { gate: new Promise<void>((r) => open = r) };
    const run = runJob(h.plan, h.env);
    await h.exec.entered("wait");
    assertEquals(h.exec.calls, ["runtime", "prepareImage", "create", "start", "wait"]);
    open();
    assertEquals(await run, 0);
    await assertFinished(h, 0, "Complete", 0);
    assertEquals((await h.state()).runtime, "fake engine 1.0");
    assert((await h.log()).includes("Using container runtime: fake engine 1.0"));
  });
});

Deno.test("runJob() treats a runtime that cannot say what it is as a fault of the node: Queued, 75", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir);
    h.exec.behavior.runtime = { reject: new EngineError('"fake --version" exited with status 1: broken') };
    assertEquals(await runJob(h.plan, h.env), 75);
    await assertFinished(h, 75, "Queued", null);
    const log = await h.log();
    assert(
      log.includes('Cannot use the container engine: "fake --version" exited with status 1: broken'),
      log.join("\n"),
    );
    assert(!h.exec.calls.includes("create"), h.exec.calls.join(" "));
  });
});

Deno.test("runJob() honours SIGTERM while the container runs: stopped, Cancelled, 143", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir);
    const { run } = await sigtermWhileRunning(h);
    assertEquals(await run, 143);
    await assertFinished(h, 143, "Cancelled", 137);
    assertEquals(h.exec.calls, ["runtime", "prepareImage", "create", "start", "wait", "stop", "close"]);
    assertEquals((await h.state()).error, "caught signal: terminated");
  });
});

Deno.test("runJob() removes a container whose create settles after the run was cancelled", async () => {
  await withTempDir(async (dir) => {
    let open!: () => void;
    const gate = new Promise<void>((r) => open = r);
    const h = await harness(dir);
    h.exec.behavior.create = { gate };
    const run = runJob(h.plan, h.env);
    await h.exec.entered("create");
    h.cancellation.cancel(SIGTERM);
    // The runner waits a while for the create to settle, then closes the executor and finishes.
    await advanceWhenArmed(h.clock, BUDGET.closeAfterFaultMs);
    assertEquals(await run, 143);
    assertEquals(h.exec.containers.size, 0);
    open();
    await until(() => h.exec.calls.filter((c) => c === "close").length === 2, "the late clean-up");
    assertEquals(h.exec.containers.size, 0, "the late container was removed");
    await assertFinished(h, 143, "Cancelled", null);
  });
});

Deno.test("runJob() hears the exit of a container whose start was in flight at SIGTERM: Cancelled, 137", async () => {
  await withTempDir(async (dir) => {
    let open!: () => void;
    const h = await harness(dir);
    h.exec.exitCode = null;
    h.exec.behavior.start = { gate: new Promise<void>((r) => open = r) };
    const run = runJob(h.plan, h.env);
    await h.exec.entered("start");
    h.cancellation.cancel(SIGTERM);
    await h.exec.entered("wait"); // the runner asks how it ended instead of giving up
    open(); // the engine finishes starting it; the pending stop kills it
    assertEquals(await run, 143);
    await assertFinished(h, 143, "Cancelled", 137);
  });
});

Deno.test("runJob() removes a container whose start settles after the run ended", async () => {
  await withTempDir(async (dir) => {
    let open!: () => void;
    const h = await harness(dir);
    h.exec.exitCode = null;
    h.exec.behavior.start = { gate: new Promise<void>((r) => open = r) };
    h.exec.behavior.close = "ok";
    const run = runJob(h.plan, h.env);
    await h.exec.entered("start");
    h.cancellation.cancel(SIGTERM);
    await advanceWhenArmed(h.clock, BUDGET.stopGraceMs); // the engine never reports the exit in time
    await advanceWhenArmed(h.clock, BUDGET.closeAfterFaultMs); // nor finishes the start in time
    assertEquals(await run, 143);
    await assertFinished(h, 143, "Cancelled", null);
    open();
    await until(() => h.exec.calls.filter((c) => c === "close").length === 2, "the late clean-up");
    assertEquals(h.exec.containers.size, 0, "the late container was removed");
  });
});

Deno.test("runJob() reports an engine failure as Cancelled, 125, without marking the node", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir);
    h.exec.behavior.create = { reject: new EngineError("No such image: sha256:aaaa", { brokenNode: false }) };
    assertEquals(await runJob(h.plan, h.env), 125);
    await assertFinished(h, 125, "Cancelled", null);
    assertEquals((await h.state()).error, "Cannot create the container: No such image: sha256:aaaa");
    assertEquals(await Deno.stat(join(dir, "rt/berth-broken")).then(() => true, () => false), false);
  });
});

Deno.test("runJob() reports a broken node as Queued, 75, and writes the marker", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir);
    h.exec.exitCode = null;
    h.exec.behavior.wait = { reject: new EngineError("Docker engine unresponsive: 5 inspections failed") };
    assertEquals(await runJob(h.plan, h.env), 75);
    await assertFinished(h, 75, "Queued", null);
    assertMatch(await Deno.readTextFile(join(dir, "rt/berth-broken")), /engine unresponsive/);
    assert((await h.log()).includes(`Writing ${join(dir, "rt/berth-broken")} to mark node as broken`));
  });
});

Deno.test("runJob() counts a create that does not finish in time as an unresponsive engine: 75", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir);
    h.exec.behavior.create = "hang";
    const run = runJob(h.plan, h.env);
    await h.exec.entered("create");
    h.clock.advance(BUDGET.createMs);
    await advanceWhenArmed(h.clock, BUDGET.closeAfterFaultMs); // the given-up create gets a chance to settle
    assertEquals(await run, 75);
    await assertFinished(h, 75, "Queued", null);
    assertEquals(
      (await h.state()).error,
      "Cannot create the container: engine unresponsive: creating the container did not finish within 90 s",
    );
  });
});

Deno.test("runJob() gives a dead engine a bounded time to report the exit after SIGTERM", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir);
    const { run } = await sigtermWhileRunning(h, false);
    await advanceWhenArmed(h.clock, BUDGET.stopGraceMs);
    assertEquals(await run, 143);
    await assertFinished(h, 143, "Cancelled", null);
    assert((await h.log()).includes("The engine did not report the container's exit within 5 s of the stop"));
  });
});

Deno.test("runJob() bounds every clean-up step after SIGTERM when the engine hangs on everything", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir);
    h.exec.behavior.close = "hang";
    const { run } = await sigtermWhileRunning(h, false);
    await advanceWhenArmed(h.clock, BUDGET.stopGraceMs);
    await advanceWhenArmed(h.clock, BUDGET.closeAfterFaultMs);
    await advanceWhenArmed(h.clock, BUDGET.flushAfterFaultMs);
    assertEquals(await run, 143);
    assert(h.clock.now() <= BUDGET.cancelMs, `finished ${h.clock.now()} ms after the cancel`);
    const log = await h.log();
    assert(log.some((l) => l.startsWith("Error removing container: ")), log.join("\n"));
    const record = await h.state();
    assertEquals(record.state, "Cancelled");
  });
});

Deno.test("runJob() keeps a job Complete when SIGTERM arrives after the container exited", async () => {
  await withTempDir(async (dir) => {
    const faults = faultPlan({ stallAt: "output" });
    const h = await harness(dir, { env: { inject: faults.inject } });
    const run = runJob(h.plan, h.env);
    await faults.reached("output");
    h.cancellation.cancel(SIGTERM);
    // Output collection goes on within the budget, and is cut short when it runs out.
    await advanceWhenArmed(h.clock, BUDGET.cancelMs - BUDGET.finalReserveMs);
    assertEquals(await run, 0);
    await assertFinished(h, 0, "Complete", 0);
    const log = await h.log();
    assert(log.includes("caught signal: terminated"));
    assert(log.some((l) => l.startsWith("Output ownership fix cut short")), log.join("\n"));
    const manifest = JSON.parse(await Deno.readTextFile(join(h.plan.options.workDir, "output.json")));
    assertEquals(manifest.complete, false);
  });
});

Deno.test("runJob() calls a job Complete when the container exited by itself as the stop arrived", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir);
    const { run } = await sigtermWhileRunning(h, false);
    await h.exec.entered("stop");
    await h.exec.exit(3);
    assertEquals(await run, 3);
    await assertFinished(h, 3, "Complete", 3);
  });
});

Deno.test("runJob() stops the container after max_run_time: Cancelled, 124", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir, { fields: { scheduling_parameters: { max_run_time: 7 } } });
    h.exec.exitCode = null;
    const run = runJob(h.plan, h.env);
    await h.exec.entered("wait");
    h.clock.advance(7000);
    assertEquals(await run, 124);
    await assertFinished(h, 124, "Cancelled", 137);
    assert((await h.log()).includes("maximum run time exceeded. Stopping container."));
  });
});

Deno.test("runJob() does not count the wait for the job's lock against max_run_time", async () => {
  await withTempDir(async (dir) => {
    const clock = new FakeClock();
    const h = await harness(dir, {
      fields: MAX_RUN_TIME,
      env: {
        clock,
        acquireLock: async (...args: Parameters<typeof acquireJobLock>) => {
          clock.advance(60_000); // another berth held the lock for a minute
          return await acquireJobLock(...args);
        },
      },
    });
    assertEquals(await runJob(h.plan, h.env), 0);
    await assertFinished(h, 0, "Complete", 0);
  });
});

Deno.test("runJob() ends by max_run_time + the cancel budget even when the engine hangs on everything", async () => {
  await withTempDir(async (dir) => {
    const faults = faultPlan({ hangAt: "image" });
    const h = await harness(dir, { fields: MAX_RUN_TIME, env: { inject: faults.inject } });
    h.exec.behavior.close = "hang";
    const run = runJob(h.plan, h.env);
    await faults.reached("image");
    h.clock.advance(7000);
    await advanceWhenArmed(h.clock, BUDGET.closeAfterFaultMs);
    assertEquals(await run, 124);
    assert(h.clock.now() <= 7000 + BUDGET.cancelMs, `finished at ${h.clock.now()} ms`);
    const record = await h.state();
    assertEquals([record.state, record.exit_status], ["Cancelled", 124]);
    assert((await h.log()).some((l) => l.startsWith("Error removing container: ")));
  });
});

Deno.test("runJob() keeps a job Complete when max_run_time passes during output collection", async () => {
  await withTempDir(async (dir) => {
    const faults = faultPlan({ stallAt: "output" });
    const h = await harness(dir, { fields: MAX_RUN_TIME, env: { inject: faults.inject } });
    const run = runJob(h.plan, h.env);
    await faults.reached("output");
    h.clock.advance(7000);
    await advanceWhenArmed(h.clock, BUDGET.cancelMs - BUDGET.finalReserveMs);
    assertEquals(await run, 0);
    await assertFinished(h, 0, "Complete", 0);
    assert((await h.log()).includes("maximum run time exceeded. Stopping container."));
    const manifest = JSON.parse(await Deno.readTextFile(join(h.plan.options.workDir, "output.json")));
    assertEquals(manifest.complete, false);
  });
});

Deno.test("runJob() keeps the state word the log's last line when a step given up earlier logs after it", async () => {
  await withTempDir(async (dir) => {
    let reached!: () => void;
    const atOutput = new Promise<void>((r) => reached = r);
    let release!: () => void;
    const late = new Promise<void>((r) => release = r);
    const inject: FaultInjector = async (step, signal) => {
      if (step !== "output") return;
      reached();
      await new Promise<void>((r) => signal.addEventListener("abort", () => r()));
      await late; // the given-up walk goes on (and logs) while berth releases the lock
    };
    const h = await harness(dir, {
      env: {
        inject,
        acquireLock: lockReleasedAfter(async () => {
          release();
          await new Promise((r) => setTimeout(r, 50));
        }),
      },
    });
    const run = runJob(h.plan, h.env);
    await atOutput;
    h.cancellation.cancel(SIGTERM);
    await advanceWhenArmed(h.clock, BUDGET.cancelMs - BUDGET.finalReserveMs);
    await advanceWhenArmed(h.clock, BUDGET.finalStepMs); // the walk's wrap-up time passes too: given up
    assertEquals(await run, 125);
    await assertFinished(h, 125, "Cancelled", 0);
    assert(!(await h.log()).includes("Collecting output"), "the late walk's lines are not in the file");
  });
});

Deno.test("runJob() fails a job (125) whose output did not all reach the files in time", async () => {
  await withTempDir(async (dir) => {
    const faults = faultPlan({ hangAt: "flush" });
    const h = await harness(dir, { env: { inject: faults.inject } });
    const run = runJob(h.plan, h.env);
    await faults.reached("flush");
    h.clock.advance(BUDGET.flushMs + BUDGET.finalStepMs);
    assertEquals(await run, 125);
    await assertFinished(h, 125, "Cancelled", 0);
    assertMatch(
      String((await h.state()).error),
      /^Cannot write the container's output: it did not all reach logs\/stdout.txt and logs\/stderr.txt within 10 s/,
    );
  });
});

Deno.test("runJob() fails the job (125, node untouched) when its output cannot be written", async () => {
  await withTempDir(async (dir) => {
    const full = Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" });
    const h = await harness(dir, {
      env: {
        openOutputFile: async (path) => {
          const file = await Deno.open(path, { write: true, create: true, truncate: true });
          return { write: () => Promise.reject(full), close: () => file.close() };
        },
      },
    });
    h.exec.exitCode = null;
    assertEquals(await runJob(h.plan, h.env), 125);
    // The output fails on the first write, as the container starts: the start is given up, the container is
    // stopped, and its end (killed, 137) is heard.
    await assertFinished(h, 125, "Cancelled", 137);
    assert(h.exec.calls.includes("stop"));
    assertMatch(
      String((await h.state()).error),
      /^The container's output cannot be written: The work dir's file system is full /,
    );
    assertEquals(await Deno.stat(join(dir, "rt/berth-broken")).then(() => true, () => false), false);
  });
});

Deno.test("runJob() tells a full tmp dir (75, marker) from a full work dir (125)", async () => {
  for (const [where, status, state] of [["tmp", 75, "Queued"], ["work/output", 125, "Cancelled"]] as const) {
    await withTempDir(async (dir) => {
      const error = Object.assign(
        new Error(`No space left on device (os error 28): writefile '${join(dir, where, "x")}'`),
        { code: "ENOSPC" },
      );
      const h = await harness(dir, { env: { inject: faultPlan({ failAt: "mounts", error }).inject } });
      assertEquals(await runJob(h.plan, h.env), status);
      await assertFinished(h, status, state, null);
      const marked = await Deno.stat(join(dir, "rt/berth-broken")).then(() => true, () => false);
      assertEquals(marked, where === "tmp");
    });
  }
});

Deno.test("runJob() reports a user's mistake found late (a bad DOCKER_HOST) as 2, without marking the node", async () => {
  await withTempDir(async (dir) => {
    const h = await harness(dir, {
      factory: {
        reject: new UsageError('Cannot use DOCKER_HOST="tcp://x:2375": berth speaks to the engine only…'),
      },
    });
    assertEquals(await runJob(h.plan, h.env), 2);
    await assertFinished(h, 2, "Cancelled", null);
    assertEquals(await Deno.stat(join(dir, "rt/berth-broken")).then(() => true, () => false), false);
  });
});
