/**
 * One job's lifecycle, from a checked plan to the final state: lock; work dir; log; engine; mounts; image;
 * create; diagnostics; start; stream output; wait; remove the container; collect output; manifest; clean up;
 * final state. Every step is logged in `logs/crunch-run.txt`, whose last line is the final state word.
 *
 * Ownership of what a run creates: the lock, the work dir's log file, the job's temp dir, the executor (and so
 * the container), the stdio files and the `max_run_time` timer all belong to one {@link JobRun}, which releases
 * each of them in {@link JobRun.finish} on every path: success, failure, signal, timeout and engine death.
 *
 * States and berth's exit status:
 * - `Complete`: the container ran to its exit → its exit code.
 * - `Cancelled` by a signal or `max_run_time` → 143/130/131 or 124 (partial output is still collected).
 * - `Cancelled` by any other failure (setup, image, start, output) → 125.
 * - `Queued` when the node looks broken (see `src/errors.ts`) → 75, after the broken-node hook or marker.
 *
 * @module
 */

import { join } from "node:path";
import { BerthError, EngineError, errorLine, looksLikeBrokenNode } from "../errors.ts";
import type { ContainerExecutor, ContainerSpec } from "../executor/types.ts";
import { imageRefText, redactJob, serializeJsonContent } from "../job/mod.ts";
import { createTimestamper, Logger } from "../logs/mod.ts";
import { VERSION } from "../version.ts";
import { acquireJobLock, type HeldJobLock } from "../node/lock.ts";
import { brokenMarkerPath } from "../node/runtime_dir.ts";
import { startCrunchstat, startHoststat, type StatsHandle } from "../stats/mod.ts";
import { reportBrokenNode } from "./broken_node.ts";
import { type Cancellation, type CancelReason, describeCancel, SIGNAL_NAMES } from "./cancel.ts";
import { prepareCuda } from "./cuda.ts";
import { startDeadline } from "./deadline.ts";
import { type ExecutorFactories, selectEngine } from "./engine.ts";
import { describeContainerExit, exitStatusFor, type Outcome } from "./exit_status.ts";
import { type PreparedMounts, prepareMounts } from "./mounts.ts";
import { writeNodeInfo } from "./node_info.ts";
import { buildOutputManifest, writeOutputManifest } from "./output_manifest.ts";
import { fixOwnership, type Owner } from "./ownership.ts";
import type { RunPlan } from "./plan.ts";
import { createProgressReporter } from "./progress.ts";
import { collectSecrets, secretFilter } from "./secrets.ts";
import { initialState, type StateRecord, writeState } from "./state.ts";
import { createWorkDir, type WorkDirLayout, workDirLayout } from "./work_dir.ts";

/** How long `wait` may take to return after the container was stopped before berth gives up on it. */
export const STOP_GRACE_MS = 30_000;
/** How long the stdio files may take to be flushed after the container is gone. */
export const STDIO_GRACE_MS = 10_000;

/** What a run needs from its surroundings (all injectable for tests). */
export interface RunEnvironment {
  /** The executor factories. */
  factories: ExecutorFactories;
  /** The run's cancellation, fed by the signal handlers the CLI installed. */
  cancellation: Cancellation;
  /** berth's host environment snapshot, for the executors. */
  hostEnv: Record<string, string>;
  /** Where the log is mirrored and image progress drawn (normally stderr). */
  stderr: { writeSync(data: Uint8Array): number };
  /** True when `stderr` is a terminal (progress is drawn in place instead of logged). */
  stderrIsTerminal: boolean;
  /** Who gets the output. @default berth's own uid and gid */
  owner?: Owner;
}

/** The container name of a job (Docker names need two characters at least, so a prefix is added). */
export function containerName(uuid: string): string {
  return `berth-${uuid}`;
}

/** Thrown inside the lifecycle when the run was cancelled while a step was under way. */
class RunCancelled extends Error {}

/** Where a failure happened, for the error line (crunch-run's wording in spirit). */
const STEP_ERRORS = {
  record: "Cannot write the state record",
  engine: "Cannot use the container engine",
  mounts: "Cannot set up mounts",
  image: "Cannot load the container image",
  create: "Cannot create the container",
  start: "Cannot start the container",
  wait: "Cannot wait for the container",
  output: "Cannot collect the output",
} as const;
type Step = keyof typeof STEP_ERRORS;

const START_ADVICE = /(exec|System error).*(no such file or directory|file not found)/s;

/**
 * Runs a planned job to its final state and returns berth's exit status.
 * @throws {BerthError} only before the work dir holds a log: when the job's lock is held by another berth or
 *   the work dir cannot be created (exit 125).
 */
export async function runJob(plan: RunPlan, env: RunEnvironment): Promise<number> {
  return await new JobRun(plan, env).run();
}

/** The resources and progress of one run. Use {@link runJob}. */
class JobRun {
  readonly #plan: RunPlan;
  readonly #env: RunEnvironment;
  readonly #layout: WorkDirLayout;
  readonly #filter: (text: string) => string;
  #logger: Logger | null = null;
  #lock: HeldJobLock | null = null;
  #record!: StateRecord;
  #executor: ContainerExecutor | null = null;
  #tmpDir: string | null = null;
  #mounts: PreparedMounts | null = null;
  #files: Deno.FsFile[] = [];
  #stdio: Promise<unknown>[] = [];
  #sinks: WritableStream<Uint8Array>[] = [];
  #started = false;
  #stopDeadline: () => void = () => {};
  #hoststat: StatsHandle | null = null;
  #crunchstat: StatsHandle | null = null;
  #step: Step = "record";

  constructor(plan: RunPlan, env: RunEnvironment) {
    this.#plan = plan;
    this.#env = env;
    this.#layout = workDirLayout(plan.options.workDir);
    this.#filter = secretFilter(collectSecrets(plan.parsed.job));
  }

  #log = (message: string): void => {
    this.#logger?.log(message);
  };

  get #job() {
    return this.#plan.parsed.job;
  }

  async run(): Promise<number> {
    const { cancellation } = this.#env;
    if (cancellation.reason) {
      this.#env.stderr.writeSync(
        new TextEncoder().encode(`berth: ${describeCancel(cancellation.reason)} before the job started\n`),
      );
      return exitStatusFor({ state: "Cancelled", exitCode: null, cancel: cancellation.reason });
    }
    const opts = this.#plan.options;
    this.#lock = await acquireJobLock(opts.runtimeDir, this.#job.uuid, {
      workDir: this.#layout.root,
      ...(opts.engine === "auto" ? {} : { engine: opts.engine }),
    });
    try {
      await createWorkDir(this.#layout);
      const logFile = await Deno.open(this.#layout.crunchLog, { write: true, createNew: true });
      this.#logger = new Logger(logFile, { mirror: this.#env.stderr, mirrorPrefix: `${this.#job.uuid} ` });
      this.#logger.addFilter(this.#filter);
    } catch (err) {
      await this.#lock.release();
      if (err instanceof Deno.errors.NotCapable) throw err;
      throw new BerthError(`Cannot create work dir "${this.#layout.root}": ${errorLine(err)}`, {
        cause: err,
      });
    }
    this.#record = initialState(this.#job.uuid, new Date());
    let outcome: Outcome;
    let error: string | null = null;
    try {
      ({ outcome, error } = await this.#lifecycle());
    } catch (err) {
      // Only a bug gets here: every step's failure is handled in #lifecycle.
      this.#log(`Internal error: ${errorLine(err)}`);
      outcome = { state: "Cancelled", exitCode: null, cancel: cancellation.reason };
      error = `Internal error: ${errorLine(err)}`;
    }
    return await this.#finish(outcome, error);
  }

  async #lifecycle(): Promise<{ outcome: Outcome; error: string | null }> {
    const { cancellation } = this.#env;
    const job = this.#job;
    const opts = this.#plan.options;
    this.#preamble();
    cancellation.onCancel((reason) => this.#onCancel(reason));
    const statsMs = opts.crunchstatInterval * 1000;
    try {
      this.#hoststat = await startHoststat({
        intervalMs: statsMs,
        log: this.#log,
        statsFile: join(this.#layout.logs, "hoststat.txt"),
        tmpDir: opts.tmpDir,
        workDir: this.#layout.root,
      });
    } catch (err) {
      this.#log(`Cannot start host statistics: ${errorLine(err)}`);
    }
    try {
      this.#step = "record";
      await writeState(this.#layout.state, this.#record);

      this.#step = "engine";
      const selected = await this.#race(
        selectEngine({
          choice: opts.engine,
          dockerSocket: opts.dockerSocket,
          singularityBinary: opts.singularityBinary,
          imageCache: opts.imageCache,
          tmpDir: opts.tmpDir,
          hostEnv: this.#env.hostEnv,
          log: this.#log,
          watchdogIntervalMs: opts.watchdogInterval * 1000,
        }, this.#env.factories),
        (late) => late.executor.close(),
      );
      this.#executor = selected.executor;
      await this.#lock?.update({ engine: selected.engine });
      const runtime = await this.#race(this.#executor.runtime());
      this.#record.runtime = runtime;
      this.#log(`Using container runtime: ${runtime}`);

      this.#step = "mounts";
      this.#log("Setting up mounts");
      this.#tmpDir = await Deno.makeTempDir({ dir: opts.tmpDir, prefix: `berth-${job.uuid.slice(0, 64)}-` });
      this.#mounts = await prepareMounts(job, {
        sources: this.#plan.sources,
        outputDir: this.#layout.output,
        tmpDir: this.#tmpDir,
        log: this.#log,
      });
      for (const [target, b] of Object.entries(this.#mounts.binds)) {
        this.#log(`Bind mount ${target} from ${b.hostPath}${b.readOnly ? " (read-only)" : ""}`);
      }
      this.#checkCancelled();

      this.#step = "image";
      const tarball = this.#plan.imageTarball;
      this.#log(`Loading image ${JSON.stringify(imageRefText(job.container_image))} from ${tarball}`);
      const manifest = this.#plan.manifest;
      this.#log(`Using image id ${JSON.stringify(manifest.id)}`);
      const progress = createProgressReporter({
        tty: this.#env.stderrIsTerminal ? this.#env.stderr : null,
        log: this.#log,
      });
      const started = performance.now();
      try {
        await this.#race(this.#executor.loadImage(manifest.id, tarball, (p) => progress.update(p)));
      } finally {
        progress.finish();
      }
      this.#log(`Image ready (${((performance.now() - started) / 1000).toFixed(1)} s)`);

      this.#step = "create";
      if (job.runtime_constraints.gpu.stack === "cuda") await prepareCuda(this.#log);
      const spec = await this.#spec(manifest.id);
      this.#log(`Creating container ${JSON.stringify(spec.name)}`);
      await this.#race(this.#executor.create(spec));
      await this.#diagnostics();
      this.#checkCancelled();

      this.#step = "start";
      this.#log("Starting container");
      this.#started = true;
      await this.#race(this.#executor.start());
      await this.#lock?.update({ state: "Running" });
      const executor = this.#executor;
      try {
        this.#crunchstat = await startCrunchstat({
          pid: () => executor.pid(),
          intervalMs: statsMs,
          ramLimit: job.runtime_constraints.ram,
          log: this.#log,
          statsFile: join(this.#layout.logs, "crunchstat.txt"),
          tmpDir: this.#tmpDir,
        });
      } catch (err) {
        this.#log(`Cannot start container statistics: ${errorLine(err)}`);
      }
      const maxRunTime = job.scheduling_parameters.max_run_time;
      if (maxRunTime > 0) {
        this.#stopDeadline = startDeadline(
          maxRunTime * 1000,
          () => cancellation.cancel({ kind: "timeout", seconds: maxRunTime }),
        );
      }

      this.#step = "wait";
      this.#log("Waiting for container to finish");
      const code = await this.#wait();
      this.#stopDeadline();
      await this.#stopStats("crunchstat");
      this.#log(describeContainerExit(code));
      const cancel = cancellation.reason;
      return {
        outcome: { state: cancel ? "Cancelled" : "Complete", exitCode: code, cancel },
        error: cancel ? describeCancel(cancel) : null,
      };
    } catch (err) {
      this.#stopDeadline();
      if (err instanceof RunCancelled || (cancellation.reason && !isBrokenNode(err))) {
        if (!(err instanceof RunCancelled)) this.#log(`${STEP_ERRORS[this.#step]}: ${errorLine(err)}`);
        const cancel = cancellation.reason!;
        return { outcome: { state: "Cancelled", exitCode: null, cancel }, error: describeCancel(cancel) };
      }
      let line = `${STEP_ERRORS[this.#step]}: ${errorLine(err)}`;
      if (this.#step === "start" && START_ADVICE.test(errorLine(err))) {
        line += `. Possible causes: command ${JSON.stringify(job.command[0])} is missing, the interpreter ` +
          "given in #! is missing, or the script has Windows line endings";
      }
      this.#log(line);
      if (isBrokenNode(err)) {
        await reportBrokenNode(err, {
          hook: opts.brokenNodeHook,
          markerPath: brokenMarkerPath(opts.runtimeDir),
          log: this.#log,
        });
        return { outcome: { state: "Queued", exitCode: null, cancel: null }, error: line };
      }
      return { outcome: { state: "Cancelled", exitCode: null, cancel: null }, error: line };
    }
  }

  #preamble(): void {
    const job = this.#job;
    const opts = this.#plan.options;
    this.#log(`berth ${VERSION} started (deno ${Deno.version.deno})`);
    this.#log(`berth process has uid=${Deno.uid() ?? "?"} gid=${Deno.gid() ?? "?"} pid=${Deno.pid}`);
    this.#log(`Executing container: ${job.uuid}`);
    let host: string;
    try {
      host = `'${Deno.hostname()}'`;
    } catch (err) {
      host = `(unknown: ${errorLine(err)})`;
    }
    this.#log(`Executing on host ${host}`);
    this.#log(`Job file: ${this.#plan.parsed.path}`);
    this.#log(`Work dir: ${this.#layout.root}`);
    this.#log(
      `Options: runtime engine ${opts.engine}, tmp dir ${opts.tmpDir}, networking ${opts.enableNetworking}` +
        ` (mode ${opts.networkMode}), memory limit ${opts.enableMemoryLimit ? "on" : "off"}` +
        `${opts.cgroupParent ? `, cgroup parent ${opts.cgroupParent}` : ""}`,
    );
    if (this.#plan.parsed.ignoredFields.length > 0) {
      this.#log(`Ignoring fields berth does not use: ${this.#plan.parsed.ignoredFields.join(", ")}`);
    }
  }

  #onCancel(reason: CancelReason): void {
    if (reason.kind === "timeout") this.#log("maximum run time exceeded. Stopping container.");
    else this.#log(`caught signal: ${SIGNAL_NAMES[reason.signal]}`);
    if (this.#executor) {
      this.#log("stopping container");
      this.#executor.stop().catch((err) => this.#log(`error stopping container: ${errorLine(err)}`));
    }
  }

  #checkCancelled(): void {
    if (this.#env.cancellation.reason) throw new RunCancelled();
  }

  /** Awaits `p`, or throws {@link RunCancelled} as soon as the run is cancelled (`late` gets a late result). */
  async #race<T>(p: Promise<T>, late?: (value: T) => unknown): Promise<T> {
    this.#checkCancelled();
    const CANCELLED = Symbol("cancelled");
    const r = await Promise.race([p, this.#env.cancellation.cancelled.then(() => CANCELLED)]);
    if (r === CANCELLED) {
      p.then((v) => late?.(v), () => {});
      throw new RunCancelled();
    }
    return r as T;
  }

  /** The container's exit code; after a stop, gives the engine {@link STOP_GRACE_MS} to report it. */
  async #wait(): Promise<number> {
    const executor = this.#executor!;
    const waiting = executor.wait();
    const STOPPED = Symbol("stopped");
    const first = await Promise.race([waiting, this.#env.cancellation.cancelled.then(() => STOPPED)]);
    if (first !== STOPPED) return first as number;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const GAVE_UP = Symbol("gave up");
    try {
      const r = await Promise.race([
        waiting,
        new Promise<typeof GAVE_UP>((resolve) => timer = setTimeout(() => resolve(GAVE_UP), STOP_GRACE_MS)),
      ]);
      if (r !== GAVE_UP) return r as number;
      waiting.catch(() => {});
      this.#log(
        `The engine did not report the container's exit within ${STOP_GRACE_MS / 1000} s of the stop`,
      );
      throw new RunCancelled();
    } finally {
      clearTimeout(timer);
    }
  }

  async #spec(imageId: string): Promise<ContainerSpec> {
    const job = this.#job;
    const opts = this.#plan.options;
    const mounts = this.#mounts!;
    const rc = job.runtime_constraints;
    return {
      name: containerName(job.uuid),
      image: imageId,
      command: [...job.command],
      workingDir: job.cwd === "." ? "" : job.cwd,
      env: { ...job.environment },
      mounts: mounts.binds,
      vcpus: rc.vcpus,
      ram: opts.enableMemoryLimit ? rc.ram : 0,
      gpu: { stack: rc.gpu.stack, deviceCount: rc.gpu.device_count },
      enableNetwork: opts.enableNetworking === "always" || rc.API,
      networkMode: opts.networkMode,
      cgroupParent: opts.cgroupParent,
      stdin: await this.#stdin(),
      stdout: await this.#sink(mounts.stdoutFile, this.#layout.stdoutLog),
      stderr: await this.#sink(mounts.stderrFile, this.#layout.stderrLog),
    };
  }

  async #stdin(): Promise<ReadableStream<Uint8Array> | null> {
    const source = this.#mounts!.stdin;
    if (source.kind === "none") return null;
    if (source.kind === "bytes") return ReadableStream.from([source.data]);
    const file = await Deno.open(source.path, { read: true });
    this.#files.push(file);
    return file.readable;
  }

  /** A raw file under `output/` for a `file` mount, else a timestamped log file. */
  async #sink(rawPath: string | null, logPath: string): Promise<WritableStream<Uint8Array>> {
    const file = await Deno.open(rawPath ?? logPath, { write: true, create: true, truncate: true });
    this.#files.push(file);
    if (rawPath !== null) {
      this.#sinks.push(file.writable);
      return file.writable;
    }
    const stamp = createTimestamper();
    this.#stdio.push(
      stamp.readable.pipeTo(file.writable).catch((err) => {
        this.#log(`Error writing ${logPath}: ${errorLine(err)}`);
      }),
    );
    this.#sinks.push(stamp.writable);
    return stamp.writable;
  }

  async #diagnostics(): Promise<void> {
    const opts = this.#plan.options;
    try {
      await writeNodeInfo(this.#layout.nodeInfo, [opts.tmpDir, this.#layout.root]);
    } catch (err) {
      this.#log(`Cannot write node-info.txt: ${errorLine(err)}`);
    }
    try {
      const text = serializeJsonContent(redactJob(this.#job), { indent: 4 }) + "\n";
      await Deno.writeTextFile(this.#layout.containerJson, this.#filter(text));
    } catch (err) {
      this.#log(`Cannot write container.json: ${errorLine(err)}`);
    }
  }

  /** Releases everything, collects the output, writes the final state; returns the exit status. */
  async #finish(outcome: Outcome, error: string | null): Promise<number> {
    this.#stopDeadline();
    await this.#stopStats("crunchstat");
    if (this.#executor) {
      this.#log("Removing container");
      try {
        await this.#executor.close();
      } catch (err) {
        this.#log(`Error removing container: ${errorLine(err)}`);
      }
    }
    await this.#closeStdio();
    if (this.#started && outcome.state !== "Queued") {
      this.#step = "output";
      try {
        await this.#collectOutput();
      } catch (err) {
        const line = `${STEP_ERRORS.output}: ${errorLine(err)}`;
        this.#log(line);
        if (outcome.state === "Complete") {
          outcome = { ...outcome, state: "Cancelled", cancel: null };
          error = line;
        }
      }
    }
    if (this.#tmpDir) {
      try {
        await Deno.remove(this.#tmpDir, { recursive: true });
      } catch (err) {
        this.#log(`Cannot remove temp dir "${this.#tmpDir}": ${errorLine(err)}`);
      }
    }
    await this.#stopStats("hoststat");
    await this.#lock?.release();
    const status = exitStatusFor(outcome);
    Object.assign(this.#record, {
      state: outcome.state,
      exit_code: outcome.exitCode,
      exit_status: status,
      finished_at: new Date().toISOString(),
      error: error === null ? null : this.#filter(error),
    });
    try {
      await writeState(this.#layout.state, this.#record);
    } catch (err) {
      this.#log(`Cannot write state.json: ${errorLine(err)}`);
    }
    this.#log(`berth finished: exit status ${status}`);
    this.#log(outcome.state);
    this.#logger?.closeFile();
    return status;
  }

  async #stopStats(which: "crunchstat" | "hoststat"): Promise<void> {
    const handle = which === "crunchstat" ? this.#crunchstat : this.#hoststat;
    if (which === "crunchstat") this.#crunchstat = null;
    else this.#hoststat = null;
    try {
      await handle?.stop();
    } catch (err) {
      this.#log(`Error stopping ${which}: ${errorLine(err)}`);
    }
  }

  async #closeStdio(): Promise<void> {
    // A sink the executor never took (the container was not created or attached) is closed here.
    for (const sink of this.#sinks) {
      if (!sink.locked) await sink.close().catch(() => {});
    }
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.allSettled(this.#stdio),
      new Promise((resolve) => timer = setTimeout(resolve, STDIO_GRACE_MS)),
    ]);
    clearTimeout(timer);
    for (const f of this.#files) {
      try {
        f.close();
      } catch { /* closed by its stream */ }
    }
  }

  async #collectOutput(): Promise<void> {
    const output = this.#layout.output;
    this.#log("Collecting output");
    for (const rel of this.#mounts?.secretPaths ?? []) {
      const path = join(output, rel);
      try {
        const info = await Deno.lstat(path);
        if ((info.isFile && info.size === 0) || info.isDirectory) await Deno.remove(path);
      } catch { /* not there, or not empty: the container put something there itself */ }
    }
    const owner = this.#env.owner ?? { uid: Deno.uid() ?? 0, gid: Deno.gid() ?? 0 };
    const fixed = await fixOwnership(output, owner);
    if (fixed.changed > 0) {
      this.#log(`Gave ${fixed.changed} output entries to uid ${owner.uid} gid ${owner.gid}`);
    }
    for (const path of fixed.removedDevices) this.#log(`Removed device node ${path} from the output`);
    for (const path of fixed.skippedLinked) {
      this.#log(`Left ${path} as it is: it has hard links outside the output`);
    }
    if (fixed.failed.length > 0) {
      this.#log(
        `Cannot fix ownership of ${fixed.failed.length} output entries, first: ${fixed.failed[0]}`,
      );
    }
    const manifest = await buildOutputManifest(output, this.#job.uuid);
    await writeOutputManifest(this.#layout.outputManifest, manifest);
    this.#log(`Output: ${manifest.files} files, ${manifest.bytes} bytes (listed in output.json)`);
  }
}

/** True when an error means the node cannot run containers. */
function isBrokenNode(err: unknown): boolean {
  if (err instanceof EngineError) return err.brokenNode;
  return looksLikeBrokenNode(errorLine(err));
}
