/**
 * The {@link ContainerExecutor} for engines that serve the Docker Engine API: Docker itself and Podman's
 * compatibility service.
 *
 * One executor runs one container, as an explicit state machine ({@link ExecutorState}): `new` → `creating` →
 * `created` → `starting` → `running` → `exited`, with `stopped` reachable from every state that may hold a
 * container, and `closing` → `closed` from every state. The resource calls are thin functions in
 * `containers.ts`, each bounded in time (`bounds.ts`); the engine's liveness during long waits is checked by the
 * watchdog (`watchdog.ts`).
 *
 * `create` removes a leftover container of the same name, creates the new one, checks its mounts against the
 * spec and attaches its stdio before anything can be lost; `start` starts it and registers the wait at once (the
 * container is never auto-removed, so an exit that happens before the wait arrives is still reported); `wait`
 * returns the exit code after the output has been drained; `stop` kills the container (and, when a create or a
 * start is in flight, kills or removes what it produces); `close` removes the container by ID on every path,
 * including a create still in flight, within a bounded time even when the engine is dead.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import type { ImageSource, PreparedImage, PrepareImageOptions } from "../../image/mod.ts";
import type { ContainerExecutor, ContainerSpec, ImageProgress, LogFn } from "../types.ts";
import { describeMs, ENGINE_BOUNDS, WATCHDOG_THRESHOLD } from "./bounds.ts";
import {
  attachContainer,
  containerExists,
  createContainer,
  type CreatedContainer,
  inspectContainer,
  killContainer,
  removeContainer,
  startContainer,
  waitContainer,
} from "./containers.ts";
import { buildCreateBody, type CreateBody, type EngineFacts, type HostFacts } from "./create_body.ts";
import { loadImage } from "./image_load.ts";
import { prepareDockerImage } from "./image_pull.ts";
import { compareMounts } from "./mounts.ts";
import { chooseSocket, type ChosenSocket, type DockerApiEngine, namedSocketMistake } from "./socket.ts";
import { pumpOutput, pumpStdin } from "./stdio.ts";
import { engineVersion, pingEngine } from "./system.ts";
import { EngineApiError, EngineTimeoutError, EngineTransport, isPermissionError } from "./transport.ts";
import { describeRuntime, negotiateApiVersion } from "./version.ts";
import { cachedRuntime, runtimeCacheKey } from "./runtime_cache.ts";
import { readKernelFile } from "../../stats/kernel_files.ts";
import { parseCgroupMounts } from "../../stats/cgroup_files.ts";
import { startWatchdog, type Watchdog } from "./watchdog.ts";

/** Options of {@link createDockerExecutor}. */
export interface DockerExecutorOptions {
  /** Which engine serves the API: selects the default socket and the wording of messages. */
  engine: DockerApiEngine;
  /** Socket path (`--docker-socket`); by default from `DOCKER_HOST`/`CONTAINER_HOST` or the engine's default. */
  socket?: string;
  /** berth's environment: socket variables, `CUDA_VISIBLE_DEVICES`, `AMD_VISIBLE_DEVICES`. */
  hostEnv: Record<string, string | undefined>;
  /** Where the executor's own messages go. */
  log: LogFn;
  /**
   * How often the watchdog checks the engine while berth waits on it (the container's exit, an image load).
   * @default 15000
   */
  watchdogIntervalMs?: number;
  /**
   * How long `wait` lets the output drain after the exit before giving up.
   * @default 300000
   */
  drainTimeoutMs?: number;
  /**
   * How long `close` may take on an engine that answers, when `stop` was not called (after `stop`, or once the
   * engine proved unresponsive, it takes at most {@link ENGINE_BOUNDS.closeAfterStopMs}). What cannot be removed
   * in that time is logged, not thrown, so an unresponsive engine cannot hang berth's exit.
   * @default 30000
   */
  closeTimeoutMs?: number;
  /** berth's effective user ID (selects Podman's rootful or rootless socket); by default `Deno.uid()`. */
  uid?: number;
  /** Group ID of a device file, or null when missing (ROCm); by default from `Deno.statSync`. */
  deviceGroup?: (path: string) => number | null;
  /**
   * Where `runtime()` may keep the engine's description for the next runs (the user's runtime dir; see
   * `runtime_cache.ts`); undefined: `GET /version` is asked every time.
   */
  runtimeCacheDir?: string;
}

/** Exit code reported for a container that was stopped (killed) before its exit status could be read. */
export const KILLED_EXIT_CODE = 137;

/** How long `close` gives the stdio pumps to finish once the attach connection is closed. */
const CLOSE_DRAIN_MS = 1_000;
/** Part of `close`'s budget kept for the removal when a create is still in flight. */
const REMOVAL_RESERVE_MS = 1_500;
/** Pause between two removal attempts that the engine refused for a passing reason (removal in progress). */
const REMOVE_RETRY_MS = 250;

/**
 * The host's cgroup version as Podman sees it: 2 when `/sys/fs/cgroup` is the unified hierarchy, 1 otherwise, 0
 * when the mount table cannot be read. Read through `readKernelFile` (berth's profiles refuse direct reads of
 * `/proc` and `/sys`: a `Deno.stat` of `/sys/fs/cgroup/cgroup.controllers` is refused and would say "unknown").
 */
export async function cgroupVersion(): Promise<0 | 1 | 2> {
  const mounts = await readKernelFile("/proc/mounts");
  if (mounts === null) return 0;
  return parseCgroupMounts(mounts).unified === "/sys/fs/cgroup" ? 2 : 1;
}

/** The group of a device file from the host, or null when it does not exist. */
export function statDeviceGroup(path: string): number | null {
  try {
    return Deno.statSync(path).gid;
  } catch {
    return null;
  }
}

/**
 * Creates an executor for Docker or Podman. Nothing is contacted until the first call.
 * @throws {UsageError} for a socket variable that is not a unix socket path.
 * @throws {EngineError} when berth's permissions do not allow the socket.
 */
export function createDockerExecutor(options: DockerExecutorOptions): ContainerExecutor {
  return new DockerExecutor(options);
}

/**
 * Creates an executor for Docker or Podman and negotiates the API with one `GET /_ping` (bounded by
 * {@link ENGINE_BOUNDS.pingMs}).
 * @throws {UsageError} for a socket the user named (`--docker-socket`, `DOCKER_HOST`, `CONTAINER_HOST`) that does
 *   not exist or is not a socket, or a socket variable that is not a unix socket path.
 * @throws {EngineError} (broken node) when the socket exists but the engine does not answer, or the default
 *   socket is missing.
 * @throws {Deno.errors.NotCapable} when berth's permission profile does not allow the socket.
 */
export async function connectDockerExecutor(options: DockerExecutorOptions): Promise<ContainerExecutor> {
  const executor = new DockerExecutor(options);
  try {
    await executor.connect();
  } catch (err) {
    await executor.close();
    throw err;
  }
  return executor;
}

/** The container's stdio: the attach connection and the two pumps on it. */
interface Stdio {
  /** The hijacked attach connection. */
  conn: Deno.UnixConn;
  /** Resolves when the output stream ended: null when every byte reached its sink, else the error. */
  output: Promise<EngineError | null>;
  /** Resolves when stdin was sent and half-closed (or could not be). */
  stdin: Promise<void>;
}

/** How waiting for the container's exit ended. */
type ExitOutcome = { kind: "exit"; code: number } | { kind: "error"; error: unknown };

/** What the SIGKILL of `stop()` got from the engine. */
type KillOutcome =
  | { kind: "killed" | "not-running" | "gone" }
  | { kind: "not-started" }
  | { kind: "error"; error: unknown };

/**
 * The executor's state. `container` promises resolve with what `close` must remove: the ID, or the name when a
 * create got no answer (it may still have created the container), or null when nothing was created; they never
 * reject.
 */
type ExecutorState =
  /** Nothing created yet. */
  | { kind: "new" }
  /** `create` is in flight (leftover removal, create, mount check, attach). */
  | { kind: "creating"; name: string; container: Promise<string | null> }
  /** Created and attached, not started. */
  | { kind: "created"; name: string; id: string; stdio: Stdio }
  /**
   * Created, but the runtime already refused to run it: Podman prepares the OCI container when attaching, so a
   * command missing from the image fails there. `start` rejects with `error`, as Docker's start does.
   */
  | { kind: "unstartable"; name: string; id: string; error: EngineError }
  /** The start request is in flight; `exit` resolves with the exit once started, or null when the start failed. */
  | {
    kind: "starting";
    name: string;
    id: string;
    stdio: Stdio;
    started: Promise<boolean>;
    exit: Promise<ExitOutcome | null>;
  }
  /** Started; `exit` is the registered wait. */
  | { kind: "running"; name: string; id: string; stdio: Stdio; exit: Promise<ExitOutcome> }
  /** `wait` returned the exit code. */
  | { kind: "exited"; name: string; id: string; stdio: Stdio; code: number }
  /**
   * `stop` was called while a container existed or was on its way: `verdict` is how `wait` ends (null when the
   * container never started), settled within {@link ENGINE_BOUNDS.stopSettleMs}.
   */
  | {
    kind: "stopped";
    name: string;
    container: Promise<string | null>;
    stdio: Stdio | null;
    verdict: Promise<ExitOutcome | null>;
    /** When (`Date.now()`) `wait` must have settled, output included. */
    settleBy: number;
  }
  /** `close` is running. */
  | { kind: "closing"; done: Promise<void> }
  /** Closed; `late` is a create that was still in flight, for a later `close` to remove. */
  | { kind: "closed"; late: { name: string; container: Promise<string | null> } | null };

/** Whether the engine has answered so far: after a time bound passed, teardown takes the short budget. */
type EngineHealth = "answering" | "unresponsive";

const TIMED_OUT = Symbol("timed out");

/** `promise`, or {@link TIMED_OUT} once `ms` passed; the timer is released either way. */
async function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), Math.max(0, ms));
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolve function, for events another method waits on. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve: (value: T) => void = () => {};
  const promise = new Promise<T>((r) => resolve = r);
  return { promise, resolve };
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** See the module documentation. */
class DockerExecutor implements ContainerExecutor {
  readonly #api: EngineTransport;
  readonly #socket: ChosenSocket;
  readonly #engine: DockerApiEngine;
  readonly #display: string;
  readonly #opts: DockerExecutorOptions;
  readonly #log: LogFn;
  /** Aborts the long requests (wait, load) when the executor closes. */
  readonly #abort = new AbortController();
  /** Resolves with the stop verdict once `stop` was called; `wait` races it. */
  readonly #stopped = deferred<ExitOutcome | null>();
  #state: ExecutorState = { kind: "new" };
  #health: EngineHealth = "answering";
  /** Aborts the runtime description's `GET /version` once the engine has proven unresponsive. */
  readonly #versionAbort = new AbortController();
  #engineFacts: EngineFacts;
  #negotiated: Promise<void> | null = null;
  /** Podman's own API version (from the ping), for its faster wait; "" on Docker. */
  #libpodVersion = "";
  /** What the runtime cache's entry must match (from the socket and the ping); null: no cache. */
  #runtimeCacheKey: string | null = null;
  #runtime: Promise<string> | null = null;
  #waiting: Promise<number> | null = null;

  constructor(opts: DockerExecutorOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#engine = opts.engine;
    this.#engineFacts = { flavor: opts.engine, rootless: false };
    this.#display = opts.engine === "docker" ? "Docker" : "Podman";
    this.#socket = chooseSocket({
      engine: opts.engine,
      socket: opts.socket,
      hostEnv: opts.hostEnv,
      uid: opts.uid ?? Deno.uid() ?? 0,
    });
    this.#api = new EngineTransport(
      this.#socket.path,
      opts.engine === "docker" ? "Docker daemon" : "Podman service",
    );
  }

  /** Negotiates the API version (once; a failure is retried by the next call). */
  connect(): Promise<void> {
    this.#negotiated ??= this.#negotiate().catch((err) => {
      this.#negotiated = null;
      throw err;
    });
    return this.#negotiated;
  }

  async #negotiate(): Promise<void> {
    const context = `Cannot negotiate the ${this.#display} API version`;
    let ping;
    try {
      ping = await pingEngine(this.#api, { context });
    } catch (err) {
      this.#noteFailure(err);
      if (!(err instanceof EngineTimeoutError) && !isPermissionError(err)) {
        throw namedSocketMistake(this.#socket) ?? err;
      }
      throw err;
    }
    this.#engineFacts = {
      flavor: ping.flavor,
      rootless: ping.flavor === "podman" && this.#rootlessService(),
    };
    this.#libpodVersion = ping.flavor === "podman" && /^\d+\.\d+(\.\d+)?$/.test(ping.libpodVersion)
      ? ping.libpodVersion
      : "";
    if (this.#opts.runtimeCacheDir !== undefined) {
      this.#runtimeCacheKey = runtimeCacheKey(this.#socket.path, ping);
    }
    // Engines older than API 1.25 send no Api-Version header: ask /version then (it is read once anyway).
    const info = ping.apiVersion !== ""
      ? { ApiVersion: ping.apiVersion }
      : await engineVersion(this.#api, context);
    this.#api.apiVersion = negotiateApiVersion(info, this.#display);
  }

  /**
   * Whether the Podman service runs rootless: its socket is owned by its user, not root (`/libpod/info` would
   * say so too, but takes seconds). When the socket cannot be looked at, a non-root berth is taken to talk to a
   * rootless service.
   */
  #rootlessService(): boolean {
    try {
      return Deno.statSync(this.#socket.path).uid !== 0;
    } catch {
      return (this.#opts.uid ?? Deno.uid() ?? 0) !== 0;
    }
  }

  /** Remembers that the engine stopped answering: the teardown then uses its short budget. */
  #noteFailure(err: unknown): void {
    if (err instanceof EngineTimeoutError) this.#markUnresponsive();
  }

  /**
   * The engine stopped answering: the teardown uses its short budget, and a runtime description still being
   * asked is given up (the runner would otherwise wait up to {@link ENGINE_BOUNDS.versionMs} for it).
   */
  #markUnresponsive(): void {
    this.#health = "unresponsive";
    this.#versionAbort.abort(new EngineError("The engine stopped answering"));
  }

  runtime(): Promise<string> {
    this.#runtime ??= this.#describeRuntime();
    return this.#runtime;
  }

  /** `GET /version` as one line, or the node's cached line for this engine (never rejects). */
  async #describeRuntime(): Promise<string> {
    const ask = () =>
      engineVersion(this.#api, undefined, this.#versionAbort.signal).then(
        (info) => describeRuntime(this.#engine, info),
        () => null,
      );
    const dir = this.#opts.runtimeCacheDir;
    const key = this.#runtimeCacheKey;
    const line = dir !== undefined && key !== null
      ? await cachedRuntime({ dir, socket: this.#socket.path, key, describe: ask })
      : await ask();
    return line ?? describeRuntime(this.#engine, null);
  }

  async loadImage(
    imageId: string,
    tarballPath: string,
    onProgress?: (p: ImageProgress) => void,
  ): Promise<void> {
    await this.#watchingEngine((signal) =>
      loadImage(this.#api, imageId, tarballPath, this.#log, { onProgress, signal })
    );
  }

  /**
   * Makes an image of any form usable (a docker-save tarball is loaded unless present, a registry image pulled
   * as the pull policy says): see `image_pull.ts`.
   */
  async prepareImage(source: ImageSource, options: PrepareImageOptions): Promise<PreparedImage> {
    return await this.#watchingEngine((signal) =>
      prepareDockerImage(this.#api, this.#engine, source, {
        ...options,
        signal: options.signal ? AbortSignal.any([options.signal, signal]) : signal,
      }, this.#log)
    );
  }

  /**
   * Runs a long engine call (a load, a pull) while a watchdog pings the engine: when the engine stops answering
   * the call is aborted and the watchdog's broken-node error thrown. `close` aborts it too.
   */
  async #watchingEngine<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    await this.connect();
    if (this.#state.kind === "closing" || this.#state.kind === "closed") {
      throw new EngineError(`Internal error: image preparation after close()`);
    }
    const abort = new AbortController();
    const watchdog = this.#watchdog("engine pings", async (signal) => {
      await pingEngine(this.#api, { signal, timeoutMs: ENGINE_BOUNDS.watchdogProbeMs });
      return "";
    });
    const running = call(AbortSignal.any([abort.signal, this.#abort.signal]));
    running.catch(() => {}); // still handled when the watchdog wins the race
    try {
      return await Promise.race([
        running,
        watchdog.failed.then((err): never => {
          abort.abort(err);
          throw err;
        }),
      ]);
    } catch (err) {
      this.#noteFailure(err);
      throw err;
    } finally {
      watchdog.stop();
    }
  }

  async create(spec: ContainerSpec): Promise<void> {
    const state = this.#state;
    if (state.kind === "closing" || state.kind === "closed") {
      throw new EngineError(`Internal error: create() after close()`);
    }
    if (state.kind !== "new") {
      throw new EngineError(`Internal error: create() called twice (for "${spec.name}")`);
    }
    const name = spec.name;
    const created = deferred<string | null>();
    const creating: ExecutorState = { kind: "creating", name, container: created.promise };
    this.#state = creating;
    /** Throws when stop() or close() took over while create() was waiting on the engine. */
    const stillCreating = () => {
      if (this.#state === creating) return;
      const what = this.#state.kind === "stopped" ? "stopped" : "closed";
      throw new EngineError(`Container "${name}" was ${what} while it was being created`);
    };
    let id: string | null = null;
    try {
      await this.connect();
      const host: HostFacts = {
        env: this.#opts.hostEnv,
        deviceGroup: this.#opts.deviceGroup ?? statDeviceGroup,
      };
      const body = buildCreateBody(spec, this.#api.apiVersion, host, this.#engineFacts);
      // The name is unique per run: create at once, and remove a leftover only when the engine names one.
      let made = await this.#createOnce(spec, body, created.resolve);
      if (made === "conflict") {
        const stale = await removeContainer(this.#api, name, name);
        if (stale === "removed") this.#log(`Removed a leftover container named "${name}"`);
        stillCreating();
        made = await this.#createOnce(spec, body, created.resolve);
        if (made === "conflict") {
          throw new EngineError(`Cannot create container "${name}": the name stays in use`);
        }
      }
      id = made.id;
      for (const w of made.warnings) this.#log(`${this.#display} warning: ${w}`);
      if (this.#engineFacts.rootless && (spec.ram > 0 || spec.vcpus > 0) && (await cgroupVersion()) === 1) {
        // Podman accepts the limits and says nothing, but without cgroup v2 delegation it cannot apply them.
        this.#log(
          `${this.#display} warning: rootless Podman on cgroup v1 cannot apply the memory and CPU limits; ` +
            `the container runs without them`,
        );
      }
      created.resolve(id);
      stillCreating();
      // The mount check and the attach are independent requests: both in flight at once (one round trip less
      // before the start). A refused container's attach connection is closed with it.
      const attaching = attachContainer(this.#api, id).then(
        (conn) => ({ conn, error: null }),
        (error: unknown) => ({ conn: null, error }),
      );
      let mismatch: string | null;
      try {
        mismatch = compareMounts(spec.mounts, (await inspectContainer(this.#api, id)).Mounts);
      } catch (err) {
        void attaching.then((a) => a.conn?.conn.close());
        throw err;
      }
      if (mismatch !== null) {
        void attaching.then((a) => a.conn?.conn.close());
        await this.#removeNow(id, name);
        throw new EngineError(`Refusing container "${name}": ${mismatch}`, { brokenNode: false });
      }
      const { conn: attach, error: attachError } = await attaching;
      if (attach === null) {
        const err = attachError;
        if (
          !(err instanceof EngineApiError && err.status === 409 && /preparing container/.test(err.message))
        ) {
          throw err;
        }
        stillCreating();
        const error = new EngineApiError(err.status, err.engineMessage, `Cannot start container "${name}"`);
        this.#state = { kind: "unstartable", name, id, error };
        return;
      }
      if (this.#state !== creating) attach.conn.close();
      stillCreating();
      this.#state = {
        kind: "created",
        name,
        id,
        stdio: {
          conn: attach.conn,
          stdin: pumpStdin(spec.stdin, attach.conn, this.#log),
          output: pumpOutput(attach.chunks, spec.stdout, spec.stderr, this.#log),
        },
      };
    } catch (err) {
      created.resolve(id); // no effect when already resolved
      this.#noteFailure(err);
      throw err;
    }
  }

  /**
   * One create request, right after the spec's host path check. A name conflict (Docker 409, Podman 500 "already in use") is returned as `conflict`;
   * any other failure settles `settle` (null when the engine answered, so nothing was created; the name when it
   * did not, so the container may exist) and is thrown.
   */
  async #createOnce(
    spec: ContainerSpec,
    body: CreateBody,
    settle: (ref: string | null) => void,
  ): Promise<CreatedContainer | "conflict"> {
    const name = spec.name;
    // The last check of the bind sources before the engine acts on them; a rejection creates nothing.
    await spec.verifyHostPaths?.();
    try {
      return await createContainer(this.#api, name, body);
    } catch (err) {
      if (err instanceof EngineApiError && (err.status === 409 || /already in use/.test(err.engineMessage))) {
        return "conflict";
      }
      settle(err instanceof EngineApiError ? null : name);
      throw err;
    }
  }

  /** Removes a container the executor refuses, at once (bounded); `close` tries again if this fails. */
  async #removeNow(id: string, name: string): Promise<void> {
    try {
      await removeContainer(this.#api, id, name);
    } catch (err) {
      this.#noteFailure(err);
      this.#log(errText(err));
    }
  }

  async start(): Promise<void> {
    const state = this.#state;
    if (state.kind === "stopped") {
      throw new EngineError(`Cannot start container "${state.name}": it was stopped`);
    }
    if (state.kind === "unstartable") throw state.error;
    if (state.kind !== "created") throw new EngineError(`Internal error: start() in state "${state.kind}"`);
    const { name, id, stdio } = state;
    const starting = startContainer(this.#api, id, name);
    const started = starting.then(() => true, () => false);
    // Registered right after the start: the container is not auto-removed, so `not-running` reports even an
    // exit that happened before this request arrived.
    const exit = started.then((ok) => ok ? this.#registerWait(id, name) : null);
    const next: ExecutorState = { kind: "starting", name, id, stdio, started, exit };
    this.#state = next;
    try {
      await starting;
    } catch (err) {
      this.#noteFailure(err);
      if (this.#state === next) this.#state = state;
      throw err;
    }
    if (this.#state === next) {
      this.#state = { kind: "running", name, id, stdio, exit: exit as Promise<ExitOutcome> };
    }
  }

  /** The long-poll wait for the exit, turned into an outcome (never rejects). */
  #registerWait(id: string, name: string): Promise<ExitOutcome> {
    return waitContainer(this.#api, id, this.#abort.signal, this.#libpodVersion).then(
      (reply): ExitOutcome => {
        const message = reply.Error?.Message ?? "";
        if (message !== "") {
          this.#log(`${this.#display} reported on wait: ${message}`);
          return { kind: "error", error: new EngineError(`Container "${name}" could not run: ${message}`) };
        }
        if (typeof reply.StatusCode !== "number" || reply.StatusCode < 0) {
          return {
            kind: "error",
            error: new EngineError(
              `Container wait failed: the engine returned no exit status (StatusCode ${reply.StatusCode})`,
            ),
          };
        }
        return { kind: "exit", code: reply.StatusCode };
      },
      (error): ExitOutcome => ({ kind: "error", error }),
    );
  }

  wait(): Promise<number> {
    this.#waiting ??= this.#waitForExit();
    return this.#waiting;
  }

  async #waitForExit(): Promise<number> {
    const state = this.#state;
    switch (state.kind) {
      case "exited":
        return state.code;
      case "stopped": {
        // Bounded: the verdict settles within the stop's budget.
        const code = this.#exitCode(await state.verdict, state.name);
        await this.#drain(state.stdio, null);
        return code;
      }
      case "starting":
      case "running":
        break;
      default:
        throw new EngineError(`Internal error: wait() in state "${state.kind}"`);
    }
    const { id, stdio, exit } = state;
    let exited = false;
    const watchdog = this.#watchdog("container inspections", async (signal) => {
      if (exited) {
        await pingEngine(this.#api, { signal, timeoutMs: ENGINE_BOUNDS.watchdogProbeMs });
        return "";
      }
      let info;
      try {
        info = await inspectContainer(this.#api, id, { signal, timeoutMs: ENGINE_BOUNDS.watchdogProbeMs });
      } catch (err) {
        return `error inspecting container: ${errText(err)}`;
      }
      const s = info.State;
      if (this.#state.kind === "stopped" || s?.Running || s?.Status === "created") return "";
      return `container is not running: State=${JSON.stringify(s ?? null)}`;
    });
    try {
      const failed = watchdog.failed.then((error): ExitOutcome => ({ kind: "error", error }));
      const outcome = await Promise.race([exit, failed, this.#stopped.promise]);
      exited = true;
      const code = this.#exitCode(outcome, state.name);
      await this.#drain(stdio, failed);
      const now = this.#state;
      if (now.kind === "running" || now.kind === "starting") {
        this.#state = { kind: "exited", name: now.name, id: now.id, stdio: now.stdio, code };
      }
      return code;
    } catch (err) {
      this.#noteFailure(err);
      throw err;
    } finally {
      watchdog.stop();
    }
  }

  /** The exit code of an outcome, or the error to throw. */
  #exitCode(outcome: ExitOutcome | null, name: string): number {
    if (outcome === null) throw new EngineError(`Container "${name}" was stopped before it started`);
    if (outcome.kind === "exit") return outcome.code;
    const error = outcome.error;
    if (this.#state.kind === "stopped" && error instanceof EngineApiError && error.status === 404) {
      // Removed after the kill, before the wait could read its status: it was killed.
      this.#log(`Container "${name}" was stopped; reporting exit code ${KILLED_EXIT_CODE}`);
      return KILLED_EXIT_CODE;
    }
    if (error instanceof EngineApiError && error.status === 404) {
      throw new EngineError(`Container "${name}" disappeared before it exited: ${error.message}`, {
        cause: error,
      });
    }
    throw error;
  }

  /**
   * Waits for the output to reach its sinks after the exit: bounded by the drain time, or after a stop by what
   * is left of the stop's budget (then an incomplete output is logged, not thrown).
   */
  async #drain(stdio: Stdio | null, failed: Promise<ExitOutcome> | null): Promise<void> {
    if (stdio === null) return;
    const state = this.#state;
    const stopped = state.kind === "stopped";
    const limitMs = stopped
      ? Math.max(0, state.settleBy - Date.now())
      : this.#opts.drainTimeoutMs ?? ENGINE_BOUNDS.drainMs;
    const drained = await within(failed ? Promise.race([stdio.output, failed]) : stdio.output, limitMs);
    if (drained === TIMED_OUT) {
      const name = "name" in state ? state.name : "";
      const message = `Container "${name}" finished, but its stdout/stderr did not complete within ` +
        describeMs(stopped ? ENGINE_BOUNDS.stopSettleMs : limitMs);
      if (stopped) {
        this.#log(message);
        return;
      }
      throw new EngineError(message);
    }
    if (drained === null) return;
    if (drained instanceof EngineError) throw drained;
    if (drained.kind === "error") throw drained.error;
  }

  /** A watchdog over the engine, checking with `probe`, at the configured interval. */
  #watchdog(checks: string, probe: (signal: AbortSignal) => Promise<string>): Watchdog {
    const watchdog = startWatchdog({
      probe,
      intervalMs: this.#opts.watchdogIntervalMs ?? ENGINE_BOUNDS.watchdogIntervalMs,
      probeTimeoutMs: ENGINE_BOUNDS.watchdogProbeMs,
      threshold: WATCHDOG_THRESHOLD,
      label: `${this.#display} watchdog`,
      checks,
      engine: this.#display,
      log: this.#log,
    });
    watchdog.failed.then(() => this.#markUnresponsive());
    return watchdog;
  }

  async pid(): Promise<number> {
    const state = this.#state;
    if (state.kind !== "running") return 0;
    try {
      const info = await inspectContainer(this.#api, state.id);
      return typeof info.State?.Pid === "number" ? info.State.Pid : 0;
    } catch {
      return 0;
    }
  }

  stop(): Promise<void> {
    const state = this.#state;
    let name: string;
    let container: Promise<string | null>;
    let stdio: Stdio | null = null;
    let killed: Promise<KillOutcome>;
    let exit: Promise<ExitOutcome | null> = Promise.resolve(null);
    switch (state.kind) {
      case "creating":
        ({ name, container } = state);
        killed = Promise.resolve({ kind: "not-started" });
        break;
      case "created":
      case "unstartable":
        name = state.name;
        stdio = state.kind === "created" ? state.stdio : null;
        container = Promise.resolve(state.id);
        killed = Promise.resolve({ kind: "not-started" });
        break;
      case "starting": {
        ({ name, stdio, exit } = state);
        const id = state.id;
        // Known once the start settles: a removal sent while the engine is still starting it would race the start.
        container = state.started.then(() => id);
        killed = state.started.then((ok) => ok ? this.#kill(id, name) : { kind: "not-started" });
        break;
      }
      case "running":
        ({ name, stdio, exit } = state);
        container = Promise.resolve(state.id);
        killed = this.#kill(state.id, name);
        break;
      default:
        // Nothing created (new), nothing left to kill (exited, stopped) or closing: nothing to do.
        return Promise.resolve();
    }
    const settleBy = Date.now() + ENGINE_BOUNDS.stopSettleMs;
    const verdict = this.#verdict(name, killed, exit, settleBy);
    this.#state = { kind: "stopped", name, container, stdio, verdict, settleBy };
    verdict.then((v) => this.#stopped.resolve(v));
    return killed.then(() => {});
  }

  /** The SIGKILL, as an outcome (never rejects). */
  #kill(id: string, name: string): Promise<KillOutcome> {
    return killContainer(this.#api, id, name).then(
      (kind): KillOutcome => ({ kind }),
      (error): KillOutcome => {
        this.#noteFailure(error);
        this.#log(errText(error));
        return { kind: "error", error };
      },
    );
  }

  /** How `wait` ends after a stop, within {@link ENGINE_BOUNDS.stopSettleMs}. */
  async #verdict(
    name: string,
    killed: Promise<KillOutcome>,
    exit: Promise<ExitOutcome | null>,
    deadline: number,
  ): Promise<ExitOutcome | null> {
    const kill = await within(killed, deadline - Date.now());
    if (kill === TIMED_OUT) {
      this.#markUnresponsive();
      return {
        kind: "error",
        error: new EngineTimeoutError(
          `Cannot stop container "${name}": the ${this.#api.label} at unix://${this.#api.socket} did not ` +
            `settle the start and the kill within ${
              describeMs(ENGINE_BOUNDS.stopSettleMs)
            } (engine unresponsive)`,
          ENGINE_BOUNDS.stopSettleMs,
        ),
      };
    }
    if (kill.kind === "error" && kill.error instanceof EngineTimeoutError) return kill;
    if (kill.kind === "not-started") return null;
    const outcome = await within(exit, deadline - Date.now());
    if (outcome === TIMED_OUT) {
      this.#log(
        `Container "${name}" was killed, but the engine did not report its exit within ` +
          `${describeMs(ENGINE_BOUNDS.stopSettleMs)}; reporting exit code ${KILLED_EXIT_CODE}`,
      );
      return { kind: "exit", code: KILLED_EXIT_CODE };
    }
    return outcome;
  }

  async close(): Promise<void> {
    const state = this.#state;
    if (state.kind === "closing") return await state.done;
    if (state.kind === "closed" && state.late === null) return;
    const budget = state.kind === "closed" || state.kind === "stopped" || this.#health === "unresponsive"
      ? ENGINE_BOUNDS.closeAfterStopMs
      : this.#opts.closeTimeoutMs ?? ENGINE_BOUNDS.closeMs;
    const deadline = Date.now() + budget;
    const closing = deferred<void>();
    this.#state = { kind: "closing", done: closing.promise };
    switch (state.kind) {
      case "new":
        await this.#teardown("", null, false, deadline, null);
        break;
      case "closed":
        // A create that was in flight at the first close may have settled since: remove what it made.
        await this.#teardown(state.late!.name, state.late!.container, true, deadline, null);
        break;
      case "creating":
        await this.#teardown(state.name, state.container, false, deadline, null);
        break;
      case "stopped":
        await this.#teardown(state.name, state.container, true, deadline, state.stdio);
        break;
      case "unstartable":
        await this.#teardown(state.name, Promise.resolve(state.id), false, deadline, null);
        break;
      default:
        await this.#teardown(
          state.name,
          state.kind === "starting" ? state.started.then(() => state.id) : Promise.resolve(state.id),
          state.kind === "starting" || state.kind === "running",
          deadline,
          state.stdio,
        );
    }
    closing.resolve();
  }

  /**
   * Removes the container (by ID once `container` tells it; by name when the create never answered), closes the
   * stdio and the transport, all by `deadline`. Never throws: what could not be done is logged.
   */
  async #teardown(
    name: string,
    container: Promise<string | null> | null,
    mayRun: boolean,
    deadline: number,
    stdio: Stdio | null,
  ): Promise<void> {
    let late: { name: string; container: Promise<string | null> } | null = null;
    if (container !== null) {
      // Wait for a create or start in flight, but keep time to remove what it made. One that settles later is
      // kept as `late`: the next close() (the runner calls it again when the step settles) removes it by ID.
      const reserve = Math.min(REMOVAL_RESERVE_MS, (deadline - Date.now()) / 2);
      const ref = await within(container, deadline - reserve - Date.now());
      if (ref === TIMED_OUT) {
        late = { name, container };
        this.#log(
          `Container "${name}" was still being created or started when berth stopped waiting for the engine; ` +
            `removing it by name`,
        );
        await this.#remove(name, name, true, deadline);
      } else if (ref !== null) {
        await this.#remove(ref, name, mayRun, deadline);
      }
    }
    if (stdio !== null) {
      try {
        stdio.conn.close();
      } catch {
        // Already closed by the engine.
      }
      await within(Promise.allSettled([stdio.output, stdio.stdin]), CLOSE_DRAIN_MS);
    }
    this.#abort.abort(new EngineError(`The executor was closed`));
    if (this.#waiting) await within(this.#waiting.catch(() => {}), CLOSE_DRAIN_MS);
    if (late === null) this.#api.close();
    this.#state = { kind: "closed", late };
  }

  /**
   * Kills (when it may run: Podman's forced removal would first wait for the stop timeout) and force-removes a
   * container by `deadline`; a refusal for a passing reason is retried, a time-out is not. Never throws.
   */
  async #remove(ref: string, name: string, mayRun: boolean, deadline: number): Promise<void> {
    let last: unknown = null;
    while (Date.now() < deadline) {
      const left = deadline - Date.now();
      try {
        if (mayRun) {
          // At most half of what is left: the removal must keep its chance. A kill the engine does not answer
          // does not stop the forced removal from being asked (it kills too): an engine deaf to one call may
          // still answer the next, and a container nobody asked to remove would stay running.
          await killContainer(this.#api, ref, name, Math.min(ENGINE_BOUNDS.killMs, left / 2)).catch((err) => {
            if (!(err instanceof EngineTimeoutError)) return;
            last = err;
            this.#noteFailure(err);
            this.#log(err.message);
          });
        }
        await removeContainer(this.#api, ref, name, Math.max(1, deadline - Date.now()));
        // Podman may answer while its own clean-up of the killed container still holds it: make sure.
        if (!(await containerExists(this.#api, ref, Math.max(1, deadline - Date.now())))) return;
        last = "it still exists after its removal";
      } catch (err) {
        last = err;
        this.#noteFailure(err);
        if (err instanceof EngineTimeoutError || !(err instanceof EngineApiError)) break;
      }
      await new Promise((r) => setTimeout(r, Math.min(REMOVE_RETRY_MS, Math.max(0, deadline - Date.now()))));
    }
    // Errors of the resource calls already say what failed (`Cannot remove container "x": …`).
    this.#log(
      last instanceof Error
        ? last.message
        : `Cannot remove container "${name}": ${last ?? "the engine did not answer in time"}`,
    );
    this.#log(`Container "${name}" is left on the engine: \`berth gc\` removes it once the engine answers`);
  }
}
