/**
 * The settings of one `berth run`, as the CLI hands them to the runner: every command-line option, already
 * checked and with its default filled in, so the runner never parses text.
 * @module
 */

import type { EngineChoice } from "../executor/types.ts";
import type { PullPolicy } from "../image/mod.ts";

export { ENGINE_CHOICES, type EngineChoice } from "../executor/types.ts";

/** `--container-enable-networking`: `always` turns networking on; `default` only when `API` asks for it. */
export type NetworkingChoice = "default" | "always";

/** Everything `berth run` needs besides the job. */
export interface RunOptions {
  /** Engine to drive. @default "auto" */
  engine: EngineChoice;
  /** The job's work dir (absolute). @default `./<uuid>` */
  workDir: string;
  /** Node-local scratch for `tmp` mounts and the engines' temp files (absolute). @default `$TMPDIR` or `/tmp` */
  tmpDir: string;
  /** arv-mount-style root with `by_id/<pdh-or-uuid>/` for `collection` mounts and `keep:` images; "" for none. */
  keepMount: string;
  /** Roots that `bind` mount sources must lie under (after resolving symlinks). @default [] */
  allowBind: string[];
  /** Shared SIF cache for Singularity/Apptainer; "" for none. */
  imageCache: string;
  /** The gid whose members' SIF cache entries are trusted besides the user's and root's; null for none. */
  imageCacheGroup: number | null;
  /** Re-hash a cached SIF against its record before each use. @default false */
  imageCacheVerify: boolean;
  /** Docker/Podman API socket; "" for the engine's default. */
  dockerSocket: string;
  /** Singularity/Apptainer program (path or name); "" to search PATH. */
  singularityBinary: string;
  /** When networking is turned on. @default "default" */
  enableNetworking: NetworkingChoice;
  /** Network mode when networking is on (`default`, `host`, or an engine-specific name). @default "default" */
  networkMode: string;
  /** Whether `runtime_constraints.ram` is passed to the engine as a limit. @default true */
  enableMemoryLimit: boolean;
  /** Parent cgroup for the container; "" for the engine's default. */
  cgroupParent: string;
  /** Seconds between resource statistics samples; 0 disables them. @default 10 */
  crunchstatInterval: number;
  /** Program run (without arguments) when the node looks broken; "" to write the marker file instead. */
  brokenNodeHook: string;
  /**
   * The user's runtime dir: job locks, the broken-node marker, the engine fact caches (absolute).
   * @default the first usable of `/var/lock/berth-<uid>`, `$XDG_RUNTIME_DIR/berth`, `/tmp/berth-<uid>`
   */
  runtimeDir: string;
  /** Seconds between the Docker/Podman watchdog's checks of the container. @default 15 */
  watchdogInterval: number;
  /** `--pull`: when a registry may be asked for a `docker://` image. @default "missing" */
  pull: PullPolicy;
  /** `--insecure-registry` values (`host[:port]`, lowercase): plain HTTP / no TLS checks. @default [] */
  insecureRegistries: string[];
  /** `--registry-auth`: a Docker `config.json`-style credentials file (absolute), or "" for none. */
  registryAuth: string;
}
