/**
 * The argument vector and the environment of `singularity exec` / `apptainer exec`, as pure functions of the
 * container spec and a few host facts, so that every combination can be tested exactly.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import type { BindMount, GpuStack } from "../types.ts";
import { envPrefix, type SingularityEngine } from "./engine.ts";

/** Which resource limits the host's cgroup setup lets the engine apply (see `cgroup_probe.ts`). */
export interface CgroupSupport {
  /** `--cpus` will work. */
  cpu: boolean;
  /** `--memory` will work. */
  memory: boolean;
}

/** Everything {@link execArgs} depends on. */
export interface ExecArgsInput {
  /** Working directory inside the container; "" passes `--pwd=` (the engine's default, the home directory). */
  workingDir: string;
  /** False: `--net --network=none`. */
  enableNetwork: boolean;
  /** "default" (bridge as root, host network otherwise), "host" (no flag), or a network name for `--network=`. */
  networkMode: string;
  /** Whether berth runs as root (the engine can only set up a bridge network then). */
  isRoot: boolean;
  /** GPUs asked for: `--nv` (CUDA) or `--rocm` when the count is positive. */
  gpu: { stack: GpuStack; deviceCount: number };
  /** CPU limit in cores; 0 for none. */
  vcpus: number;
  /** Memory limit in bytes; 0 for none. */
  ram: number;
  /** What the cgroup probe found. */
  cgroup: CgroupSupport;
  /** Bind mounts keyed by container path. */
  mounts: Record<string, BindMount>;
  /** The job's `HOME` variable (a writable bind at exactly this path becomes `--home`), or undefined. */
  home: string | undefined;
  /** The SIF image file. */
  imagePath: string;
  /** argv of the contained process. */
  command: string[];
}

/** The arguments after the program name, and the log lines explaining limits that were left out. */
export interface ExecArgs {
  /** Arguments, starting with `exec`. */
  args: string[];
  /** Messages for the job log (limits that the cgroup setup cannot apply). */
  notes: string[];
}

/** Compares strings by UTF-16 code units, as Go's `sort.Strings` compares bytes for ASCII paths. */
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Builds the `exec` argument vector, in this exact order: `exec --containall --cleanenv --pwd=<dir>`, the network
 * flags, `--nv`/`--rocm`, `--cpus`/`--memory` (only where {@link CgroupSupport} says they work), the binds sorted by
 * container path (`--bind host:ctr:ro|rw`; a writable bind at `$HOME` is `--home host:ctr`), the image, the command.
 *
 * A read-only bind at `$HOME` stays a read-only `--bind`: `--home` is always writable, and read-only must stay
 * read-only.
 *
 * @throws {EngineError} when a bind path contains ":" or ",", which the engine's `--bind` syntax cannot express.
 */
export function execArgs(input: ExecArgsInput): ExecArgs {
  const args = ["exec", "--containall", "--cleanenv", `--pwd=${input.workingDir}`];
  const notes: string[] = [];
  if (!input.enableNetwork || input.networkMode === "none") {
    args.push("--net", "--network=none");
  } else if (input.networkMode === "host") {
    // No flag: the container shares the host's network namespace.
  } else if (input.networkMode === "default" || input.networkMode === "") {
    if (input.isRoot) args.push("--net", "--network=bridge");
  } else {
    args.push("--net", `--network=${input.networkMode}`);
  }
  if (input.gpu.deviceCount > 0) {
    if (input.gpu.stack === "cuda") args.push("--nv");
    else if (input.gpu.stack === "rocm") args.push("--rocm");
  }
  if (input.vcpus > 0) {
    if (input.cgroup.cpu) args.push("--cpus", String(input.vcpus));
    else {
      notes.push(
        `CPU limits are not supported by the current systemd/cgroup configuration, not setting --cpus ${input.vcpus}`,
      );
    }
  }
  if (input.ram > 0) {
    if (input.cgroup.memory) args.push("--memory", String(input.ram));
    else {
      notes.push(
        `Memory limits are not supported by the current systemd/cgroup configuration, not setting --memory ${input.ram}`,
      );
    }
  }
  for (const ctr of Object.keys(input.mounts).sort(byCodeUnit)) {
    const mount = input.mounts[ctr];
    for (const path of [mount.hostPath, ctr]) {
      if (path.includes(":") || path.includes(",")) {
        throw new EngineError(
          `Cannot bind "${mount.hostPath}" at "${ctr}": the path "${path}" contains ":" or ",", which --bind cannot express`,
        );
      }
    }
    if (ctr === input.home && !mount.readOnly) args.push("--home", `${mount.hostPath}:${ctr}`);
    else args.push("--bind", `${mount.hostPath}:${ctr}:${mount.readOnly ? "ro" : "rw"}`);
  }
  args.push(input.imagePath, ...input.command);
  return { args, notes };
}

/** Everything {@link execEnv} depends on. */
export interface ExecEnvInput {
  /** Which program runs (decides the variable prefix). */
  engine: SingularityEngine;
  /** The container's environment from the spec. */
  env: Record<string, string>;
  /** berth's host environment snapshot (only CUDA_VISIBLE_DEVICES, XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS are read). */
  hostEnv: Record<string, string>;
}

/**
 * The whole environment of the engine process (spawned with `clearEnv`): `<P>ENV_K=V` for every container
 * variable except `HOME` (set through `--home`; the engines refuse `<P>ENV_HOME`), `<P>ENV_CUDA_VISIBLE_DEVICES`
 * when the host has a non-empty one, `<P>_NO_EVAL=1` so values reach the container literally, and the host's
 * `XDG_RUNTIME_DIR` and `DBUS_SESSION_BUS_ADDRESS` ("" when unset; rootless cgroup limits need them).
 */
export function execEnv(input: ExecEnvInput): Record<string, string> {
  const prefix = envPrefix(input.engine);
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(input.env)) {
    if (key !== "HOME") out[`${prefix}ENV_${key}`] = value;
  }
  const cuda = input.hostEnv.CUDA_VISIBLE_DEVICES;
  if (cuda !== undefined && cuda !== "") out[`${prefix}ENV_CUDA_VISIBLE_DEVICES`] = cuda;
  out[`${prefix}_NO_EVAL`] = "1";
  out.XDG_RUNTIME_DIR = input.hostEnv.XDG_RUNTIME_DIR ?? "";
  out.DBUS_SESSION_BUS_ADDRESS = input.hostEnv.DBUS_SESSION_BUS_ADDRESS ?? "";
  return out;
}
