/**
 * One node, two ordinary users and root, everyone with the DEFAULT runtime dir: each user's `berth list`,
 * `berth kill` and `berth gc` see and act on that user's jobs only, root's on everybody's; nothing one of them
 * leaves blocks another (the bug: root's `/var/lock/berth-all.lock` made every later user's run fail). The jobs
 * are stand-in berths holding real job locks (tests/node/fixtures/hold_lock.ts) started as each user; the real
 * runs are in tests/e2e/non_root_test.ts.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { runBerth } from "../helpers/berth.ts";
import { runBerthAsUser, TEST_USERS, testUsersMissing, userDir } from "../helpers/as_user.ts";
import { testImage } from "../images/mod.ts";
import { deadPid, type Holder, plantRunContainer, startHolder } from "./_helpers.ts";
import { ENGINE_SOCKETS, engineRequest } from "../helpers/engine_api.ts";

const missing = await testUsersMissing();
const [A, B] = [TEST_USERS.first, TEST_USERS.second];
const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);

/** The lines of `berth list` output that name one of `uuids`. */
function linesOf(stdout: string, uuids: string[]): string[] {
  return stdout.split("\n").filter((l) => uuids.some((u) => l.startsWith(`${u} `))).sort();
}

/** Every entry of `dir` (recursively) that is not owned by `uid`. */
async function notOwnedBy(dir: string, uid: number): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    const st = await Deno.lstat(p);
    if (st.uid !== uid) out.push(`${p} (uid ${st.uid})`);
  }
  return out;
}

Deno.test({
  name:
    "two users and root with the default runtime dir: list, kill and gc act on the caller's jobs, root's on all",
  ignore: missing !== null,
  async fn() {
    const tag = crypto.randomUUID().slice(0, 8);
    const shared = `mu-${tag}-shared`; // one uuid, run by both users at once
    const rootJob = `mu-${tag}-root`;
    const aJob = `mu-${tag}-a`;
    const uuids = [shared, rootJob, aJob];
    // B's first default candidate is planted by A: B must skip it, not fail or share it.
    // (B's own dir from an earlier run is put aside for the test and put back afterwards.)
    const planted = `/var/lock/berth-${B.uid}`;
    const aside = `${planted}.aside-${tag}`;
    const hadOwn = await exists(planted);
    if (hadOwn) await Deno.rename(planted, aside);
    await userDir(A, planted, 0o755);
    const tmp = await userDir(A, await Deno.makeTempDir({ prefix: "berth-mu-tmp-" }), 0o1777);
    const holders: Holder[] = [];
    try {
      // Root first, so that its directory lock and marker exist before the users start (the reported bug).
      holders.push(await startHolder("-", rootJob));
      const aShared = await startHolder("-", shared, "", A);
      const bShared = await startHolder("-", shared, "", B);
      const aOnly = await startHolder("-", aJob, "", A);
      holders.push(aShared, bShared, aOnly);
      assertEquals(holders[0].path, `/var/lock/berth-0/berth-${rootJob}.lock`);
      assertEquals(aShared.path, `/var/lock/berth-${A.uid}/berth-${shared}.lock`);
      assertEquals(bShared.path, `${B.runtimeDir}/berth/berth-${shared}.lock`, "the planted dir is skipped");

      const listA = await runBerthAsUser(A, ["list"]);
      assertEquals(listA.code, 0, listA.stderr);
      assertEquals(linesOf(listA.stdout, uuids).map((l) => l.split(" ").at(-1)), [A.name, A.name]);
      assertEquals(linesOf(listA.stdout, uuids).map((l) => l.split(" ")[0]), [aJob, shared]);
      const listB = await runBerthAsUser(B, ["list", "--json"]);
      assertEquals(listB.code, 0, listB.stderr);
      const bJobs = JSON.parse(listB.stdout).jobs.filter((j: { uuid: string }) => uuids.includes(j.uuid));
      assertEquals(bJobs.map((j: { uuid: string; uid: number; pid: number }) => [j.uuid, j.uid, j.pid]), [
        [shared, B.uid, bShared.pid],
      ]);
      const listRoot = await runBerth(["list"]);
      assertEquals(listRoot.code, 0, listRoot.stderr);
      assertEquals(linesOf(listRoot.stdout, uuids).map((l) => `${l.split(" ")[0]} ${l.split(" ").at(-1)}`), [
        `${aJob} ${A.name}`,
        `${rootJob} root`,
        `${shared} ${A.name}`,
        `${shared} ${B.name}`,
      ]);

      // A cannot see, so cannot stop, root's job; root must say which of the two shared jobs it means.
      const aKillsRoot = await runBerthAsUser(A, ["kill", rootJob]);
      assertEquals([aKillsRoot.code, aKillsRoot.stdout], [0, `${rootJob}: not running on this node\n`]);
      const ambiguous = await runBerth(["kill", shared]);
      assertEquals(ambiguous.code, 2, ambiguous.stdout + ambiguous.stderr);
      assertStringIncludes(ambiguous.stderr, `job "${shared}" runs more than once on this node`);
      assertStringIncludes(ambiguous.stderr, `${A.name} in /var/lock/berth-${A.uid}`);
      assertStringIncludes(ambiguous.stderr, `${B.name} in ${B.runtimeDir}/berth`);

      // A stops its own run of the shared uuid; B's run of it goes on.
      const aKill = await runBerthAsUser(A, ["kill", shared]);
      assertEquals(aKill.code, 0, aKill.stderr);
      assertMatch(aKill.stdout, new RegExp(`^${shared}: berth pid ${aShared.pid} exited`));
      assertEquals((await aShared.status).code, 143);
      assertEquals(await exists(bShared.path), true);

      // Root stops A's other job (root acts on everybody's), naming it by uuid only.
      const rootKill = await runBerth(["kill", aJob]);
      assertEquals(rootKill.code, 0, rootKill.stderr);
      assertEquals((await aOnly.status).code, 143);

      // B's berth dies without cleaning up: A's gc must not touch B's stale lock, B's gc removes it.
      await bShared.kill();
      const aGc = await runBerthAsUser(A, ["gc", "--runtime-engine", "singularity", "--tmp-dir", tmp]);
      assertEquals(aGc.code, 0, aGc.stdout + aGc.stderr);
      assert(!aGc.stdout.includes(shared), aGc.stdout);
      assertEquals(await exists(bShared.path), true, "another user's stale lock is left alone");
      const bGc = await runBerthAsUser(B, [
        "gc",
        shared,
        "--runtime-engine",
        "singularity",
        "--tmp-dir",
        tmp,
      ]);
      assertEquals(bGc.code, 0, bGc.stdout + bGc.stderr);
      assertEquals(bGc.stdout, `removed stale lock ${bShared.path} (job ${shared}, pid ${bShared.pid})\n`);

      // Root's readers and cleaners never leave a root-owned file in a user's runtime dir.
      assertEquals(await notOwnedBy(`/var/lock/berth-${A.uid}`, A.uid), []);
      assertEquals(await notOwnedBy(`${B.runtimeDir}/berth`, B.uid), []);
      // And the users' next runs still lock fine after root's (root's directory lock exists by now).
      assert(await exists("/var/lock/berth-0/berth-all.lock"));
      const again = await startHolder("-", shared, "", A);
      holders.push(again);
      await again.kill();
    } finally {
      for (const h of holders) await h.kill();
      await runBerth(["gc", ...uuids, "--runtime-engine", "singularity", "--tmp-dir", tmp]);
      await Deno.remove(planted, { recursive: true }).catch(() => {});
      if (hadOwn) await Deno.rename(aside, planted);
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
  },
});

Deno.test({
  name: "berth run refuses a runtime dir other users can write, and one that is not the caller's",
  ignore: missing !== null,
  async fn() {
    const base = await userDir(A, await Deno.makeTempDir({ prefix: "berth-mu-rt-" }), 0o755);
    try {
      const open = await userDir(A, join(base, "open"), 0o777);
      const theirs = await userDir(B, join(base, "theirs"), 0o755);
      const job = join(base, "job.json");
      await Deno.writeTextFile(
        job,
        JSON.stringify({
          uuid: `mu-rt-${crypto.randomUUID().slice(0, 8)}`,
          container_image: (await testImage("busybox")).path,
          command: ["true"],
          output_path: "/out",
          mounts: { "/out": { kind: "tmp", capacity: 1000 } },
        }),
      );
      for (
        const [dir, why] of [[open, "it is writable by other users (mode 0777)"], [
          theirs,
          "it belongs to uid",
        ]]
      ) {
        const res = await runBerthAsUser(A, ["list", "--runtime-dir", dir]);
        assertEquals(res.code, 0, `list reads any dir it is given: ${res.stderr}`);
        const run = await runBerthAsUser(A, [
          "run",
          job,
          "--runtime-dir",
          dir,
          "--work-dir",
          join(base, "w"),
        ]);
        assertEquals(run.code, 2, run.stdout + run.stderr);
        assertStringIncludes(run.stderr, `Cannot use runtime dir "${dir}": ${why}`);
      }
    } finally {
      await Deno.remove(base, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "berth gc on Docker: a user's gc leaves another user's leftover container alone; its owner's gc removes it",
  ignore: missing !== null,
  async fn() {
    const socket = ENGINE_SOCKETS.docker;
    const tag = crypto.randomUUID().slice(0, 8);
    const uuid = `mu-gc-${tag}`;
    const gone = await deadPid();
    // B's run died without cleaning up: its lock file names a dead berth, its container is still there.
    const rt = await userDir(B, await Deno.makeTempDir({ prefix: "berth-mu-gc-" }), 0o755);
    const lock = join(rt, `berth-${uuid}.lock`);
    await Deno.writeTextFile(lock, JSON.stringify({ uuid, pid: gone, uid: B.uid, run: "0badc0de" }));
    await Deno.chown(lock, B.uid, B.gid);
    const planted = await plantRunContainer(socket, { uuid, uid: B.uid, run: "0badc0de", lockPath: lock });
    const ctr = planted.id;
    try {
      const gc = [
        "gc",
        uuid,
        "--runtime-engine",
        "docker",
        "--runtime-dir",
        rt,
        "--tmp-dir",
        rt,
        "--timeout",
        "60",
      ];
      const byA = await runBerthAsUser(A, gc);
      assertEquals([byA.code, byA.stdout], [0, "nothing to remove\n"], byA.stderr);
      assertStringIncludes(byA.stderr, `skipped runtime dir ${rt}: it is uid ${B.uid}'s, not this user's`);
      assertEquals(await exists(lock), true, "another user's stale lock is left alone");
      assertEquals((await engineRequest(socket, "GET", `/containers/${ctr}/json`)).status, 200);
      const byB = await runBerthAsUser(B, gc);
      assertEquals(byB.code, 0, byB.stderr);
      assertStringIncludes(byB.stdout, `removed container ${planted.name} (job ${uuid}, created) on docker`);
      assertEquals((await engineRequest(socket, "GET", `/containers/${ctr}/json`)).status, 404);
    } finally {
      await engineRequest(socket, "DELETE", `/containers/${ctr}?force=1`);
      await Deno.remove(rt, { recursive: true });
    }
  },
});
