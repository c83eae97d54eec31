/**
 * The {@link ContainerExecutor} for engines that serve the Docker Engine API: Docker itself and Podman's
 * compatibility service.
 *
 * One executor runs one container. `create` removes a leftover container of the same name, creates the new one
 * and attaches its stdio before anything can be lost; `start` starts it and registers the wait at once (the
 * container is never auto-removed, so an exit that happens before the wait arrives is still reported); `wait`
 * returns the exit code after the output has been drained, while a watchdog checks the engine is still answering;
 * `stop` kills and removes the container; `close` removes it on every path.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import type { ContainerExecutor, ContainerSpec, ImageProgress, LogFn } from "../types.ts";
import { buildCreateBody, type HostFacts } from "./create_body.ts";
import { hijack, type HijackedConnection } from "./hijack.ts";
import { loadImage } from "./image_load.ts";
import { type DockerApiEngine, resolveSocket } from "./socket.ts";
import { pumpOutput, pumpStdin } from "./stdio.ts";
import { discardBody, EngineApiError, EngineTransport } from "./transport.ts";
import { describeRuntime, type EngineVersion, negotiateApiVersion } from "./version.ts";

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
   * How often the watchdog inspects the running container.
   * @default 120000
   */
  watchdogIntervalMs?: number;
  /**
   * How long `wait` lets the output drain after the exit before giving up.
   * @default 300000
   */
  drainTimeoutMs?: number;
  /**
   * How long `close` waits for the engine to remove the container before giving up (logged, not thrown), so an
   * unresponsive engine cannot hang berth's exit.
   * @default 120000
   */
  closeTimeoutMs?: number;
  /** berth's effective user ID (selects Podman's rootful or rootless socket); by default `Deno.uid()`. */
  uid?: number;
  /** Group ID of a device file, or null when missing (ROCm); by default from `Deno.statSync`. */
  deviceGroup?: (path: string) => number | null;
}

/** Consecutive failed watchdog inspections after which the engine counts as unresponsive. */
export const WATCHDOG_THRESHOLD = 5;
/** Exit code reported for a container that was stopped (killed) before its exit status could be read. */
export const KILLED_EXIT_CODE = 137;

const DEFAULT_WATCHDOG_MS = 2 * 60_000;
const DEFAULT_DRAIN_MS = 5 * 60_000;
const PID_TIMEOUT_MS = 10_000;
const CLOSE_DRAIN_MS = 5_000;
const DEFAULT_CLOSE_MS = 2 * 60_000;

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

type WaitOutcome = { code: number } | { error: unknown };

/** A rejection that fires after `ms` unless cleared; for bounding a drain. */
function timeout(ms: number): { promise: Promise<"timeout">; clear: () => void } {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const promise = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  return { promise, clear: () => clearTimeout(timer) };
}

function describeMs(ms: number): string {
  return ms % 60_000 === 0 ? `${ms / 60_000} min` : ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** See the module documentation. */
class DockerExecutor implements ContainerExecutor {
  readonly #api: EngineTransport;
  readonly #engine: DockerApiEngine;
  readonly #display: string;
  readonly #opts: DockerExecutorOptions;
  readonly #log: LogFn;
  readonly #abort = new AbortController();
  #negotiated: Promise<void> | null = null;
  #name = "";
  #id = "";
  #attach: HijackedConnection | null = null;
  #output: Promise<EngineError | null> | null = null;
  #stdin: Promise<void> | null = null;
  #waitRequest: Promise<WaitOutcome> | null = null;
  #waiting: Promise<number> | null = null;
  #removing: Promise<void> | null = null;
  #started = false;
  #stopped = false;
  #closed = false;
  #watchdogTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(opts: DockerExecutorOptions) {
    this.#opts = opts;
    this.#log = opts.log;
    this.#engine = opts.engine;
    this.#display = opts.engine === "docker" ? "Docker" : "Podman";
    const socket = resolveSocket({
      engine: opts.engine,
      socket: opts.socket,
      hostEnv: opts.hostEnv,
      uid: opts.uid ?? Deno.uid() ?? 0,
    });
    this.#api = new EngineTransport(socket, opts.engine === "docker" ? "Docker daemon" : "Podman service");
  }

  #negotiate(): Promise<void> {
    this.#negotiated ??= (async () => {
      const info = await this.#api.json<EngineVersion>("GET", "/version", {
        versioned: false,
        context: `Cannot read the ${this.#display} version`,
      });
      this.#api.apiVersion = negotiateApiVersion(info, this.#display);
    })().catch((err) => {
      this.#negotiated = null;
      throw err;
    });
    return this.#negotiated;
  }

  async runtime(): Promise<string> {
    try {
      const info = await this.#api.json<EngineVersion>("GET", "/version", { versioned: false });
      return describeRuntime(this.#engine, info);
    } catch {
      return describeRuntime(this.#engine, null);
    }
  }

  async loadImage(
    imageId: string,
    tarballPath: string,
    onProgress?: (p: ImageProgress) => void,
  ): Promise<void> {
    await this.#negotiate();
    await loadImage(this.#api, imageId, tarballPath, this.#log, onProgress);
  }

  async create(spec: ContainerSpec): Promise<void> {
    if (this.#name !== "") {
      throw new EngineError(`Internal error: create() called twice (for "${spec.name}")`);
    }
    if (this.#closed) throw new EngineError(`Internal error: create() after close()`);
    this.#name = spec.name;
    await this.#negotiate();
    const host: HostFacts = {
      env: this.#opts.hostEnv,
      deviceGroup: this.#opts.deviceGroup ?? statDeviceGroup,
    };
    const body = buildCreateBody(spec, this.#api.apiVersion, host);

    const stale = await this.#api.request("DELETE", `/containers/${encodeURIComponent(spec.name)}`, {
      query: { force: 1, v: 1 },
      accept: [404],
      context: `Cannot remove the leftover container "${spec.name}"`,
    });
    await discardBody(stale);
    if (stale.status !== 404) this.#log(`Removed a leftover container named "${spec.name}"`);

    const created = await this.#api.json<{ Id?: string; Warnings?: string[] | null }>(
      "POST",
      "/containers/create",
      {
        query: { name: spec.name },
        json: body,
        context: `Cannot create container "${spec.name}"`,
      },
    );
    if (typeof created.Id !== "string" || created.Id === "") {
      throw new EngineError(`Cannot create container "${spec.name}": the engine returned no container ID`);
    }
    this.#id = created.Id;
    for (const w of created.Warnings ?? []) this.#log(`${this.#display} warning: ${w}`);

    const path = this.#api.versionedPath(`/containers/${this.#id}/attach?stream=1&stdin=1&stdout=1&stderr=1`);
    this.#attach = await hijack(this.#api.socket, "POST", path, this.#api.label);
    this.#stdin = pumpStdin(spec.stdin, this.#attach.conn, this.#log);
    this.#output = pumpOutput(this.#attach.chunks, spec.stdout, spec.stderr, this.#log);
  }

  async start(): Promise<void> {
    if (this.#id === "") throw new EngineError(`Internal error: start() before create()`);
    if (this.#stopped) throw new EngineError(`Cannot start container "${this.#name}": it was stopped`);
    const res = await this.#api.request("POST", `/containers/${this.#id}/start`, {
      accept: [304],
      context: `Cannot start container "${this.#name}"`,
    });
    await discardBody(res);
    this.#started = true;
    // Registered right after the start: the container is not auto-removed, so `not-running` reports even an
    // exit that happened before this request arrived.
    this.#waitRequest = this.#api.json<{ StatusCode?: number; Error?: { Message?: string } | null }>(
      "POST",
      `/containers/${this.#id}/wait`,
      { query: { condition: "not-running" }, signal: this.#abort.signal, context: "Container wait failed" },
    ).then(
      (body) => {
        if (body.Error?.Message) this.#log(`${this.#display} reported on wait: ${body.Error.Message}`);
        if (typeof body.StatusCode !== "number") {
          return { error: new EngineError(`Container wait failed: the engine returned no exit status`) };
        }
        return { code: body.StatusCode };
      },
      (error) => ({ error }),
    );
  }

  wait(): Promise<number> {
    this.#waiting ??= this.#waitForExit();
    return this.#waiting;
  }

  async #waitForExit(): Promise<number> {
    if (!this.#started || !this.#waitRequest) throw new EngineError(`Internal error: wait() before start()`);
    const watchdog = this.#startWatchdog();
    let outcome: WaitOutcome;
    try {
      outcome = await Promise.race([this.#waitRequest, watchdog.failed]);
    } finally {
      watchdog.stop();
    }
    let code: number;
    if ("code" in outcome) {
      code = outcome.code;
    } else if (this.#stopped) {
      // stop() removed the container before the wait could read its status: it was killed.
      this.#log(`Container "${this.#name}" was stopped; reporting exit code ${KILLED_EXIT_CODE}`);
      code = KILLED_EXIT_CODE;
    } else if (outcome.error instanceof EngineApiError && outcome.error.status === 404) {
      throw new EngineError(
        `Container "${this.#name}" disappeared before it exited: ${outcome.error.message}`,
        {
          cause: outcome.error,
        },
      );
    } else {
      throw outcome.error;
    }
    const drainMs = this.#opts.drainTimeoutMs ?? DEFAULT_DRAIN_MS;
    const limit = timeout(drainMs);
    try {
      const drained = await Promise.race([this.#output!, limit.promise]);
      if (drained === "timeout") {
        throw new EngineError(
          `Container "${this.#name}" finished, but its stdout/stderr did not complete within ${
            describeMs(drainMs)
          }`,
        );
      }
      if (drained !== null) throw drained;
    } finally {
      limit.clear();
    }
    return code;
  }

  /** Inspects the container every interval; `failed` resolves with an error after too many failures. */
  #startWatchdog(): { failed: Promise<WaitOutcome>; stop: () => void } {
    const interval = this.#opts.watchdogIntervalMs ?? DEFAULT_WATCHDOG_MS;
    let stopped = false;
    let failures = 0;
    let giveUp: (outcome: WaitOutcome) => void = () => {};
    const failed = new Promise<WaitOutcome>((resolve) => giveUp = resolve);
    const tick = async () => {
      if (stopped) return;
      let problem = "";
      try {
        const signal = AbortSignal.any([this.#abort.signal, AbortSignal.timeout(interval)]);
        const info = await this.#api.json<{ State?: { Running?: boolean; Status?: string } }>(
          "GET",
          `/containers/${this.#id}/json`,
          { signal },
        );
        const state = info.State;
        if (!state || !(state.Running || state.Status === "created")) {
          problem = `container is not running: State=${JSON.stringify(state ?? null)}`;
        }
      } catch (err) {
        problem = `error inspecting container: ${errText(err)}`;
      }
      if (stopped || this.#stopped) return;
      if (problem === "") {
        failures = 0;
      } else {
        failures++;
        this.#log(`${this.#display} watchdog: ${problem}`);
        if (failures >= WATCHDOG_THRESHOLD) {
          this.#log(`${this.#display} watchdog: giving up`);
          giveUp({
            error: new EngineError(
              `${this.#display} engine unresponsive: ${WATCHDOG_THRESHOLD} container inspections in a row ` +
                `failed, the last with: ${problem}`,
              { brokenNode: true },
            ),
          });
          return;
        }
      }
      if (!stopped) this.#watchdogTimer = setTimeout(tick, interval);
    };
    this.#watchdogTimer = setTimeout(tick, interval);
    return {
      failed,
      stop: () => {
        stopped = true;
        clearTimeout(this.#watchdogTimer);
      },
    };
  }

  async pid(): Promise<number> {
    if (this.#id === "" || this.#closed) return 0;
    try {
      const info = await this.#api.json<{ State?: { Pid?: number } }>("GET", `/containers/${this.#id}/json`, {
        signal: AbortSignal.timeout(PID_TIMEOUT_MS),
      });
      return typeof info.State?.Pid === "number" ? info.State.Pid : 0;
    } catch {
      return 0;
    }
  }

  stop(): Promise<void> {
    this.#stopped = true;
    if (this.#id === "") return Promise.resolve();
    return this.#remove();
  }

  /** Kills then force-removes the container; concurrent callers share one attempt; gone counts as done. */
  #remove(): Promise<void> {
    const target = this.#id || this.#name;
    this.#removing ??= (async () => {
      // Podman's forced removal first sends SIGTERM and waits for the stop timeout: kill first.
      const killed = await this.#api.request("POST", `/containers/${encodeURIComponent(target)}/kill`, {
        query: { signal: "KILL" },
        accept: [404, 409, 500],
        signal: this.#abort.signal,
        context: `Cannot kill container "${this.#name}"`,
      });
      await discardBody(killed);
      const removed = await this.#api.request("DELETE", `/containers/${encodeURIComponent(target)}`, {
        query: { force: 1, v: 1 },
        accept: [404],
        signal: this.#abort.signal,
        context: `Cannot remove container "${this.#name}"`,
      });
      await discardBody(removed);
    })().catch((err) => {
      this.#removing = null;
      throw err;
    });
    return this.#removing;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopped = true;
    clearTimeout(this.#watchdogTimer);
    if (this.#name !== "") {
      const closeMs = this.#opts.closeTimeoutMs ?? DEFAULT_CLOSE_MS;
      const limit = timeout(closeMs);
      try {
        const removing = this.#remove();
        removing.catch(() => {}); // still handled when the time limit wins the race
        const removed = await Promise.race([removing, limit.promise]);
        if (removed === "timeout") {
          this.#log(
            `Cannot remove container "${this.#name}": the engine did not answer within ${
              describeMs(closeMs)
            }`,
          );
        }
      } catch (err) {
        this.#log(`Cannot remove container "${this.#name}": ${errText(err)}`);
      } finally {
        limit.clear();
      }
    }
    try {
      this.#attach?.conn.close();
    } catch {
      // Already closed by the engine.
    }
    const pumps = [this.#output, this.#stdin].filter((p) => p !== null);
    if (pumps.length > 0) {
      const limit = timeout(CLOSE_DRAIN_MS);
      await Promise.race([Promise.allSettled(pumps), limit.promise]);
      limit.clear();
    }
    this.#abort.abort(new EngineError(`The executor was closed`));
    if (this.#waitRequest) await this.#waitRequest;
    this.#api.close();
  }
}
