/**
 * The container resource of the Docker Engine API as thin typed calls over {@link EngineTransport}: create,
 * attach, start, wait, inspect, kill, remove. Each call has its time bound from {@link ENGINE_BOUNDS} (overridable
 * where a caller's budget is shorter) and errors carrying the HTTP status and the engine's message; none keeps
 * state. The executor's state machine (`executor.ts`) decides when to call which.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import { ENGINE_BOUNDS } from "./bounds.ts";
import type { CreateBody } from "./create_body.ts";
import { hijack, type HijackedConnection } from "./hijack.ts";
import type { EngineTransport } from "./transport.ts";

/** A bind mount as `GET /containers/{id}/json` lists it (the fields berth reads). */
export interface InspectMount {
  /** `bind`, `volume`, `tmpfs`, … */
  Type?: string;
  /** The host path (for a bind). */
  Source?: string;
  /** The path inside the container. */
  Destination?: string;
  /** False when mounted read-only. */
  RW?: boolean;
}

/** The parts of `GET /containers/{id}/json` berth reads. */
export interface ContainerInspect {
  /** The container ID. */
  Id?: string;
  /** The run state. */
  State?: {
    /** `created`, `running`, `exited`, … */
    Status?: string;
    /** True while the process runs. */
    Running?: boolean;
    /** Host PID of the container's first process, 0 when none. */
    Pid?: number;
    /** The exit code once exited. */
    ExitCode?: number;
    /** The engine's error text for a failed start. */
    Error?: string;
  };
  /** The container's mounts. */
  Mounts?: InspectMount[] | null;
}

/** The reply of `POST /containers/{id}/wait`. */
export interface WaitReply {
  /** The exit code; Podman answers -1 when it does not know it. */
  StatusCode?: number;
  /** The engine's error text when the container could not run. */
  Error?: { Message?: string } | null;
}

/** A created container. */
export interface CreatedContainer {
  /** Its ID. */
  id: string;
  /** Warnings the engine returned with it. */
  warnings: string[];
}

function ref(idOrName: string): string {
  return encodeURIComponent(idOrName);
}

/**
 * `POST /containers/create?name=NAME`.
 * @throws {EngineApiError} when the engine refuses (404 for an absent image).
 * @throws {EngineError} when the engine answers without an ID or is unreachable; an
 *   {@link EngineTimeoutError} after {@link ENGINE_BOUNDS.createMs} (the container may exist then).
 */
export async function createContainer(
  api: EngineTransport,
  name: string,
  body: CreateBody,
  signal?: AbortSignal,
): Promise<CreatedContainer> {
  const context = `Cannot create container "${name}"`;
  const created = await api.json<{ Id?: string; Warnings?: string[] | null }>("POST", "/containers/create", {
    query: { name },
    json: body,
    timeoutMs: ENGINE_BOUNDS.createMs,
    signal,
    context,
  });
  if (typeof created.Id !== "string" || created.Id === "") {
    throw new EngineError(`${context}: the engine returned no container ID`);
  }
  return { id: created.Id, warnings: created.Warnings ?? [] };
}

/**
 * Opens the attach connection for the container's stdio (stdin, stdout, stderr, streamed), bounded by
 * {@link ENGINE_BOUNDS.attachMs} up to the engine's answer.
 */
export function attachContainer(api: EngineTransport, id: string): Promise<HijackedConnection> {
  const path = api.versionedPath(`/containers/${ref(id)}/attach?stream=1&stdin=1&stdout=1&stderr=1`);
  return hijack(api.socket, "POST", path, api.label, ENGINE_BOUNDS.attachMs);
}

/**
 * `POST /containers/{id}/start`; "already started" (304) counts as started.
 * @throws {EngineApiError} carrying the engine's message when the runtime cannot start the process (command
 *   not found, bind refused).
 */
export async function startContainer(api: EngineTransport, id: string, name: string): Promise<void> {
  await api.send("POST", `/containers/${ref(id)}/start`, {
    accept: [304],
    timeoutMs: ENGINE_BOUNDS.startMs,
    context: `Cannot start container "${name}"`,
  });
}

/**
 * `POST /containers/{id}/wait?condition=not-running`: a long poll that answers when the container has exited
 * (at once when it already has). Not time-bounded: the caller watches the engine and aborts with `signal`.
 *
 * On Podman (`libpodVersion` given) Podman's own `POST /v<libpod>/libpod/containers/{id}/wait` instead: its
 * compatible wait answers 0.7–1.8 s after a short container's exit on a busy node (it waits for the container's
 * clean-up), its own wait 0.3–0.6 s (measured with Podman 4.3, #17). It answers the exit code alone.
 */
export async function waitContainer(
  api: EngineTransport,
  id: string,
  signal: AbortSignal,
  libpodVersion = "",
): Promise<WaitReply> {
  const context = "Container wait failed";
  if (libpodVersion === "") {
    return await api.json<WaitReply>("POST", `/containers/${ref(id)}/wait`, {
      query: { condition: "not-running" },
      signal,
      context,
    });
  }
  const code = await api.json<unknown>("POST", `/v${libpodVersion}/libpod/containers/${ref(id)}/wait`, {
    versioned: false,
    signal,
    context,
  });
  return { StatusCode: typeof code === "number" ? code : -1 };
}

/** `GET /containers/{id}/json`, bounded by `timeoutMs` (default {@link ENGINE_BOUNDS.inspectMs}). */
export function inspectContainer(
  api: EngineTransport,
  idOrName: string,
  options: { timeoutMs?: number; signal?: AbortSignal; context?: string } = {},
): Promise<ContainerInspect> {
  return api.json<ContainerInspect>("GET", `/containers/${ref(idOrName)}/json`, {
    timeoutMs: options.timeoutMs ?? ENGINE_BOUNDS.inspectMs,
    signal: options.signal,
    context: options.context,
  });
}

/**
 * `POST /containers/{id}/kill?signal=KILL`.
 * @returns `killed`, `not-running` (409, or Podman's 500 for a container that is not running) or `gone` (404).
 */
export async function killContainer(
  api: EngineTransport,
  idOrName: string,
  name: string,
  timeoutMs: number = ENGINE_BOUNDS.killMs,
): Promise<"killed" | "not-running" | "gone"> {
  const status = await api.send("POST", `/containers/${ref(idOrName)}/kill`, {
    query: { signal: "KILL" },
    accept: [404, 409, 500],
    timeoutMs,
    context: `Cannot kill container "${name}"`,
  });
  return status === 404 ? "gone" : status >= 300 ? "not-running" : "killed";
}

/**
 * `DELETE /containers/{id}?force=1&v=1`.
 * @returns `removed`, or `gone` when there was no such container (404).
 */
export async function removeContainer(
  api: EngineTransport,
  idOrName: string,
  name: string,
  timeoutMs: number = ENGINE_BOUNDS.inspectMs,
): Promise<"removed" | "gone"> {
  const status = await api.send("DELETE", `/containers/${ref(idOrName)}`, {
    query: { force: 1, v: 1 },
    accept: [404],
    timeoutMs,
    context: `Cannot remove container "${name}"`,
  });
  return status === 404 ? "gone" : "removed";
}

/** True while a container with this ID or name exists (`GET /containers/{id}/json` answers other than 404). */
export async function containerExists(
  api: EngineTransport,
  idOrName: string,
  timeoutMs: number = ENGINE_BOUNDS.inspectMs,
): Promise<boolean> {
  const status = await api.send("GET", `/containers/${ref(idOrName)}/json`, { accept: [404], timeoutMs });
  return status !== 404;
}
