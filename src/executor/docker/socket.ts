/**
 * Which unix socket to speak the Docker Engine API on, for Docker and for Podman's compatible service.
 *
 * Only unix sockets are supported: berth never talks to an engine over TCP.
 *
 * @module
 */

import { UsageError } from "../../errors.ts";

/** Engines served by the Docker-API executor. */
export type DockerApiEngine = "docker" | "podman";

/** Inputs of {@link resolveSocket}. */
export interface SocketChoice {
  /** Which engine the socket belongs to. */
  engine: DockerApiEngine;
  /** An explicit socket path (`--docker-socket`); wins over everything else when non-empty. */
  socket?: string;
  /** The host environment (`DOCKER_HOST`, `CONTAINER_HOST`, `XDG_RUNTIME_DIR` are read from it). */
  hostEnv: Record<string, string | undefined>;
  /** The effective user ID of berth; 0 selects Podman's rootful socket. */
  uid: number;
}

/** Docker's default socket. */
export const DOCKER_DEFAULT_SOCKET = "/var/run/docker.sock";
/** Podman's rootful service socket. */
export const PODMAN_ROOTFUL_SOCKET = "/run/podman/podman.sock";

function unixPath(variable: string, value: string): string {
  if (!value.startsWith("unix://")) {
    throw new UsageError(
      `Cannot use ${variable}="${value}": berth speaks to the engine only on a unix socket (unix:///path)`,
    );
  }
  const path = value.slice("unix://".length);
  if (!path.startsWith("/")) {
    throw new UsageError(`Cannot use ${variable}="${value}": the socket path must be absolute`);
  }
  return path;
}

/** A socket chosen by {@link chooseSocket}. */
export interface ChosenSocket {
  /** The socket path. */
  path: string;
  /**
   * Where the user named it (`--docker-socket`, `DOCKER_HOST`, `CONTAINER_HOST`), or null for the engine's
   * default. A named socket that does not exist is the user's mistake; a default one missing is the node's.
   */
  namedBy: string | null;
}

/**
 * The socket to use: the explicit option, else `DOCKER_HOST=unix://…` (Docker) or `CONTAINER_HOST=unix://…`
 * (Podman), else the engine's default: `/var/run/docker.sock`; for Podman `/run/podman/podman.sock` when running
 * as root, otherwise `$XDG_RUNTIME_DIR/podman/podman.sock` (`/run/user/<uid>/…` when that variable is unset).
 * @throws {UsageError} when the variable names something other than an absolute unix socket path.
 */
export function chooseSocket(choice: SocketChoice): ChosenSocket {
  if (choice.socket) return { path: choice.socket, namedBy: "--docker-socket" };
  const variable = choice.engine === "docker" ? "DOCKER_HOST" : "CONTAINER_HOST";
  const fromEnv = choice.hostEnv[variable];
  if (fromEnv) return { path: unixPath(variable, fromEnv), namedBy: variable };
  if (choice.engine === "docker") return { path: DOCKER_DEFAULT_SOCKET, namedBy: null };
  if (choice.uid === 0) return { path: PODMAN_ROOTFUL_SOCKET, namedBy: null };
  const runtimeDir = choice.hostEnv.XDG_RUNTIME_DIR || `/run/user/${choice.uid}`;
  return { path: `${runtimeDir}/podman/podman.sock`, namedBy: null };
}

/**
 * The socket path of {@link chooseSocket}.
 * @throws {UsageError} when the variable names something other than an absolute unix socket path.
 */
export function resolveSocket(choice: SocketChoice): string {
  return chooseSocket(choice).path;
}

/**
 * The user's mistake behind an unreachable socket they named: a path that does not exist or is not a socket.
 * Returns null when the socket exists (then the engine behind it is down: the node's fault), when it was not
 * named, or when berth may not look at the path.
 */
export function namedSocketMistake(socket: ChosenSocket): UsageError | null {
  if (socket.namedBy === null) return null;
  const named = socket.namedBy === "--docker-socket"
    ? `--docker-socket "${socket.path}"`
    : `${socket.namedBy}="unix://${socket.path}"`;
  try {
    const info = Deno.statSync(socket.path);
    if (info.isSocket === false) {
      return new UsageError(`Cannot use ${named}: "${socket.path}" is not a socket`);
    }
    return null;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound || err instanceof Deno.errors.NotADirectory) {
      return new UsageError(`Cannot use ${named}: "${socket.path}" does not exist`);
    }
    return null;
  }
}
