/**
 * Fakes for the lifecycle's unit tests: a clock whose timers fire only when the test advances it, and an executor
 * that does what each test tells it (settle, fail, hang) and records what the runner asked of it. The executor is
 * a fake because the point is to put the runner in states a real engine reaches only by accident (a create that
 * settles after the run was cancelled, a wait that never returns); the real engines are exercised by the
 * conformance and end-to-end suites.
 * @module
 */

import type { Clock, TimerId } from "../../src/runner/deadline.ts";
import type { ContainerExecutor, ContainerSpec, ImageProgress } from "../../src/executor/types.ts";
import type { ImageSource, PreparedImage, PrepareImageOptions } from "../../src/image/mod.ts";
import type { ExecutorFactories } from "../../src/runner/engine.ts";
import type { RunOptions, RunPlan } from "../../src/runner/mod.ts";
import type { FaultInjector, StepName } from "../../src/runner/steps.ts";
import { jobFrom } from "./_job.ts";

/** Timers that fire only when the test calls {@link FakeClock.advance}. */
export class FakeClock implements Clock {
  #now = 0;
  #next = 1;
  readonly #timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const id = this.#next++;
    this.#timers.set(id, { at: this.#now + Math.max(0, ms), fn });
    return id as unknown as TimerId;
  }

  clearTimeout(id: TimerId): void {
    this.#timers.delete(id as unknown as number);
  }

  /** Milliseconds until each pending timer fires, soonest first. */
  get pending(): number[] {
    return [...this.#timers.values()].map((t) => t.at - this.#now).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      let due: [number, { at: number; fn: () => void }] | null = null;
      for (const entry of this.#timers) {
        if (entry[1].at <= target && (!due || entry[1].at < due[1].at)) due = entry;
      }
      if (!due) break;
      this.#timers.delete(due[0]);
      this.#now = due[1].at;
      due[1].fn();
    }
    this.#now = target;
  }
}

/** How a fake executor call behaves: settle at once, fail, never settle, or settle when the test says. */
export type Behavior = "ok" | "hang" | { reject: Error } | { gate: Promise<void> };

type Method = "runtime" | "prepareImage" | "loadImage" | "create" | "start" | "wait" | "stop" | "close";

/** A promise with its resolve function. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

/** A promise that only ever rejects, when `reject` is called (unhandled rejections are not reported). */
function rejectable(): { promise: Promise<never>; reject: (e: Error) => void } {
  let reject!: (e: Error) => void;
  const promise = new Promise<never>((_, r) => reject = r);
  promise.catch(() => {});
  return { promise, reject };
}

/**
 * An executor whose calls behave as {@link FakeExecutor.behavior} says. The container "exists" from a create
 * that settled until a close that came after it; `start` writes {@link FakeExecutor.output} to the stdout sink;
 * the container exits with `exitCode` by itself (unless null: then only `stop`, with 137, or {@link exit}).
 */
export class FakeExecutor implements ContainerExecutor {
  /** Per-method behaviour; "ok" when absent. */
  behavior: Partial<Record<Method, Behavior>> = {};
  /** What the container writes to stdout when started. */
  output = "hello\n";
  /** The code the container exits with by itself after writing its output; null: it runs until stopped. */
  exitCode: number | null = 0;
  /** False: stop() does nothing (an engine that no longer answers). */
  stopKills = true;
  /** Every call, in order. */
  readonly calls: Method[] = [];
  /** Containers that exist. */
  readonly containers = new Set<string>();
  /** The spec given to create. */
  spec: ContainerSpec | null = null;
  readonly #entered = new Map<Method, { promise: Promise<void>; resolve: (v: void) => void }>();
  readonly #exit = deferred<number>();
  #running = false;
  #stopRequested = false;
  /** Rejects when the executor is closed before the exit was reported, as the real executors' wait() does. */
  readonly #closed = rejectable();
  #writers: WritableStreamDefaultWriter<Uint8Array>[] = [];

  /** Resolves once `method` has been called. */
  entered(method: Method): Promise<void> {
    if (!this.#entered.has(method)) this.#entered.set(method, deferred<void>());
    return this.#entered.get(method)!.promise;
  }

  async #call<T>(method: Method, ok: () => T | Promise<T>): Promise<T> {
    this.calls.push(method);
    this.entered(method);
    this.#entered.get(method)!.resolve();
    const b = this.behavior[method] ?? "ok";
    if (b === "hang") return await new Promise<T>(() => {});
    if (typeof b === "object" && "reject" in b) throw b.reject;
    if (typeof b === "object" && "gate" in b) await b.gate;
    return await ok();
  }

  /** Ends the running container with `code` (its output streams end first). */
  async exit(code: number): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await this.#closeWriters();
    this.#exit.resolve(code);
  }

  async #closeWriters(): Promise<void> {
    for (const w of this.#writers.splice(0)) await w.close().catch(() => {});
  }

  runtime(): Promise<string> {
    return this.#call("runtime", () => "fake engine 1.0");
  }

  prepareImage(source: ImageSource, _options: PrepareImageOptions): Promise<PreparedImage> {
    return this.#call("prepareImage", () => ({
      id: source.kind === "tarball" ? source.manifest.id : `sha256:${"b".repeat(64)}`,
      config: source.kind === "tarball" ? source.manifest.config : {},
    }));
  }

  loadImage(_id: string, _tarball: string, _progress?: (p: ImageProgress) => void): Promise<void> {
    return this.#call("loadImage", () => {});
  }

  create(spec: ContainerSpec): Promise<void> {
    return this.#call("create", () => {
      this.spec = spec;
      this.containers.add(spec.name);
      this.#writers = [spec.stdout.getWriter(), spec.stderr.getWriter()];
    });
  }

  start(): Promise<void> {
    return this.#call("start", async () => {
      this.#running = true;
      await this.#writers[0]?.write(new TextEncoder().encode(this.output)); // none once closed
      // A stop that came while the engine was still starting it kills it now, as the real executors do.
      if (this.#stopRequested && this.stopKills) void this.exit(137);
      else if (this.exitCode !== null) void this.exit(this.exitCode);
    });
  }

  wait(): Promise<number> {
    return this.#call("wait", () => Promise.race([this.#exit.promise, this.#closed.promise]));
  }

  stop(): Promise<void> {
    return this.#call("stop", async () => {
      this.#stopRequested = true;
      if (this.stopKills) await this.exit(137);
    });
  }

  close(): Promise<void> {
    return this.#call("close", async () => {
      if (this.stopKills) await this.exit(137);
      // Like a real executor closing its attach connection: the output streams end, and a wait() still
      // pending hears that the executor was closed.
      this.#closed.reject(new Error("The executor was closed"));
      await this.#closeWriters();
      this.containers.clear();
    });
  }

  pid(): Promise<number> {
    return Promise.resolve(0);
  }
}

/**
 * A fault injector for the lifecycle: `reached(step)` resolves when a step starts. At the step named `hangAt`
 * the step hangs until it is given up (then throws); at `stallAt` it waits until its abort signal fires and then
 * goes on (a walk that is cut short); at `failAt` it throws `error`.
 */
export function faultPlan(
  o: { hangAt?: StepName; stallAt?: StepName; failAt?: StepName; error?: Error } = {},
) {
  const seen = new Map<StepName, { promise: Promise<void>; resolve: (v: void) => void }>();
  const slot = (step: StepName) => {
    if (!seen.has(step)) seen.set(step, deferred<void>());
    return seen.get(step)!;
  };
  const aborted = (signal: AbortSignal) =>
    new Promise<void>((resolve) => {
      if (signal.aborted) resolve();
      signal.addEventListener("abort", () => resolve());
    });
  const inject: FaultInjector = async (step, signal) => {
    slot(step).resolve();
    if (step === o.failAt) throw o.error ?? new Error(`injected failure in ${step}`);
    if (step === o.hangAt) {
      await aborted(signal);
      throw new Error(`injected hang in ${step} given up`);
    }
    if (step === o.stallAt) await aborted(signal);
  };
  return { inject, reached: (step: StepName) => slot(step).promise };
}

/** Yields to the event loop until `cond()` holds (fails after 10 s of real time: a test bug, not a bound). */
export async function until(cond: () => boolean, what: string): Promise<void> {
  const end = performance.now() + 10_000;
  while (!cond()) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 1));
  }
}

/** Waits until the clock has a timer `ms` away, then advances it by `ms`. */
export async function advanceWhenArmed(clock: FakeClock, ms: number): Promise<void> {
  await until(() => clock.pending.includes(ms), `a ${ms} ms timer`);
  clock.advance(ms);
}

/** Factories that hand out `executor` for every engine. */
export function fakeFactories(executor: FakeExecutor, behavior: Behavior = "ok"): ExecutorFactories {
  const give = async () => {
    if (behavior === "hang") return await new Promise<never>(() => {});
    if (typeof behavior === "object" && "reject" in behavior) throw behavior.reject;
    if (typeof behavior === "object" && "gate" in behavior) await behavior.gate;
    return executor;
  };
  return {
    docker: give,
    singularity: async () => Object.assign(await give(), { engine: "singularity" }),
  };
}

/** A plan for a job in `dir` (work dir `dir/work`, tmp dir `dir/tmp`, runtime dir `dir/rt`). */
export async function fakePlan(
  dir: string,
  fields: Record<string, unknown> = {},
  options: Partial<RunOptions> = {},
): Promise<RunPlan> {
  for (const d of ["tmp", "rt"]) await Deno.mkdir(`${dir}/${d}`, { recursive: true });
  return {
    parsed: jobFrom({ uuid: "unit-run", mounts: { "/out": { kind: "tmp" } }, ...fields }),
    options: {
      engine: "docker",
      workDir: `${dir}/work`,
      tmpDir: `${dir}/tmp`,
      keepMount: "",
      allowBind: [],
      imageCache: "",
      imageCacheGroup: null,
      imageCacheVerify: false,
      dockerSocket: "",
      singularityBinary: "",
      enableNetworking: "default",
      networkMode: "default",
      enableMemoryLimit: true,
      cgroupParent: "",
      crunchstatInterval: 0,
      brokenNodeHook: "",
      runtimeDir: `${dir}/rt`,
      watchdogInterval: 120,
      pull: "missing",
      insecureRegistries: [],
      registryAuth: "",
      ...options,
    },
    sources: new Map(),
    image: {
      kind: "tarball",
      path: "/images/fake.tar",
      manifest: { id: `sha256:${"a".repeat(64)}`, config: {}, layers: [], repoTags: [] },
    },
    credentials: null,
  };
}
