/**
 * The container executor interface: what the runner needs from an engine, and nothing more.
 *
 * One implementation per engine family (`docker/` speaks the Docker Engine API, which Podman also serves;
 * `singularity/` drives the Singularity or Apptainer CLI). Every implementation passes the same conformance
 * suite in `tests/conformance/`. An executor never reads the job file: the runner turns the job into a
 * {@link ContainerSpec}.
 *
 * Lifecycle, always in this order: `prepareImage` → `create` → `start` → `wait`; `stop` may be called at any time
 * and from anywhere (signal handler, timer), concurrently with `wait`; `close` is called on every path and
 * releases everything the executor created. The runner bounds every call with a deadline and may abandon one that
 * does not settle in time (see `src/runner/budget.ts`): it then calls `close` while that call is still in flight,
 * and calls `close` again once the abandoned call settles, so a container created late is removed too.
 *
 * Same job, same result (SEAMS decision 3): the runner resolves the image's defaults into the spec (command =
 * image Entrypoint + job command, working directory, the whole environment, the user) and every executor applies
 * the spec literally, adding nothing of the image's again.
 *
 * @module
 */

import type { ImageSource, PreparedImage, PrepareImageOptions } from "../image/mod.ts";

/** A host path made visible inside the container. */
export interface BindMount {
  /** Absolute path on the host. */
  hostPath: string;
  /** True to mount read-only. */
  readOnly: boolean;
}

/** GPU stack requested by the job; "" for none. */
export type GpuStack = "" | "cuda" | "rocm";

/** The user a container runs as. */
export interface ContainerUser {
  /** User id. */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Supplementary group ids. */
  groups: number[];
}

/** Everything an executor needs to create one container. */
export interface ContainerSpec {
  /** Deterministic container name derived from the job uuid (Docker name; Singularity ignores it). */
  name: string;
  /** Image ID as given by the tarball's manifest: `sha256:<hex of the config digest>`. */
  image: string;
  /**
   * argv of the process to run, never empty: the image's Entrypoint followed by the job's command, already
   * resolved. An engine that would prepend the image's Entrypoint itself must be told not to.
   */
  command: string[];
  /** Working directory inside the container, never "": the job's `cwd`, else the image's, else `/`. */
  workingDir: string;
  /**
   * The container's whole environment: the image's `Env` overlaid by the job's `environment` (nothing of
   * berth's own environment leaks in, and the engine adds nothing of the image's again).
   */
  env: Record<string, string>;
  /**
   * Who the container runs as; null for the image's user. The runner always sets it; absent (in tests that build
   * a spec by hand) means null.
   */
  user?: ContainerUser | null;
  /** Labels berth puts on the container besides its own management label. @default none */
  labels?: Record<string, string>;
  /**
   * Re-checks, immediately before the container is created, that the bind mount sources are still what the
   * runner checked (a path swapped for a symlink in between is refused). The executor calls it after any
   * leftover removal and before anything is created; a rejection makes `create` reject with that error.
   */
  verifyHostPaths?: () => Promise<void>;
  /** Bind mounts keyed by absolute container path. */
  mounts: Record<string, BindMount>;
  /** CPU limit in cores; 0 for none. */
  vcpus: number;
  /** Memory limit in bytes; 0 for none. */
  ram: number;
  /** GPUs to make available. */
  gpu: { stack: GpuStack; deviceCount: number };
  /** False: the container gets no network (only `lo`). */
  enableNetwork: boolean;
  /** Network mode when networking is enabled: "default" (engine default), "host", or an engine-specific name. */
  networkMode: string;
  /** Parent cgroup for the container (Docker `CgroupParent`); "" for the engine default. */
  cgroupParent: string;
  /** Bytes for the container's stdin, or null for an empty stdin (EOF at once). */
  stdin: ReadableStream<Uint8Array> | null;
  /**
   * Sink for the container's stdout. The executor closes it when the stream ends (that is the end-of-stream
   * signal); the runner owns the file behind it. The runner's sinks never reject a write: a file that cannot be
   * written is the runner's to report.
   */
  stdout: WritableStream<Uint8Array>;
  /** Sink for the container's stderr; as {@link ContainerSpec.stdout}. */
  stderr: WritableStream<Uint8Array>;
}

/** A log function: one message (possibly several lines) per call, timestamped by the receiver. */
export type LogFn = (message: string) => void;

/** Progress of an image load or conversion, for the runner's progress display. */
export interface ImageProgress {
  /** Bytes of the tarball sent to the engine (or read by the converter) so far. */
  done: number;
  /** Size of the tarball in bytes. */
  total: number;
}

/** What every engine implementation provides. See the module doc for the calling order. */
export interface ContainerExecutor {
  /** Engine family and version for the log, e.g. `docker Engine 20.10.24, containerd 1.6.20, runc 1.1.5`. */
  runtime(): Promise<string>;
  /**
   * Makes an image of any form usable and says what it is: a docker-save tarball is loaded or converted unless
   * the engine (or the SIF cache) has its image ID; a registry image is pulled or fetched as `options.pull`
   * allows; a SIF file is used as it is where the engine runs SIF files. The returned `id` is what
   * {@link ContainerSpec.image} names, and its `config` the image's defaults (Entrypoint, WorkingDir, Env,
   * User) the runner applies. Throws {@link ImageError} for a bad image (a `RegistryError` for a registry that
   * cannot be reached or refuses), a UsageError (`ImageAbsentError`) for `pull: "never"` and an absent image,
   * and {@link EngineError} when the engine fails.
   */
  prepareImage(source: ImageSource, options: PrepareImageOptions): Promise<PreparedImage>;
  /**
   * The tarball case of {@link prepareImage}, by image ID and path (kept for the executors' own tests and
   * tools that hold only a tarball; the runner calls `prepareImage`).
   */
  loadImage(imageId: string, tarballPath: string, onProgress?: (p: ImageProgress) => void): Promise<void>;
  /** Creates the container (and, for Docker, attaches its stdio) without starting it. */
  create(spec: ContainerSpec): Promise<void>;
  /** Starts the created container. */
  start(): Promise<void>;
  /**
   * Resolves with the container's exit code once it has exited AND its output has been drained to the end.
   * Any exit of the container is a code (128+N for a process killed by signal N); only infrastructure
   * failures reject, with {@link EngineError}.
   */
  wait(): Promise<number>;
  /**
   * Kills the container at once, with SIGKILL: `wait` then resolves with 137. Idempotent; safe before start, after
   * exit and concurrently with wait. (The runner reads any other code after a stop as an exit that came first.)
   */
  stop(): Promise<void>;
  /**
   * Releases everything: removes the container, temp files, child processes. Safe on every path, and safe to
   * call again: a later call removes what an earlier call could not see yet (a `create` that settled after it).
   */
  close(): Promise<void>;
  /** Host PID of a process inside the container, or 0 when none is running (for resource statistics). */
  pid(): Promise<number>;
}

/** Engines berth can drive, in the order `auto` prefers them. `docker` and `podman` share the Docker-API executor. */
export const ENGINE_NAMES = ["docker", "podman", "apptainer", "singularity"] as const;

/** An engine berth can drive. */
export type EngineName = typeof ENGINE_NAMES[number];

/** An engine choice on the command line: a named engine, or `auto` (the first of {@link ENGINE_NAMES} that works). */
export type EngineChoice = EngineName | "auto";

/** Every {@link EngineChoice}, in the order help texts list them. The one list of engines berth knows. */
export const ENGINE_CHOICES: readonly EngineChoice[] = [
  "auto",
  "docker",
  "podman",
  "singularity",
  "apptainer",
];
