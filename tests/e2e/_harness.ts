/**
 * The end-to-end harness: berth runs as a subprocess under exactly its permission profile (as `scripts/berth`
 * runs it), against Docker, Podman and the Singularity CLI fixture alike. Each test gets a {@link Workspace}:
 * its own temp tree (tmp dir, runtime dir, keep mount, allowed bind root, work dir) and a unique job uuid,
 * and a check that nothing is left behind (no labelled container, no temp files, no lock).
 * @module
 */

import { dirname, join } from "node:path";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { berthArgs, profileFlags } from "../helpers/berth.ts";
import { berthContainers, ENGINE_SOCKETS, engineRequest } from "../helpers/engine_api.ts";
import { FIXTURE_BIN, singularityE2eTargets } from "../fixtures/singularity/mod.ts";
import { IMAGES_DIR } from "../images/mod.ts";

/** An engine the suite runs against. */
export interface EngineCase {
  /** `docker`, `podman`, `singularity` or `apptainer`. */
  name: "docker" | "podman" | "singularity" | "apptainer";
  /** Test label: the engine, and for Singularity/Apptainer which program (a CLI fixture generation, a real path). */
  label: string;
  /** The Docker-API socket, for leftover checks; null for Singularity. */
  socket: string | null;
  /** berth options selecting the engine. */
  args(ws: Workspace): string[];
  /** False when the engine is not usable on this machine (the tests are then skipped, and say so). */
  available: boolean;
}

async function answers(socket: string): Promise<boolean> {
  try {
    return (await engineRequest(socket, "GET", "/_ping")).status === 200;
  } catch {
    return false;
  }
}

/**
 * The one temp root of this test process: every workspace and the SIF cache live below it. berth runs under the
 * `hardened` profile with its reads and writes confined to this root and the test images (`BERTH_ROOTS`), so a
 * file access the code forgot to plan for fails a test.
 */
export const E2E_ROOT: string = await Deno.makeTempDir({ prefix: "berth-e2e-root-" });
/** A SIF cache shared by the Singularity runs of one test process, so each image is converted once. */
export const SIF_CACHE: string = join(E2E_ROOT, "sif-cache");
await Deno.mkdir(SIF_CACHE);
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(E2E_ROOT, { recursive: true });
  } catch { /* already gone */ }
});

/** The permission profile the end-to-end runs use: `hardened` unless BERTH_E2E_PROFILE says otherwise. */
export const E2E_PROFILE: string = Deno.env.get("BERTH_E2E_PROFILE") || "hardened";

/** The engines, each with whether it is usable here. */
export const ENGINES: EngineCase[] = [
  {
    name: "docker",
    label: "docker",
    socket: ENGINE_SOCKETS.docker,
    args: () => ["--runtime-engine", "docker"],
    available: await answers(ENGINE_SOCKETS.docker),
  },
  {
    name: "podman",
    label: "podman",
    socket: ENGINE_SOCKETS.podman,
    args: () => ["--runtime-engine", "podman"],
    available: await answers(ENGINE_SOCKETS.podman),
  },
  // Every generation of the Singularity/Apptainer CLI fixture, and the real programs in BERTH_SINGULARITY_BINARIES.
  ...singularityE2eTargets().map((t): EngineCase => ({
    name: t.engine,
    label: t.label,
    socket: null,
    args: () => ["--runtime-engine", t.engine, "--singularity-binary", t.binary, "--image-cache", SIF_CACHE],
    available: true,
  })),
];

/** `BERTH_EXTRA_NET` for berth: what the test run has, plus access to the unix socket `path`. */
export function extraNet(path: string): Record<string, string> {
  const inherited = Deno.env.get("BERTH_EXTRA_NET");
  return { BERTH_EXTRA_NET: inherited ? `${inherited},unix:${path}` : `unix:${path}` };
}

/** `BERTH_EXTRA_RUN` for berth: what the test run has, plus the programs `paths`. */
export function extraRun(...paths: string[]): Record<string, string> {
  const inherited = Deno.env.get("BERTH_EXTRA_RUN");
  return { BERTH_EXTRA_RUN: [...(inherited ? [inherited] : []), ...paths].join(",") };
}

/**
 * A unix socket file at `path` that nothing listens on (connections are refused), as an engine that died
 * leaves its socket behind. Deno removes a socket it bound when the listener closes, so a hard link keeps one;
 * a short `deno eval` does it, since the test process may not bind sockets itself.
 */
export async function deadSocket(path: string): Promise<string> {
  const live = JSON.stringify(`${path}.live`);
  const code = `const l = Deno.listen({ transport: "unix", path: ${live} }); ` +
    `Deno.linkSync(${live}, ${JSON.stringify(path)}); l.close();`;
  const out = await new Deno.Command(Deno.execPath(), { args: ["eval", "--quiet", code], stdin: "null" })
    .output();
  assert(out.success, `cannot make a dead socket: ${new TextDecoder().decode(out.stderr)}`);
  return path;
}

/** An engine program at `path` that exists but fails at everything, as a broken installation does. */
export async function brokenEngineProgram(path: string): Promise<string> {
  await Deno.writeTextFile(path, '#!/bin/sh\necho "FATAL: this installation is broken" >&2\nexit 255\n');
  await Deno.chmod(path, 0o755);
  return path;
}

/** The result of a finished berth process. */
export interface Finished {
  /** Exit code. */
  code: number;
  /** The signal that killed berth, or null. */
  signal: Deno.Signal | null;
  /** Its stdout. */
  stdout: string;
  /** Its stderr. */
  stderr: string;
  /** Seconds from spawn to exit. */
  seconds: number;
}

/** A running berth process. */
export interface Running {
  /** The child process. */
  child: Deno.ChildProcess;
  /** Resolves when it has exited. */
  done: Promise<Finished>;
}

/**
 * Starts `berth ARGS...` under the end-to-end profile ({@link E2E_PROFILE}). `env` is given to berth and used to expand the profile
 * (`BERTH_EXTRA_NET`, `BERTH_EXTRA_RUN`), exactly as `scripts/berth` would.
 */
export async function spawnBerth(args: string[], env: Record<string, string> = {}): Promise<Running> {
  env = {
    BERTH_PROFILE: E2E_PROFILE,
    BERTH_ROOTS: `${E2E_ROOT},${IMAGES_DIR}`,
    BERTH_EXTRA_READ: [
      dirname(FIXTURE_BIN.singularity),
      ...singularityE2eTargets().map((t) => dirname(t.binary)),
    ]
      .join(","),
    ...env,
  };
  const flags = await profileFlags(E2E_PROFILE, env);
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: berthArgs(flags, args),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const done = child.output().then((out) => ({
    code: out.code,
    signal: out.signal,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
    seconds: (performance.now() - started) / 1000,
  }));
  return { child, done };
}

/** Runs berth to its exit. */
export async function runBerthE2e(args: string[], env: Record<string, string> = {}): Promise<Finished> {
  return await (await spawnBerth(args, env)).done;
}

/** A fresh tree for one test, and a unique job uuid. */
export class Workspace {
  /** The tree's root. */
  readonly root: string;
  /** The job uuid. */
  readonly uuid: string;
  /** The engine, or null for tests that need none. */
  readonly engine: EngineCase | null;

  private constructor(root: string, uuid: string, engine: EngineCase | null) {
    this.root = root;
    this.uuid = uuid;
    this.engine = engine;
  }

  /** Creates the tree: `tmp/`, `rt/`, `keep/by_id/`, `allowed/`. The work dir (`work/`) is left to berth. */
  static async create(engine: EngineCase | null, name: string): Promise<Workspace> {
    const root = await Deno.makeTempDir({ dir: E2E_ROOT, prefix: "berth-e2e-" });
    const uuid = `e2e-${engine?.name ?? "any"}-${name}-${crypto.randomUUID().slice(0, 8)}`;
    for (const d of ["tmp", "rt", "keep/by_id", "allowed"]) {
      await Deno.mkdir(join(root, d), { recursive: true });
    }
    return new Workspace(root, uuid, engine);
  }

  /** `--tmp-dir`. */
  get tmp(): string {
    return join(this.root, "tmp");
  }
  /** `--runtime-dir`. */
  get rt(): string {
    return join(this.root, "rt");
  }
  /** `--keep-mount`. */
  get keep(): string {
    return join(this.root, "keep");
  }
  /** `--allow-bind`. */
  get allowed(): string {
    return join(this.root, "allowed");
  }
  /** `--work-dir`. */
  get work(): string {
    return join(this.root, "work");
  }
  /** The job file. */
  get jobPath(): string {
    return join(this.root, "job.json");
  }

  /**
   * Writes the job file. A string value `"BIG:<digits>"` becomes the bare number, so that integers beyond
   * 2^53 reach the file exactly.
   */
  async writeJob(fields: Record<string, unknown>): Promise<void> {
    const text = JSON.stringify({ uuid: this.uuid, output_path: "/out", ...fields }, null, 2)
      .replace(/"BIG:(\d+)"/g, "$1");
    await Deno.writeTextFile(this.jobPath, text);
  }

  /** A collection under the keep mount, from a map of relative file paths to contents. */
  async collection(locator: string, files: Record<string, string>): Promise<string> {
    const dir = join(this.keep, "by_id", locator);
    for (const [rel, content] of Object.entries(files)) {
      await Deno.mkdir(join(dir, rel, ".."), { recursive: true });
      await Deno.writeTextFile(join(dir, rel), content);
    }
    await Deno.mkdir(dir, { recursive: true });
    return dir;
  }

  /** `berth run` arguments for this workspace, the engine's selection, then `extra`. */
  args(extra: string[] = []): string[] {
    return [
      "run",
      this.jobPath,
      "--work-dir",
      this.work,
      "--tmp-dir",
      this.tmp,
      "--runtime-dir",
      this.rt,
      "--keep-mount",
      this.keep,
      "--allow-bind",
      this.allowed,
      ...(this.engine?.args(this) ?? []),
      ...extra,
    ];
  }

  /** A file of the work dir as text. */
  read(rel: string): Promise<string> {
    return Deno.readTextFile(join(this.work, rel));
  }

  /** The work dir's `state.json`. */
  async state(): Promise<Record<string, unknown>> {
    return JSON.parse(await this.read("state.json"));
  }

  /** Asserts nothing of the run is left: no labelled container, nothing in the tmp dir, no lock file. */
  async assertNoLeftovers(): Promise<void> {
    if (this.engine?.socket) {
      assertEquals(
        await berthContainers(this.engine.socket, this.uuid),
        [],
        "containers left",
      );
    }
    const leftInTmp: string[] = [];
    for await (const e of Deno.readDir(this.tmp)) leftInTmp.push(e.name);
    assertEquals(leftInTmp, [], "files left in the tmp dir");
    const leftInRt: string[] = [];
    for await (const e of Deno.readDir(this.rt)) if (e.name.includes(this.uuid)) leftInRt.push(e.name);
    assertEquals(leftInRt, [], "lock files left in the runtime dir");
  }

  /** Force-removes any container of this job (a safety net for failed tests) and deletes the tree. */
  async dispose(): Promise<void> {
    if (this.engine?.socket) {
      try {
        for (const name of await berthContainers(this.engine.socket, this.uuid)) {
          await engineRequest(this.engine.socket, "DELETE", `/containers/${name.replace(/^\//, "")}?force=1`);
        }
      } catch { /* engine gone */ }
    }
    await Deno.remove(this.root, { recursive: true }).catch(() => {});
  }
}

/** Runs `fn` with a workspace that is disposed afterwards, whatever happens. */
export async function withWorkspace(
  engine: EngineCase | null,
  name: string,
  fn: (ws: Workspace) => Promise<void>,
): Promise<void> {
  const ws = await Workspace.create(engine, name);
  try {
    await fn(ws);
  } finally {
    await ws.dispose();
  }
}

/** A log line's timestamp: UTC, nine fractional digits, `Z`, one space. */
export const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z /;

/** Asserts every line of a log is timestamped and returns the lines without their timestamps. */
export function assertTimestamped(text: string, what: string): string[] {
  assert(text.endsWith("\n"), `${what} ends with a newline`);
  const lines = text.slice(0, -1).split("\n");
  for (const line of lines) assertMatch(line, TIMESTAMP, `${what}: ${line}`);
  return lines.map((l) => l.replace(TIMESTAMP, ""));
}

/**
 * Checks the run's record: `crunch-run.txt` timestamped with the state as its last line, `state.json` with that
 * state and exit status. Returns the log's lines without timestamps.
 */
export async function assertFinalState(
  ws: Workspace,
  state: "Complete" | "Cancelled" | "Queued",
  exitStatus: number,
): Promise<string[]> {
  const lines = assertTimestamped(await ws.read("logs/crunch-run.txt"), "crunch-run.txt");
  assertEquals(lines.at(-1), state, "the last line of crunch-run.txt is the final state");
  const record = await ws.state();
  assertEquals(record.state, state);
  assertEquals(record.exit_status, exitStatus);
  assertEquals(record.uuid, ws.uuid);
  assertMatch(String(record.finished_at), /^\d{4}-\d\d-\d\dT/);
  return lines;
}

/** Asserts that no file of the run's record (logs, state, manifest) contains any of `secrets`. */
export async function assertSecretsAbsent(ws: Workspace, secrets: string[]): Promise<void> {
  const files: string[] = [];
  for await (const e of Deno.readDir(join(ws.work, "logs"))) files.push(join(ws.work, "logs", e.name));
  for (const f of ["state.json", "output.json"]) {
    try {
      await Deno.stat(join(ws.work, f));
      files.push(join(ws.work, f));
    } catch { /* not written on this path */ }
  }
  assert(files.length >= 3, `found the log files: ${files.join(", ")}`);
  for (const file of files) {
    const text = await Deno.readTextFile(file);
    for (const s of secrets) assert(!text.includes(s), `${file} contains a secret`);
  }
}

/** Polls until `crunch-run.txt` contains `text` (or fails after `timeoutMs`). */
export async function waitForLog(ws: Workspace, text: string, timeoutMs = 60_000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    try {
      if ((await ws.read("logs/crunch-run.txt")).includes(text)) return;
    } catch { /* not created yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`crunch-run.txt of ${ws.uuid} did not show ${JSON.stringify(text)} within ${timeoutMs} ms`);
}

/** The busybox test image, copied into a keep collection so that jobs can name it `keep:<pdh>`. */
export async function keepImage(ws: Workspace, imagePath: string): Promise<string> {
  const pdh = "4d2f0e2c4c0d4b9b8e8f7a6b5c4d3e2f+2138112";
  const dir = join(ws.keep, "by_id", pdh);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.copyFile(imagePath, join(dir, "image.tar"));
  return `keep:${pdh}`;
}
