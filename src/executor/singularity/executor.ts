/**
 * The {@link ContainerExecutor} for SingularityCE and Apptainer: images become SIF files (through the shared
 * cache when there is one), and each container is one `singularity exec` / `apptainer exec` child process whose
 * stdio is the container's.
 *
 * The argument vector follows what the program can do (`capabilities.ts`, parsed from its `exec --help`); limits go
 * through `--cpus`/`--memory` or `--apply-cgroups` (`limits.ts`); the environment, working directory and the
 * runtime-failure check go through the launch script (`launch_script.ts`).
 *
 * Runtime failure or container exit: `start()` resolves once the launch script's verdict says the command is about
 * to run, and rejects with {@link EngineError} carrying the runtime's own error line when the runtime failed first
 * (no verdict: unknown flag, `FATAL`, image or bind refused; or the command or working directory missing in the
 * image). After that, every exit is the container's: `wait()` resolves with the engine's exit status, which is the
 * command's, 128+N when the command died from signal N. A stopped container (SIGKILL to the engine process) reads
 * 137, never crunch-run's -1.
 *
 * @module
 */

import { join } from "node:path";
import { EngineError, errorLine, ImageError, looksLikeBrokenNode } from "../../errors.ts";
import {
  type ImageSource,
  isInsecureRegistry,
  type PreparedImage,
  type PrepareImageOptions,
  prepareSifFile,
  readImageManifest,
  referenceString,
} from "../../image/mod.ts";
import type { ContainerExecutor, ContainerSpec, ImageProgress, LogFn } from "../types.ts";
import { readCachedFact, writeCachedFact } from "../../node/fact_cache.ts";
import {
  capabilitiesFromAnswers,
  describeRuntime,
  detectCapabilities,
  type ProgramAnswers,
  programCacheKey,
  programCacheOptions,
  queryVersionLine,
  type RuntimeCapabilities,
} from "./capabilities.ts";
import { type CgroupProbe, type CgroupSupport, defaultCgroupProbe } from "./cgroup_probe.ts";
import { convertImage } from "./convert.ts";
import { resolveEngine, type SingularityEngine, type SingularityEngineChoice } from "./engine.ts";
import { containerEnv, execArgs, execEnv, flagsUsed, needsScratchHome } from "./exec_command.ts";
import { launchScript, launchToken, type LaunchVerdict } from "./launch_script.ts";
import { LaunchStderr } from "./launch_stderr.ts";
import { planLimits } from "./limits.ts";
import { containedPid, containerInitPid, killPid, waitGone } from "./process_tree.ts";
import { obtainRegistrySif } from "./registry_sif.ts";
import { obtainSif } from "./sif_cache.ts";

/** How long `stop()` waits for each of its steps (finding and killing the init, the engine's exit). */
export const STOP_GRACE_MS = 1500;

/** `p`'s value, or `fallback` once `ms` milliseconds have passed first (the timer is cleared either way). */
async function within<T>(p: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<T>((resolve) => timer = setTimeout(() => resolve(fallback), ms)),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Options of {@link createSingularityExecutor}. */
export interface SingularityExecutorOptions {
  /** The engine to drive; "auto" prefers `apptainer` over `singularity` on PATH. */
  engine: SingularityEngineChoice;
  /** `--singularity-binary`: a path, or a name to look up on PATH. @default the engine's name on PATH */
  binary?: string;
  /** `--image-cache`: the shared SIF cache directory. @default none (convert into the executor's temp dir) */
  imageCache?: string;
  /** `--image-cache-group`: the gid whose members' cache entries are trusted. @default none */
  imageCacheGroup?: number;
  /** `--image-cache-verify`: re-hash a cached SIF against its record before using it. @default false */
  imageCacheVerify?: boolean;
  /** Directory the executor's own temp dir is created in. */
  tmpDir: string;
  /** berth's host environment snapshot (PATH to find the engine; GPU and session variables). */
  hostEnv: Record<string, string>;
  /** The job log. */
  log: LogFn;
  /** Whether berth runs as root. @default `Deno.uid() === 0` */
  isRoot?: boolean;
  /** Decides which limits can work. @default a probe of the real host */
  cgroupProbe?: CgroupProbe;
  /**
   * Where the program's `--version` and `exec --help` answers may be kept for the next runs (the user's runtime
   * dir; see `programCacheKey` in `capabilities.ts`). @default none: asked by every run
   */
  runtimeCacheDir?: string;
}

/** A prepared container: the `exec` command line and what the launch check needs. */
interface Prepared {
  spec: ContainerSpec;
  args: string[];
  token: string;
}

/** The executor's state: one variant per step of the lifecycle. */
type State =
  | { kind: "new" }
  | { kind: "created"; prepared: Prepared }
  | { kind: "running"; prepared: Prepared; child: Deno.ChildProcess }
  | { kind: "exited"; prepared: Prepared };

/** The engine process's end: its status, and the output copy's failure if any. */
interface Exit {
  status: Deno.CommandStatus;
  outputError: unknown;
}

/** A Singularity/Apptainer executor. Create it with {@link createSingularityExecutor}. */
export class SingularityExecutor implements ContainerExecutor {
  /** The engine family actually used. */
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
  #state: State = { kind: "new" };
  #result: Promise<number> | undefined;
  #stopped = false;
  /** The container's init as `stop()` found it (0: none); `close()` waits for it to be gone. */
  #killedInit = 0;
  #version: Promise<string> | undefined;
  #capabilities: Promise<RuntimeCapabilities> | undefined;
  /** The node cache's answers for this program (read once), with the entry's key; null: none or no cache. */
  #cached: Promise<{ key: string; answers: ProgramAnswers | null } | null> | undefined;
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

  /**
   * `<binary> --version`, trimmed (for example `apptainer version 1.2.5`).
   * @throws {EngineError} when the program cannot say its version.
   */
  runtime(): Promise<string> {
    if (this.#version === undefined) {
      this.#version = this.#askVersion();
      this.#version.catch(() => this.#version = undefined);
    }
    return this.#version;
  }

  /** The version line: from the node's cache, else asked (and then the help asked at once, in the background). */
  async #askVersion(): Promise<string> {
    const cached = await this.#cachedAnswers();
    if (cached?.answers) return cached.answers.versionLine;
    const line = await queryVersionLine(this.binary, this.workDir, this.#abort.signal);
    // `exec --help` while the runner prepares the image; create() gets the same answer, or asks again.
    this.capabilities().catch(() => {});
    return line;
  }

  /**
   * What the program can do (its flavour, version and `exec` flags): asked once per executor (the background ask
   * after the version and create() share it), from the node's cache when it has them.
   */
  capabilities(): Promise<RuntimeCapabilities> {
    if (this.#capabilities === undefined) {
      this.#capabilities = this.#askCapabilities();
      this.#capabilities.catch(() => this.#capabilities = undefined);
    }
    return this.#capabilities;
  }

  /** The capabilities from the node's cache, else detected (then recorded there). */
  async #askCapabilities(): Promise<RuntimeCapabilities> {
    const versionLine = await this.runtime();
    const cached = await this.#cachedAnswers();
    if (cached?.answers?.versionLine === versionLine) {
      try {
        return capabilitiesFromAnswers(this.binary, cached.answers);
      } catch {
        // A malformed entry: asked again below, and replaced.
      }
    }
    const caps = await detectCapabilities(this.binary, versionLine, this.workDir, this.#abort.signal);
    const dir = this.#opts.runtimeCacheDir;
    if (dir !== undefined && cached) {
      const answers = { versionLine, execFlags: [...caps.execFlags] };
      await writeCachedFact(programCacheOptions(dir, this.binary, cached.key), answers);
    }
    return caps;
  }

  /** The node cache's entry for this program, read once per executor (never rejects). */
  #cachedAnswers(): Promise<{ key: string; answers: ProgramAnswers | null } | null> {
    this.#cached ??= (async () => {
      const dir = this.#opts.runtimeCacheDir;
      if (dir === undefined) return null;
      const key = await programCacheKey(this.binary);
      if (key === null) return null;
      return { key, answers: await readCachedFact(programCacheOptions(dir, this.binary, key)) };
    })();
    return this.#cached;
  }

  /**
   * Makes a SIF file for the image: from the shared cache, or converted from the tarball (checked first, so a
   * bad tarball is an {@link ImageError} and never reaches the cache).
   */
  /**
   * Makes an image of any form usable: a tarball is converted (through the cache) as by {@link loadImage}, a SIF
   * file is used as it is (no conversion, no copy; its sha256 is its ID), a registry image is fetched by berth
   * into the cache under its config digest (`registry_sif.ts`).
   */
  async prepareImage(source: ImageSource, options: PrepareImageOptions): Promise<PreparedImage> {
    if (source.kind === "tarball") {
      await this.loadImage(source.manifest.id, source.path, options.onProgress);
      return { id: source.manifest.id, config: source.manifest.config };
    }
    if (this.#closed) throw new EngineError(`Cannot prepare an image after close()`);
    if (source.kind === "sif") {
      const prepared = await prepareSifFile(source.path);
      this.#images.set(prepared.id, source.path);
      return prepared;
    }
    const ref = source.reference;
    const signal = options.signal
      ? AbortSignal.any([options.signal, this.#abort.signal])
      : this.#abort.signal;
    const got = await obtainRegistrySif({
      reference: ref,
      policy: options.pull,
      credentials: options.credentials,
      insecure: isInsecureRegistry(ref.registry, options.insecureRegistries),
      cacheDir: this.#opts.imageCache,
      cacheGroup: this.#opts.imageCacheGroup,
      verifyContent: this.#opts.imageCacheVerify,
      localDir: this.workDir,
      log: this.#opts.log,
      onProgress: options.onProgress,
      signal,
      convert: (tarball, dst) =>
        convertImage({
          engine: { engine: this.engine, path: this.binary },
          tarball,
          dst,
          workParent: this.workDir,
          hostEnv: this.#opts.hostEnv,
          log: this.#opts.log,
          signal,
        }),
    });
    this.#images.set(got.id, got.sif);
    return {
      id: got.id,
      config: got.config,
      reference: referenceString(ref),
      manifestDigest: got.manifestDigest,
    };
  }

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
      cacheGroup: this.#opts.imageCacheGroup,
      verifyContent: this.#opts.imageCacheVerify,
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

  /**
   * Prepares the `exec` command line from the program's capabilities, and writes the files it names into the
   * executor's temp dir (the launch script, the `--apply-cgroups` file, the scratch `HOME`); nothing runs yet.
   */
  async create(spec: ContainerSpec): Promise<void> {
    if (this.#state.kind !== "new") {
      throw new EngineError(`Cannot create a container twice with one executor`);
    }
    if (this.#closed) throw new EngineError(`Cannot create a container after close()`);
    const imagePath = this.#images.get(spec.image);
    if (imagePath === undefined) {
      throw new EngineError(`Cannot create a container: image "${spec.image}" was not loaded`);
    }
    const log = this.#opts.log;
    const caps = await this.capabilities();
    let cgroup: CgroupSupport = { cpu: false, memory: false, swap: false, hierarchy: "none" };
    if (spec.vcpus > 0 || spec.ram > 0) cgroup = await this.#probe(log);
    const limits = planLimits({
      caps,
      isRoot: this.#isRoot,
      vcpus: spec.vcpus,
      ram: spec.ram,
      cgroup,
      cgroupFile: join(this.workDir, "cgroups.toml"),
    });
    const token = launchToken();
    const home = spec.env.HOME;
    const script = launchScript({
      env: containerEnv(spec.env, spec.gpu, this.#opts.hostEnv),
      workingDir: spec.workingDir || "/",
      bindTargets: [...Object.keys(spec.mounts), ...(needsScratchHome(home, spec.mounts) ? [home] : [])],
      token,
    });
    const scriptPath = join(this.workDir, "launch.sh");
    const homeScratch = join(this.workDir, "home");
    const args = execArgs({
      caps,
      workingDir: spec.workingDir || "/",
      enableNetwork: spec.enableNetwork,
      networkMode: spec.networkMode,
      isRoot: this.#isRoot,
      gpu: spec.gpu,
      limitArgs: limits.args,
      mounts: spec.mounts,
      home,
      homeScratch,
      launchScript: scriptPath,
      imagePath,
      command: spec.command,
    });
    await Deno.writeTextFile(scriptPath, script.text, { mode: 0o600, createNew: true });
    if (limits.cgroupToml !== null) {
      await Deno.writeTextFile(join(this.workDir, "cgroups.toml"), limits.cgroupToml, { mode: 0o600 });
    }
    if (needsScratchHome(home, spec.mounts)) await Deno.mkdir(homeScratch, { mode: 0o700 });
    log(
      `Runtime ${describeRuntime(caps)} ("${this.binary}"): exec flags used ${flagsUsed(args).join(" ")}; ` +
        `limits through ${limits.mechanism}`,
    );
    for (const note of limits.notes) log(note);
    for (const name of script.skipped) {
      log(
        `Environment variable ${
          JSON.stringify(name)
        } left out: ${this.engine} can only set shell variable names`,
      );
    }
    const uid = Deno.uid();
    if (spec.user && uid !== null && spec.user.uid !== uid) {
      log(
        `The container runs as uid ${uid}, not ${spec.user.uid}: ${this.engine} runs it as the invoking user`,
      );
    }
    this.#state = { kind: "created", prepared: { spec, args, token } };
  }

  /**
   * Starts the engine process, pipes the container's stdin, stdout and stderr with backpressure, and resolves once
   * the launch script says the command is about to run.
   * @throws {EngineError} when the runtime failed before the command started (its own error line in the message).
   */
  async start(): Promise<void> {
    const state = this.#state;
    if (state.kind !== "created") {
      throw new EngineError(`Cannot start a container that was not created (state "${state.kind}")`);
    }
    if (this.#closed) throw new EngineError(`Cannot start a container after close()`);
    const { spec, args, token } = state.prepared;
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(this.binary, {
        args,
        env: execEnv(this.#opts.hostEnv),
        clearEnv: true,
        cwd: this.workDir,
        stdin: spec.stdin ? "piped" : "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      throw new EngineError(`Cannot run "${this.binary}": ${errorLine(err)}`, { cause: err });
    }
    this.#state = { kind: "running", prepared: state.prepared, child };
    const stderr = new LaunchStderr(token, spec.stderr, this.#opts.log, `${this.engine}: `);
    const outputs = [child.stdout.pipeTo(spec.stdout), child.stderr.pipeTo(stderr.writable)];
    if (spec.stdin) {
      // The container may exit without reading all of its stdin: the broken pipe is not an error.
      spec.stdin.pipeTo(child.stdin).catch(() => {});
    }
    const exited = this.#collect(child, outputs, state.prepared);
    const verdict = await stderr.verdict;
    if (verdict === "started" || this.#stopped) {
      this.#result = exited.then((exit) => this.#code(exit));
      this.#result.catch(() => {}); // reported by wait(); never an unhandled rejection
      return;
    }
    const failure = this.#runtimeFailure(verdict, await exited, stderr, spec);
    this.#result = Promise.reject(failure);
    this.#result.catch(() => {});
    throw failure;
  }

  async #collect(child: Deno.ChildProcess, outputs: Promise<void>[], prepared: Prepared): Promise<Exit> {
    const status = await child.status;
    this.#state = { kind: "exited", prepared };
    const settled = await Promise.allSettled(outputs);
    const failed = settled.find((o): o is PromiseRejectedResult => o.status === "rejected");
    return { status, outputError: failed?.reason };
  }

  #code(exit: Exit): number {
    if (exit.outputError !== undefined) {
      throw new EngineError(`Cannot copy the container's output: ${errorLine(exit.outputError)}`, {
        cause: exit.outputError,
      });
    }
    // Deno reports 128+N for a process killed by signal N: 137 after stop().
    return exit.status.code;
  }

  #runtimeFailure(verdict: LaunchVerdict | null, exit: Exit, stderr: LaunchStderr, spec: ContainerSpec) {
    const command = spec.command[0] ?? "";
    const line = stderr.errorLine();
    if (verdict === "not-found") {
      return new EngineError(
        command.includes("/")
          ? `exec: "${command}": no such file or directory, or not an executable file, in the container`
          : `exec: "${command}": executable file not found in $PATH (PATH=${
            JSON.stringify(spec.env.PATH ?? "")
          })`,
        { brokenNode: false },
      );
    }
    if (verdict === "no-bind") {
      return new EngineError(
        `${this.engine} did not mount the bind at ${JSON.stringify(stderr.detail)}${line ? `: ${line}` : ""}`,
        { brokenNode: false },
      );
    }
    if (verdict === "no-workdir") {
      return new EngineError(
        `working directory ${
          JSON.stringify(spec.workingDir)
        } does not exist in the container (or is not a directory)`,
        { brokenNode: false },
      );
    }
    const how = exit.status.signal
      ? `was killed by ${exit.status.signal}`
      : `exited with status ${exit.status.code}`;
    return new EngineError(
      `${this.engine} exec ${how} before the container's command started${line ? `: ${line}` : ""}`,
      { brokenNode: looksLikeBrokenNode([...stderr.runtimeLines, line].join("\n")) },
    );
  }

  /** The container's exit code, once the engine has exited and both output streams are drained and closed. */
  wait(): Promise<number> {
    if (this.#result === undefined) {
      return Promise.reject(new EngineError(`Cannot wait for a container that was not started`));
    }
    return this.#result;
  }

  /**
   * Kills the container at once: SIGKILL to the init of its PID namespace, so that the runtime itself sees the
   * container end and removes what it set up (Singularity 3.x leaves its cgroups behind when it is killed itself),
   * then, if the engine process has not exited within {@link STOP_GRACE_MS}, SIGKILL to it, which takes the
   * contained processes with it. Either way `wait()` then reads 137. No-op unless running.
   */
  async stop(): Promise<void> {
    const state = this.#state;
    if (state.kind !== "running") return;
    this.#stopped = true;
    const child = state.child;
    const gone = child.status.then(() => true);
    const init = await within(containerInitPid(child.pid).catch(() => 0), STOP_GRACE_MS, 0);
    if (init > 0) {
      this.#killedInit = init;
      await killPid(init, STOP_GRACE_MS);
    }
    if (!(await within(gone, STOP_GRACE_MS, false))) {
      try {
        child.kill("SIGKILL");
      } catch {
        // It exited meanwhile.
      }
    }
  }

  /** Kills a running container and a running conversion, waits for them, and removes the temp dir. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort();
    await this.stop();
    if (this.#result) await this.#result.catch(() => {});
    // The runtime's last processes (the init, a zombie for a moment) may outlive the engine process by a little.
    if (this.#killedInit > 0 && !(await waitGone(this.#killedInit, STOP_GRACE_MS * 2))) {
      this.#opts.log(
        `The container's init (pid ${this.#killedInit}) was still there ${
          STOP_GRACE_MS * 2
        } ms after the stop`,
      );
    }
    await Promise.allSettled([...this.#loading]);
    const state = this.#state;
    if (state.kind === "created") {
      // Never started: nobody else will close the sinks.
      for (const sink of [state.prepared.spec.stdout, state.prepared.spec.stderr]) {
        if (!sink.locked) await sink.close().catch(() => {});
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
    if (this.#state.kind !== "running") return 0;
    return await containedPid(this.#state.child.pid);
  }

  /** The SIF file used for an image ID once `loadImage` has made it, else undefined. */
  sifPath(imageId: string): string | undefined {
    return this.#images.get(imageId);
  }

  /** The argument vector of the `exec` command prepared by `create` (for logs and tests). */
  get execArgs(): readonly string[] {
    return this.#state.kind === "new" ? [] : this.#state.prepared.args;
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
