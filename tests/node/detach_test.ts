/**
 * The detach → list → kill round trip with a real `berth run` in the background, on Docker and Podman: the
 * detached berth holds the job lock, `berth list` shows it, `berth kill` stops it, and no container is left.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { runBerth } from "../helpers/berth.ts";
import { berthContainers, ENGINE_SOCKETS } from "../helpers/engine_api.ts";
import { testImage } from "../images/mod.ts";
import { detachRun, profileFlags, withoutDetach } from "../../src/node/detach.ts";
import { JobLockedError } from "../../src/node/lock.ts";
import { processAlive } from "../../src/node/process.ts";
import { lockPath } from "../../src/node/runtime_dir.ts";
import { assertRejects } from "../helpers/assert.ts";
import { withDirs } from "./_helpers.ts";

Deno.test("withoutDetach() drops --detach before the end of options only", () => {
  assertEquals(withoutDetach(["run", "--detach", "job.json", "--", "--detach"]), [
    "run",
    "job.json",
    "--",
    "--detach",
  ]);
  assertEquals(withoutDetach(["run", "job.json", "--detach=true"]), ["run", "job.json"]);
});

Deno.test("profileFlags() expands variables and drops empty list entries as scripts/lib/profile.sh does", () => {
  const text = "# comment\n--allow-run=df,${A},${B}\n\n--allow-read # trailing\n--allow-net=${B}\n";
  assertEquals(profileFlags(text, (n) => (n === "A" ? "x" : "")), [
    "--allow-run=df,x",
    "--allow-read",
    "--allow-net=",
  ]);
});

async function until(ms: number, check: () => Promise<boolean>): Promise<boolean> {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return await check();
}

for (const engine of ["docker", "podman"] as const) {
  Deno.test(`berth run --detach starts the run in the background; berth list shows it and berth kill stops it on ${engine}`, async () => {
    await withDirs(3, async (rt, tmp, base) => {
      const uuid = `detach-${engine}-${crypto.randomUUID().slice(0, 8)}`;
      const job = join(base, "job.json");
      const workDir = join(base, "work");
      await Deno.writeTextFile(
        job,
        JSON.stringify({
          uuid,
          container_image: (await testImage("busybox")).path,
          command: ["sleep", "300"],
          output_path: "/out",
          mounts: { "/out": { kind: "tmp", capacity: 1000 } },
          runtime_constraints: { vcpus: 1, ram: 64 * 1024 * 1024 },
        }),
      );
      const args = [
        "run",
        job,
        "--detach",
        "--work-dir",
        workDir,
        "--runtime-dir",
        rt,
        "--tmp-dir",
        tmp,
        "--runtime-engine",
        engine,
        "--crunchstat-interval",
        "1",
      ];
      let pid = 0;
      try {
        // Through the CLI, as a dispatcher would call it: one JSON line, at once.
        const started = await runBerth(args);
        assertEquals(started.code, 0, started.stderr);
        const detached = JSON.parse(started.stdout);
        assertEquals(Object.keys(detached), ["uuid", "pid"]);
        pid = detached.pid;
        assertEquals(detached.uuid, uuid);
        assert(await processAlive(pid), "the background berth runs");
        await assertRejects(() => detachRun({ args, uuid, runtimeDir: rt }), JobLockedError);

        const list = await runBerth(["list", "--runtime-dir", rt]);
        const log = await Deno.readTextFile(join(workDir, "logs", "crunch-run.txt")).catch(() => "(no log)");
        assertMatch(
          list.stdout,
          new RegExp(`^${uuid} ${pid} \\S+ ${engine} \\S+Z root\\n$`),
          `berth list does not show the job; its log:\n${log.split("\n").slice(-6).join("\n")}`,
        );

        // Wait until the container runs, so that kill has a container to stop.
        const socket = ENGINE_SOCKETS[engine];
        const running = await until(
          60_000,
          async () =>
            (await Deno.readTextFile(join(workDir, "logs", "crunch-run.txt")).catch(() => "")).includes(
              "Container started",
            ) ||
            (await berthContainers(socket)).some((n) => n.includes(uuid)),
        );
        assert(running, "the container did not start within 60 s");

        const kill = await runBerth(["kill", uuid, "--runtime-dir", rt, "--wait", "30"]);
        assertEquals(kill.code, 0, kill.stdout + kill.stderr);
        assertMatch(kill.stdout, new RegExp(`^${uuid}: berth pid ${pid} exited [\\d.]+ s after SIGTERM\\n$`));
        assertEquals(await processAlive(pid), false);
        assertEquals(
          (await berthContainers(socket)).filter((n) => n.includes(uuid)),
          [],
          "no container is left",
        );
        assertEquals(
          await Deno.lstat(lockPath(rt, uuid)).then(() => true, () => false),
          false,
          "lock released",
        );
        const state = JSON.parse(await Deno.readTextFile(join(workDir, "state.json")));
        assertEquals(state.state, "Cancelled");
      } finally {
        if (pid > 0 && await processAlive(pid)) {
          await runBerth(["kill", uuid, "--signal", "KILL", "--runtime-dir", rt]);
        }
        const socket = ENGINE_SOCKETS[engine];
        if ((await berthContainers(socket)).some((n) => n.includes(uuid))) {
          await runBerth([
            "gc",
            uuid,
            "--runtime-dir",
            rt,
            "--tmp-dir",
            tmp,
            "--runtime-engine",
            engine,
            "--min-age",
            "0",
          ]);
        }
      }
    });
  });
}
