/**
 * The fault-injection suite's case runner (#14 item 5). One case = one real `berth run` (a subprocess under the
 * end-to-end profile, `tests/e2e/_harness.ts`) with one fault at one phase on one engine. The fault comes from a
 * rig: the Engine API proxy (`tests/e2e/_engine_proxy.ts`: hold, stall, drop, delay one call, or freeze the
 * "engine"), a wrapper in front of the Singularity CLI fixture (`_singularity_wrapper.ts`: one step paused or
 * failing), a tiny tmpfs (`_tmpfs.ts`), a signal, or the container's own exit code.
 *
 * Every case asserts the same things: berth's exit code; the final `state.json` (state, exit status, the
 * container's code); the log's last two lines (`berth finished: exit status N`, then the state); the
 * broken-node marker present or absent; nothing left behind (no container of the job on the real engine, nothing
 * in the tmp dir, no lock, no process whose command line names the case's tree, no partial SIF in the image
 * cache); and the time from the fault to berth's exit, within the bound the README documents for it:
 * SIGTERM/SIGINT/`max_run_time` → exit ≤ 25 s ({@link BUDGET.cancelGuaranteeMs}); an engine that stops answering
 * → exit 75 ≤ 3 min ({@link BUDGET.unresponsiveGuaranteeMs}). Those are the documented numbers, not tighter ones:
 * the machine is shared and loaded, and speed is the benchmarks' business.
 *
 * Each measured case is a row of the suite's report, rewritten after every case into `.build/fault-report.json`
 * and `.build/fault-report.md` (phase × fault × engine → exit code, state, marker, seconds from fault to exit).
 * @module
 */

import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { REPO_ROOT } from "../helpers/berth.ts";
import { berthContainers, engineRequest } from "../helpers/engine_api.ts";
import { type EngineCase, type Finished, type Running, spawnBerth, Workspace } from "../e2e/_harness.ts";
import { parseRunArgs } from "../../src/cli/run.ts";
import { hostEnvSnapshot } from "../../src/env.ts";
import { readJobFile } from "../../src/job/mod.ts";
import { BUDGET } from "../../src/runner/budget.ts";
import { Cancellation, type CancelSignal } from "../../src/runner/cancel.ts";
import { planRun, REAL_FACTORIES, runJob } from "../../src/runner/mod.ts";
import type { FaultInjector, StepName } from "../../src/runner/steps.ts";

/** Seconds from a cancel (signal, `max_run_time`) to berth's exit, as the README documents. */
export const CANCEL_BOUND_S: number = BUDGET.cancelGuaranteeMs / 1000;
/** Seconds from an engine that stops answering to berth's exit 75, as the README documents. */
export const UNRESPONSIVE_BOUND_S: number = BUDGET.unresponsiveGuaranteeMs / 1000;

/** A final state of a run. */
export type FinalState = "Complete" | "Cancelled" | "Queued";

/** What a case must end with. */
export interface Expectation {
  /** berth's exit code. */
  code: number;
  /** The final state in `state.json` and on the log's last line. */
  state: FinalState;
  /** `state.json` `exit_code` (the container's code, null when it did not run to an exit); unchecked if absent. */
  exitCode?: number | null;
  /** Whether the broken-node marker must exist afterwards. */
  marker: boolean;
  /** The documented bound, in seconds, from the fault to berth's exit. */
  boundS: number;
  /** A line the log must contain (the reason, in berth's words). */
  logLine?: RegExp;
  /**
   * The container is documented to stay (the engine did not let berth remove it within its bound: the log names
   * it and `berth gc` removes it later). The case removes it itself and checks the log names it.
   */
  containerLeft?: boolean;
}

/** What a rig hands the case runner: how to run berth, and the fault itself. */
export interface Rig {
  /** berth options after the workspace's own (engine selection included). */
  args: string[];
  /** Environment for berth and its profile (`BERTH_EXTRA_NET`, `BERTH_EXTRA_RUN`, …). */
  env: Record<string, string>;
  /** Job fields the rig sets (an image of its own), over the case's. */
  job?: Record<string, unknown>;
  /**
   * Injects the fault into the running berth and resolves at the moment it took effect (a signal sent, a call
   * seen stalled): the clock of the case starts then.
   */
  fault(run: Running): Promise<void>;
  /** Processes of the rig itself that name the tree (the proxy), not counted as leftovers. */
  ownPids?: () => number[];
  /** Image caches whose partial files count as leftovers. */
  caches?: string[];
  /** Runs after berth exited and before the leftover checks (stops the proxy, releases a tmpfs…). */
  after?: () => Promise<void>;
  /** Runs last, whatever happened. */
  dispose?: () => Promise<void>;
}

/** One case of the matrix. */
export interface FaultCase {
  /** The engine. */
  engine: EngineCase;
  /** The phase the fault hits (`engine`, `image`, `create`, `attach`, `start`, `wait`, `stop`, `manifest`, …). */
  phase: string;
  /** The fault, in a few words (`SIGTERM`, `stall POST /containers/create`, `exit 75`, …). */
  fault: string;
  /** The job's fields (`uuid` and `output_path` are added). */
  job: Record<string, unknown>;
  /** The outcome. */
  expect: Expectation;
  /** Builds the fault's rig in the case's workspace. */
  rig(ws: Workspace): Promise<Rig>;
  /**
   * Run the runner in this process instead of the CLI as a subprocess: the fault injector holds `step` (until
   * the runner gives it up, or for ever when `wedge`), and the run is cancelled with `signal` once it is reached.
   * The rig's `fault` is not used then.
   */
  runner?: { step: StepName; signal: CancelSignal; wedge?: boolean };
  /**
   * A bug the case finds, reported to the code's owner and not fixed yet: the case is listed as ignored, with
   * this text (where it was reported), until the fix lands and this line goes.
   */
  blockedBy?: string;
}

/** One measured case, as the report lists it. */
export interface FaultRow {
  engine: string;
  phase: string;
  fault: string;
  code: number;
  state: string;
  exitCode: number | null;
  marker: boolean;
  seconds: number;
  boundS: number;
  passed: boolean;
}

const rows: FaultRow[] = [];
const PHASE_ORDER = [
  "engine",
  "image",
  "sif-lock",
  "mounts",
  "create",
  "attach",
  "start",
  "wait",
  "stop",
  "close",
  "output",
  "manifest",
  "whole run",
];

function sortRows(list: FaultRow[]): FaultRow[] {
  const rank = (p: string) => {
    const i = PHASE_ORDER.indexOf(p);
    return i < 0 ? PHASE_ORDER.length : i;
  };
  return [...list].sort((a, b) =>
    rank(a.phase) - rank(b.phase) || a.phase.localeCompare(b.phase) || a.fault.localeCompare(b.fault) ||
    a.engine.localeCompare(b.engine)
  );
}

/** The report as a markdown table. */
export function reportMarkdown(list: FaultRow[]): string {
  const lines = [
    "| phase | fault | engine | exit | state | exit_code | marker | fault → exit (s) | bound (s) | ok |",
    "| ----- | ----- | ------ | ---- | ----- | --------- | ------ | ---------------- | --------- | -- |",
  ];
  for (const r of sortRows(list)) {
    lines.push(
      `| ${r.phase} | ${r.fault.replaceAll("|", "\\|")} | ${r.engine} | ${r.code} | ${r.state} | ` +
        `${r.exitCode ?? "—"} | ${r.marker ? "yes" : "no"} | ${r.seconds.toFixed(1)} | ${r.boundS} | ` +
        `${r.passed ? "yes" : "**NO**"} |`,
    );
  }
  return lines.join("\n") + "\n";
}

async function writeReport(): Promise<void> {
  const dir = join(REPO_ROOT, ".build");
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "fault-report.json"), JSON.stringify(sortRows(rows), null, 2) + "\n");
  await Deno.writeTextFile(join(dir, "fault-report.md"), reportMarkdown(rows));
}

/** Polls `cond` every 25 ms until it holds; fails after `timeoutMs` with `what`. */
export async function until(cond: () => boolean | Promise<boolean>, what: string, timeoutMs = 120_000) {
  const end = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Names of the containers of job `uuid` on the engine behind `socket` (any naming scheme berth used). */
export async function jobContainers(socket: string, uuid: string): Promise<string[]> {
  return (await berthContainers(socket)).filter((name) => name.includes(uuid));
}

/** Force-removes the containers of job `uuid` on the real engine; returns their names. */
export async function removeJobContainers(socket: string, uuid: string): Promise<string[]> {
  const names = await jobContainers(socket, uuid);
  for (const name of names) {
    await engineRequest(socket, "DELETE", `/containers/${name.replace(/^\//, "")}?force=1`);
  }
  return names;
}

/** Processes (pid and command line) whose command line contains any of `needles`, but not berth's test run. */
export async function processesNaming(needles: string[], except: number[] = []): Promise<string[]> {
  const out = await new Deno.Command("ps", { args: ["-eo", "pid=,args="], stdout: "piped", stderr: "null" })
    .output();
  const found: string[] = [];
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const m = /^\s*(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === Deno.pid || except.includes(pid) || m[2].startsWith("ps ")) continue;
    if (needles.some((n) => m[2].includes(n))) found.push(`${pid} ${m[2]}`);
  }
  return found;
}

/**
 * Files of an image cache that are not finished entries: partial SIFs or records whose image's lock nobody holds
 * (a conversion still running in another case holds it; what it leaves is checked when that case ends).
 */
export async function partialCacheFiles(cache: string): Promise<string[]> {
  const odd: string[] = [];
  try {
    for await (const e of Deno.readDir(cache)) {
      if (/^sha256-[0-9a-f]{64}\.sif(\.json|\.lock)?$/.test(e.name)) continue;
      const image = /^\.(sha256-[0-9a-f]{64})\./.exec(e.name)?.[1];
      if (image && await lockHeld(join(cache, `${image}.sif.lock`))) continue;
      odd.push(e.name);
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
  return odd;
}

/** True when another process holds the (flock) lock file `path`. */
async function lockHeld(path: string): Promise<boolean> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch {
    return false;
  }
  try {
    return !(await file.tryLock(true));
  } finally {
    file.close();
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.lstat(path).then(() => true, () => false);
}

/** The work dir's log without timestamps. */
async function logLines(ws: Workspace): Promise<string[]> {
  const text = await ws.read("logs/crunch-run.txt");
  return text.trimEnd().split("\n").map((l) => l.replace(/^\S+Z /, ""));
}

/** Keeps the log of a failed case in `.build/fault-logs/` (the workspace is removed). */
async function keepLog(ws: Workspace, label: string): Promise<void> {
  const dir = join(REPO_ROOT, ".build", "fault-logs");
  await Deno.mkdir(dir, { recursive: true });
  const name = label.replace(/[^A-Za-z0-9]+/g, "-").replace(/^-|-$/g, "").slice(0, 120);
  await Deno.copyFile(join(ws.work, "logs", "crunch-run.txt"), join(dir, `${name}.txt`)).catch(() => {});
}

/** How berth ran in one case: its exit code, when the fault took effect, and text for failure messages. */
interface Ran {
  code: number;
  faultAt: number;
  detail: string;
}

/** Runs berth as a subprocess (the real CLI under the end-to-end profile) with the rig's fault. */
async function runSubprocess(c: FaultCase, ws: Workspace, rig: Rig, label: string): Promise<Ran> {
  const run = await spawnBerth(ws.args(rig.args), rig.env);
  try {
    const faulted = rig.fault(run).then(() => performance.now());
    let faultAt: number;
    const first = await Promise.race([faulted.then(() => null), run.done]);
    if (first === null) faultAt = await faulted;
    else {
      // berth exited before the test saw the fault (a failure berth handles within one poll): the fault must
      // still show, else it never took effect and the case fails with berth's own output.
      const exitAt = performance.now();
      const seen = await Promise.race([faulted, new Promise<null>((r) => setTimeout(() => r(null), 3000))]);
      if (seen === null) {
        throw new Error(
          `${label}: berth exited (${first.code}) before the fault: ${first.stderr.slice(-3000)}`,
        );
      }
      faultAt = exitAt;
    }
    const guard = setTimeout(() => run.child.kill("SIGKILL"), (c.expect.boundS + 60) * 1000);
    let r: Finished;
    try {
      r = await run.done;
    } finally {
      clearTimeout(guard);
    }
    return { code: r.code, faultAt, detail: `--- berth stderr (tail):\n${r.stderr.slice(-4000)}` };
  } finally {
    try {
      run.child.kill("SIGKILL");
    } catch { /* exited */ }
    await run.done;
  }
}

/**
 * Runs berth's runner in this process (as `berth run` does after parsing), with a fault injector that holds
 * `c.runner.step` and the run's cancellation fed the signal once the step is reached: for the phases no engine
 * can be made to pause at (mounts, diagnostics, the output walk, the clean-up steps).
 */
async function runInProcess(c: FaultCase, ws: Workspace, rig: Rig, label: string): Promise<Ran> {
  const { step, signal, wedge } = c.runner!;
  const parsed = parseRunArgs(ws.args(rig.args).slice(1))!;
  const hostEnv = hostEnvSnapshot();
  const plan = await planRun(await readJobFile(parsed.jobPath), parsed, hostEnv);
  const cancellation = new Cancellation();
  let reached!: () => void;
  const atStep = new Promise<void>((r) => reached = r);
  const inject: FaultInjector = async (at, abort) => {
    if (at !== step) return;
    reached();
    // Held until the runner gives the step up (then it goes on, cut short), or for ever when wedged.
    await new Promise<void>((r) => wedge || abort.addEventListener("abort", () => r(), { once: true }));
  };
  let stderr = "";
  const done = runJob(plan, {
    factories: REAL_FACTORIES,
    cancellation,
    hostEnv,
    stderr: { writeSync: (d) => (stderr += new TextDecoder().decode(d), d.length) },
    stderrIsTerminal: false,
    inject,
  });
  const first = await Promise.race([atStep.then(() => null), done]);
  if (first !== null) {
    throw new Error(`${label}: the run ended (${first}) before the ${step} step: ${stderr}`);
  }
  cancellation.cancel({ kind: "signal", signal });
  const faultAt = performance.now();
  const code = await done;
  return { code, faultAt, detail: `--- berth log (tail):\n${stderr.slice(-4000)}` };
}

/** Runs one case to its end and asserts everything listed in the module doc; records its row. */
export async function runFaultCase(c: FaultCase): Promise<void> {
  const label = `${c.engine.name} ${c.phase}: ${c.fault}`;
  const ws = await Workspace.create(c.engine, `f-${c.phase.replace(/[^a-z]/g, "")}`);
  let rig: Rig | undefined;
  let row: FaultRow | undefined;
  try {
    rig = await c.rig(ws);
    await ws.writeJob({ ...c.job, ...rig.job });
    const ran = await (c.runner ? runInProcess : runSubprocess)(c, ws, rig, label);
    const seconds = (performance.now() - ran.faultAt) / 1000;
    await rig.after?.();
    const record = await ws.state().catch(() => ({} as Record<string, unknown>));
    const marker = await exists(join(ws.rt, "berth-broken"));
    row = {
      engine: c.engine.name,
      phase: c.phase,
      fault: c.fault,
      code: ran.code,
      state: String(record.state),
      exitCode: (record.exit_code ?? null) as number | null,
      marker,
      seconds,
      boundS: c.expect.boundS,
      passed: false,
    };
    const context = `${label}\n${ran.detail}`;
    assertEquals(ran.code, c.expect.code, `exit code; ${context}`);
    assertEquals(record.state, c.expect.state, `state.json state; ${context}`);
    assertEquals(record.exit_status, c.expect.code, `state.json exit_status; ${context}`);
    if (c.expect.exitCode !== undefined) {
      assertEquals(record.exit_code, c.expect.exitCode, `state.json exit_code; ${context}`);
    }
    const log = await logLines(ws);
    assertEquals(log.at(-1), c.expect.state, `the log's last line; ${context}`);
    assertEquals(log.at(-2), `berth finished: exit status ${c.expect.code}`, `the log's last line but one`);
    if (c.expect.logLine) {
      assert(log.some((l) => c.expect.logLine!.test(l)), `a log line ${c.expect.logLine}; ${log.join("\n")}`);
    }
    assertEquals(marker, c.expect.marker, `broken-node marker ${c.expect.marker ? "present" : "absent"}`);
    assert(
      seconds <= c.expect.boundS,
      `${label}: berth exited ${seconds.toFixed(1)} s after the fault, bound ${c.expect.boundS} s`,
    );
    await assertNothingLeft(c, ws, rig, log);
    row.passed = true;
  } finally {
    if (!row?.passed) await keepLog(ws, label);
    await rig?.dispose?.();
    if (c.engine.socket) await removeJobContainers(c.engine.socket, ws.uuid).catch(() => {});
    await ws.dispose();
    if (row) {
      rows.push(row);
      await writeReport();
    }
  }
}

async function assertNothingLeft(c: FaultCase, ws: Workspace, rig: Rig, log: string[]): Promise<void> {
  if (c.engine.socket) {
    const left = await jobContainers(c.engine.socket, ws.uuid);
    if (c.expect.containerLeft) {
      assert(left.length > 0, "the documented leftover container is there");
      const name = left[0].replace(/^\//, "");
      assert(
        log.some((l) => /cannot (remove|kill)/i.test(l) && l.includes(name)),
        `the log names the container it could not remove: ${log.join("\n")}`,
      );
      await removeJobContainers(c.engine.socket, ws.uuid);
    } else {
      assertEquals(left, [], "containers left");
    }
  }
  const inTmp: string[] = [];
  for await (const e of Deno.readDir(ws.tmp)) inTmp.push(e.name);
  assertEquals(inTmp, [], "files left in the tmp dir");
  const locks: string[] = [];
  for await (const e of Deno.readDir(ws.rt)) if (e.name.includes(ws.uuid)) locks.push(e.name);
  assertEquals(locks, [], "lock files left in the runtime dir");
  // berth's children die with it or are killed by it: give the kernel a moment to reap what was killed.
  let procs: string[] = [];
  for (let i = 0; i < 20; i++) {
    procs = await processesNaming([ws.root, ws.uuid], rig.ownPids?.() ?? []);
    if (procs.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assertEquals(procs, [], "processes left");
  for (const cache of rig.caches ?? []) {
    assertEquals(await partialCacheFiles(cache), [], `partial files in ${cache}`);
  }
}

/** True for a case that mostly waits out a bound (an engine that never answers, a frozen engine, a hang). */
export function waitsOutABound(c: FaultCase): boolean {
  return /never answer|frozen|hang|max_run_time|fault injector/.test(c.fault);
}

/**
 * Runs `cases` as concurrent steps of test `t`: the cases that mostly wait out a bound (see
 * {@link waitsOutABound}) up to `waiting` at a time, the others (which keep engines and CPUs busy) up to `busy`
 * at a time, both pools at once. Running them one by one would take many minutes; running the busy ones all at
 * once would load the node until berth's own bounds (a runtime query's 20 s) trip.
 */
export async function runConcurrently(
  t: Deno.TestContext,
  cases: FaultCase[],
  limits: { busy: number; waiting: number } = { busy: 4, waiting: 10 },
): Promise<void> {
  const pool = async (list: FaultCase[], limit: number) => {
    let next = 0;
    const worker = async () => {
      while (next < list.length) {
        const c = list[next++];
        const blocked = c.blockedBy ? ` (ignored until fixed: ${c.blockedBy})` : "";
        await t.step({
          name: `${c.engine.name} ${c.phase}: ${c.fault}${blocked}`,
          ignore: !c.engine.available || c.blockedBy !== undefined,
          fn: () => runFaultCase(c),
          sanitizeOps: false,
          sanitizeResources: false,
          sanitizeExit: false,
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(limit, list.length) }, worker));
  };
  await Promise.all([
    pool(cases.filter(waitsOutABound), limits.waiting),
    pool(cases.filter((c) => !waitsOutABound(c)), limits.busy),
  ]);
}
