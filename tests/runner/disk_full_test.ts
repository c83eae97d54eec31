import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { describeFull, whereFull } from "../../src/runner/disk_full.ts";
import { withTempDir } from "./_job.ts";

const full = (text: string) =>
  Object.assign(new Error(`No space left on device (os error 28)${text}`), { code: "ENOSPC" });

Deno.test("whereFull() places a full disk by the path in the message, the deeper directory winning", async () => {
  const dirs = { workDir: "/scratch/jobs/w1", tmpDir: "/scratch" };
  assertEquals(await whereFull(full(": writefile '/scratch/jobs/w1/logs/x'"), dirs, "probe"), "work");
  assertEquals(await whereFull(full(": mkdir '/scratch/berth-x/tmp0'"), dirs, "probe"), "tmp");
  assertEquals(
    await whereFull(full(": copy '/keep/a' -> '/scratch/jobs/w1/output/a'"), dirs, "probe"),
    "work",
  );
  assertEquals(await whereFull(full(""), dirs, "work"), "work");
  assertEquals(await whereFull(new Error("Permission denied (os error 13)"), dirs, "work"), null);
  const quota = Object.assign(new Error("Disk quota exceeded (os error 122)"), { code: "EDQUOT" });
  assertEquals(await whereFull(quota, dirs, "tmp"), "tmp");
});

Deno.test("whereFull() probes the tmp dir when nothing says where the disk is full", async () => {
  await withTempDir(async (dir) => {
    await Deno.mkdir(`${dir}/tmp`);
    // The tmp dir has room, so the full disk must be the work dir's.
    assertEquals(await whereFull(full(""), { workDir: `${dir}/w`, tmpDir: `${dir}/tmp` }, "probe"), "work");
    const names: string[] = [];
    for await (const e of Deno.readDir(`${dir}/tmp`)) names.push(e.name);
    assertEquals(names, [], "the probe file is removed");
  });
});

Deno.test("describeFull() names the directory and keeps the system's message", () => {
  assertMatch(
    describeFull("tmp", { workDir: "/w", tmpDir: "/t" }, full("")),
    /^The node's tmp dir is full \("\/t"\): No space left on device/,
  );
});
