/**
 * `berth gc` as a subprocess on the real engines: it removes a planted orphan container (berth's labels, no
 * berth), a stale lock and a stale temp dir, and nothing else. Every gc run here names the jobs it may touch,
 * so that containers of other tests running on the same engines are never considered.
 */
import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { runBerth } from "../helpers/berth.ts";
import { ENGINE_SOCKETS, engineRequest } from "../helpers/engine_api.ts";
import { testImage } from "../images/mod.ts";
import { acquireJobLock } from "../../src/node/lock.ts";
import { lockPath } from "../../src/node/runtime_dir.ts";
import { jobOfTmpDir, jobTmpDirPrefix } from "../../src/node/tmp_dirs.ts";
import { deadPid, withDirs } from "./_helpers.ts";

const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);

async function plant(socket: string, name: string, labels: Record<string, string>): Promise<string> {
  const image = await testImage("busybox");
  if ((await engineRequest(socket, "GET", `/images/${image.id}/json`)).status !== 200) {
    const file = await Deno.open(image.path);
    const res = await engineRequest(socket, "POST", "/images/load?quiet=1", file.readable, {
      "Content-Type": "application/x-tar",
    });
    assertEquals(res.status, 200, res.text);
  }
  const res = await engineRequest(
    socket,
    "POST",
    `/containers/create?name=${name}`,
    JSON.stringify({
      Image: image.id,
      Cmd: ["sleep", "300"],
      Labels: labels,
      HostConfig: { NetworkMode: "none" },
    }),
    { "Content-Type": "application/json" },
  );
  assertEquals(res.status, 201, res.text);
  return (res.json as { Id: string }).Id;
}

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
    await withDirs(2, async (rt, tmp) => {
      const lock = await acquireJobLock(rt, live, { state: "Running", engine });
      try {
        const orphanId = await plant(socket, `berth-${orphan}`, {
          "org.berth.managed": "true",
          "org.berth.job": orphan,
        });
        ids.push(orphanId);
        // Labelled with the container name (`berth-<uuid>`), as the Docker executor labels containers.
        const liveId = await plant(socket, `berth-${live}`, {
          "org.berth.managed": "true",
          "org.berth.job": `berth-${live}`,
        });
        ids.push(liveId);
        // Names the orphan's job but lacks the managed label: not berth's.
        const foreignId = await plant(socket, `not-berth-${tag}`, { "org.berth.job": orphan });
        ids.push(foreignId);

        const gone = await deadPid();
        await Deno.writeTextFile(lockPath(rt, orphan), JSON.stringify({ uuid: orphan, pid: gone }));
        const staleTmp = await Deno.makeTempDir({ dir: tmp, prefix: jobTmpDirPrefix(orphan) });
        await Deno.writeTextFile(join(staleTmp, "scratch"), "x");
        const liveTmp = await Deno.makeTempDir({ dir: tmp, prefix: jobTmpDirPrefix(live) });
        await Deno.mkdir(join(tmp, "unrelated"));
        assertEquals(jobOfTmpDir(staleTmp.slice(tmp.length + 1)), orphan);

        const res = await runBerth([
          "gc",
          orphan,
          live,
          "--runtime-dir",
          rt,
          "--tmp-dir",
          tmp,
          "--runtime-engine",
          engine,
          "--min-age",
          "0",
        ]);
        assertEquals(res.code, 0, res.stdout + res.stderr);
        assertEquals(res.stdout.trimEnd().split("\n"), [
          `removed container berth-${orphan} (job ${orphan}, created) on ${engine}`,
          `removed stale lock ${lockPath(rt, orphan)} (job ${orphan}, pid ${gone})`,
          `removed stale tmp dir ${staleTmp} (job ${orphan})`,
        ]);
        assertEquals(await containerExists(socket, orphanId), false);
        assertEquals(await containerExists(socket, liveId), true);
        assertEquals(await containerExists(socket, foreignId), true);
        assertEquals(await exists(lockPath(rt, orphan)), false);
        assertEquals(await exists(lock.path), true);
        assertEquals(await exists(staleTmp), false);
        assertEquals(await exists(liveTmp), true);
        assertEquals(await exists(join(tmp, "unrelated")), true);

        const again = await runBerth([
          "gc",
          orphan,
          live,
          "--runtime-dir",
          rt,
          "--tmp-dir",
          tmp,
          "--runtime-engine",
          engine,
          "--min-age",
          "0",
        ]);
        assertEquals([again.code, again.stdout], [0, "nothing to remove\n"]);
      } finally {
        await lock.release();
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
