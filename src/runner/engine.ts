/**
 * Choosing the engine and creating its executor. `--runtime-engine auto` takes the first that works: a Docker
 * socket that answers, else a Podman socket that answers, else Apptainer, else Singularity. Whether a socket
 * answers is the executor factory's business (it negotiates the API version when created), so the runner
 * never speaks HTTP itself.
 * @module
 */

import { EngineError, errorLine, UsageError } from "../errors.ts";
import type { ContainerExecutor, EngineName, LogFn } from "../executor/types.ts";
import type { EngineChoice } from "./options.ts";

/** Options for the Docker-API executor factory. */
export interface DockerFactoryOptions {
  /** `docker` or `podman`. */
  engine: "docker" | "podman";
  /** The API socket; undefined for the engine's default. */
  socket?: string;
  /** berth's host environment snapshot. */
  hostEnv: Record<string, string>;
  /** The job log. */
  log: LogFn;
  /** Watchdog interval in milliseconds. */
  watchdogIntervalMs?: number;
  /** Where the engine's runtime description may be kept for the next runs (the user's runtime dir). */
  runtimeCacheDir?: string;
}

/** Options for the Singularity/Apptainer executor factory. */
export interface SingularityFactoryOptions {
  /** The program family, or auto (Apptainer first). */
  engine: "singularity" | "apptainer" | "auto";
  /** `--singularity-binary`, when given. */
  binary?: string;
  /** `--image-cache`, when given. */
  imageCache?: string;
  /** `--image-cache-group`, when given: the gid whose members' cache entries are trusted. */
  imageCacheGroup?: number;
  /** `--image-cache-verify`: re-hash cached SIF files before use. */
  imageCacheVerify?: boolean;
  /** Directory for the executor's temp dir. */
  tmpDir: string;
  /** berth's host environment snapshot. */
  hostEnv: Record<string, string>;
  /** The job log. */
  log: LogFn;
  /** Where the program's version and `exec` flags may be kept for the next runs (the user's runtime dir). */
  runtimeCacheDir?: string;
}

/** The executor factories the runner may call (injectable, so tests can count or wrap them). */
export interface ExecutorFactories {
  /** Creates a Docker-API executor; rejects when the engine does not answer. */
  docker(options: DockerFactoryOptions): Promise<ContainerExecutor>;
  /** Creates a Singularity/Apptainer executor; rejects when no program is found. */
  singularity(options: SingularityFactoryOptions): Promise<ContainerExecutor & { readonly engine: string }>;
}

/** What {@link selectEngine} needs. */
export interface SelectEngineOptions {
  /** `--runtime-engine`. */
  choice: EngineChoice;
  /** `--docker-socket`, or "". */
  dockerSocket: string;
  /** `--singularity-binary`, or "". */
  singularityBinary: string;
  /** `--image-cache`, or "". */
  imageCache: string;
  /** `--image-cache-group`, or null. */
  imageCacheGroup?: number | null;
  /** `--image-cache-verify`. */
  imageCacheVerify?: boolean;
  /** Scratch directory for the executor. */
  tmpDir: string;
  /** berth's host environment snapshot. */
  hostEnv: Record<string, string>;
  /** The job log. */
  log: LogFn;
  /** Watchdog interval in milliseconds. */
  watchdogIntervalMs: number;
  /** True when the image is a SIF file: `auto` then looks only for Apptainer/Singularity, which can run it. */
  sifImage?: boolean;
  /** Where an executor may keep the engine's description (and a Singularity program's flags) for the next runs. */
  runtimeCacheDir?: string;
}

/** The executor chosen, and the engine it drives. */
export interface SelectedEngine {
  /** The engine. */
  engine: EngineName;
  /** Its executor; the caller owns it and must `close()` it. */
  executor: ContainerExecutor;
}

/**
 * Creates the executor for the chosen engine.
 * @throws {EngineError} with `brokenNode` set when no engine is usable (for a named engine: it does not
 *   answer or is missing), since this node then cannot run containers.
 * @throws {Deno.errors.NotCapable} when berth's permission profile forbids using the named engine.
 */
export async function selectEngine(
  options: SelectEngineOptions,
  factories: ExecutorFactories,
): Promise<SelectedEngine> {
  const { choice, log } = options;
  const docker = (engine: "docker" | "podman", socket?: string) =>
    factories.docker({
      engine,
      socket,
      hostEnv: options.hostEnv,
      log,
      watchdogIntervalMs: options.watchdogIntervalMs,
      runtimeCacheDir: options.runtimeCacheDir,
    });
  const singularity = (engine: "singularity" | "apptainer" | "auto") =>
    factories.singularity({
      engine,
      binary: options.singularityBinary || undefined,
      imageCache: options.imageCache || undefined,
      imageCacheGroup: options.imageCacheGroup ?? undefined,
      imageCacheVerify: options.imageCacheVerify ?? false,
      tmpDir: options.tmpDir,
      hostEnv: options.hostEnv,
      log,
      runtimeCacheDir: options.runtimeCacheDir,
    });
  const socket = options.dockerSocket || undefined;

  if (choice !== "auto") {
    try {
      if (choice === "docker" || choice === "podman") {
        return { engine: choice, executor: await docker(choice, socket) };
      }
      return { engine: choice, executor: await singularity(choice) };
    } catch (err) {
      // A permission refusal is berth's configuration, and a usage error (DOCKER_HOST not a unix socket) the
      // user's mistake, not the node's health: report them as they are.
      if (err instanceof Deno.errors.NotCapable || err instanceof UsageError) throw err;
      throw unusable(`Cannot use container engine "${choice}": ${errorLine(err)}`, err);
    }
  }

  const reasons: string[] = [];
  for (const engine of options.sifImage ? [] : ["docker", "podman"] as const) {
    try {
      const executor = await docker(engine, engine === "docker" ? socket : undefined);
      log(`Engine "auto": using ${engine}`);
      return { engine, executor };
    } catch (err) {
      if (err instanceof UsageError) throw err;
      reasons.push(`${engine}: ${errorLine(err)}`);
    }
  }
  try {
    const executor = await singularity("auto");
    const engine = executor.engine === "apptainer" ? "apptainer" : "singularity";
    log(`Engine "auto": no Docker or Podman socket answered, using ${engine}`);
    return { engine, executor };
  } catch (err) {
    reasons.push(`apptainer/singularity: ${errorLine(err)}`);
  }
  throw unusable(`No container engine is usable on this node (${reasons.join("; ")})`);
}

function unusable(message: string, cause?: unknown): EngineError {
  return new EngineError(message, { cause, brokenNode: true });
}
