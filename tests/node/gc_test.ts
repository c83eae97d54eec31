/**
 * `berth gc` as a subprocess on the real engines: it removes a planted orphan container (berth's labels, no
 * berth), a stale lock and a stale temp dir, and nothing else. Every gc run here names the jobs it may touch,
 * so that containers of other tests running on the same engines are never considered.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { runBerth } from "../helpers/berth.ts";
import { ENGINE_SOCKETS, engineRequest } from "../helpers/engine_api.ts";
import { acquireJobLock } from "../../src/node/lock.ts";
import { lockPath } from "../../src/node/runtime_dir.ts";
import { createJobTmpDir, jobOfTmpDir, jobTmpDirPrefix } from "../../src/node/tmp_dirs.ts";
import { deadPid, plantContainer, plantRunContainer, withDirs } from "./_helpers.ts";

const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);

async function containerExists(socket: string, id: string): Promise<boolean> {
  return (await engineRequest(socket, "GET", `/containers/${id}/json`)).status === 200;
}

for (const engine of ["docker", "podman"] as const) {
  Deno.test(`berth gc removes a planted orphan container, stale lock and temp dir, and nothing else, on ${engine}`, async () => {
    const socket = ENGINE_SOCKETS[engine];
    const tag = crypto.randomUUID().slice(0, 8);
    const orphan = `gc-orphan-${engine}-${tag}`;
    const live = `gc-live-${engine}-${tag}`;
    const ids: string[] = [];
    await withDirs(3, async (rt, tmp, otherRt) => {
      const lock = await acquireJobLock(rt, live, { state: "Running", engine });
      // Another run of the same uuid (another user, or another runtime dir): its container is not `live`'s.
      const other = await acquireJobLock(otherRt, orphan, { state: "Running", engine });
      try {
        const uid = Deno.uid()!;
        const gone = await deadPid();
        await Deno.writeTextFile(
          lockPath(rt, orphan),
          JSON.stringify({ uuid: orphan, pid: gone, run: "0badc0de" }),
        );
        const plant = (uuid: string, run: string, lockFile: string) =>
          plantRunContainer(socket, { uuid, uid, run, lockPath: lockFile });
        const orphanRun = await plant(orphan, "0badc0de", lockPath(rt, orphan));
        const liveRun = await plant(live, lock.record.run!, lock.path);
        // Same uuid as the orphan, live run elsewhere: named by its own lock and token, so gc leaves it.
        const otherRun = await plant(orphan, other.record.run!, other.path);
        // The live job's lock with a token that is not the holder's: an earlier run's container, now garbage.
        const earlier = await plant(live, "00000001", lock.path);
        ids.push(orphanRun.id, liveRun.id, otherRun.id, earlier.id);
        const [orphanId, liveId, otherId, earlierId] = [orphanRun.id, liveRun.id, otherRun.id, earlier.id];
        // Another user's orphan: only that user's gc (or root's) may remove it; this one runs as root, so it is
        // checked by the two-user tests instead. Names the orphan's job but lacks the managed label: not berth's.
        const foreignId = await plantContainer(socket, `not-berth-${tag}`, { "org.berth.job": orphan });
        ids.push(foreignId);

        const staleTmp = await Deno.makeTempDir({ dir: tmp, prefix: jobTmpDirPrefix(orphan) });
        await Deno.writeTextFile(join(staleTmp, "scratch"), "x");
        const liveTmp = await createJobTmpDir(tmp, live);
        // Its berth died: the lock file stays and nobody holds it.
        const deadTmp = await Deno.makeTempDir({ dir: tmp, prefix: jobTmpDirPrefix(orphan) });
        await Deno.writeTextFile(join(deadTmp, ".berth-run.lock"), "");
        // The Singularity executor's own dir, and other names in the tmp dir, are never taken for a job's.
        await Deno.mkdir(join(tmp, "berth-singularity-1a2b3c4d"));
        await Deno.mkdir(join(tmp, "unrelated"));
        assertEquals(jobOfTmpDir(staleTmp.slice(tmp.length + 1)), orphan);

        // A generous engine timeout: the suite shares these daemons with other tests running at the same time.
        const args = [
          "gc",
          orphan,
          live,
          "--runtime-dir",
          rt,
          "--tmp-dir",
          tmp,
          "--runtime-engine",
          engine,
          "--timeout",
          "60",
        ];
        const young = await runBerth(args);
        assertEquals(young.code, 0, young.stdout + young.stderr);
        assertEquals(
          young.stdout.trimEnd().split("\n").sort(),
          [
            `removed container ${earlier.name} (job ${live}, created) on ${engine}`,
            `removed container ${orphanRun.name} (job ${orphan}, created) on ${engine}`,
            `removed stale lock ${lockPath(rt, orphan)} (job ${orphan}, pid ${gone})`,
            `removed stale tmp dir ${deadTmp} (job ${orphan})`,
          ].sort(),
        );
        assertEquals(await exists(staleTmp), true, "a temp dir without its lock is left while it is young");

        const res = await runBerth([...args, "--min-age", "0"]);
        assertEquals(res.code, 0, res.stdout + res.stderr);
        assertEquals(res.stdout, `removed stale tmp dir ${staleTmp} (job ${orphan})\n`);
        assertEquals(await containerExists(socket, orphanId), false);
        assertEquals(await containerExists(socket, earlierId), false);
        assertEquals(await containerExists(socket, liveId), true);
        assertEquals(await containerExists(socket, otherId), true);
        assertEquals(await containerExists(socket, foreignId), true);
        assertEquals(await exists(lockPath(rt, orphan)), false);
        assertEquals(await exists(lock.path), true);
        assertEquals(await exists(liveTmp.path), true);
        assertEquals(await exists(join(tmp, "berth-singularity-1a2b3c4d")), true);
        assertEquals(await exists(join(tmp, "unrelated")), true);

        const again = await runBerth([...args, "--min-age", "0"]);
        assertEquals([again.code, again.stdout], [0, "nothing to remove\n"]);
        await liveTmp.release();
        assertEquals(await exists(liveTmp.path), false);
      } finally {
        await lock.release();
        await other.release();
        for (const id of ids) await engineRequest(socket, "DELETE", `/containers/${id}?force=1`);
      }
    });
  });
}

Deno.test("berth gc fails when the engine it is told to clean cannot be reached", async () => {
  await withDirs(2, async (rt, tmp) => {
    const socket = join(rt, "docker.sock");
    const res = await runBerth(
      ["gc", "--runtime-dir", rt, "--tmp-dir", tmp, "--docker-socket", socket],
      { env: { BERTH_EXTRA_NET: `unix:${socket}` } },
    );
    assertEquals(res.code, 125);
    assert(
      res.stderr.startsWith(
        `berth: gc: Cannot clean containers on docker at unix://${socket}: Cannot connect to the Docker daemon`,
      ),
      res.stderr,
    );
  });
});
