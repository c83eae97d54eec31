/**
 * The engine-wide calls: `GET /_ping`, whose response headers carry the API version and the server's name (one
 * cheap round trip negotiates everything berth needs), and `GET /version`, read only for the runtime description
 * (Podman's compatible `/version` runs conmon and the OCI runtime to ask their versions: up to a second).
 *
 * @module
 */

import { ENGINE_BOUNDS } from "./bounds.ts";
import type { EngineTransport } from "./transport.ts";
import type { EngineVersion } from "./version.ts";

/** Which implementation serves the API: it decides the few places where Podman's compatibility differs. */
export type ApiFlavor = "docker" | "podman";

/** What `GET /_ping` tells. */
export interface PingReply {
  /** The `Api-Version` header: the highest API version the engine serves, or "" when absent. */
  apiVersion: string;
  /** The `Server` header, e.g. `Docker/20.10.24+dfsg1 (linux)` or `Libpod/4.3.1 (linux)`, or "". */
  server: string;
  /** `podman` when the server is Libpod (a `Libpod-Api-Version` header or a `Libpod/` server name). */
  flavor: ApiFlavor;
  /** The `Libpod-Api-Version` header (Podman's own API, e.g. `4.3.1`), or "" when absent. */
  libpodVersion: string;
}

/** The ping reply's facts from its headers. */
export function pingReplyOf(headers: Headers): PingReply {
  const server = headers.get("server") ?? "";
  const podman = headers.has("libpod-api-version") || /^libpod\//i.test(server);
  return {
    apiVersion: headers.get("api-version") ?? "",
    server,
    flavor: podman ? "podman" : "docker",
    libpodVersion: headers.get("libpod-api-version") ?? "",
  };
}

/**
 * `GET /_ping` (unversioned), bounded by {@link ENGINE_BOUNDS.pingMs} unless `timeoutMs` says otherwise.
 * @throws {EngineError} when the engine cannot be reached or does not answer in time (broken node).
 */
export async function pingEngine(
  api: EngineTransport,
  options: { context?: string; signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<PingReply> {
  const res = await api.request("GET", "/_ping", {
    versioned: false,
    timeoutMs: options.timeoutMs ?? ENGINE_BOUNDS.pingMs,
    signal: options.signal,
    context: options.context,
  });
  await res.body?.cancel().catch(() => {});
  return pingReplyOf(res.headers);
}

/**
 * `GET /version` (unversioned), bounded by {@link ENGINE_BOUNDS.versionMs} and by `signal`.
 * @throws {EngineError} when the engine cannot be reached or does not answer in time.
 */
export function engineVersion(
  api: EngineTransport,
  context?: string,
  signal?: AbortSignal,
): Promise<EngineVersion> {
  return api.json<EngineVersion>("GET", "/version", {
    versioned: false,
    timeoutMs: ENGINE_BOUNDS.versionMs,
    context,
    signal,
  });
}
