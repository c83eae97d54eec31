/**
 * Docker Engine API version negotiation and the runtime description, from the unversioned `GET /version`.
 *
 * berth speaks API 1.35 to 1.47 and uses the highest version both sides speak. Docker 20.10 serves 1.41,
 * Podman 4 and 5 report 1.41 in compatibility mode, Docker 28 serves 1.48 and accepts from 1.24, Docker 29
 * accepts only from 1.44 (from 1.40 again since 29.3): the minimum of ours and the server's maximum is right for
 * all of them.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";

/** Highest API version berth speaks. */
export const MAX_API_VERSION = "1.47";
/** Lowest API version berth speaks. */
export const MIN_API_VERSION = "1.35";
/** First API version with `HostConfig.DeviceRequests` (GPUs). */
export const DEVICE_REQUESTS_API_VERSION = "1.40";

/** The parts of a `GET /version` reply berth reads. */
export interface EngineVersion {
  /** Highest API version the engine serves. */
  ApiVersion?: string;
  /** Lowest API version the engine accepts. */
  MinAPIVersion?: string;
  /** Engine version. */
  Version?: string;
  /** Components (engine, containerd, runc, …) with their versions. */
  Components?: { Name?: string; Version?: string }[];
}

/** Compares two `major.minor` API versions numerically: negative, 0 or positive. */
export function compareApiVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function validVersion(v: unknown): v is string {
  return typeof v === "string" && /^\d+\.\d+$/.test(v);
}

/**
 * The API version to use with an engine: the lower of berth's maximum and the engine's `ApiVersion`.
 * @param engine the engine's name for messages (`Docker`, `Podman`).
 * @throws {EngineError} when the engine reports no usable version, speaks only versions below 1.35, or requires
 * a version above berth's maximum.
 */
export function negotiateApiVersion(info: EngineVersion, engine: string): string {
  if (!validVersion(info.ApiVersion)) {
    throw new EngineError(
      `${engine} did not report its API version (ApiVersion is "${info.ApiVersion ?? ""}")`,
    );
  }
  const server = info.ApiVersion;
  if (compareApiVersions(server, MIN_API_VERSION) < 0) {
    throw new EngineError(
      `${engine} serves Docker Engine API ${server}, but berth needs API ${MIN_API_VERSION} or newer: ` +
        `upgrade the engine`,
    );
  }
  if (validVersion(info.MinAPIVersion) && compareApiVersions(info.MinAPIVersion, MAX_API_VERSION) > 0) {
    throw new EngineError(
      `${engine} accepts only Docker Engine API ${info.MinAPIVersion} or newer, but berth speaks up to ` +
        `${MAX_API_VERSION}: set DOCKER_MIN_API_VERSION=${MAX_API_VERSION} for the engine or upgrade berth`,
    );
  }
  return compareApiVersions(server, MAX_API_VERSION) < 0 ? server : MAX_API_VERSION;
}

function componentVersion(version: string): string {
  const first = version.split("\n")[0].trim();
  // "conmon version 2.1.6, commit: unknown" and "runc version 1.1.5+ds1" → the version token.
  const m = /\bversion\s+([^\s,]+)/.exec(first);
  return m ? m[1] : first;
}

/**
 * A one-line description of the engine for the log, as crunch-run prints it:
 * `docker Engine 20.10.24, containerd 1.6.20~ds1, runc 1.1.5+ds1, docker-init 0.19.0`, or for Podman
 * `podman Engine 4.3.1, Conmon 2.1.6, OCI Runtime (runc) 1.1.5+ds1`. `<engine> (unknown version)` when the
 * reply lists nothing.
 */
export function describeRuntime(engine: string, info: EngineVersion | null): string {
  const parts = (info?.Components ?? [])
    .filter((c) => typeof c.Name === "string" && typeof c.Version === "string" && c.Name.trim() !== "")
    .map((c) => {
      const name = c.Name!.trim().replace(new RegExp(`^${engine}\\s+`, "i"), "");
      return `${name} ${componentVersion(c.Version!)}`;
    });
  if (parts.length === 0 && typeof info?.Version === "string" && info.Version !== "") {
    parts.push(`Engine ${info.Version}`);
  }
  return parts.length ? `${engine} ${parts.join(", ")}` : `${engine} (unknown version)`;
}
