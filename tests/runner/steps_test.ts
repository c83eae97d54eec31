import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { Cancellation } from "../../src/runner/cancel.ts";
import { StepCancelledError, StepRunner, StepTimeoutError } from "../../src/runner/steps.ts";
import { FakeClock } from "./_fakes.ts";

function runner(o: { budget?: number; log?: string[] } = {}) {
  const cancellation = new Cancellation();
  const clock = new FakeClock();
  const steps = new StepRunner({
    cancellation,
    clock,
    cancelBudgetMs: o.budget ?? 20_000,
    log: (m) => o.log?.push(m),
  });
  return { cancellation, clock, steps };
}

const never = () => new Promise<never>(() => {});

Deno.test("StepRunner.run() returns the step's value and records its duration", async () => {
  const log: string[] = [];
  const { clock, steps } = runner({ log });
  const value = await steps.run("image", async () => {
    clock.advance(1234);
    return await Promise.resolve(7);
  });
  assertEquals(value, 7);
  assertEquals(steps.phases, { image: 1234 });
  assertEquals(log, ["Phase image: 1.234 s"]);
});

Deno.test("StepRunner.run() gives a step up when the run is cancelled, and refuses steps after that", async () => {
  const { cancellation, steps } = runner();
  let aborted = false;
  const running = steps.run("image", (signal) => {
    signal.addEventListener("abort", () => aborted = true);
    return never();
  });
  cancellation.cancel({ kind: "signal", signal: "SIGTERM" });
  const err = await assertRejects(() => running, StepCancelledError);
  assertEquals(err.step, "image");
  assert(aborted, "the step's signal fired");
  let ran = false;
  await assertRejects(() => steps.run("create", () => Promise.resolve(ran = true)), StepCancelledError);
  assertEquals(ran, false);
});

Deno.test("StepRunner.run() throws the step's timeout error when its deadline passes", async () => {
  const { clock, steps } = runner();
  const running = steps.run("create", never, {
    deadlineMs: 90_000,
    timeoutError: (ms) => new Error(`late ${ms}`),
  });
  clock.advance(89_999);
  clock.advance(1);
  assertEquals((await assertRejects(() => running, Error)).message, "late 90000");
  const plain = steps.run("start", never, { deadlineMs: 5 });
  clock.advance(5);
  const err = await assertRejects(() => plain, StepTimeoutError);
  assertEquals([err.step, err.ms], ["start", 5]);
});

Deno.test("StepRunner.run() hands a result that arrives after the step was given up to its clean-up", async () => {
  const { cancellation, clock, steps } = runner();
  let release!: (v: string) => void;
  const late: string[] = [];
  const running = steps.run("create", () => new Promise<string>((r) => release = r), {
    late: (v) => late.push(v),
  });
  cancellation.cancel({ kind: "signal", signal: "SIGINT" });
  await assertRejects(() => running, StepCancelledError);
  const settled = steps.settleAbandoned(5000);
  release("container-1");
  await settled;
  assertEquals(late, ["container-1"]);
  assertEquals(clock.pending, [], "no timer left behind");
});

Deno.test("StepRunner.run() bounds clean-up steps after a cancel by what is left of the budget", async () => {
  const { cancellation, clock, steps } = runner({ budget: 20_000 });
  cancellation.cancel({ kind: "signal", signal: "SIGTERM" });
  clock.advance(15_000);
  const close = steps.run("stop", never, { cancellable: false, deadlineMs: 60_000 });
  assertEquals(clock.pending, [5000]);
  clock.advance(5000);
  await assertRejects(() => close, StepTimeoutError);
  // With the budget spent, a clean-up step is given up at once; one outside the budget keeps its own bound.
  await assertRejects(() => steps.run("flush", never, { cancellable: false }), StepTimeoutError);
  const own = steps.run("cleanup", () => Promise.resolve("done"), {
    cancellable: false,
    inCancelBudget: false,
  });
  assertEquals(await own, "done");
});

Deno.test("StepRunner.run() brings a running clean-up step's deadline forward when a cancel arrives", async () => {
  const { cancellation, clock, steps } = runner({ budget: 20_000 });
  const walk = steps.run("output", never, { cancellable: false, reserveMs: 3000 });
  assertEquals(clock.pending, []);
  cancellation.cancel({ kind: "timeout", seconds: 1 });
  await Promise.resolve();
  assertEquals(clock.pending, [17_000]);
  clock.advance(17_000);
  await assertRejects(() => walk, StepTimeoutError);
});

Deno.test("StepRunner.run() with wrapUpMs lets a cut-short step return what it has", async () => {
  const { clock, steps } = runner();
  const walk = steps.run(
    "manifest",
    (signal) => new Promise<string>((resolve) => signal.addEventListener("abort", () => resolve("partial"))),
    {
      deadlineMs: 100,
      wrapUpMs: 1000,
    },
  );
  clock.advance(100);
  assertEquals(await walk, "partial");
});

Deno.test("StepRunner.run() lets a fault injector fail, stall or hang any step", async () => {
  const cancellation = new Cancellation();
  const clock = new FakeClock();
  const seen: string[] = [];
  const steps = new StepRunner({
    cancellation,
    clock,
    cancelBudgetMs: 20_000,
    inject: (step) => {
      seen.push(step);
      if (step === "mounts") throw new Error("injected");
    },
  });
  assertEquals(
    (await assertRejects(() => steps.run("mounts", () => Promise.resolve(1)), Error)).message,
    "injected",
  );
  assertEquals(await steps.run("image", () => Promise.resolve(2)), 2);
  assertEquals(seen, ["mounts", "image"]);
  assertEquals(steps.current, "image");
});
