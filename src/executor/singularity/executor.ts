/**
 * The {@link ContainerExecutor} for SingularityCE and Apptainer: images become SIF files (through the shared
 * cache when there is one), and each container is one `singularity exec` / `apptainer exec` child process whose
 * stdio is the container's.
 *
 * Exit codes: the engine exits with the contained command's status, 128+N when the command died from signal N
 * (a contained `kill -9 $$` gives 137). When the engine process itself dies from a signal (after {@link
 * ContainerExecutor.stop}, which sends it SIGKILL), {@link ContainerExecutor.wait} reports 128+N as well, so a
 * stopped container reads 137 — never crunch-run's -1.
 *
 * @module
 */

import { EngineError, errorLine, ImageError } from "../../errors.ts";
import { readImageManifest } from "../../image/mod.ts";
import type { ContainerExecutor, ContainerSpec, ImageProgress, LogFn } from "../types.ts";
import { type CgroupProbe, defaultCgroupProbe } from "./cgroup_probe.ts";
import { convertImage } from "./convert.ts";
import { resolveEngine, type SingularityEngine, type SingularityEngineChoice } from "./engine.ts";
import { type CgroupSupport, execArgs, execEnv } from "./exec_command.ts";
import { containedPid } from "./process_tree.ts";
import { obtainSif } from "./sif_cache.ts";

/** Options of {@link createSingularityExecutor}. */
export interface SingularityExecutorOptions {
  /** The engine to drive; "auto" prefers `apptainer` over `singularity` on PATH. */
  engine: SingularityEngineChoice;
  /** `--singularity-binary`: a path, or a name to look up on PATH. @default the engine's name on PATH */
  binary?: string;
  /** `--image-cache`: the shared SIF cache directory. @default none (convert into the executor's temp dir) */
  imageCache?: string;
  /** Directory the executor's own temp dir is created in. */
  tmpDir: string;
  /** berth's host environment snapshot (PATH to find the engine; GPU and session variables). */
  hostEnv: Record<string, string>;
  /** The job log. */
  log: LogFn;
  /** Whether berth runs as root. @default `Deno.uid() === 0` */
  isRoot?: boolean;
  /** Decides whether `--cpus`/`--memory` can be used. @default a probe of the real host, as crunch-run does */
  cgroupProbe?: CgroupProbe;
}

type State = "new" | "created" | "started" | "exited";

/** A Singularity/Apptainer executor. Create it with {@link createSingularityExecutor}. */
export class SingularityExecutor implements ContainerExecutor {
  /** The engine family actually used (decides the variable prefix). */
  readonly engine: SingularityEngine;
  /** Absolute path of the engine program. */
  readonly binary: string;
  /** The executor's own temp dir (removed by `close`). */
  readonly workDir: string;
  readonly #opts: SingularityExecutorOptions;
  readonly #isRoot: boolean;
  readonly #probe: CgroupProbe;
  readonly #images = new Map<string, string>();
  readonly #abort = new AbortController();
  #state: State = "new";
  #spec: ContainerSpec | undefined;
  #args: string[] = [];
  #env: Record<string, string> = {};
  #child: Deno.ChildProcess | undefined;
  #outputs: Promise<unknown>[] = [];
  #result: Promise<number> | undefined;
  #version: Promise<string> | undefined;
  #loading = new Set<Promise<unknown>>();
  #closed = false;

  constructor(engine: SingularityEngine, binary: string, workDir: string, opts: SingularityExecutorOptions) {
    this.engine = engine;
    this.binary = binary;
    this.workDir = workDir;
    this.#opts = opts;
    this.#isRoot = opts.isRoot ?? Deno.uid() === 0;
    this.#probe = opts.cgroupProbe ?? defaultCgroupProbe(this.#isRoot, opts.hostEnv);
  }

  /** `<binary> --version`, trimmed (for example `apptainer version 1.2.5`), or `<engine> (unknown version)`. */
  runtime(): Promise<string> {
    this.#version ??= (async () => {
      try {
        const out = await new Deno.Command(this.binary, {
          args: ["--version"],
          clearEnv: true,
          env: {},
          cwd: this.workDir,
          stdin: "null",
        }).output();
        const text = new TextDecoder().decode(out.stdout).trim() ||
          new TextDecoder().decode(out.stderr).trim();
        return out.success && text !== "" ? text : `${this.engine} (unknown version)`;
      } catch {
        return `${this.engine} (unknown version)`;
      }
    })();
    return this.#version;
  }

  /**
   * Makes a SIF file for the image: from the shared cache, or converted from the tarball (checked first, so a
   * bad tarball is an {@link ImageError} and never reaches the cache).
   */
  async loadImage(
    imageId: string,
    tarballPath: string,
    onProgress?: (p: ImageProgress) => void,
  ): Promise<void> {
    if (this.#images.has(imageId)) return;
    if (this.#closed) throw new EngineError(`Cannot load an image after close()`);
    const log = this.#opts.log;
    const loading = obtainSif({
      imageId,
      cacheDir: this.#opts.imageCache,
      localDir: this.workDir,
      log,
      convert: async (dst) => {
        let size = 0;
        try {
          size = (await Deno.stat(tarballPath)).size;
        } catch (err) {
          throw new ImageError(`Cannot read image tarball "${tarballPath}": ${errorLine(err)}`, {
            cause: err,
          });
        }
        onProgress?.({ done: 0, total: size });
        // The same words as the Docker-API executor's load errors: "Image load failed: <why>".
        const manifest = await readImageManifest(tarballPath).catch((err) => {
          throw err instanceof ImageError
            ? new ImageError(`Image load failed: ${err.message}`, { cause: err })
            : err;
        });
        if (manifest.id !== imageId) {
          throw new ImageError(
            `Image load failed: image tarball "${tarballPath}" holds image "${manifest.id}", not "${imageId}"`,
          );
        }
        await convertImage({
          engine: { engine: this.engine, path: this.binary },
          tarball: tarballPath,
          dst,
          workParent: this.workDir,
          hostEnv: this.#opts.hostEnv,
          log,
          signal: this.#abort.signal,
        });
        onProgress?.({ done: size, total: size });
      },
    });
    this.#loading.add(loading);
    try {
      this.#images.set(imageId, await loading);
    } finally {
      this.#loading.delete(loading);
    }
  }

  /** Prepares the `exec` command line; nothing runs yet. */
  async create(spec: ContainerSpec): Promise<void> {
    if (this.#state !== "new") throw new EngineError(`Cannot create a container twice with one executor`);
    const imagePath = this.#images.get(spec.image);
    if (imagePath === undefined) {
      throw new EngineError(`Cannot create a container: image "${spec.image}" was not loaded`);
    }
    let cgroup: CgroupSupport = { cpu: false, memory: false };
    if (spec.vcpus > 0 || spec.ram > 0) cgroup = await this.#probe(this.#opts.log);
    const { args, notes } = execArgs({
      workingDir: spec.workingDir,
      enableNetwork: spec.enableNetwork,
      networkMode: spec.networkMode,
      isRoot: this.#isRoot,
      gpu: spec.gpu,
      vcpus: spec.vcpus,
      ram: spec.ram,
      cgroup,
      mounts: spec.mounts,
      home: spec.env.HOME,
      imagePath,
      command: spec.command,
    });
    for (const note of notes) this.#opts.log(note);
    this.#args = args;
    this.#env = execEnv({ engine: this.engine, env: spec.env, hostEnv: this.#opts.hostEnv });
    this.#spec = spec;
    this.#state = "created";
  }

  /** Starts the engine process and pipes the container's stdin, stdout and stderr with backpressure. */
  start(): Promise<void> {
    const spec = this.#spec;
    if (this.#state !== "created" || spec === undefined) {
      return Promise.reject(
        new EngineError(`Cannot start a container that was not created (state "${this.#state}")`),
      );
    }
    if (this.#closed) return Promise.reject(new EngineError(`Cannot start a container after close()`));
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(this.binary, {
        args: this.#args,
        env: this.#env,
        clearEnv: true,
        cwd: this.workDir,
        stdin: spec.stdin ? "piped" : "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      return Promise.reject(
        new EngineError(`Cannot run "${this.binary}": ${errorLine(err)}`, { cause: err }),
      );
    }
    this.#child = child;
    this.#state = "started";
    this.#outputs = [child.stdout.pipeTo(spec.stdout), child.stderr.pipeTo(spec.stderr)];
    if (spec.stdin) {
      // The container may exit without reading all of its stdin: the broken pipe is not an error.
      spec.stdin.pipeTo(child.stdin).catch(() => {});
    }
    this.#result = this.#collect(child);
    this.#result.catch(() => {}); // reported by wait(); never an unhandled rejection
    return Promise.resolve();
  }

  async #collect(child: Deno.ChildProcess): Promise<number> {
    const status = await child.status;
    this.#state = "exited";
    const outputs = await Promise.allSettled(this.#outputs);
    const failed = outputs.find((o): o is PromiseRejectedResult => o.status === "rejected");
    if (failed) {
      throw new EngineError(`Cannot copy the container's output: ${errorLine(failed.reason)}`, {
        cause: failed.reason,
      });
    }
    // Deno reports 128+N for a process killed by signal N: 137 after stop().
    return status.code;
  }

  /** The container's exit code, once the engine has exited and both output streams are drained and closed. */
  wait(): Promise<number> {
    if (this.#result === undefined) {
      return Promise.reject(new EngineError(`Cannot wait for a container that was not started`));
    }
    return this.#result;
  }

  /** SIGKILL to the engine process, which takes the contained processes with it. No-op unless running. */
  stop(): Promise<void> {
    if (this.#state === "started" && this.#child) {
      try {
        this.#child.kill("SIGKILL");
      } catch {
        // It exited meanwhile.
      }
    }
    return Promise.resolve();
  }

  /** Kills a running container and a running conversion, waits for them, and removes the temp dir. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    if (this.#state === "started") await this.stop();
    if (this.#result) await this.#result.catch(() => {});
    await Promise.allSettled([...this.#loading]);
    if (this.#state === "new" || this.#state === "created") {
      // Never started: nobody else will close the sinks.
      for (const sink of [this.#spec?.stdout, this.#spec?.stderr]) {
        if (sink && !sink.locked) await sink.close().catch(() => {});
      }
    }
    try {
      await Deno.remove(this.workDir, { recursive: true });
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) {
        this.#opts.log(`Cannot remove temp dir "${this.workDir}": ${errorLine(err)}`);
      }
    }
  }

  /** Host PID of the contained process (0 when none runs). */
  async pid(): Promise<number> {
    if (this.#state !== "started" || !this.#child) return 0;
    return await containedPid(this.#child.pid);
  }

  /** The SIF file used for an image ID once `loadImage` has made it, else undefined. */
  sifPath(imageId: string): string | undefined {
    return this.#images.get(imageId);
  }

  /** The argument vector of the `exec` command prepared by `create` (for logs and tests). */
  get execArgs(): readonly string[] {
    return this.#args;
  }
}

/**
 * Creates a Singularity/Apptainer executor: finds the engine program (an absolute path, since the engine runs
 * with an empty environment apart from its documented variables) and makes the executor's temp dir.
 * @throws {EngineError} when no engine program is found.
 */
export async function createSingularityExecutor(
  opts: SingularityExecutorOptions,
): Promise<SingularityExecutor> {
  const { engine, path } = await resolveEngine(opts.engine, opts.binary, opts.hostEnv.PATH);
  const workDir = await Deno.makeTempDir({ dir: opts.tmpDir, prefix: `berth-${engine}-` });
  return new SingularityExecutor(engine, path, workDir, opts);
}
