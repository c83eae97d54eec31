import { join } from "node:path";
import { EngineError } from "../../../src/errors.ts";
import { envPrefix, resolveEngine } from "../../../src/executor/singularity/mod.ts";
import { assertEquals, assertRejects, assertStringIncludes } from "../../helpers/assert.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

/** Makes `dir/name` an executable (or, with mode 0o644, a non-executable) file. */
async function program(dir: string, name: string, mode = 0o755): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, name);
  await Deno.writeTextFile(path, "#!/bin/sh\nexit 0\n");
  await Deno.chmod(path, mode);
  return path;
}

const withEngineDir = (fn: (dir: string) => Promise<void>) => withTempDir(fn, "berth-engine-test-");

Deno.test("envPrefix() names the variable prefix of each engine", () => {
  assertEquals(envPrefix("singularity"), "SINGULARITY");
  assertEquals(envPrefix("apptainer"), "APPTAINER");
});

Deno.test("resolveEngine() in auto mode prefers apptainer anywhere on PATH over singularity", async () => {
  await withEngineDir(async (dir) => {
    const s = await program(join(dir, "a"), "singularity");
    const a = await program(join(dir, "b"), "apptainer");
    const path = `${dir}/a:${dir}/b`;
    assertEquals(await resolveEngine("auto", undefined, path), { engine: "apptainer", path: a });
    assertEquals(await resolveEngine("singularity", undefined, path), { engine: "singularity", path: s });
    assertEquals(await resolveEngine("auto", undefined, `${dir}/a`), { engine: "singularity", path: s });
  });
});

Deno.test("resolveEngine() skips files that are not executable and resolves relative PATH entries", async () => {
  await withEngineDir(async (dir) => {
    await program(join(dir, "a"), "apptainer", 0o644);
    const good = await program(join(dir, "b"), "apptainer");
    assertEquals(await resolveEngine("apptainer", undefined, "a:b", dir), {
      engine: "apptainer",
      path: good,
    });
  });
});

Deno.test("resolveEngine() takes an explicit binary by path or by name and infers the engine in auto mode", async () => {
  await withEngineDir(async (dir) => {
    const custom = await program(join(dir, "bin"), "apptainer-1.2");
    const sing = await program(join(dir, "bin"), "my-runtime");
    assertEquals(await resolveEngine("auto", custom, undefined), { engine: "apptainer", path: custom });
    assertEquals(await resolveEngine("auto", "bin/my-runtime", undefined, dir), {
      engine: "singularity",
      path: sing,
    });
    assertEquals(await resolveEngine("apptainer", "my-runtime", `${dir}/bin`), {
      engine: "apptainer",
      path: sing,
    });
  });
});

Deno.test("resolveEngine() fails with EngineError naming what is missing", async () => {
  await withEngineDir(async (dir) => {
    const err = await assertRejects(() => resolveEngine("auto", undefined, dir), EngineError);
    assertStringIncludes(err.message, `Cannot find "apptainer" or "singularity" on PATH "${dir}"`);
    const err2 = await assertRejects(() => resolveEngine("singularity", join(dir, "nope"), dir), EngineError);
    assertStringIncludes(err2.message, `"${join(dir, "nope")}": not an executable file`);
    await assertRejects(() => resolveEngine("singularity", undefined, undefined), EngineError);
  });
});
