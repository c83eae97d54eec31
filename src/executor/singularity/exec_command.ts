/**
 * The argument vector and the environment of `singularity exec` / `apptainer exec`, as pure functions of the
 * container spec, the program's capabilities and a few host facts, so that every combination can be tested
 * exactly.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import type { BindMount, GpuStack } from "../types.ts";
import type { RuntimeCapabilities } from "./capabilities.ts";
import { LAUNCH_SCRIPT_PATH } from "./launch_script.ts";

/** Everything {@link execArgs} depends on. */
export interface ExecArgsInput {
  /** What the program can do: every flag used must be in its `exec --help`. */
  caps: RuntimeCapabilities;
  /** Working directory inside the container (absolute), passed literally with `--pwd`. */
  workingDir: string;
  /** False: `--net --network=none`. */
  enableNetwork: boolean;
  /** "default" (bridge as root, host network otherwise), "host" (no flag), or a network name for `--network=`. */
  networkMode: string;
  /** Whether berth runs as root (the engine can only set up a bridge network then). */
  isRoot: boolean;
  /** GPUs asked for: `--nv` (CUDA) or `--rocm` when the count is positive. */
  gpu: { stack: GpuStack; deviceCount: number };
  /** The limit arguments decided by `planLimits`. */
  limitArgs: string[];
  /** Bind mounts keyed by container path. */
  mounts: Record<string, BindMount>;
  /** The container's `HOME`, or undefined. */
  home: string | undefined;
  /** An empty host directory to serve as `HOME` when no bind provides it (`--home DIR:$HOME`). */
  homeScratch: string;
  /** The host path of the launch script (bound read-only at `LAUNCH_SCRIPT_PATH`). */
  launchScript: string;
  /** The SIF image file. */
  imagePath: string;
  /** argv of the contained process. */
  command: string[];
}

/** Compares strings by UTF-16 code units, as Go's `sort.Strings` compares bytes for ASCII paths. */
function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when container path `path` is `dir` or lies below it. */
function within(path: string, dir: string): boolean {
  return path === dir || dir === "/" || path.startsWith(`${dir}/`);
}

/**
 * True when the container's `HOME` needs berth's scratch directory (`--home <scratch>:$HOME`): an absolute path other
 * than `/` that no bind provides (a bind at `HOME` or above it).
 */
export function needsScratchHome(
  home: string | undefined,
  mounts: Record<string, BindMount>,
): home is string {
  return home !== undefined && home.startsWith("/") && home !== "/" &&
    !Object.keys(mounts).some((ctr) => within(home, ctr));
}

/**
 * Builds the `exec` argument vector, in this exact order: `exec --containall --cleanenv --pwd=<dir>`, the network
 * flags, `--nv`/`--rocm`, the limit arguments, `--home <scratch>:$HOME` (when the job sets an absolute `HOME` other
 * than `/` that no bind covers), the binds sorted by container path (`--bind host:ctr:ro|rw`), the launch script's
 * bind, the image, the command.
 *
 * A bind at `$HOME` (or above it) stays a `--bind`, read-only ones read-only; the launch script sets `HOME`.
 *
 * @throws {EngineError} when a bind path contains ":" or ",", which the engine's `--bind` syntax cannot express, or
 *   when the program lacks a flag the spec needs (for example `--rocm` before SingularityCE 3.5).
 */
export function execArgs(input: ExecArgsInput): string[] {
  const { caps } = input;
  const need = (flag: string, why: string) => {
    if (!caps.execFlags.has(flag)) {
      throw new EngineError(
        `Cannot run this container with ${caps.version.flavour} ${caps.version.text} ("${caps.path}"): ${why} ` +
          `needs --${flag}, which its "exec --help" does not list`,
        { brokenNode: false },
      );
    }
  };
  for (const flag of ["containall", "cleanenv", "pwd", "bind"]) need(flag, "berth");
  const args = ["exec", "--containall", "--cleanenv", `--pwd=${input.workingDir}`];
  const network = (name: string) => {
    need("net", `network "${name}"`);
    need("network", `network "${name}"`);
    args.push("--net", `--network=${name}`);
  };
  if (!input.enableNetwork || input.networkMode === "none") {
    network("none");
  } else if (input.networkMode === "host") {
    // No flag: the container shares the host's network namespace.
  } else if (input.networkMode === "default" || input.networkMode === "") {
    if (input.isRoot) network("bridge");
  } else {
    network(input.networkMode);
  }
  if (input.gpu.deviceCount > 0) {
    if (input.gpu.stack === "cuda") {
      need("nv", "a CUDA GPU");
      args.push("--nv");
    } else if (input.gpu.stack === "rocm") {
      need("rocm", "a ROCm GPU");
      args.push("--rocm");
    }
  }
  args.push(...input.limitArgs);
  const ctrs = Object.keys(input.mounts).sort(byCodeUnit);
  const home = input.home;
  if (needsScratchHome(home, input.mounts)) {
    need("home", `HOME "${home}"`);
    for (const path of [input.homeScratch, home]) checkBindPath(path, input.homeScratch, home);
    args.push("--home", `${input.homeScratch}:${home}`);
  }
  for (const ctr of ctrs) {
    const mount = input.mounts[ctr];
    for (const path of [mount.hostPath, ctr]) checkBindPath(path, mount.hostPath, ctr);
    args.push("--bind", `${mount.hostPath}:${ctr}:${mount.readOnly ? "ro" : "rw"}`);
  }
  checkBindPath(input.launchScript, input.launchScript, LAUNCH_SCRIPT_PATH);
  args.push("--bind", `${input.launchScript}:${LAUNCH_SCRIPT_PATH}:ro`);
  args.push(input.imagePath, ...input.command);
  return args;
}

function checkBindPath(path: string, host: string, ctr: string): void {
  if (path.includes(":") || path.includes(",")) {
    throw new EngineError(
      `Cannot bind "${host}" at "${ctr}": the path "${path}" contains ":" or ",", which --bind cannot express`,
      { brokenNode: false },
    );
  }
}

/** The long flags an argument vector uses, in order, each once (`--pwd=/x` counts as `--pwd`). */
export function flagsUsed(args: readonly string[]): string[] {
  const seen = new Set<string>();
  for (const arg of args) if (arg.startsWith("--")) seen.add(arg.replace(/=.*$/, ""));
  return [...seen];
}

/**
 * The container's environment as the launch script sets it: the spec's, with the host's non-empty
 * `CUDA_VISIBLE_DEVICES` winning over the job's (as crunch-run does) when CUDA GPUs are asked for.
 */
export function containerEnv(
  env: Record<string, string>,
  gpu: { stack: GpuStack; deviceCount: number },
  hostEnv: Record<string, string>,
): Record<string, string> {
  const out = { ...env };
  const cuda = hostEnv.CUDA_VISIBLE_DEVICES;
  if (gpu.stack === "cuda" && gpu.deviceCount > 0 && cuda !== undefined && cuda !== "") {
    out.CUDA_VISIBLE_DEVICES = cuda;
  }
  return out;
}

/**
 * The whole environment of the engine process (spawned with `clearEnv`): only the host's `XDG_RUNTIME_DIR` and
 * `DBUS_SESSION_BUS_ADDRESS` ("" when unset), which a non-root engine needs to ask systemd for cgroup limits. The
 * container's own environment goes through the launch script, never through `SINGULARITYENV_*`/`APPTAINERENV_*`
 * (which some generations evaluate, Apptainer warns about, and which cannot set `HOME`).
 */
export function execEnv(hostEnv: Record<string, string>): Record<string, string> {
  return {
    XDG_RUNTIME_DIR: hostEnv.XDG_RUNTIME_DIR ?? "",
    DBUS_SESSION_BUS_ADDRESS: hostEnv.DBUS_SESSION_BUS_ADDRESS ?? "",
  };
}
