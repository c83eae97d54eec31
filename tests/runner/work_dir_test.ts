import { assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { UsageError } from "../../src/errors.ts";
import { checkWorkDir, createWorkDir, workDirLayout } from "../../src/runner/work_dir.ts";

Deno.test("checkWorkDir() accepts a missing or empty dir and refuses anything else with exit 2", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await checkWorkDir(`${dir}/new`);
    await checkWorkDir(dir);
    await Deno.writeTextFile(`${dir}/state.json`, "{}");
    const err = await assertRejects(() => checkWorkDir(dir), UsageError);
    assertEquals(err.exitCode, 2);
    assertMatch(err.message, /^Cannot use work dir ".*": it is not empty/);
    const file = await assertRejects(() => checkWorkDir(`${dir}/state.json`), UsageError);
    assertMatch(file.message, /exists and is not a directory/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createWorkDir() makes logs/ and output/, writable by their owner only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const layout = workDirLayout(`${dir}/w`);
    await createWorkDir(layout);
    assertEquals((await Deno.stat(layout.logs)).isDirectory, true);
    assertEquals((await Deno.stat(layout.output)).mode! & 0o7777, 0o755);
    assertEquals(layout.crunchLog, `${dir}/w/logs/crunch-run.txt`);
    assertEquals(layout.state, `${dir}/w/state.json`);
    assertEquals(layout.outputManifest, `${dir}/w/output.json`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
