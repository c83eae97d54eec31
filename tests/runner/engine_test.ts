import { assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { EngineError } from "../../src/errors.ts";
import { REAL_FACTORIES, selectEngine } from "../../src/runner/mod.ts";
import { FIXTURE_BIN } from "../fixtures/singularity/mod.ts";
import { dirname } from "node:path";
import { withTempDir } from "./_job.ts";

const FIXTURE_PATH = dirname(FIXTURE_BIN.singularity);

function options(tmpDir: string, overrides: Partial<Parameters<typeof selectEngine>[0]> = {}) {
  return {
    choice: "auto" as const,
    dockerSocket: "",
    singularityBinary: "",
    imageCache: "",
    tmpDir,
    hostEnv: { PATH: FIXTURE_PATH },
    log: () => {},
    watchdogIntervalMs: 1000,
    ...overrides,
  };
}

// Sockets outside the test's --allow-net cannot be reached: for auto mode that is an engine that does not answer
// (the end-to-end tests cover sockets that berth may reach but where nothing listens).
Deno.test("selectEngine() with auto falls back to Apptainer when Docker and Podman cannot be reached", async () => {
  await withTempDir(async (tmp) => {
    const logged: string[] = [];
    const selected = await selectEngine(
      options(tmp, {
        dockerSocket: `${tmp}/no-docker.sock`,
        hostEnv: { PATH: FIXTURE_PATH, CONTAINER_HOST: `unix://${tmp}/no-podman.sock` },
        log: (m) => logged.push(m),
      }),
      REAL_FACTORIES,
    );
    try {
      assertEquals(selected.engine, "apptainer");
      assertMatch(await selected.executor.runtime(), /^apptainer(-fixture)? version/);
      assertMatch(logged.join("\n"), /no Docker or Podman socket answered, using apptainer/);
    } finally {
      await selected.executor.close();
    }
  });
});

Deno.test("selectEngine() with auto takes the Docker socket when it answers", async () => {
  await withTempDir(async (tmp) => {
    const selected = await selectEngine(options(tmp), REAL_FACTORIES);
    try {
      assertEquals(selected.engine, "docker");
      assertMatch(await selected.executor.runtime(), /^docker Engine \d+\.\d+/);
    } finally {
      await selected.executor.close();
    }
  });
});

Deno.test("selectEngine() reports a missing named engine as a broken node, a refused one as it is", async () => {
  await withTempDir(async (tmp) => {
    const sing = await assertRejects(
      () =>
        selectEngine(
          options(tmp, { choice: "singularity", singularityBinary: `${tmp}/no-such-singularity` }),
          REAL_FACTORIES,
        ),
      EngineError,
    );
    assertEquals(sing.brokenNode, true);
    assertMatch(sing.message, /^Cannot use container engine "singularity": .*no-such-singularity/);
    const apptainer = await assertRejects(
      () =>
        selectEngine(
          options(tmp, { choice: "apptainer", hostEnv: { PATH: `${tmp}/empty` } }),
          REAL_FACTORIES,
        ),
      EngineError,
    );
    assertEquals(apptainer.brokenNode, true);
    await assertRejects(
      () =>
        selectEngine(options(tmp, { choice: "podman", dockerSocket: `${tmp}/refused.sock` }), REAL_FACTORIES),
      Deno.errors.NotCapable,
    );
  });
});
