/**
 * berth under a real Slurm (22.05, Debian's packages): jobs submitted with `sbatch` through the example submit
 * script `examples/slurm/berth.sbatch`, which runs berth from source (`scripts/berth`, the standard profile).
 *
 * The cluster is `scripts/slurm-cluster` (one node, this machine). The module starts it when it is not running
 * and stops it at the end; when it cannot start here (not root, no packages, not allowed to run it), every test
 * below is registered as ignored and the reason is printed.
 *
 * Slurm checks time limits only about every 30 s, so the time-limit case alone takes 60–90 s. To keep the file's
 * wall time near that, the first test submits every case's jobs at once (the partition lets `--oversubscribe`
 * jobs share cores) and each test then awaits its own case. Those shared runs start in one test and end in
 * others, which is why these tests turn Deno's op and resource sanitizers off. No other test file runs while
 * these do (Deno runs files one after another), so their containers meet no other test's checks.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { REPO_ROOT } from "../helpers/berth.ts";
import { berthContainers, ENGINE_SOCKETS, engineRequest } from "../helpers/engine_api.ts";
import { deadSocket } from "../e2e/_harness.ts";
import { startEngineProxy } from "../e2e/_engine_proxy.ts";
import { FIXTURE_BIN } from "../fixtures/singularity/mod.ts";
import { testImage } from "../images/mod.ts";
import {
  CLUSTER_SCRIPT,
  clusterStatus,
  ensureCluster,
  type JobInfo,
  killWaitSeconds,
  slurm,
  SLURM_DIR,
  stopCluster,
  submit,
  waitForEnd,
  waitForJob,
  waitUntil,
} from "./_cluster.ts";

const SUBMIT_SCRIPT = join(REPO_ROOT, "examples", "slurm", "berth.sbatch");
const BERTH = join(REPO_ROOT, "scripts", "berth");
const EIGHT = 8;

const cluster = await ensureCluster();
if (!cluster.up) {
  console.log(`tests/slurm: Slurm is not available here, so its tests are ignored: ${cluster.reason}`);
} else if (cluster.startedHere) {
  console.log(`tests/slurm: started the test cluster in ${cluster.startSeconds.toFixed(1)} s`);
}
const ignore = !cluster.up;

/** Tests of this file: shared runs start in one test and finish in another (see the module doc). */
function slurmTest(name: string, fn: () => Promise<void>, opts: { ignore?: boolean } = {}): void {
  Deno.test({
    name,
    ignore: ignore || opts.ignore === true,
    sanitizeOps: false,
    sanitizeResources: false,
    fn,
  });
}

// ---------------------------------------------------------------------------------------------------------
// One case = one directory with the job file, berth's tmp and runtime dirs, the work dirs and Slurm's output.

/** An engine the cases use, with its API socket for leftover checks (none for the Singularity fixture). */
type Engine = "docker" | "podman" | "singularity";

/** A submitted case. */
class Case {
  readonly id: string;
  readonly dir: string;
  readonly uuid: string;
  readonly engine: Engine;
  readonly submittedAt: number;

  constructor(id: string, dir: string, uuid: string, engine: Engine, submittedAt: number) {
    this.id = id;
    this.dir = dir;
    this.uuid = uuid;
    this.engine = engine;
    this.submittedAt = submittedAt;
  }

  /** The work dir of one attempt (`berth.sbatch` names it `<job id>.<attempt>`). */
  work(attempt = 0): string {
    return join(this.dir, `${this.id}.${attempt}`);
  }
  /** A file of an attempt's work dir, as text. */
  read(rel: string, attempt = 0): Promise<string> {
    return Deno.readTextFile(join(this.work(attempt), rel));
  }
  /** An attempt's `state.json`. */
  async state(attempt = 0): Promise<Record<string, unknown>> {
    return JSON.parse(await this.read("state.json", attempt));
  }
  /** Slurm's output file (`--output`), all attempts appended. */
  slurmOutput(): Promise<string> {
    return Deno.readTextFile(join(this.dir, `slurm-${this.id}.out`));
  }
  /** The API socket of the case's engine, or null. */
  get socket(): string | null {
    return this.engine === "singularity" ? null : ENGINE_SOCKETS[this.engine];
  }
  /** Names of the job's containers that exist now. */
  async containers(): Promise<string[]> {
    return this.socket ? await berthContainers(this.socket, this.uuid) : [];
  }
}

let root = "";

interface CaseSpec {
  name: string;
  engine: Engine;
  command: string[];
  sbatchOptions?: string[];
  berthArgs?: string[];
  env?: Record<string, string>;
  /** Directory to use (several cases may share one, as the eight-job case does). */
  dir?: string;
  /** More fields of the job file. */
  jobFields?: Record<string, unknown>;
}

async function submitCase(spec: CaseSpec): Promise<Case> {
  const dir = spec.dir ?? join(root, spec.name);
  await Deno.mkdir(join(dir, "tmp"), { recursive: true });
  await Deno.mkdir(join(dir, "rt"), { recursive: true });
  const uuid = `slurm-${spec.name}-${crypto.randomUUID().slice(0, 8)}`;
  const jobPath = join(dir, `${uuid}.json`);
  await Deno.writeTextFile(
    jobPath,
    JSON.stringify({
      uuid,
      container_image: (await testImage("busybox")).path,
      command: spec.command,
      mounts: { "/out": { kind: "tmp", capacity: 10_000_000 } },
      output_path: "/out",
      cwd: "/out",
      runtime_constraints: { vcpus: 1, ram: 268435456 },
      ...spec.jobFields,
    }),
  );
  const engineArgs = spec.engine === "singularity"
    ? ["--runtime-engine", "singularity", "--singularity-binary", FIXTURE_BIN.singularity]
    : ["--runtime-engine", spec.engine];
  const submittedAt = performance.now();
  const id = await submit({
    script: SUBMIT_SCRIPT,
    args: [
      jobPath,
      "--tmp-dir",
      join(dir, "tmp"),
      "--runtime-dir",
      join(dir, "rt"),
      "--crunchstat-interval",
      "0",
      ...engineArgs,
      ...(spec.berthArgs ?? []),
    ],
    sbatchOptions: [
      "--oversubscribe",
      `--job-name=berth-${spec.name}`,
      `--chdir=${dir}`,
      `--output=${join(dir, "slurm-%j.out")}`,
      ...(spec.sbatchOptions ?? []),
    ],
    env: {
      BERTH,
      BERTH_WORK_ROOT: dir,
      BERTH_PROFILE: "standard",
      BERTH_EXTRA_RUN: FIXTURE_BIN.singularity,
      BERTH_EXTRA_NET: "",
      ...spec.env,
    },
  });
  return new Case(id, dir, uuid, spec.engine, submittedAt);
}

/** Waits until the case's container runs (berth logged that it waits for it). */
async function waitForRunningContainer(c: Case, timeoutMs = 90_000): Promise<void> {
  await waitUntil(`the container of Slurm job ${c.id} to run`, async () => {
    try {
      return (await c.read("logs/crunch-run.txt")).includes("Waiting for container to finish");
    } catch {
      return false;
    }
  }, timeoutMs);
}

/** Seconds since the case was submitted. */
function since(c: Case): number {
  return (performance.now() - c.submittedAt) / 1000;
}

// ---------------------------------------------------------------------------------------------------------
// The cases. Each returns what its test checks; all of them run at once.

interface Ended {
  c: Case;
  info: JobInfo;
  seconds: number;
}

async function stdoutCase(): Promise<Ended> {
  const c = await submitCase({
    name: "stdout",
    engine: "docker",
    command: ["sh", "-c", "echo line one; echo line two; echo 42 > /out/answer.txt; echo to-stderr >&2"],
  });
  const info = await waitForEnd(c.id, 120_000);
  return { c, info, seconds: since(c) };
}

async function exitThreeCase(): Promise<Ended> {
  const c = await submitCase({
    name: "exit3",
    engine: "podman",
    command: ["sh", "-c", "echo about to fail; exit 3"],
  });
  const info = await waitForEnd(c.id, 120_000);
  return { c, info, seconds: since(c) };
}

async function maxRunTimeCase(): Promise<Ended> {
  const c = await submitCase({
    name: "maxruntime",
    engine: "docker",
    command: ["sleep", "600"],
    jobFields: { scheduling_parameters: { max_run_time: 3 } },
  });
  const info = await waitForEnd(c.id, 120_000);
  return { c, info, seconds: since(c) };
}

interface Cancelled extends Ended {
  /** Seconds from scancel until the container no longer existed. */
  goneAfter: number;
  killWait: number;
}

async function cancelCase(): Promise<Cancelled> {
  const c = await submitCase({ name: "scancel", engine: "docker", command: ["sleep", "600"] });
  await waitForRunningContainer(c);
  assertEquals((await c.containers()).length, 1, "the container runs before scancel");
  const killWait = await killWaitSeconds();
  const cancelledAt = performance.now();
  const res = await slurm("scancel", [c.id]);
  assertEquals(res.code, 0, `scancel: ${res.stderr}`);
  await waitUntil(
    "the container to be removed",
    async () => (await c.containers()).length === 0,
    killWait * 1000,
  );
  const goneAfter = (performance.now() - cancelledAt) / 1000;
  const info = await waitForEnd(c.id, (killWait + 30) * 1000);
  return { c, info, seconds: since(c), goneAfter, killWait };
}

async function timeLimitCase(): Promise<Ended & { killWait: number }> {
  const c = await submitCase({
    name: "timelimit",
    engine: "podman",
    command: ["sleep", "600"],
    sbatchOptions: ["--time=1"],
  });
  await waitForRunningContainer(c);
  const killWait = await killWaitSeconds();
  // The limit is 60 s; Slurm notices it within about 30 s more, then SIGTERM, KillWait, SIGKILL.
  const info = await waitForEnd(c.id, (60 + 45 + killWait + 30) * 1000);
  return { c, info, seconds: since(c), killWait };
}

interface Requeued extends Ended {
  /** The job as Slurm showed it while requeued (pending again). */
  pending: JobInfo;
  /** Whether the broken-node marker was in the runtime dir after the first attempt. */
  markerAfterFirst: boolean;
}

/**
 * The node's engine is "down": berth is pointed at a socket file where nothing listens (the shared dockerd that
 * other tests use stays up). Once Slurm has requeued the job, a proxy to the real Docker socket listens on that
 * path (the engine is "back"), and the second attempt runs to completion.
 */
async function requeueCase(): Promise<Requeued> {
  const dir = join(root, "requeue");
  await Deno.mkdir(dir, { recursive: true });
  // A socket file nothing listens on (connections refused), as a dead engine leaves it: a node fault (75). A
  // socket path that does not exist at all would be the user's mistake (exit 2).
  const socket = await deadSocket(join(dir, "engine.sock"));
  const c = await submitCase({
    name: "requeue",
    engine: "docker",
    dir,
    command: ["sh", "-c", "echo second attempt > /out/attempt.txt"],
    berthArgs: ["--docker-socket", socket],
    sbatchOptions: ["--requeue"],
    env: { BERTH_EXTRA_NET: `unix:${socket}` },
  });
  const pending = await waitForJob(
    c.id,
    "requeued (PENDING, Restarts=1)",
    (i) => i.Restarts === "1" && i.JobState === "PENDING",
    120_000,
  );
  let markerAfterFirst = false;
  try {
    markerAfterFirst = (await Deno.stat(join(dir, "rt", "berth-broken"))).isFile;
  } catch { /* absent */ }
  // The engine comes back: the same socket path now answers, as a restarted daemon's would (a proxy to the
  // shared Docker daemon; berth refuses a socket path that is a symlink, so none is used).
  await Deno.remove(socket);
  const engine = await startEngineProxy({ listen: socket, target: ENGINE_SOCKETS.docker, root: dir });
  try {
    const info = await waitForJob(
      c.id,
      "a final state after the requeue",
      (i) => i.Restarts === "1" && ["COMPLETED", "FAILED", "CANCELLED"].includes(i.JobState),
      120_000,
    );
    return { c, info, seconds: since(c), pending, markerAfterFirst };
  } finally {
    await engine.stop();
  }
}

interface Eight {
  cases: Case[];
  infos: JobInfo[];
  cache: string;
  seconds: number;
}

async function eightCase(): Promise<Eight> {
  const dir = join(root, "eight");
  const cache = join(dir, "sif-cache");
  await Deno.mkdir(cache, { recursive: true });
  const started = performance.now();
  const cases = await Promise.all(
    Array.from({ length: EIGHT }, (_, i) =>
      submitCase({
        name: `eight${i}`,
        engine: "singularity",
        dir,
        command: ["sh", "-c", `echo job ${i}; echo ${i} > /out/index.txt`],
        berthArgs: ["--image-cache", cache],
      })),
  );
  const infos = await Promise.all(cases.map((c) => waitForEnd(c.id, 240_000)));
  return { cases, infos, cache, seconds: (performance.now() - started) / 1000 };
}

/** Settles without ever rejecting, so that a case that fails before its test awaits it is not unhandled. */
type Settled<T> = Promise<{ ok: true; value: T } | { ok: false; error: unknown }>;
function settle<T>(p: Promise<T>): Settled<T> {
  return p.then((value) => ({ ok: true as const, value }), (error) => ({ ok: false as const, error }));
}
async function unwrap<T>(s: Settled<T>): Promise<T> {
  const r = await s;
  if (!r.ok) throw r.error;
  return r.value;
}

let runs:
  | {
    stdout: Settled<Ended>;
    exit3: Settled<Ended>;
    maxRunTime: Settled<Ended>;
    cancel: Settled<Cancelled>;
    timeLimit: Settled<Ended & { killWait: number }>;
    requeue: Settled<Requeued>;
    eight: Settled<Eight>;
  }
  | undefined;

/** Starts every case once (the longest first), on the first call. */
async function cases() {
  if (!runs) {
    root = await Deno.makeTempDir({ prefix: "berth-slurm-test-" });
    runs = {
      timeLimit: settle(timeLimitCase()),
      requeue: settle(requeueCase()),
      cancel: settle(cancelCase()),
      stdout: settle(stdoutCase()),
      exit3: settle(exitThreeCase()),
      maxRunTime: settle(maxRunTimeCase()),
      eight: settle(eightCase()),
    };
  }
  return await Promise.resolve(runs);
}

// ---------------------------------------------------------------------------------------------------------
// Checks shared by the cases.

const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z /;

/** Asserts the attempt's record: last log line = state, and the state record. */
async function assertRecord(
  c: Case,
  state: string,
  exitCode: number | null,
  exitStatus: number,
  attempt = 0,
): Promise<string[]> {
  const log = await c.read("logs/crunch-run.txt", attempt);
  const lines = log.trimEnd().split("\n");
  for (const l of lines) assertMatch(l, TIMESTAMP, `crunch-run.txt line ${JSON.stringify(l)}`);
  assertEquals(lines.at(-1)?.replace(TIMESTAMP, ""), state, "the last line of crunch-run.txt is the state");
  const record = await c.state(attempt);
  assertEquals(
    { uuid: record.uuid, state: record.state, exit_code: record.exit_code, exit_status: record.exit_status },
    { uuid: c.uuid, state, exit_code: exitCode, exit_status: exitStatus },
  );
  return lines.map((l) => l.replace(TIMESTAMP, ""));
}

/** Asserts that nothing of the run is left: no container, nothing in its tmp dir, no lock of the job. */
async function assertNothingLeft(c: Case): Promise<void> {
  assertEquals(await c.containers(), [], "containers left");
  const inTmp: string[] = [];
  for await (const e of Deno.readDir(join(c.dir, "tmp"))) inTmp.push(e.name);
  assertEquals(inTmp, [], "files left in the tmp dir");
  const locks: string[] = [];
  for await (const e of Deno.readDir(join(c.dir, "rt"))) if (e.name.includes(c.uuid)) locks.push(e.name);
  assertEquals(locks, [], "lock files left");
}

/** Seconds between berth's "caught signal" log line and the end of the run (from `state.json`). */
async function cleanupSeconds(c: Case): Promise<number> {
  const log = await c.read("logs/crunch-run.txt");
  const line = log.split("\n").find((l) => l.endsWith("caught signal: terminated"));
  assert(line, "berth logged the SIGTERM it caught");
  const caught = Date.parse(line.slice(0, 23) + "Z");
  const finished = Date.parse(String((await c.state()).finished_at));
  return (finished - caught) / 1000;
}

// ---------------------------------------------------------------------------------------------------------

slurmTest(
  "berth.sbatch runs a job that prints and writes output: Slurm COMPLETED exit 0, state Complete, logs, output",
  async () => {
    const { c, info, seconds } = await unwrap((await cases()).stdout);
    console.log(`  Slurm job ${c.id} ended after ${seconds.toFixed(1)} s`);
    assertEquals([info.JobState, info.ExitCode], ["COMPLETED", "0:0"]);
    await assertRecord(c, "Complete", 0, 0);
    const stdout = (await c.read("logs/stdout.txt")).trimEnd().split("\n");
    for (const l of stdout) assertMatch(l, TIMESTAMP);
    assertEquals(stdout.map((l) => l.replace(TIMESTAMP, "")), ["line one", "line two"]);
    assertEquals((await c.read("logs/stderr.txt")).replace(TIMESTAMP, ""), "to-stderr\n");
    assertEquals(await c.read("output/answer.txt"), "42\n");
    const manifest = JSON.parse(await c.read("output.json"));
    assertStringIncludes(JSON.stringify(manifest), "answer.txt");
    const out = await c.slurmOutput();
    assertStringIncludes(out, `berth.sbatch: job ${c.id} attempt 0 on `);
    assertStringIncludes(out, "berth finished: exit status 0");
    await assertNothingLeft(c);
  },
);

slurmTest(
  "berth.sbatch passes a container's exit code 3 to Slurm, and the state is Complete with exit_code 3",
  async () => {
    const { c, info, seconds } = await unwrap((await cases()).exit3);
    console.log(`  Slurm job ${c.id} ended after ${seconds.toFixed(1)} s`);
    assertEquals([info.JobState, info.ExitCode], ["FAILED", "3:0"]);
    await assertRecord(c, "Complete", 3, 3);
    assertEquals((await c.read("logs/stdout.txt")).replace(TIMESTAMP, ""), "about to fail\n");
    await assertNothingLeft(c);
  },
);

slurmTest(
  "berth.sbatch with the job's max_run_time passed: berth stops the container, Slurm shows exit code 124",
  async () => {
    const { c, info, seconds } = await unwrap((await cases()).maxRunTime);
    console.log(`  Slurm job ${c.id} ended after ${seconds.toFixed(1)} s (max_run_time 3 s)`);
    assertEquals([info.JobState, info.ExitCode], ["FAILED", "124:0"]);
    // The container was killed (137), unless the engine had not reported its exit when berth gave up waiting.
    const killed = (await c.state()).exit_code === null ? null : 137;
    const lines = await assertRecord(c, "Cancelled", killed, 124);
    assert(lines.some((l) => l.startsWith("maximum run time exceeded")), "berth logged why it stopped");
    assertEquals((await c.state()).error, "maximum run time exceeded (3 s)");
    await assertNothingLeft(c);
  },
);

slurmTest(
  "berth.sbatch under scancel: berth gets SIGTERM, the container is gone within KillWait, state Cancelled",
  async () => {
    const { c, info, goneAfter, killWait } = await unwrap((await cases()).cancel);
    const cleanup = await cleanupSeconds(c);
    console.log(
      `  Slurm job ${c.id}: container gone ${
        goneAfter.toFixed(2)
      } s after scancel (KillWait ${killWait} s); ` +
        `berth took ${cleanup.toFixed(2)} s from SIGTERM to its final state`,
    );
    assert(goneAfter < killWait, `container gone after ${goneAfter} s, KillWait is ${killWait} s`);
    assert(cleanup < killWait, `berth needed ${cleanup} s to clean up, KillWait is ${killWait} s`);
    assertEquals([info.JobState, info.ExitCode], ["CANCELLED", "143:0"]);
    const lines = await assertRecord(c, "Cancelled", 137, 143);
    assert(lines.includes("caught signal: terminated"), "berth logged the signal");
    assertEquals((await c.state()).error, "caught signal: terminated");
    assertStringIncludes(await c.slurmOutput(), `JOB ${c.id} ON`);
    await assertNothingLeft(c);
  },
);

slurmTest(
  "berth.sbatch past its --time=1 limit: berth gets SIGTERM, cleans up within KillWait, state Cancelled",
  async () => {
    const { c, info, seconds, killWait } = await unwrap((await cases()).timeLimit);
    const cleanup = await cleanupSeconds(c);
    console.log(
      `  Slurm job ${c.id} ended ${seconds.toFixed(1)} s after submission (limit 60 s); berth took ` +
        `${cleanup.toFixed(2)} s from SIGTERM to its final state (KillWait ${killWait} s)`,
    );
    assertEquals([info.JobState, info.Reason], ["TIMEOUT", "TimeLimit"]);
    assert(seconds >= 60, `the job ended after ${seconds} s, before its limit`);
    assert(cleanup < killWait, `berth needed ${cleanup} s to clean up, KillWait is ${killWait} s`);
    const lines = await assertRecord(c, "Cancelled", 137, 143);
    assert(lines.includes("caught signal: terminated"), "berth logged the signal");
    assertStringIncludes(await c.slurmOutput(), "DUE TO TIME LIMIT");
    await assertNothingLeft(c);
  },
);

slurmTest(
  "berth.sbatch on a node whose engine is down exits 75, state Queued, and Slurm requeues it (RequeueExit=75)",
  async () => {
    const { c, info, seconds, pending, markerAfterFirst } = await unwrap((await cases()).requeue);
    console.log(
      `  Slurm job ${c.id}: requeued and completed on its second attempt after ${seconds.toFixed(1)} s`,
    );
    assertEquals(pending.JobState, "PENDING");
    assert(markerAfterFirst, "the first attempt left the broken-node marker in the runtime dir");
    const first = await assertRecord(c, "Queued", null, 75, 0);
    assert(
      first.some((l) => /Cannot connect to the Docker daemon|engine/i.test(l)),
      `the first attempt says why: ${first.join(" | ")}`,
    );
    assertEquals([info.JobState, info.ExitCode, info.Restarts], ["COMPLETED", "0:0", "1"]);
    await assertRecord(c, "Complete", 0, 0, 1);
    assertEquals(await c.read("output/attempt.txt", 1), "second attempt\n");
    const out = await c.slurmOutput();
    assertStringIncludes(out, `berth.sbatch: job ${c.id} attempt 0 on `, "--open-mode=append kept attempt 0");
    assertStringIncludes(out, `berth.sbatch: job ${c.id} attempt 1 on `);
    await assertNothingLeft(c);
  },
);

slurmTest(
  "berth.sbatch runs eight jobs at once on one node, converting the image once in the shared SIF cache",
  async () => {
    const { cases: eight, infos, cache, seconds } = await unwrap((await cases()).eight);
    console.log(`  ${EIGHT} Singularity-fixture jobs ended ${seconds.toFixed(1)} s after submission`);
    assertEquals(infos.map((i) => `${i.JobState} ${i.ExitCode}`), Array(EIGHT).fill("COMPLETED 0:0"));
    let built = 0;
    let reused = 0;
    for (const [i, c] of eight.entries()) {
      const lines = await assertRecord(c, "Complete", 0, 0);
      if (lines.some((l) => l.startsWith("Building singularity image"))) built++;
      if (lines.some((l) => l.startsWith("Using cached image"))) reused++;
      assertEquals(await c.read("output/index.txt"), `${i}\n`);
      await assertNothingLeft(c);
    }
    assertEquals({ built, reused }, { built: 1, reused: EIGHT - 1 });
    const entries: string[] = [];
    for await (const e of Deno.readDir(cache)) if (e.name.endsWith(".sif")) entries.push(e.name);
    assertEquals(entries.length, 1, `one SIF in the cache: ${entries.join(", ")}`);
  },
);

/** Removes what the cases made: any container of theirs still there (after a failure) and the temp tree. */
async function disposeCases(): Promise<void> {
  if (!runs) return;
  const all = await Promise.all(Object.values(runs).map((s) => s.then((r) => (r.ok ? r.value : null))));
  for (const r of all) {
    if (r === null) continue;
    const list = "cases" in r ? r.cases : [r.c];
    for (const c of list) {
      if (!c.socket) continue;
      for (const name of await c.containers().catch(() => [])) {
        await engineRequest(c.socket, "DELETE", `/containers/${name.replace(/^\//, "")}?force=1`).catch(
          () => {},
        );
      }
    }
  }
  await Deno.remove(root, { recursive: true }).catch(() => {});
}

let stopped = false;
slurmTest(
  "scripts/slurm-cluster stop leaves no process of the test cluster",
  async () => {
    await disposeCases();
    const res = await stopCluster();
    stopped = true;
    assertEquals(res.code, 0, `stop: ${res.stderr}${res.stdout}`);
    const status = await clusterStatus();
    assertEquals([status.code, status.stdout.trim()], [1, "slurm-cluster: not running"]);
    const ps = await new Deno.Command("ps", { args: ["-eo", "pid,args"], stdout: "piped" }).output();
    const ours = new TextDecoder().decode(ps.stdout).split("\n").filter((l) => l.includes(SLURM_DIR));
    assertEquals(ours, [], "processes naming the cluster's state dir");
    let stateDirLeft = true;
    await Deno.stat(SLURM_DIR).catch(() => stateDirLeft = false);
    assert(!stateDirLeft, `the state dir "${SLURM_DIR}" is removed`);
  },
  { ignore: !cluster.startedHere },
);

// A run cut short (a filter, a failure that ends the process) still leaves no cluster behind.
globalThis.addEventListener("unload", () => {
  if (!cluster.startedHere || stopped) return;
  try {
    new Deno.Command(CLUSTER_SCRIPT, { args: ["stop"] }).outputSync();
  } catch { /* not allowed or already gone */ }
});
