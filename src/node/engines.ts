/**
 * Talking to the Docker-API engines (Docker, Podman) from node tools (`berth check`, `berth gc`): which sockets to
 * try, and a connection with the API version negotiated. Built on the Docker executor's transport, so node tools
 * and runs see an engine the same way.
 * @module
 */

import { readEnv } from "../env.ts";
import { errorLine } from "../errors.ts";
import { type DockerApiEngine, resolveSocket } from "../executor/docker/socket.ts";
import { EngineTransport } from "../executor/docker/transport.ts";
import { ENGINE_CHOICES, type EngineChoice } from "../executor/types.ts";
import { describeRuntime, type EngineVersion, negotiateApiVersion } from "../executor/docker/version.ts";

/** `--runtime-engine` choices node tools accept: berth's one engine list. */
export type EngineSelection = EngineChoice;

/** Every {@link EngineSelection}, in the order help texts list them. */
export const ENGINE_SELECTIONS: readonly EngineSelection[] = ENGINE_CHOICES;

/** A Docker-API engine to try. */
export interface ApiEngine {
  /** Which engine the socket is expected to serve. */
  engine: DockerApiEngine;
  /** Its unix socket. */
  socket: string;
  /** True when the user named it (an unreachable engine the user named is a failure, not a skip). */
  explicit: boolean;
}

/**
 * The Docker-API engines to try for an engine selection: Docker's and Podman's default sockets for `auto`, the
 * one engine's for `docker` or `podman`, none for Singularity/Apptainer. `--docker-socket` replaces them with
 * that one socket.
 */
export function apiEnginesFor(selection: EngineSelection, dockerSocket = ""): ApiEngine[] {
  const hostEnv = {
    DOCKER_HOST: readEnv("DOCKER_HOST"),
    CONTAINER_HOST: readEnv("CONTAINER_HOST"),
    XDG_RUNTIME_DIR: readEnv("XDG_RUNTIME_DIR"),
  };
  let uid = 0;
  try {
    uid = Deno.uid() ?? 0;
  } catch { /* not permitted: assume root's sockets */ }
  const one = (engine: DockerApiEngine, explicit: boolean): ApiEngine => ({
    engine,
    socket: resolveSocket({ engine, socket: dockerSocket, hostEnv, uid }),
    explicit,
  });
  switch (selection) {
    case "docker":
    case "podman":
      return [one(selection, true)];
    case "auto":
      return dockerSocket !== "" ? [one("docker", true)] : [one("docker", false), one("podman", false)];
    default:
      return [];
  }
}

/** A connection to an engine that answered. */
export interface EngineConnection {
  /** The transport, with the API version set. Close it when done. */
  transport: EngineTransport;
  /** The engine's `/version` reply. */
  version: EngineVersion;
  /** The runtime description (`docker Engine 20.10.24, containerd …`). */
  runtime: string;
  /** The engine family as it names itself (`podman` when the components say Podman). */
  family: DockerApiEngine;
}

/**
 * Connects to `engine` and negotiates the API version, giving up after `timeoutMs`.
 * @returns the connection, or a one-line reason it could not be made.
 */
export async function connectEngine(
  engine: ApiEngine,
  timeoutMs = 10_000,
): Promise<{ ok: true; conn: EngineConnection } | { ok: false; reason: string }> {
  let transport: EngineTransport | undefined;
  try {
    transport = new EngineTransport(
      engine.socket,
      engine.engine === "docker" ? "Docker daemon" : "Podman service",
    );
    const version = await transport.json<EngineVersion>("GET", "/version", {
      versioned: false,
      signal: AbortSignal.timeout(timeoutMs),
    });
    const family: DockerApiEngine = (version.Components ?? []).some((c) => /podman/i.test(c.Name ?? ""))
      ? "podman"
      : "docker";
    transport.apiVersion = negotiateApiVersion(version, family === "podman" ? "Podman" : "Docker");
    return { ok: true, conn: { transport, version, runtime: describeRuntime(family, version), family } };
  } catch (err) {
    transport?.close();
    const reason = err instanceof DOMException && err.name === "TimeoutError"
      ? `no answer from unix://${engine.socket} within ${timeoutMs / 1000} s`
      : err instanceof Deno.errors.NotCapable
      ? `berth's permission profile does not allow connecting to unix://${engine.socket} ` +
        `(add "unix:${engine.socket}" to BERTH_EXTRA_NET)`
      : errorLine(err);
    return { ok: false, reason };
  }
}
