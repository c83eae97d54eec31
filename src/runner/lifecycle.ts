/**
 * One job's lifecycle, from a checked plan to the final state: the step sequence and the decision of the
 * outcome. Every step runs through one {@link StepRunner}, which races it against the run's cancellation and its
 * deadline from the {@link BUDGET} table and records how long it took; the pieces each step uses live in their
 * own modules (container spec, stdio files, output collection, disk-full classification).
 *
 * Steps: lock; work dir; log; setup (first state record); engine; image; mounts; create; start; wait; then, on
 * every path: stop and remove the container; flush the stdio files; collect the output; manifest; clean up; final
 * state; unlock. Every step is logged in `logs/crunch-run.txt`, whose last line is the final state word, with one
 * `Phase <step>: <seconds> s` line per step.
 *
 * Nothing that can wait is on the way to the container's start (#17): the runtime's description (`Using container
 * runtime: …`, Podman's `GET /version` takes seconds) is asked for as soon as the engine is chosen and recorded
 * when it comes; the diagnostics (`node-info.txt`, `container.json`) are written while the container starts and
 * runs. The run waits for both before its final record.
 *
 * Ownership of what a run creates: the lock, the work dir's log file and reserve, the job's temp dir, the
 * executor (and so the container), the stdio files and the `max_run_time` timer all belong to one
 * {@link JobRun}, which releases each of them in its finish on every path: success, failure, signal, timeout and
 * engine death. The lock goes last, after the final `state.json` is written.
 *
 * States and berth's exit status (see `exit_status.ts` and the README):
 * - `Complete`: the container ran to its exit → its exit code (1 when that code is one of berth's own).
 * - `Cancelled` by a signal or `max_run_time` → 143/130/131 or 124 (partial output is still collected).
 *   `max_run_time` counts from the moment berth holds the job's lock: it bounds every phase, not only the
 *   container's run (a difference from crunch-run).
 *   A cancel that arrives after the container exited by itself does not change a `Complete` job.
 * - `Cancelled` by a failure of the job, its setup or the engine, or a full work dir → 125; a user's mistake
 *   found only now (a bad `DOCKER_HOST`) → 2.
 * - `Queued` for a fault of this node (engine unreachable or unresponsive, tmp dir full) → 75, after the
 *   broken-node hook or marker.
 *
 * @module
 */

import { join } from "node:path";
import { BerthError, EngineError, errorLine, UsageError } from "../errors.ts";
import type { ContainerExecutor } from "../executor/types.ts";
import { credentialSecrets, describePreparedImage, describeSource } from "../image/mod.ts";
import { imageRefText, redactJob, serializeJsonContent } from "../job/mod.ts";
import { Logger } from "../logs/mod.ts";
import { VERSION } from "../version.ts";
import { containerIdentity } from "../node/container_name.ts";
import { containerUserFor, invokingUser } from "../node/identity.ts";
import { writableOwnerFor } from "../node/job_dirs.ts";
import { acquireJobLock, type HeldJobLock, newRunToken } from "../node/lock.ts";
import { createJobTmpDir, type JobTmpDir } from "../node/tmp_dirs.ts";
import { brokenMarkerPath } from "../node/runtime_dir.ts";
import { startCrunchstat, startHoststat, type StatsHandle } from "../stats/mod.ts";
import { reportBrokenNode } from "./broken_node.ts";
import { BUDGET, type Budget } from "./budget.ts";
import { type Cancellation, type CancelReason, describeCancel, SIGNAL_NAMES } from "./cancel.ts";
import { buildContainerSpec, imageDefaults } from "./container_spec.ts";
import { prepareCuda } from "./cuda.ts";
import { type Clock, REAL_CLOCK, settlesWithin, startDeadline } from "./deadline.ts";
import { describeFull, type FullPlace, whereFull } from "./disk_full.ts";
import { type ExecutorFactories, selectEngine } from "./engine.ts";
import { describeContainerExit, exitStatusFor, type Outcome, reservedCodeNote } from "./exit_status.ts";
import { assertNoLinkUnder, assertRealDirectory, claimHostPaths, type HostPathClaims } from "./host_paths.ts";
import { type PreparedMounts, prepareMounts } from "./mounts.ts";
import { writeNodeInfo } from "./node_info.ts";
import { handOverOutput, recordOutput } from "./output.ts";
import type { Owner } from "./ownership.ts";
import type { RunPlan } from "./plan.ts";
import { createProgressReporter } from "./progress.ts";
import { collectSecrets, secretFilter } from "./secrets.ts";
import {
  imageProvenance,
  initialState,
  releaseSpace,
  reserveSpace,
  type StateRecord,
  writeState,
} from "./state.ts";
import { type OutputFile, StdioFiles } from "./stdio_files.ts";
import {
  type FaultInjector,
  StepCancelledError,
  type StepName,
  StepRunner,
  StepTimeoutError,
} from "./steps.ts";
import { createWorkDir, type WorkDirLayout, workDirLayout } from "./work_dir.ts";

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
  /** The clock every deadline of the run uses. @default {@link REAL_CLOCK} */
  clock?: Clock;
  /** The time limits. @default {@link BUDGET} */
  budget?: Budget;
  /** A test's fault injector, called as each step starts. */
  inject?: FaultInjector;
  /** Takes the job's lock. @default {@link acquireJobLock} */
  acquireLock?: typeof acquireJobLock;
  /** Opens a file the container's output goes to (tests inject a full disk here). @default `Deno.open` */
  openOutputFile?: (path: string) => Promise<OutputFile>;
}

/** The exit code of a container killed by SIGKILL, which is how both executors stop one. */
const SIGKILL_EXIT = 128 + 9;

/** Where a failure happened, for the error line (crunch-run's wording in spirit). */
const STEP_ERRORS: Partial<Record<StepName, string>> = {
  setup: "Cannot write the state record",
  engine: "Cannot use the container engine",
  mounts: "Cannot set up mounts",
  image: "Cannot load the container image",
  create: "Cannot create the container",
  start: "Cannot start the container",
  wait: "Cannot wait for the container",
  stop: "Cannot wait for the container",
  output: "Cannot collect the output",
  manifest: "Cannot collect the output",
};

/** Where each step writes, for a full disk whose error message names no path. */
const STEP_WRITES: Partial<Record<StepName, FullPlace | "probe">> = {
  mounts: "probe",
  engine: "tmp",
  image: "tmp",
};

const START_ADVICE = /(exec|System error).*(no such file or directory|file not found)/s;

/** How a run ended, before its clean-up. */
interface RunResult {
  /** The outcome so far (clean-up may still turn `Complete` into a failure). */
  outcome: Outcome;
  /** The error line for `state.json`, or null. */
  error: string | null;
}

/**
 * Runs a planned job to its final state and returns berth's exit status.
 * @throws {BerthError} only before the work dir holds a log: when the job's lock is held by another berth or
 *   the work dir cannot be created (exit 125).
 */
export async function runJob(plan: RunPlan, env: RunEnvironment): Promise<number> {
  return await new JobRun(plan, env).run();
}

/** An engine step that passed its deadline: the engine is not answering, a fault of this node. */
function unresponsive(what: string): (ms: number) => Error {
  return (ms) =>
    new EngineError(`engine unresponsive: ${what} did not finish within ${Math.round(ms / 1000)} s`, {
      brokenNode: true,
    });
}

/** The resources and progress of one run. Use {@link runJob}. */
class JobRun {
  readonly #plan: RunPlan;
  readonly #env: RunEnvironment;
  readonly #layout: WorkDirLayout;
  readonly #filter: (text: string) => string;
  readonly #budget: Budget;
  readonly #steps: StepRunner;
  #logger: Logger | null = null;
  #lock: HeldJobLock | null = null;
  #record!: StateRecord;
  #executor: ContainerExecutor | null = null;
  #tmpDir: JobTmpDir | null = null;
  #claims: HostPathClaims | null = null;
  /** The job's `output/` as resolved when the mounts were laid out (stdout/stderr file mounts live below it). */
  #outputDir = "";
  #mounts: PreparedMounts | null = null;
  #stdio: StdioFiles | null = null;
  #started = false;
  /** True once the finish has begun closing the executor (late results then close it again). */
  #closing = false;
  #startedAt = 0;
  #stopDeadline: () => void = () => {};
  #hoststat: StatsHandle | null = null;
  #crunchstat: StatsHandle | null = null;
  /** Settles (never rejects) once the runtime's description was recorded, or its failure kept; null before. */
  #runtime: Promise<void> | null = null;
  #runtimeSettled = false;
  /** Asking the runtime what it is failed: a fault of this node, thrown by the next step that needs it. */
  #runtimeError: unknown = null;
  /** Set once the final record is being written: a late runtime answer is then dropped. */
  #recordFinal = false;
  /** The diagnostics written while the container starts and runs (never rejects); null when not begun. */
  #diagnosing: Promise<void> | null = null;

  constructor(plan: RunPlan, env: RunEnvironment) {
    this.#plan = plan;
    this.#env = env;
    this.#layout = workDirLayout(plan.options.workDir);
    this.#filter = secretFilter(
      [...collectSecrets(plan.parsed.job), ...credentialSecrets(plan.credentials)].sort((a, b) =>
        b.length - a.length
      ),
    );
    this.#budget = env.budget ?? BUDGET;
    this.#steps = new StepRunner({
      cancellation: env.cancellation,
      cancelBudgetMs: this.#budget.cancelMs,
      clock: env.clock ?? REAL_CLOCK,
      inject: env.inject,
      log: this.#log,
    });
  }

  #log = (message: string): void => {
    this.#logger?.log(message);
  };

  get #job() {
    return this.#plan.parsed.job;
  }

  get #clock(): Clock {
    return this.#steps.clock;
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
    this.#lock = await (this.#env.acquireLock ?? acquireJobLock)(opts.runtimeDir, this.#job.uuid, {
      workDir: this.#layout.root,
      ...(opts.engine === "auto" ? {} : { engine: opts.engine }),
    });
    // max_run_time bounds the whole run from here on (image, conversion, create, start, wait, output), not
    // only the container's run as in crunch-run: berth never holds the job longer than it + the stop budget.
    this.#armMaxRunTime();
    try {
      await createWorkDir(this.#layout);
      const logFile = await Deno.open(this.#layout.crunchLog, { write: true, createNew: true });
      this.#logger = new Logger(logFile, { mirror: this.#env.stderr, mirrorPrefix: `${this.#job.uuid} ` });
      this.#logger.addFilter(this.#filter);
    } catch (err) {
      this.#stopDeadline();
      await this.#lock.release();
      if (err instanceof Deno.errors.NotCapable) throw err;
      throw new BerthError(`Cannot create work dir "${this.#layout.root}": ${errorLine(err)}`, {
        cause: err,
      });
    }
    this.#record = initialState(this.#job.uuid, new Date());
    let result: RunResult;
    try {
      result = await this.#lifecycle();
    } catch (err) {
      // Only a bug gets here: every step's failure is handled in #lifecycle.
      this.#log(`Internal error: ${errorLine(err)}`);
      result = {
        outcome: { state: "Cancelled", exitCode: null, cancel: cancellation.reason },
        error: `Internal error: ${errorLine(err)}`,
      };
    }
    return await this.#finish(result);
  }

  async #lifecycle(): Promise<RunResult> {
    const { cancellation } = this.#env;
    const steps = this.#steps;
    const job = this.#job;
    const opts = this.#plan.options;
    const budget = this.#budget;
    this.#preamble();
    cancellation.onCancel((reason) => this.#onCancel(reason));
    const statsMs = opts.crunchstatInterval * 1000;
    try {
      await steps.run("setup", async () => {
        try {
          await reserveSpace(this.#layout.reserve);
        } catch (err) {
          this.#log(`Cannot reserve space for the final record in the work dir: ${errorLine(err)}`);
        }
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
        await writeState(this.#layout.state, this.#record);
      });

      // The job's private temp dir comes first: the engine's own temp files (the Singularity executor's dir)
      // go inside it, so one owner removes everything and `berth gc` sees one live entry (src/node/tmp_dirs.ts).
      const jobTmp = await steps.run("setup", async () => {
        this.#tmpDir = await createJobTmpDir(opts.tmpDir, job.uuid);
        return this.#tmpDir.path;
      });
      const selected = await steps.run("engine", () =>
        selectEngine({
          choice: opts.engine,
          dockerSocket: opts.dockerSocket,
          singularityBinary: opts.singularityBinary,
          imageCache: opts.imageCache,
          imageCacheGroup: opts.imageCacheGroup,
          imageCacheVerify: opts.imageCacheVerify,
          tmpDir: jobTmp,
          hostEnv: this.#env.hostEnv,
          log: this.#log,
          watchdogIntervalMs: opts.watchdogInterval * 1000,
          sifImage: this.#plan.image.kind === "sif",
          runtimeCacheDir: opts.runtimeDir,
        }, this.#env.factories), {
        deadlineMs: budget.engineMs,
        timeoutError: unresponsive("choosing the container engine"),
        late: (late) => late.executor.close(),
      });
      this.#executor = selected.executor;
      const executor = selected.executor;
      this.#askRuntime(executor);
      await this.#lock?.update({ engine: selected.engine });

      // The image comes before the mounts: a registry image's config (its User decides who owns the writable
      // mounts) is known only once the engine pulled it or berth fetched it.
      const source = this.#plan.image;
      this.#log(`Image ${JSON.stringify(imageRefText(job.container_image))}: ${describeSource(source)}`);
      const started = this.#clock.now();
      const prepared = await steps.run("image", async (signal) => {
        this.#throwRuntimeFailure();
        const progress = createProgressReporter({
          tty: this.#env.stderrIsTerminal ? this.#env.stderr : null,
          log: this.#log,
        });
        try {
          return await executor.prepareImage(source, {
            pull: opts.pull,
            credentials: this.#plan.credentials,
            insecureRegistries: opts.insecureRegistries,
            onProgress: (p) => progress.update(p),
            signal,
          });
        } finally {
          progress.finish();
        }
      });
      this.#record.image = imageProvenance(prepared);
      this.#log(`Image ready (${((this.#clock.now() - started) / 1000).toFixed(1)} s)`);
      this.#log(`Image: ${describePreparedImage(prepared)}`);

      this.#log("Setting up mounts");
      const image = imageDefaults(prepared.config);
      this.#mounts = await steps.run("mounts", async (signal) => {
        // The engine gets resolved paths only (the path checked is the path mounted), berth's own dirs must be
        // what berth created (no symlink swapped in since), and each host path is claimed for the re-checks
        // before create and start (#15: the check-then-mount window).
        const uid = Deno.uid() ?? 0;
        await assertRealDirectory(jobTmp, uid);
        await assertRealDirectory(this.#layout.output, uid);
        this.#outputDir = await Deno.realPath(this.#layout.output);
        const mounts = await prepareMounts(job, {
          sources: this.#plan.sources,
          outputDir: this.#outputDir,
          tmpDir: await Deno.realPath(jobTmp),
          log: this.#log,
          signal,
          writableOwner: writableOwnerFor(selected.engine, uid, image.user),
        });
        this.#claims = await claimHostPaths(mounts.binds);
        return mounts;
      });
      const claims = this.#claims!;
      for (const [target, b] of Object.entries(this.#mounts.binds)) {
        this.#log(`Bind mount ${target} from ${b.hostPath}${b.readOnly ? " (read-only)" : ""}`);
      }

      if (job.runtime_constraints.gpu.stack === "cuda") {
        await steps.run("create", () => prepareCuda(this.#log));
      }
      const stdio = await steps.run("create", () => this.#openStdio());
      const spec = buildContainerSpec({
        job,
        options: opts,
        mounts: this.#mounts,
        imageId: prepared.id,
        image,
        stdio,
        user: containerUserFor(selected.engine, await invokingUser()),
        identity: containerIdentity({
          uuid: job.uuid,
          uid: Deno.uid() ?? 0,
          run: this.#lock?.record.run ?? newRunToken(),
          lockPath: this.#lock?.path ?? "",
        }),
        verifyHostPaths: () => claims.verify(),
      });
      this.#log(`Creating container ${JSON.stringify(spec.name)}`);
      await steps.run("create", async () => {
        this.#throwRuntimeFailure();
        await claims.verify();
        try {
          await executor.create(spec);
        } catch (err) {
          // A runtime that could not say what it is fails its create too (the Singularity executor needs the
          // version for its flags): report the cause, a fault of this node.
          this.#throwRuntimeFailure();
          throw err;
        }
      }, {
        deadlineMs: budget.createMs,
        timeoutError: unresponsive("creating the container"),
        // A create that settles after it was given up made a container nobody will remove otherwise.
        late: () => executor.close(),
      });
      // Written while the container starts and runs; the run waits for them before its final record.
      this.#diagnosing = steps.run("diagnostics", () => this.#diagnostics()).catch(() => {});

      this.#log("Starting container");
      this.#started = true;
      this.#startedAt = this.#clock.now();
      let startAsked = false;
      try {
        await steps.run("start", async () => {
          await claims.verify();
          startAsked = true;
          await executor.start();
        }, {
          deadlineMs: budget.startMs,
          timeoutError: unresponsive("starting the container"),
          // A start that settles after it was given up may have run a container: once the run's own close()
          // has been, close() again removes it (before that, the run is still hearing how it ended).
          late: () => this.#closing ? executor.close() : undefined,
        });
      } catch (err) {
        // Cancelled while the engine was starting it: the container may be running (it is being stopped), so
        // hear how it ended, as after a cancel while it runs.
        if (err instanceof StepCancelledError && startAsked) return await this.#afterStop(executor.wait());
        throw err;
      }
      await this.#lock?.update({ state: "Running" });
      try {
        this.#crunchstat = await startCrunchstat({
          pid: () => executor.pid(),
          intervalMs: statsMs,
          ramLimit: job.runtime_constraints.ram,
          log: this.#log,
          statsFile: join(this.#layout.logs, "crunchstat.txt"),
          tmpDir: jobTmp,
        });
      } catch (err) {
        this.#log(`Cannot start container statistics: ${errorLine(err)}`);
      }
      this.#log("Waiting for container to finish");
      return await this.#waitForExit(executor);
    } catch (err) {
      return await this.#failed(err);
    }
  }

  /**
   * Waits for the container's exit. A cancel that arrives first stops the container (see #onCancel and
   * #afterStop).
   */
  async #waitForExit(executor: ContainerExecutor): Promise<RunResult> {
    const steps = this.#steps;
    const waiting = executor.wait();
    waiting.catch(() => {}); // handled below, whichever step sees it
    try {
      const code = await steps.run("wait", () => waiting);
      this.#log(describeContainerExit(code));
      return { outcome: { state: "Complete", exitCode: code, cancel: null }, error: null };
    } catch (err) {
      if (!(err instanceof StepCancelledError)) throw err;
    }
    return await this.#afterStop(waiting);
  }

  /**
   * After a cancel stopped the container (see #onCancel): waits at most {@link Budget.stopGraceMs} for the engine
   * to report its exit. What happened first decides: a container that turns out to have exited by itself (any
   * status but SIGKILL's) is `Complete`.
   */
  async #afterStop(waiting: Promise<number>): Promise<RunResult> {
    const steps = this.#steps;
    waiting.catch(() => {}); // handled below
    const cancel = this.#env.cancellation.reason!;
    let code: number | null = null;
    try {
      code = await steps.run("stop", () => waiting, {
        cancellable: false,
        deadlineMs: this.#budget.stopGraceMs,
      });
    } catch (err) {
      if (err instanceof StepTimeoutError) {
        this.#log(
          `The engine did not report the container's exit within ${Math.round(err.ms / 1000)} s of the stop`,
        );
      } else {
        this.#log(`${STEP_ERRORS.wait}: ${errorLine(err)}`);
      }
    }
    if (code === null) {
      return { outcome: { state: "Cancelled", exitCode: null, cancel }, error: describeCancel(cancel) };
    }
    this.#log(describeContainerExit(code));
    if (code !== SIGKILL_EXIT && cancel.kind !== "fault") {
      this.#log(
        `The container had exited by itself (status ${code}) before berth stopped it: the job is Complete`,
      );
      return { outcome: { state: "Complete", exitCode: code, cancel: null }, error: null };
    }
    return { outcome: { state: "Cancelled", exitCode: code, cancel }, error: describeCancel(cancel) };
  }

  /** The result of a step that failed: cancelled, the user's mistake, a fault of the node, or a failure. */
  async #failed(err: unknown): Promise<RunResult> {
    const { cancellation } = this.#env;
    const step = this.#steps.current;
    const prefix = (err === this.#runtimeError ? STEP_ERRORS.engine : STEP_ERRORS[step]) ?? "Failed";
    if (err instanceof StepCancelledError || cancellation.reason) {
      if (!(err instanceof StepCancelledError)) this.#log(`${prefix}: ${errorLine(err)}`);
      const cancel = cancellation.reason!;
      return { outcome: { state: "Cancelled", exitCode: null, cancel }, error: describeCancel(cancel) };
    }
    let line = `${prefix}: ${errorLine(err)}`;
    if (step === "start" && START_ADVICE.test(errorLine(err))) {
      line +=
        `. Possible causes: command ${JSON.stringify(this.#job.command[0])} is missing, the interpreter ` +
        "given in #! is missing, or the script has Windows line endings";
    }
    if (err instanceof UsageError) {
      this.#log(line);
      return {
        outcome: { state: "Cancelled", exitCode: null, cancel: null, failureStatus: err.exitCode },
        error: line,
      };
    }
    const dirs = { workDir: this.#layout.root, tmpDir: this.#plan.options.tmpDir };
    const full = err instanceof EngineError ? null : await whereFull(err, dirs, STEP_WRITES[step] ?? "work");
    if (full !== null) line = `${prefix}: ${describeFull(full, dirs, err)}`;
    this.#log(line);
    const nodeFault = err instanceof EngineError ? err.brokenNode : full === "tmp";
    if (nodeFault) {
      await this.#steps.run("hook", () =>
        reportBrokenNode(err, {
          hook: this.#plan.options.brokenNodeHook,
          markerPath: brokenMarkerPath(this.#plan.options.runtimeDir),
          log: this.#log,
          hookTimeoutMs: this.#budget.hookMs,
        }), { cancellable: false, inCancelBudget: false });
      return { outcome: { state: "Queued", exitCode: null, cancel: null }, error: line };
    }
    return { outcome: { state: "Cancelled", exitCode: null, cancel: null }, error: line };
  }

  /** Starts the `max_run_time` timer (none when it is 0): when it passes, the run is cancelled (exit 124). */
  #armMaxRunTime(): void {
    const seconds = this.#job.scheduling_parameters.max_run_time;
    if (seconds <= 0) return;
    this.#stopDeadline = startDeadline(
      seconds * 1000,
      () => this.#env.cancellation.cancel({ kind: "timeout", seconds }),
      this.#clock,
    );
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
    else if (reason.kind === "signal") this.#log(`caught signal: ${SIGNAL_NAMES[reason.signal]}`);
    else this.#log(`${reason.line}. Stopping container.`);
    if (this.#executor) {
      this.#log("stopping container");
      this.#executor.stop().catch((err) => this.#log(`error stopping container: ${errorLine(err)}`));
    }
  }

  /** Opens the stdio files; a file that cannot be written stops the run (the job fails, 125). */
  async #openStdio(): Promise<StdioFiles> {
    const mounts = this.#mounts!;
    // A stdout/stderr file mount is opened (truncating) by berth itself: never through a symlink swapped into
    // output/ since the mounts were laid out (a root berth would truncate what the link points at).
    for (const file of [mounts.stdoutFile, mounts.stderrFile]) {
      if (file !== null) await assertNoLinkUnder(this.#outputDir, file);
    }
    this.#stdio = await StdioFiles.open({
      stdin: mounts.stdin,
      stdoutFile: mounts.stdoutFile,
      stderrFile: mounts.stderrFile,
      stdoutLog: this.#layout.stdoutLog,
      stderrLog: this.#layout.stderrLog,
    }, {
      clock: this.#clock,
      openFile: this.#env.openOutputFile,
      onFirstByte: () => this.#steps.mark("first_output", this.#clock.now() - this.#startedAt),
      onFailure: (path, error) => {
        const dirs = { workDir: this.#layout.root, tmpDir: this.#plan.options.tmpDir };
        const what = `Cannot write ${path}: ${errorLine(error)}`;
        this.#log(what);
        this.#env.cancellation.cancel({
          kind: "fault",
          line: `The container's output cannot be written: ${describeFull("work", dirs, error)}`,
        });
      },
    });
    return this.#stdio;
  }

  /**
   * Asks the executor which runtime it drives, without waiting for the answer: `Using container runtime: …` and
   * `state.json` `runtime` are written when it comes (they describe the engine; nothing before the start needs
   * them). A runtime that cannot say what it is, is a fault of this node: the next step that needs the runtime
   * fails with that error (see {@link #throwRuntimeFailure}).
   */
  #askRuntime(executor: ContainerExecutor): void {
    this.#runtime = executor.runtime().then((runtime) => {
      this.#runtimeSettled = true;
      if (this.#recordFinal) return;
      this.#record.runtime = runtime;
      this.#log(`Using container runtime: ${runtime}`);
    }, (err) => {
      this.#runtimeSettled = true;
      // The engine berth was told to use (or found) cannot even say what it is: a fault of this node.
      this.#runtimeError = err instanceof EngineError && !err.brokenNode
        ? new EngineError(errorLine(err), { cause: err, brokenNode: true })
        : err;
    });
  }

  /** Throws the runtime's failure when asking it what it is has failed already. */
  #throwRuntimeFailure(): void {
    if (this.#runtimeError !== null) throw this.#runtimeError;
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

  /**
   * Releases everything, collects the output, writes the final state, then releases the lock; returns the exit
   * status. Each step is bounded: after a cancel or a fault, by the cancel budget.
   */
  async #finish(result: RunResult): Promise<number> {
    let { outcome, error } = result;
    const steps = this.#steps;
    const budget = this.#budget;
    const cancelled = () => this.#env.cancellation.reason !== null;
    const faulted = () => outcome.state !== "Complete" || cancelled();
    const bounded = async (
      step: StepName,
      what: string,
      work: () => Promise<unknown>,
      deadlineMs: number,
      inCancelBudget = true,
    ) => {
      try {
        await steps.run(step, work, { cancellable: false, deadlineMs, inCancelBudget });
      } catch (err) {
        this.#log(`${what}: ${errorLine(err)}`);
      }
    };

    await bounded(
      "cleanup",
      "Error stopping crunchstat",
      () => this.#stopStats("crunchstat"),
      budget.statsStopMs,
    );
    // A step that was given up (a create still in flight) settles first, so that close() sees what it made.
    await steps.settleAbandoned(
      Math.min(faulted() ? budget.closeAfterFaultMs : budget.closeMs, steps.cancelBudgetLeft()),
    );
    if (this.#executor) {
      const executor = this.#executor;
      this.#log("Removing container");
      this.#closing = true;
      await bounded(
        "stop",
        "Error removing container",
        () => executor.close(),
        faulted() ? budget.closeAfterFaultMs : budget.closeMs,
      );
    }
    if (this.#stdio) {
      const stdio = this.#stdio;
      const ms = faulted() ? budget.flushAfterFaultMs : budget.flushMs;
      let flushed = false;
      await bounded("flush", "Error closing the stdio files", async () => {
        flushed = await stdio.close(ms);
      }, ms + budget.finalStepMs);
      const failure = stdio.failure;
      if (outcome.state === "Complete" && (failure !== null || !flushed)) {
        // Complete promises the whole record: output the files may lack fails the job instead.
        const dirs = { workDir: this.#layout.root, tmpDir: this.#plan.options.tmpDir };
        error = failure !== null
          ? `Cannot write the container's output: ${describeFull("work", dirs, failure.error)}`
          : `Cannot write the container's output: it did not all reach logs/stdout.txt and logs/stderr.txt ` +
            `within ${Math.round(ms / 1000)} s of the container's exit; they may be incomplete`;
        this.#log(error);
        outcome = { ...outcome, state: "Cancelled", cancel: null };
      }
    }
    if (this.#started && outcome.state !== "Queued") {
      const collectError = await this.#collectOutput();
      if (collectError !== null && outcome.state === "Complete") {
        outcome = { ...outcome, state: "Cancelled", cancel: null };
        error = collectError;
      }
    }
    this.#stopDeadline();
    // After a cancel the last steps share what is left of the budget; a failed run (75, 125) is bounded by the
    // 3-minute guarantee instead, so its local clean-up and final record are not cut short on a busy node.
    const finalMs = (normalMs: number) => cancelled() ? budget.finalStepMs : normalMs;
    if (this.#diagnosing !== null) {
      await settlesWithin(this.#diagnosing, finalMs(budget.closeMs), this.#clock);
    }
    if (this.#runtime !== null && !this.#runtimeSettled) {
      // Only a slow engine gets here (its version request is bounded by the executor).
      const runtime = this.#runtime;
      await bounded(
        "engine",
        "Cannot read the container runtime's version",
        () => runtime,
        cancelled() ? budget.finalStepMs : budget.engineMs,
      );
    }
    if (this.#runtimeError !== null && this.#record.runtime === "") {
      this.#log(`Cannot read the container runtime's version: ${errorLine(this.#runtimeError)}`);
    }
    this.#recordFinal = true;
    if (this.#tmpDir) {
      const tmpDir = this.#tmpDir;
      await bounded(
        "cleanup",
        `Cannot remove temp dir "${tmpDir.path}"`,
        async () => {
          const failure = await tmpDir.release();
          if (failure !== null) throw new Error(failure);
        },
        finalMs(budget.closeMs),
        false,
      );
    }
    await bounded(
      "cleanup",
      "Error stopping hoststat",
      () => this.#stopStats("hoststat"),
      finalMs(budget.statsStopMs),
      false,
    );

    const status = exitStatusFor(outcome);
    if (outcome.state === "Complete" && outcome.exitCode !== null) {
      const note = reservedCodeNote(outcome.exitCode);
      if (note !== null) this.#log(note);
    }
    Object.assign(this.#record, {
      state: outcome.state,
      exit_code: outcome.exitCode,
      exit_status: status,
      finished_at: new Date().toISOString(),
      error: error === null ? null : this.#filter(error),
      phases: steps.phases,
    });
    // The reserve goes first, so the final record fits even when the job filled the work dir.
    await releaseSpace(this.#layout.reserve);
    await bounded(
      "cleanup",
      "Cannot write state.json",
      () => writeState(this.#layout.state, this.#record),
      // The final record gets whatever is left of the stop budget, at least one final step's time.
      cancelled() ? Math.max(budget.finalStepMs, steps.cancelBudgetLeft()) : budget.closeMs,
      false,
    );
    this.#log(`berth finished: exit status ${status}`);
    this.#log(outcome.state);
    // The state word stays the log's last line: a step given up earlier that still logs reaches the mirror only.
    this.#logger?.closeFile();
    await this.#lock?.release();
    return status;
  }

  /**
   * Hands the output over and writes `output.json`, within what is left of the budget after a cancel (the walks
   * are cut short rather than given up, so the manifest always says how far it got).
   * @returns the error line when the output could not be collected, else null.
   */
  async #collectOutput(): Promise<string | null> {
    const steps = this.#steps;
    const budget = this.#budget;
    const owner = this.#env.owner ?? { uid: Deno.uid() ?? 0, gid: Deno.gid() ?? 0 };
    const walk = {
      cancellable: false,
      reserveMs: budget.finalReserveMs,
      wrapUpMs: budget.finalStepMs,
    } as const;
    const output = this.#layout.output;
    try {
      await steps.run("output", (signal) =>
        handOverOutput({
          output,
          secretPaths: this.#mounts?.secretPaths ?? [],
          owner,
          signal,
          log: this.#log,
        }), walk);
      await steps.run("manifest", (signal) =>
        recordOutput({
          output,
          manifestPath: this.#layout.outputManifest,
          uuid: this.#job.uuid,
          signal,
          log: this.#log,
        }), walk);
      return null;
    } catch (err) {
      const dirs = { workDir: this.#layout.root, tmpDir: this.#plan.options.tmpDir };
      const full = await whereFull(err, dirs, "work");
      const line = `${STEP_ERRORS.output}: ${full === null ? errorLine(err) : describeFull(full, dirs, err)}`;
      this.#log(line);
      return line;
    }
  }

  async #stopStats(which: "crunchstat" | "hoststat"): Promise<void> {
    const handle = which === "crunchstat" ? this.#crunchstat : this.#hoststat;
    if (which === "crunchstat") this.#crunchstat = null;
    else this.#hoststat = null;
    await handle?.stop();
  }
}
