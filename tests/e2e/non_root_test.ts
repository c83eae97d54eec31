/**
 * `berth run` as an ORDINARY user (berthuser, uid 1500, made by scripts/setup) on a node where root has run berth
 * before, on Docker (through the docker group), the user's rootless Podman (found without options) and the
 * Singularity CLI fixture, with the default runtime dir and the hardened profile: echo, exit code, every mount
 * kind, private output files, SIGTERM, max_run_time, output ownership and modes, gc during a run; afterwards the
 * user can `rm -rf` every work dir and nothing of the run is left.
 *
 * The test process runs as root and starts berth through tests/helpers/as_user.ts.
 */

import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import {
  runAsUser,
  runBerthAsUser,
  spawnBerthAsUser,
  TEST_CACHE_GROUP,
  TEST_USERS,
  testUsersMissing,
  userDir,
  type UserProcess,
} from "../helpers/as_user.ts";
import { runBerth } from "../helpers/berth.ts";
import { ENGINE_SOCKETS, engineRequest } from "../helpers/engine_api.ts";
import { FIXTURE_BIN } from "../fixtures/singularity/mod.ts";
import { IMAGES_DIR, testImage } from "../images/mod.ts";

const missing = await testUsersMissing();
const user = TEST_USERS.first;
const busybox = await testImage("busybox");
const multilayer = await testImage("multilayer");
const PDH = "0123456789abcdef0123456789abcdef+12";
/** The user's default runtime dir (the first candidate; nobody plants it in this suite). */
const USER_RT = `/var/lock/berth-${user.uid}`;

/** Root of this file's trees: traversable by the user, removed at the end. */
const ROOT = missing ? "" : await Deno.makeTempDir({ prefix: "berth-nonroot-" });
if (ROOT) await Deno.chmod(ROOT, 0o755);
/** What older berths left in the shared /var/lock: root's directory lock, which made every user's run fail. */
const LEGACY_DIR_LOCK = "/var/lock/berth-all.lock";
let plantedLegacy = false;
globalThis.addEventListener("unload", () => {
  if (ROOT) Deno.removeSync(ROOT, { recursive: true });
  if (plantedLegacy) Deno.removeSync(LEGACY_DIR_LOCK);
});

type EngineName = "docker" | "podman" | "singularity";
const ENGINES: EngineName[] = ["docker", "podman", "singularity"];

/** One test's tree, owned by the user: tmp/, keep/, allowed/, cache/, the job file; work/ is berth's. */
class UserWorkspace {
  readonly uuid: string;
  constructor(readonly root: string, readonly engine: EngineName, name: string) {
    this.uuid = `nonroot-${engine}-${name}-${crypto.randomUUID().slice(0, 8)}`;
  }
  static async create(engine: EngineName, name: string): Promise<UserWorkspace> {
    const root = await userDir(user, join(ROOT, `${engine}-${name}-${crypto.randomUUID().slice(0, 6)}`));
    const ws = new UserWorkspace(root, engine, name);
    for (const d of ["tmp", "keep/by_id", "allowed", "cache"]) await userDir(user, join(root, d));
    return ws;
  }
  get tmp() {
    return join(this.root, "tmp");
  }
  get work() {
    return join(this.root, "work");
  }
  get job() {
    return join(this.root, "job.json");
  }
  engineArgs(): string[] {
    if (this.engine !== "singularity") return ["--runtime-engine", this.engine];
    return [
      "--runtime-engine",
      "singularity",
      "--singularity-binary",
      FIXTURE_BIN.singularity,
      "--image-cache",
      join(this.root, "cache"),
    ];
  }
  args(extra: string[] = []): string[] {
    return [
      "run",
      this.job,
      "--work-dir",
      this.work,
      "--tmp-dir",
      this.tmp,
      "--keep-mount",
      join(this.root, "keep"),
      "--allow-bind",
      join(this.root, "allowed"),
      "--crunchstat-interval",
      "0",
      ...this.engineArgs(),
      ...extra,
    ];
  }
  /** berth's environment: the hardened profile confined to this tree, the images and the runtime dir. */
  env(): Record<string, string> {
    return {
      BERTH_ROOTS: `${this.root},${IMAGES_DIR},${USER_RT}`,
      BERTH_EXTRA_READ: join(FIXTURE_BIN.singularity, ".."),
    };
  }
  async writeJob(fields: Record<string, unknown>): Promise<void> {
    await Deno.writeTextFile(
      this.job,
      JSON.stringify({ uuid: this.uuid, container_image: busybox.path, output_path: "/out", ...fields }),
    );
  }
  read(rel: string): Promise<string> {
    return Deno.readTextFile(join(this.work, rel));
  }
  async state(): Promise<Record<string, unknown>> {
    return JSON.parse(await this.read("state.json"));
  }
  run(extra: string[] = []) {
    return runBerthAsUser(user, this.args(extra), { profile: "hardened", env: this.env() });
  }
  spawn(extra: string[] = []): Promise<UserProcess> {
    return spawnBerthAsUser(user, this.args(extra), { profile: "hardened", env: this.env() });
  }
}

/** Names of the containers labelled with job `uuid` on `engine` (the user's own Podman service for podman). */
async function containersOf(engine: EngineName, uuid: string): Promise<string[]> {
  const filters = encodeURIComponent(JSON.stringify({ label: [`org.berth.job=${uuid}`] }));
  const path = `/containers/json?all=1&filters=${filters}`;
  if (engine === "singularity") return [];
  if (engine === "docker") {
    const { json } = await engineRequest(ENGINE_SOCKETS.docker, "GET", path);
    return (json as { Names: string[] }[]).map((c) => c.Names[0]);
  }
  const r = await runAsUser(user, "curl", [
    "-sS",
    "--unix-socket",
    user.podmanSocket,
    `http://d/v1.41${path}`,
  ]);
  assertEquals(r.code, 0, r.stderr);
  return (JSON.parse(r.stdout) as { Names: string[] }[]).map((c) => c.Names[0]);
}

/** Every path below `dir` with its owner and mode. */
async function walk(dir: string): Promise<{ path: string; info: Deno.FileInfo }[]> {
  const out: { path: string; info: Deno.FileInfo }[] = [{ path: dir, info: await Deno.lstat(dir) }];
  for await (const e of Deno.readDir(dir)) {
    const path = join(dir, e.name);
    if (e.isDirectory) out.push(...await walk(path));
    else out.push({ path, info: await Deno.lstat(path) });
  }
  return out;
}

/**
 * What every run must leave: its work dir owned by the user, nothing in it writable by others, no container, no
 * temp dir, no lock; and the user can delete the work dir.
 */
async function assertCleanAfter(ws: UserWorkspace): Promise<void> {
  const entries = await walk(ws.work);
  const foreign = entries.filter((e) => e.info.uid !== user.uid).map((e) => `${e.path} uid ${e.info.uid}`);
  assertEquals(foreign, [], "everything in the work dir is the user's");
  const open = entries.filter((e) => !e.info.isSymlink && ((e.info.mode ?? 0) & 0o002) !== 0)
    .map((e) => `${e.path} ${((e.info.mode ?? 0) & 0o7777).toString(8)}`);
  assertEquals(open, [], "nothing in the work dir is writable by other users");
  assertEquals(await containersOf(ws.engine, ws.uuid), [], "containers left");
  const leftInTmp: string[] = [];
  for await (const e of Deno.readDir(ws.tmp)) leftInTmp.push(e.name);
  assertEquals(leftInTmp, [], "files left in the tmp dir");
  const locks: string[] = [];
  for await (const e of Deno.readDir(USER_RT)) if (e.name.includes(ws.uuid)) locks.push(e.name);
  assertEquals(locks, [], "lock files left in the runtime dir");
  const rm = await runAsUser(user, "rm", ["-rf", ws.work]);
  assertEquals(rm.code, 0, `the user cannot delete the work dir: ${rm.stderr}`);
  assertEquals(await Deno.lstat(ws.work).then(() => true, () => false), false);
}

async function waitForLog(ws: UserWorkspace, text: string, timeoutMs = 120_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (performance.now() < end) {
    if ((await ws.read("logs/crunch-run.txt").catch(() => "")).includes(text)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `${ws.uuid}: crunch-run.txt did not show ${JSON.stringify(text)}: ${await ws.read("logs/crunch-run.txt")
      .catch(() => "(none)")}`,
  );
}

/** The container side of the main case: checks every mount, writes private output, exits 3. */
const USER_SCRIPT = `
fail() { echo "FAIL: $*" >&2; exit 99; }
echo hello-stdout
echo hello-stderr >&2
[ "$(cat /in/t.txt)" = "text here" ] || fail "text mount"
grep -q '"n":7' /in/j.json || fail "json mount: $(cat /in/j.json)"
cat /keep/top.txt > /out/keep-top.txt || fail "collection mount"
echo appended >> /out/coll/top.txt || fail "writable collection copy"
echo scratch > /scratch/x || fail "tmp mount not writable"
cat /data/d.txt > /out/data.txt || fail "read-only bind"
if touch /data/new 2>/dev/null; then fail "read-only bind writable"; fi
echo rw > /rw/written.txt || fail "writable bind"
cat > /out/stdin.copy
[ "$(cat /etc/secret.txt)" = "s3cret" ] || fail "secret mount"
id -u > /out/uid.txt
umask 077
echo private > /out/private.txt
mkdir -p /out/privdir/sub
echo deep > /out/privdir/sub/f
chmod 500 /out/privdir/sub
chmod 000 /out/privdir/sub/f
exit 3
`;

Deno.test({
  name: "non-root: root has run berth on this node first (default runtime dir), as it had when users failed",
  ignore: missing !== null,
  async fn() {
    // What older berths left behind in the shared /var/lock, and the reported bug's cause: root's directory lock.
    if (!(await Deno.lstat(LEGACY_DIR_LOCK).then(() => true, () => false))) {
      await Deno.writeTextFile(LEGACY_DIR_LOCK, "", { mode: 0o644 });
      plantedLegacy = true;
    }
    const dir = await Deno.makeTempDir({ dir: ROOT, prefix: "root-" });
    const job = join(dir, "job.json");
    await Deno.writeTextFile(
      job,
      JSON.stringify({
        uuid: `nonroot-rootrun-${crypto.randomUUID().slice(0, 8)}`,
        container_image: busybox.path,
        command: ["true"],
        output_path: "/out",
        mounts: { "/out": { kind: "tmp" } },
      }),
    );
    const r = await runBerth([
      "run",
      job,
      "--work-dir",
      join(dir, "work"),
      "--tmp-dir",
      dir,
      "--runtime-engine",
      "docker",
    ]);
    assertEquals(r.code, 0, r.stderr);
    assert(await Deno.lstat("/var/lock/berth-0/berth-all.lock").then(() => true, () => false));
  },
});

for (const engine of ENGINES) {
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test({ name: `non-root berth on ${engine}: ${name}`, ignore: missing !== null, fn });

  test("echo, exit code, every mount kind, private output files; the output is the user's", async () => {
    const ws = await UserWorkspace.create(engine, "main");
    const coll = join(ws.root, "keep", "by_id", PDH);
    await userDir(user, coll);
    await Deno.writeTextFile(join(coll, "top.txt"), "top\n");
    await userDir(user, join(ws.root, "allowed", "data"));
    await Deno.writeTextFile(join(ws.root, "allowed", "data", "d.txt"), "bound\n");
    await userDir(user, join(ws.root, "allowed", "rw"));
    await ws.writeJob({
      command: ["sh", "-c", USER_SCRIPT],
      mounts: {
        "/out": { kind: "tmp" },
        "/scratch": { kind: "tmp", capacity: 1000 },
        "/in/t.txt": { kind: "text", content: "text here" },
        "/in/j.json": { kind: "json", content: { n: 7 } },
        "/keep": { kind: "collection", portable_data_hash: PDH },
        "/out/coll": { kind: "collection", portable_data_hash: PDH, writable: true },
        "/data": { kind: "bind", source: join(ws.root, "allowed", "data") },
        "/rw": { kind: "bind", source: join(ws.root, "allowed", "rw"), writable: true },
        "stdin": { kind: "text", content: "from stdin\n" },
        "stderr": { kind: "file", path: "/out/err.txt" },
      },
      secret_mounts: { "/etc/secret.txt": { kind: "text", content: "s3cret" } },
    });
    const r = await ws.run();
    const log = await ws.read("logs/crunch-run.txt").catch(() => "(no log)");
    assertEquals(r.code, 3, `${r.stderr}\n${log}`);
    const state = await ws.state();
    assertEquals([state.state, state.exit_code], ["Complete", 3]);
    assertStringIncludes(await ws.read("logs/stdout.txt"), "hello-stdout");
    assertEquals(await ws.read("output/err.txt"), "hello-stderr\n", "a stderr file mount, raw");
    assertEquals(await ws.read("output/keep-top.txt"), "top\n");
    assertEquals(await ws.read("output/coll/top.txt"), "top\nappended\n");
    assertEquals(await ws.read("output/data.txt"), "bound\n");
    assertEquals(await ws.read("output/stdin.copy"), "from stdin\n");
    assertEquals((await ws.read("output/uid.txt")).trim(), String(user.uid), "the container ran as the user");
    assertEquals(await ws.read("output/private.txt"), "private\n");
    assertEquals(await Deno.readTextFile(join(ws.root, "allowed", "rw", "written.txt")), "rw\n");
    const manifest = JSON.parse(await ws.read("output.json"));
    const listed = JSON.stringify(manifest);
    for (const f of ["private.txt", "privdir/sub/f", "uid.txt"]) assertStringIncludes(listed, f);
    // The writable bind's file is the user's too (it is outside the work dir, so checked here).
    assertEquals((await Deno.lstat(join(ws.root, "allowed", "rw", "written.txt"))).uid, user.uid);
    await assertCleanAfter(ws);
  });

  test("an image with a non-root USER: the container still runs as the user, the output is theirs", async () => {
    const ws = await UserWorkspace.create(engine, "imageuser");
    await ws.writeJob({
      container_image: multilayer.path,
      command: ["sh", "-c", "id -u > /out/uid.txt; pwd > /out/pwd.txt; umask 077; echo x > /out/p"],
      mounts: { "/out": { kind: "tmp" } },
    });
    const r = await ws.run();
    assertEquals(r.code, 0, `${r.stderr}\n${await ws.read("logs/crunch-run.txt").catch(() => "")}`);
    assertEquals((await ws.read("output/uid.txt")).trim(), String(user.uid));
    assertEquals((await ws.read("output/pwd.txt")).trim(), "/work", "the image's WorkingDir");
    await assertCleanAfter(ws);
  });

  test("SIGTERM: Cancelled, exit 143, nothing left", async () => {
    const ws = await UserWorkspace.create(engine, "sigterm");
    await ws.writeJob({ command: ["sleep", "300"], mounts: { "/out": { kind: "tmp" } } });
    const p = await ws.spawn();
    await waitForLog(ws, "Waiting for container to finish");
    p.child.kill("SIGTERM");
    const r = await p.done;
    assertEquals(r.code, 143, r.stderr);
    assertEquals((await ws.state()).state, "Cancelled");
    await assertCleanAfter(ws);
  });

  test("max_run_time: stopped, exit 124, nothing left", async () => {
    const ws = await UserWorkspace.create(engine, "maxrun");
    await ws.writeJob({
      command: ["sleep", "300"],
      mounts: { "/out": { kind: "tmp" } },
      scheduling_parameters: { max_run_time: 2 },
    });
    const r = await ws.run();
    assertEquals(r.code, 124, r.stderr);
    assertEquals((await ws.state()).state, "Cancelled");
    await assertCleanAfter(ws);
  });

  test("gc during the run, by the user and by root, leaves the running job alone", async () => {
    const ws = await UserWorkspace.create(engine, "gc");
    await ws.writeJob({
      command: ["sh", "-c", "sleep 6; echo done > /out/done.txt"],
      mounts: { "/out": { kind: "tmp" }, "/scratch": { kind: "tmp" } },
    });
    const p = await ws.spawn();
    await waitForLog(ws, "Waiting for container to finish");
    const gcArgs = ["gc", "--tmp-dir", ws.tmp, "--min-age", "0", "--timeout", "60"];
    const byUser = await runBerthAsUser(user, [
      ...gcArgs,
      ...(engine === "singularity" ? [] : ["--runtime-engine", engine]),
    ], {
      profile: "hardened",
      env: ws.env(),
    });
    assert(
      !byUser.stdout.includes(ws.uuid),
      `the user's gc removed something of the running job: ${byUser.stdout}`,
    );
    const byRoot = await runBerth(gcArgs);
    assert(
      !byRoot.stdout.includes(ws.uuid),
      `root's gc removed something of the running job: ${byRoot.stdout}`,
    );
    const r = await p.done;
    assertEquals(r.code, 0, `${r.stderr}\n${await ws.read("logs/crunch-run.txt").catch(() => "")}`);
    assertEquals(await ws.read("output/done.txt"), "done\n");
    await assertCleanAfter(ws);
  });
}

for (const engine of ["docker", "podman"] as const) {
  Deno.test({
    name:
      `root's berth on ${engine}, image USER 1000:1000: the writable dirs are that user's for the run, nobody else's`,
    ignore: missing !== null,
    async fn() {
      const dir = await Deno.makeTempDir({ dir: ROOT, prefix: `rootimg-${engine}-` });
      const job = join(dir, "job.json");
      const uuid = `nonroot-rootimg-${engine}-${crypto.randomUUID().slice(0, 8)}`;
      const script = "id -u > /out/uid.txt; echo s > /scratch/x && echo scratch-ok > /out/scratch.txt; " +
        "stat -c '%a %u' /out /scratch > /out/modes.txt; umask 077; mkdir /out/p; echo x > /out/p/f";
      await Deno.writeTextFile(
        job,
        JSON.stringify({
          uuid,
          container_image: multilayer.path,
          command: ["sh", "-c", script],
          output_path: "/out",
          mounts: { "/out": { kind: "tmp" }, "/scratch": { kind: "tmp" } },
        }),
      );
      const work = join(dir, "work");
      const r = await runBerth([
        "run",
        job,
        "--work-dir",
        work,
        "--tmp-dir",
        dir,
        "--runtime-engine",
        engine,
      ]);
      assertEquals(r.code, 0, r.stderr);
      const out = (f: string) => Deno.readTextFile(join(work, "output", f));
      assertEquals((await out("uid.txt")).trim(), "1000", "the image's user");
      assertEquals(await out("scratch.txt"), "scratch-ok\n");
      assertEquals(await out("modes.txt"), "755 1000\n755 1000\n", "given to the image user, mode 0755");
      const entries = await walk(work);
      assertEquals(entries.filter((e) => e.info.uid !== 0).map((e) => e.path), [], "all given back to root");
      assertEquals(
        entries.filter((e) => ((e.info.mode ?? 0) & 0o002) !== 0).map((e) => e.path),
        [],
        "nothing writable by others",
      );
    },
  });
}

/** The gid of group `name` from /etc/group. */
async function groupId(name: string): Promise<number> {
  const line = (await Deno.readTextFile("/etc/group")).split("\n").find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`no group ${name}: run scripts/setup as root`);
  return Number(line.split(":")[2]);
}

Deno.test({
  name:
    "a SIF cache shared by two users (group berthcache, setgid + sticky): one converts, the other reuses, " +
    "and cannot replace the entry",
  ignore: missing !== null,
  async fn() {
    const second = TEST_USERS.second;
    const gid = await groupId(TEST_CACHE_GROUP);
    const cache = join(await Deno.makeTempDir({ dir: ROOT, prefix: "sifcache-" }), "cache");
    await Deno.chmod(join(cache, ".."), 0o755);
    await Deno.mkdir(cache);
    await Deno.chown(cache, 0, gid);
    await Deno.chmod(cache, 0o3775); // as README "A SIF cache shared by many users" says: install -d -g … -m 3775
    const runAs = async (who: typeof user, name: string) => {
      const ws = new UserWorkspace(
        await userDir(who, join(ROOT, `sif-${name}-${crypto.randomUUID().slice(0, 6)}`)),
        "singularity",
        name,
      );
      for (const d of ["tmp", "keep/by_id", "allowed"]) await userDir(who, join(ws.root, d));
      await ws.writeJob({
        command: ["sh", "-c", "echo hi > /out/hi.txt"],
        mounts: { "/out": { kind: "tmp" } },
      });
      const args = ws.args().map((a) => a === join(ws.root, "cache") ? cache : a);
      const r = await runBerthAsUser(who, [...args, "--image-cache-group", TEST_CACHE_GROUP], {
        profile: "hardened",
        env: { ...ws.env(), BERTH_ROOTS: `${ws.root},${IMAGES_DIR},/var/lock/berth-${who.uid},${cache}` },
      });
      const log = await ws.read("logs/crunch-run.txt").catch(() => "(no log)");
      assertEquals(r.code, 0, `${r.stderr}\n${log}`);
      assertEquals(await ws.read("output/hi.txt"), "hi\n");
      return log;
    };
    const first = await runAs(user, "a");
    assertStringIncludes(first, "Saved converted image");
    const entries: string[] = [];
    for await (const e of Deno.readDir(cache)) if (e.name.endsWith(".sif")) entries.push(e.name);
    assertEquals(entries.length, 1, entries.join(", "));
    const entry = join(cache, entries[0]);
    const before = await Deno.lstat(entry);
    assertEquals([before.uid, before.gid], [user.uid, gid], "the converter's, in the cache group (setgid)");
    assertEquals((before.mode ?? 0) & 0o222, 0, "entries are read-only");

    const reused = await runAs(second, "b");
    assertStringIncludes(reused, `Using cached image "${entry}"`);
    assert(!reused.includes("Saved converted image"), "the second user converted again");

    // The second user can neither delete, rename, nor rewrite the first user's entry (sticky, read-only).
    for (const cmd of [`rm -f '${entry}'`, `mv '${entry}' '${entry}.x'`, `echo x > '${entry}'`]) {
      const r = await runAsUser(second, "sh", ["-c", cmd]);
      assert(r.code !== 0, `${cmd} succeeded as ${second.name}`);
    }
    const after = await Deno.lstat(entry);
    assertEquals([after.ino, after.size, after.mtime?.getTime()], [
      before.ino,
      before.size,
      before.mtime?.getTime(),
    ]);
  },
});
