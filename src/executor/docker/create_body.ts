/**
 * The body of `POST /containers/create` for a {@link ContainerSpec}: a pure function of the spec, the API version
 * and a few host facts (environment variables and device files), so every case, GPUs included, is testable
 * without an engine or hardware.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import type { ContainerSpec } from "../types.ts";
import { type BindMountEntry, mountFields } from "./mounts.ts";
import type { ApiFlavor } from "./system.ts";
import { compareApiVersions, DEVICE_REQUESTS_API_VERSION } from "./version.ts";

/** Label put on every container berth creates. */
export const MANAGED_LABEL = "org.berth.managed";
/** Label holding the container (job) name. */
export const JOB_LABEL = "org.berth.job";
/** Docker refuses memory limits below this; smaller non-zero limits are raised to it. */
export const MIN_RAM = 16 * 1024 * 1024;
/** Capabilities requested for CUDA GPUs. */
export const CUDA_CAPABILITIES = ["gpu", "nvidia", "compute", "utility"];

/** What the create body needs to know of the engine. */
export interface EngineFacts {
  /** Docker or Podman's compatible service. */
  flavor: ApiFlavor;
  /** True for a rootless Podman service (its user namespace decides how a spec user is mapped). */
  rootless: boolean;
}

/** What the create body depends on besides the spec. */
export interface HostFacts {
  /** berth's own environment (`CUDA_VISIBLE_DEVICES`, `AMD_VISIBLE_DEVICES` are read). */
  env: Record<string, string | undefined>;
  /** The group ID of a device file, or null when it does not exist. */
  deviceGroup(path: string): number | null;
}

/** A device mapping (`HostConfig.Devices` entry). */
export interface DeviceMapping {
  /** Device file on the host. */
  PathOnHost: string;
  /** Where it appears in the container. */
  PathInContainer: string;
  /** Device cgroup permissions, `rwm`. */
  CgroupPermissions: string;
}

/** A GPU request (`HostConfig.DeviceRequests` entry, API 1.40+). */
export interface DeviceRequest {
  /** Device driver, `nvidia`. */
  Driver: string;
  /** Number of devices; 0 when `DeviceIDs` names them. */
  Count: number;
  /** Device IDs or indexes, or null for "any `Count` devices". */
  DeviceIDs: string[] | null;
  /** Capability sets the driver must offer. */
  Capabilities: string[][];
}

/** Host settings of the create body (Docker's `HostConfig`, the fields berth sets). */
export interface CreateHostConfig {
  /** Log driver: `none`, output is only read through attach. */
  LogConfig: { Type: string; Config: Record<string, string> };
  /** `none`, or the spec's network mode when networking is enabled. */
  NetworkMode: string;
  /** Parent cgroup, when the spec names one. */
  CgroupParent?: string;
  /** CPU limit in billionths of a CPU. */
  NanoCpus?: number;
  /** Memory limit in bytes. */
  Memory?: number;
  /** Memory plus swap limit: equal to `Memory`, so no swap. */
  MemorySwap?: number;
  /** Bind mounts, structured (see `mounts.ts`). */
  Mounts: BindMountEntry[];
  /** Bind mounts as `host:container[:ro]`: only on Podman, only for paths its `Mounts` parser would split. */
  Binds?: string[];
  /** CUDA GPU requests. */
  DeviceRequests?: DeviceRequest[];
  /** ROCm devices. */
  Devices?: DeviceMapping[];
  /** Supplementary groups, as decimal GIDs: the spec user's and the ROCm devices'. */
  GroupAdd?: string[];
  /** `keep-id` on rootless Podman when the container runs as the invoking user (its uid maps to itself). */
  UsernsMode?: string;
}

/** The create body berth sends (a subset of Docker's `ContainerConfig` plus `HostConfig`). */
export interface CreateBody {
  /** Image ID (`sha256:…`), never a tag. */
  Image: string;
  /**
   * `[""]`: clears the image's Entrypoint, which the spec's command already includes. (`[]` clears it on Docker
   * only: Podman 4 still prepends the image's; `null` or no field prepends it on both.)
   */
  Entrypoint: string[];
  /** The whole command, the image's Entrypoint included. */
  Cmd: string[];
  /** Working directory, literal (never "": the runner resolved the image's default). */
  WorkingDir: string;
  /** `uid:gid` the process runs as, when the spec names a user; else the image's user applies. */
  User?: string;
  /** The whole environment, `NAME=value`, sorted. */
  Env: string[];
  /** berth's labels: managed marker, job name, and the spec's labels. */
  Labels: Record<string, string>;
  /** Always true: stdin is attached and closed after the spec's stdin. */
  AttachStdin: boolean;
  /** Always true. */
  AttachStdout: boolean;
  /** Always true. */
  AttachStderr: boolean;
  /** Always true (see `AttachStdin`). */
  OpenStdin: boolean;
  /** Always true: the container's stdin closes when berth half-closes the attach connection. */
  StdinOnce: boolean;
  /** Always false: output is framed, stdout and stderr stay apart. */
  Tty: boolean;
  /** Host settings. */
  HostConfig: CreateHostConfig;
}

/** The integers listed in a comma-separated variable; entries that are not integers are skipped. */
function integerList(value: string): number[] {
  return value.split(",").map((s) => s.trim()).filter((s) => /^\d+$/.test(s)).map(Number);
}

/** The CUDA device request: device IDs from `CUDA_VISIBLE_DEVICES` when set, else a count. */
export function cudaDeviceRequest(count: number, env: HostFacts["env"]): DeviceRequest {
  const visible = (env.CUDA_VISIBLE_DEVICES ?? "").split(",").map((s) => s.trim()).filter((s) => s !== "");
  return {
    Driver: "nvidia",
    // Docker refuses a count together with IDs, and a count alone would pick devices 0..N-1.
    Count: visible.length > 0 ? 0 : count,
    DeviceIDs: visible.length > 0 ? visible : null,
    Capabilities: [CUDA_CAPABILITIES],
  };
}

/**
 * The ROCm devices (`/dev/kfd` and the render nodes `/dev/dri/renderD<128+i>` for each `i` in
 * `AMD_VISIBLE_DEVICES`, or 0..127 when unset; missing nodes are skipped) and their groups.
 * @throws {EngineError} when `/dev/kfd` does not exist.
 */
export function rocmDevices(host: HostFacts): { devices: DeviceMapping[]; groups: string[] } {
  const kfdGroup = host.deviceGroup("/dev/kfd");
  if (kfdGroup === null) {
    throw new EngineError(
      `ROCm GPUs were requested, but this node has no "/dev/kfd" (is the amdgpu driver loaded?)`,
    );
  }
  const devices: DeviceMapping[] = [{
    PathOnHost: "/dev/kfd",
    PathInContainer: "/dev/kfd",
    CgroupPermissions: "rwm",
  }];
  const groups = [String(kfdGroup)];
  const visible = host.env.AMD_VISIBLE_DEVICES;
  const indexes = visible ? integerList(visible) : Array.from({ length: 128 }, (_, i) => i);
  for (const i of indexes) {
    const path = `/dev/dri/renderD${128 + i}`;
    const gid = host.deviceGroup(path);
    if (gid === null) continue;
    devices.push({ PathOnHost: path, PathInContainer: path, CgroupPermissions: "rwm" });
    if (!groups.includes(String(gid))) groups.push(String(gid));
  }
  return { devices, groups };
}

/**
 * Builds the create body for `spec` on an engine speaking `apiVersion`.
 *
 * stdin is always attached and closed once the spec's stdin (or nothing) has been sent, so the container reads
 * EOF instead of waiting on an open stdin. The environment is exactly the spec's, sorted for stable logs.
 * The spec is applied literally (SEAMS decision 3): the command already holds the image's Entrypoint, so the
 * image's is cleared; the working directory and the environment are the spec's whole ones; a spec user runs the
 * process as `uid:gid` with its groups (on rootless Podman: in a user namespace that keeps the uid, without extra
 * groups, which such a namespace cannot map).
 * @param engine which implementation serves the API (it decides how bind mounts are expressed) and whether
 *   Podman runs rootless.
 * @throws {EngineError} for GPUs the engine or the node cannot provide, or a mount the engine cannot express.
 */
export function buildCreateBody(
  spec: ContainerSpec,
  apiVersion: string,
  host: HostFacts,
  engine: EngineFacts = { flavor: "docker", rootless: false },
): CreateBody {
  const mounts = mountFields(spec.mounts, engine.flavor);
  const ram = spec.ram > 0 ? Math.max(spec.ram, MIN_RAM) : 0;
  const body: CreateBody = {
    Image: spec.image,
    Entrypoint: [""],
    Cmd: [...spec.command],
    WorkingDir: spec.workingDir,
    Env: Object.keys(spec.env).sort().map((k) => `${k}=${spec.env[k]}`),
    Labels: { [MANAGED_LABEL]: "true", [JOB_LABEL]: spec.name, ...spec.labels },
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    HostConfig: {
      LogConfig: { Type: "none", Config: {} },
      NetworkMode: spec.enableNetwork ? (spec.networkMode || "default") : "none",
      Mounts: mounts.Mounts,
    },
  };
  const hc = body.HostConfig;
  if (mounts.Binds.length > 0) hc.Binds = mounts.Binds;
  if (spec.cgroupParent !== "") hc.CgroupParent = spec.cgroupParent;
  if (spec.vcpus > 0) hc.NanoCpus = Math.round(spec.vcpus * 1e9);
  if (ram > 0) {
    hc.Memory = ram;
    hc.MemorySwap = ram;
  }
  if (spec.gpu.deviceCount > 0 && spec.gpu.stack === "cuda") {
    if (compareApiVersions(apiVersion, DEVICE_REQUESTS_API_VERSION) < 0) {
      throw new EngineError(
        `CUDA GPUs need Docker Engine API ${DEVICE_REQUESTS_API_VERSION} or newer, but the engine speaks ` +
          `${apiVersion}: upgrade the engine`,
      );
    }
    hc.DeviceRequests = [cudaDeviceRequest(spec.gpu.deviceCount, host.env)];
  }
  const groups: string[] = [];
  const user = spec.user ?? null;
  if (user !== null) {
    body.User = `${user.uid}:${user.gid}`;
    if (engine.rootless) hc.UsernsMode = "keep-id";
    else groups.push(...user.groups.map(String));
  }
  if (spec.gpu.deviceCount > 0 && spec.gpu.stack === "rocm") {
    const rocm = rocmDevices(host);
    hc.Devices = rocm.devices;
    if (!(engine.rootless && user !== null)) groups.push(...rocm.groups);
  }
  const unique = [...new Set(groups)];
  if (unique.length > 0) hc.GroupAdd = unique;
  return body;
}
