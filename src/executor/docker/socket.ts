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

/**
 * The socket path to use: the explicit option, else `DOCKER_HOST=unix://…` (Docker) or `CONTAINER_HOST=unix://…`
 * (Podman), else the engine's default: `/var/run/docker.sock`; for Podman `/run/podman/podman.sock` when running
 * as root, otherwise `$XDG_RUNTIME_DIR/podman/podman.sock` (`/run/user/<uid>/…` when that variable is unset).
 * @throws {UsageError} when the variable names something other than an absolute unix socket path.
 */
export function resolveSocket(choice: SocketChoice): string {
  if (choice.socket) return choice.socket;
  const variable = choice.engine === "docker" ? "DOCKER_HOST" : "CONTAINER_HOST";
  const fromEnv = choice.hostEnv[variable];
  if (fromEnv) return unixPath(variable, fromEnv);
  if (choice.engine === "docker") return DOCKER_DEFAULT_SOCKET;
  if (choice.uid === 0) return PODMAN_ROOTFUL_SOCKET;
  const runtimeDir = choice.hostEnv.XDG_RUNTIME_DIR || `/run/user/${choice.uid}`;
  return `${runtimeDir}/podman/podman.sock`;
}
