/**
 * Container statistics on the real engines here (cgroup v1): a container that burns CPU and holds 100 MiB of
 * anonymous memory (busybox dd with a 100 MiB buffer, reading /dev/zero into it over and over).
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { ENGINE_SOCKETS, engineRequest } from "../helpers/engine_api.ts";
import { testImage } from "../images/mod.ts";
import { startCrunchstat } from "../../src/stats/crunchstat.ts";
import { startHoststat } from "../../src/stats/hoststat.ts";

const MiB = 1024 * 1024;
const BUFFER = 100 * MiB;
const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z /;

/** Loads the busybox test image into the engine if it is not there yet; returns its ID. */
async function busyboxOn(socket: string): Promise<string> {
  const image = await testImage("busybox");
  const present = await engineRequest(socket, "GET", `/images/${image.id}/json`);
  if (present.status !== 200) {
    const file = await Deno.open(image.path);
    const res = await engineRequest(socket, "POST", "/images/load?quiet=1", file.readable, {
      "Content-Type": "application/x-tar",
    });
    assertEquals(res.status, 200, res.text);
  }
  return image.id;
}

/** Creates and starts a container running `cmd`; returns its id. */
async function startContainer(socket: string, name: string, cmd: string[]): Promise<string> {
  const image = await busyboxOn(socket);
  const created = await engineRequest(
    socket,
    "POST",
    `/containers/create?name=${name}`,
    JSON.stringify({
      Image: image,
      Cmd: cmd,
      HostConfig: {
        NetworkMode: "none",
        // Podman's service here cannot raise rlimits to its configured defaults: ask for lower ones.
        Ulimits: [{ Name: "nproc", Soft: 4096, Hard: 4096 }, { Name: "nofile", Soft: 1024, Hard: 1024 }],
      },
    }),
    { "Content-Type": "application/json" },
  );
  assertEquals(created.status, 201, created.text);
  const id = (created.json as { Id: string }).Id;
  const started = await engineRequest(socket, "POST", `/containers/${id}/start`);
  assert(started.status === 204 || started.status === 304, started.text);
  return id;
}

async function containerPid(socket: string, id: string): Promise<number> {
  const res = await engineRequest(socket, "GET", `/containers/${id}/json`);
  return (res.json as { State?: { Pid?: number } })?.State?.Pid ?? 0;
}

/** Polls `check` every 50 ms until it is true or `ms` have passed. */
async function until(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return await check();
}

for (const engine of ["docker", "podman"] as const) {
  Deno.test(`startCrunchstat() reports CPU growth, rss and memory warnings for a busy container on ${engine}`, async () => {
    const socket = ENGINE_SOCKETS[engine];
    const dir = await Deno.makeTempDir({ prefix: "berth-crunchstat-test-" });
    const name = `berth-stats-test-${engine}-${crypto.randomUUID().slice(0, 8)}`;
    let id = "";
    try {
      id = await startContainer(socket, name, [
        "dd",
        "if=/dev/zero",
        "of=/dev/null",
        `bs=${BUFFER}`,
        "count=1000000",
      ]);
      const statsFile = join(dir, "crunchstat.txt");
      const logs: string[] = [];
      const stats = await startCrunchstat({
        pid: () => containerPid(socket, id),
        intervalMs: 400,
        sampleMs: 100,
        ramLimit: BUFFER,
        log: (m) => logs.push(m),
        statsFile,
        tmpDir: dir,
      });
      const cpuLines = async () =>
        (await Deno.readTextFile(statsFile).catch(() => "")).split("\n").filter((l) =>
          / cpu [\d.]+ user /.test(l)
        );
      const enough = await until(30_000, async () => (await cpuLines()).length >= 4);
      await stats.stop();
      assert(enough, `fewer than 4 cpu lines in 30 s:\n${await Deno.readTextFile(statsFile)}`);

      const lines = (await Deno.readTextFile(statsFile)).split("\n").filter((l) => l !== "");
      for (const l of lines) assertMatch(l, TS);
      const text = lines.map((l) => l.replace(TS, ""));
      assert(
        text.some((l) => /^notice: reading stats from \/sys\/fs\/cgroup\/memory\/.+\/memory\.stat$/.test(l)),
      );

      const cpu = text.filter((l) => l.startsWith("cpu ")).map((l) => {
        const m = /^cpu ([\d.]+) user ([\d.]+) sys ([\d.]+) cpus/.exec(l)!;
        return { total: Number(m[1]) + Number(m[2]), cpus: Number(m[3]) };
      });
      assert(cpu.at(-1)!.total > cpu[0].total, `CPU time did not grow: ${JSON.stringify(cpu)}`);
      assert(cpu[0].cpus >= 1, `CPU count ${cpu[0].cpus}`);
      assertMatch(
        text.filter((l) => l.startsWith("cpu ")).at(-1)!,
        / -- interval \d+\.\d{4} seconds [\d.]+ user [\d.]+ sys$/,
      );

      const rss = text.filter((l) => l.startsWith("mem ")).map((l) => Number(/ (\d+) rss$/.exec(l)![1]));
      const last = rss.at(-1)!;
      assert(Math.abs(last - BUFFER) <= BUFFER * 0.2, `rss ${last} is not within 20% of ${BUFFER}`);

      for (const p of [90, 95, 99]) {
        const hits = logs.filter((m) => m.startsWith(`Container using over ${p}% of memory (rss `));
        assertEquals(hits.length, 1, `the ${p}% warning should appear once:\n${logs.join("\n")}`);
      }
      assert(
        logs.some((m) =>
          /^Total CPU usage was \d+\.\d{6} user and \d+\.\d{6} sys on \d+\.\d\d CPUs$/.test(m)
        ),
      );
      assert(
        logs.some((m) => /^Maximum container memory rss usage was 1\d\d%, \d+\/104857600 bytes$/.test(m)),
        logs.join("\n"),
      );
    } finally {
      if (id) await engineRequest(socket, "DELETE", `/containers/${id}?force=1`);
      await Deno.remove(dir, { recursive: true });
    }
  });
}

Deno.test("startCrunchstat() with interval 0 writes nothing and stops at once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-crunchstat-test-" });
  try {
    const stats = await startCrunchstat({
      pid: () => Deno.pid,
      intervalMs: 0,
      ramLimit: 0,
      log: () => {},
      statsFile: join(dir, "crunchstat.txt"),
    });
    await stats.stop();
    assertEquals([...Deno.readDirSync(dir)].length, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startCrunchstat() warns once when no process ID comes, and says so at stop", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-crunchstat-test-" });
  try {
    const statsFile = join(dir, "crunchstat.txt");
    const stats = await startCrunchstat({
      pid: () => 0,
      intervalMs: 200,
      ramLimit: 0,
      log: () => {},
      statsFile,
    });
    await until(5_000, async () => (await Deno.readTextFile(statsFile)).includes("still waiting"));
    await stats.stop();
    const text = await Deno.readTextFile(statsFile);
    assertEquals(text.split("\n").filter((l) => l.includes("still waiting")).length, 1, text);
    assertMatch(text, /warning: never got a process ID to read statistics for\n$/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("startHoststat() reports berth's cgroup, memory, load, host memory and disk space", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-hoststat-test-" });
  try {
    const statsFile = join(dir, "hoststat.txt");
    const logs: string[] = [];
    const stats = await startHoststat({
      intervalMs: 300,
      log: (m) => logs.push(m),
      statsFile,
      tmpDir: dir,
      workDir: dir,
    });
    await until(
      10_000,
      async () =>
        (await Deno.readTextFile(statsFile)).split("\n").filter((l) => / load /.test(l)).length >= 2,
    );
    await stats.stop();
    const text = (await Deno.readTextFile(statsFile)).split("\n").map((l) => l.replace(TS, ""));
    assert(text.some((l) => /^mem( \d+ \w+)* \d+ rss$/.test(l)), text.join("\n"));
    assert(text.some((l) => /^procmem \d+ berth$/.test(l)));
    assert(text.some((l) => /^cpu [\d.]+ user [\d.]+ sys [\d.]+ cpus -- interval /.test(l)));
    assert(text.some((l) => /^load [\d.]+ [\d.]+ [\d.]+$/.test(l)));
    assert(text.some((l) => /^hostmem \d+ total \d+ available \d+ swaptotal \d+ swapfree$/.test(l)));
    assert(text.some((l) => /^statfs \d+ available \d+ used \d+ total/.test(l)));
    assert(text.some((l) => l.startsWith(`statfs:${dir} `)));
    assertEquals(logs.length, 1, logs.join("\n"));
    const m = /^Maximum berth memory rss usage was (\d+) bytes$/.exec(logs[0]);
    assert(m && Number(m[1]) > 10 * MiB, logs[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
