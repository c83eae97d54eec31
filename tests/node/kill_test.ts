/** `berth list` and `berth kill` as subprocesses, against stand-in berths that hold job locks. */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { runBerth } from "../helpers/berth.ts";
import { lockPath } from "../../src/node/runtime_dir.ts";
import { startHolder, withDirs } from "./_helpers.ts";

const exists = (p: string) => Deno.lstat(p).then(() => true, () => false);

Deno.test("berth kill stops a running job's berth with SIGTERM and berth list shows it first", async () => {
  await withDirs(1, async (rt) => {
    const holder = await startHolder(rt, "kill-term-job");
    try {
      const list = await runBerth(["list", "--runtime-dir", rt]);
      assertEquals(list.code, 0, list.stderr);
      assertMatch(
        list.stdout,
        new RegExp(`^kill-term-job ${holder.pid} Running docker \\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z root\\n$`),
      );
      const kill = await runBerth(["kill", "kill-term-job", "--runtime-dir", rt]);
      assertEquals(kill.code, 0, kill.stderr);
      assertMatch(
        kill.stdout,
        new RegExp(`^kill-term-job: berth pid ${holder.pid} exited [\\d.]+ s after SIGTERM\\n$`),
      );
      assertEquals((await holder.status).code, 143);
      assertEquals(await exists(lockPath(rt, "kill-term-job")), false);
      const again = await runBerth(["kill", "kill-term-job", "--runtime-dir", rt]);
      assertEquals([again.code, again.stdout], [0, "kill-term-job: not running on this node\n"]);
      const empty = await runBerth(["list", "--runtime-dir", rt, "--json"]);
      assertEquals(JSON.parse(empty.stdout), { broken: false, jobs: [] });
    } finally {
      await holder.kill();
    }
  });
});

Deno.test("berth kill fails when the berth ignores the signal, and --signal KILL ends it", async () => {
  await withDirs(1, async (rt) => {
    const holder = await startHolder(rt, "kill-stubborn-job", "ignore-term");
    try {
      const term = await runBerth(["kill", "kill-stubborn-job", "--wait", "0.5", "--runtime-dir", rt]);
      assertEquals(term.code, 125);
      assertMatch(
        term.stderr,
        new RegExp(
          `^berth: Job "kill-stubborn-job": berth \\(pid ${holder.pid}\\) is still running [\\d.]+ s after SIGTERM\\n$`,
        ),
      );
      const kill = await runBerth(["kill", "kill-stubborn-job", "--signal", "SIGKILL", "--runtime-dir", rt]);
      assertEquals(kill.code, 0, kill.stderr);
      assertEquals((await holder.status).signal, "SIGKILL");
      // The berth could not remove its lock file; kill removed it once the process was gone.
      assertEquals(await exists(lockPath(rt, "kill-stubborn-job")), false);
    } finally {
      await holder.kill();
    }
  });
});

Deno.test("berth list shows stale locks and the broken marker", async () => {
  await withDirs(1, async (rt) => {
    const holder = await startHolder(rt, "list-stale-job");
    await holder.kill(); // SIGKILL: the lock file stays behind
    await Deno.writeTextFile(join(rt, "berth-broken"), "2026-01-01T00:00:00Z engine down\n");
    const list = await runBerth(["list", "--runtime-dir", rt]);
    assertEquals(list.code, 0, list.stderr);
    assertMatch(list.stdout, new RegExp(`^list-stale-job ${holder.pid} stale docker \\S+ root\\nbroken\\n$`));
    const json = JSON.parse((await runBerth(["list", "--json", "--runtime-dir", rt])).stdout);
    assertEquals(json.broken, true);
    assertEquals(json.jobs.map((j: { uuid: string; stale: boolean }) => [j.uuid, j.stale]), [[
      "list-stale-job",
      true,
    ]]);
    const kill = await runBerth(["kill", "list-stale-job", "--runtime-dir", rt]);
    assertEquals(kill.code, 0);
    assertStringIncludes(kill.stdout, "removed its stale lock");
  });
});

Deno.test("berth kill rejects an unknown signal, a bad uuid and a missing uuid with exit 2", async () => {
  await withDirs(1, async (rt) => {
    const sig = await runBerth(["kill", "some-job", "--signal", "HUP", "--runtime-dir", rt]);
    assertEquals(sig.code, 2);
    assertEquals(sig.stderr, 'berth: kill: --signal must be one of TERM, INT, QUIT, KILL, got "HUP"\n');
    const bad = await runBerth(["kill", "../etc/passwd", "--runtime-dir", rt]);
    assertEquals(bad.code, 2);
    assertStringIncludes(bad.stderr, 'kill: "../etc/passwd" is not a job uuid');
    const none = await runBerth(["kill", "--runtime-dir", rt]);
    assertEquals(none.code, 2);
    assert(none.stderr.startsWith("berth: kill: expected one job uuid"));
  });
});
