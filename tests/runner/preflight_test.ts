import { assertEquals, assertRejects } from "../helpers/assert.ts";
import { UsageError } from "../../src/errors.ts";
import { checkNamedTargets } from "../../src/runner/preflight.ts";
import { FIXTURE_BIN } from "../fixtures/singularity/mod.ts";
import { fakePlan } from "./_fakes.ts";
import { withTempDir } from "./_job.ts";

async function message(p: Promise<unknown>): Promise<string> {
  return (await assertRejects(() => p, UsageError)).message;
}

Deno.test("checkNamedTargets() refuses a named socket that is missing, not a socket, or not unix://", async () => {
  await withTempDir(async (dir) => {
    const { options } = await fakePlan(dir);
    assertEquals(
      await message(checkNamedTargets({ ...options, dockerSocket: `${dir}/none.sock` }, {})),
      `run: --docker-socket names "${dir}/none.sock", which does not exist`,
    );
    await Deno.writeTextFile(`${dir}/file`, "");
    assertEquals(
      await message(checkNamedTargets({ ...options, engine: "auto" }, { DOCKER_HOST: `unix://${dir}/file` })),
      `run: DOCKER_HOST names "${dir}/file", which is not a unix socket`,
    );
    assertEquals(
      await message(checkNamedTargets({ ...options, engine: "auto" }, { CONTAINER_HOST: "tcp://h:1" })),
      'Cannot use CONTAINER_HOST="tcp://h:1": berth speaks to the engine only on a unix socket (unix:///path)',
    );
    // Defaults are not the user's to get wrong: an engine found by default is checked when it is used.
    await checkNamedTargets(options, {});
    await checkNamedTargets({ ...options, engine: "singularity" }, { DOCKER_HOST: "tcp://h:1" });
  });
});

Deno.test("checkNamedTargets() refuses a --singularity-binary path that is missing or not executable", async () => {
  await withTempDir(async (dir) => {
    const { options } = await fakePlan(dir, {}, { engine: "singularity" });
    assertEquals(
      await message(checkNamedTargets({ ...options, singularityBinary: `${dir}/sing` }, {})),
      `run: --singularity-binary "${dir}/sing" does not exist`,
    );
    await Deno.writeTextFile(`${dir}/sing`, "");
    assertEquals(
      await message(checkNamedTargets({ ...options, singularityBinary: `${dir}/sing` }, {})),
      `run: --singularity-binary "${dir}/sing" is not an executable file`,
    );
    await checkNamedTargets({ ...options, singularityBinary: FIXTURE_BIN.singularity }, {});
    await checkNamedTargets({ ...options, singularityBinary: "apptainer" }, {});
  });
});

Deno.test("checkNamedTargets() refuses a --broken-node-hook that berth's profile would not let it run", async () => {
  await withTempDir(async (dir) => {
    const { options } = await fakePlan(dir);
    await Deno.writeTextFile(`${dir}/hook`, "#!/bin/sh\n");
    await Deno.chmod(`${dir}/hook`, 0o755);
    const refused = await message(checkNamedTargets({ ...options, brokenNodeHook: `${dir}/hook` }, {}));
    assertEquals(refused.startsWith(`run: --broken-node-hook "${dir}/hook" is not allowed by berth's`), true);
    assertEquals(
      await message(checkNamedTargets({ ...options, brokenNodeHook: `${dir}/none` }, {})),
      `run: --broken-node-hook "${dir}/none" does not exist`,
    );
    // The test profile lets berth run the fixture, as BERTH_BROKEN_NODE_HOOK would for a site's hook.
    await checkNamedTargets({ ...options, brokenNodeHook: FIXTURE_BIN.singularity }, {});
  });
});
