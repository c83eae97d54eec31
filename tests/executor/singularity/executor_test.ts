/**
 * The Singularity executor's own behaviour with the CLI fixture (the shared behaviour is in the conformance
 * suite): what reaches the container on each generation, limits, runtime failures, pid(), stop() and close().
 */
import { join } from "node:path";
import { EngineError } from "../../../src/errors.ts";
import {
  createSingularityExecutor,
  realCgroupProbeHost,
  type SingularityExecutor,
  type SingularityExecutorOptions,
} from "../../../src/executor/singularity/mod.ts";
import type { ContainerSpec } from "../../../src/executor/types.ts";
import { testImage } from "../../images/mod.ts";
import { plainSpec } from "../../helpers/container_spec.ts";
import {
  CollectingSink,
  FIXTURE_GENERATIONS,
  fixtureBinary,
  type FixtureGeneration,
  generationEngine,
  recordingLog,
  testHostEnv,
} from "../../fixtures/singularity/mod.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../../helpers/assert.ts";

interface Run {
  exec: SingularityExecutor;
  stdout: CollectingSink;
  stderr: CollectingSink;
  dir: string;
}

/** Creates an executor for fixture `generation` with `image` loaded, runs `fn`, and cleans up whatever happens. */
async function withExecutor(
  generation: FixtureGeneration,
  image: "busybox" | "multilayer",
  fn: (run: Run) => Promise<void>,
  overrides: Partial<SingularityExecutorOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "berth-singularity-test-" });
  let exec: SingularityExecutor | undefined;
  try {
    exec = await createSingularityExecutor({
      engine: generationEngine(generation),
      binary: fixtureBinary(generation),
      tmpDir: dir,
      hostEnv: testHostEnv(),
      log: () => {},
      ...overrides,
    });
    const img = await testImage(image);
    await exec.loadImage(img.id, img.path);
    await fn({ exec, stdout: new CollectingSink(), stderr: new CollectingSink(), dir });
  } finally {
    await exec?.close();
    await Deno.remove(dir, { recursive: true });
  }
}

async function spec(
  run: Run,
  image: "busybox" | "multilayer",
  fields: Partial<ContainerSpec>,
): Promise<ContainerSpec> {
  return plainSpec({
    name: "zzzzz-dz642-singularitytest",
    image: (await testImage(image)).id,
    command: ["true"],
    env: { PATH: "/bin:/usr/bin" },
    stdout: run.stdout.stream,
    stderr: run.stderr.stream,
    ...fields,
  });
}

async function runToEnd(run: Run, s: ContainerSpec): Promise<number> {
  await run.exec.create(s);
  await run.exec.start();
  return await run.exec.wait();
}

/** Polls `fn` until it returns a non-zero number (at most `limitMs`); returns 0 on timeout. */
async function pollNonZero(fn: () => Promise<number>, limitMs = 10_000): Promise<number> {
  const deadline = Date.now() + limitMs;
  while (Date.now() < deadline) {
    const n = await fn();
    if (n !== 0) return n;
    await new Promise((r) => setTimeout(r, 20));
  }
  return 0;
}

/** `ps -o <field>= -p <pid>` (Deno refuses /proc to tests as to berth); "" when the process is gone. */
async function psField(pid: number, field: string): Promise<string> {
  const out = await new Deno.Command("ps", { args: ["-o", `${field}=`, "-p", String(pid)], stderr: "null" })
    .output();
  return out.success ? new TextDecoder().decode(out.stdout).trim() : "";
}

/** The variables the runtimes add on their own (HOME's value is checked separately). */
const RUNTIME_VARS = /^(PWD|SHLVL|LANG|LD_LIBRARY_PATH|PS1|(SINGULARITY|APPTAINER)_[A-Z]+)=/;

for (const generation of FIXTURE_GENERATIONS) {
  Deno.test(`${generation}: runtime() reports the version line, and create() logs the runtime and flags used`, async () => {
    const { log, lines } = recordingLog();
    await withExecutor(generation, "busybox", async (run) => {
      assertMatch(
        await run.exec.runtime(),
        /^(singularity|singularity-ce|apptainer) version \d+\.\d+\.\d+ \(berth test fixture/,
      );
      await run.exec.create(await spec(run, "busybox", {}));
      const line = lines.find((l) => l.startsWith("Runtime "));
      assertMatch(
        line ?? "",
        /^Runtime (Singularity|SingularityCE|Apptainer) \d+\.\d+\.\d+ \(".*"\): exec flags used --containall --cleanenv --pwd --net --network --bind; limits through none$/,
      );
    }, { log });
  });

  Deno.test(`${generation}: the container's environment, working directory and HOME are exactly the spec's`, async () => {
    await withExecutor(generation, "multilayer", async (run) => {
      const env = {
        PATH: "/bin:/usr/bin",
        BERTH_IMAGE_VAR: "",
        LITERAL: "$HOME `id` \"q\" 'q' $$ \\",
        HOME: "/home/job",
        LD_LIBRARY_PATH: "/mine",
      };
      const code = await runToEnd(
        run,
        await spec(run, "multilayer", {
          command: ["sh", "-c", "env; pwd; touch $HOME/x && ls $HOME"],
          env,
          workingDir: "/etc",
        }),
      );
      assertEquals([code, run.stderr.text()], [0, ""]);
      const lines = run.stdout.text().split("\n").filter((l) => l !== "");
      assertEquals(lines.slice(-2), ["/etc", "x"]);
      // What the runtime adds of its own is left out, unless the spec sets it (then the spec's value must win).
      const seen = lines.slice(0, -2).filter((l) => l.split("=")[0] in env || !RUNTIME_VARS.test(l)).sort();
      assertEquals(seen, Object.entries(env).map(([k, v]) => `${k}=${v}`).sort());
    });
  });

  Deno.test(`${generation}: a runtime failure rejects start(), a container's own exit resolves wait()`, async () => {
    for (
      const [command, workingDir, message] of [
        [
          ["no-such-command"],
          "/",
          /^exec: "no-such-command": executable file not found in \$PATH \(PATH="\/bin:\/usr\/bin"\)$/,
        ],
        [["/bin/no-such"], "/", /^exec: "\/bin\/no-such": no such file or directory/],
        [["true"], "/no/such/dir", /^working directory "\/no\/such\/dir" does not exist in the container/],
      ] as const
    ) {
      await withExecutor(generation, "busybox", async (run) => {
        await run.exec.create(await spec(run, "busybox", { command: [...command], workingDir }));
        const err = await assertRejects(() => run.exec.start(), EngineError);
        assertMatch(err.message, message);
        assertEquals(err.brokenNode, false);
        await assertRejects(() => run.exec.wait(), EngineError);
        assertEquals([run.stdout.text(), run.stderr.text()], ["", ""]);
      });
    }
    for (const code of [1, 126, 127, 255]) {
      await withExecutor(generation, "busybox", async (run) => {
        assertEquals(
          await runToEnd(run, await spec(run, "busybox", { command: ["sh", "-c", `exit ${code}`] })),
          code,
        );
      });
    }
  });
}

Deno.test("start() rejects with the runtime's FATAL line when a bind source vanished before start", async () => {
  const { log, lines } = recordingLog();
  await withExecutor("singularity-ce-3.11", "busybox", async (run) => {
    const gone = join(run.dir, "gone");
    await Deno.mkdir(gone);
    await run.exec.create(
      await spec(run, "busybox", { mounts: { "/in": { hostPath: gone, readOnly: true } } }),
    );
    await Deno.remove(gone);
    const err = await assertRejects(() => run.exec.start(), EngineError);
    assertEquals(
      err.message,
      `singularity exec exited with status 255 before the container's command started: FATAL:   container creation ` +
        `failed: mount ${gone}->/in error: while mounting ${gone}: mount source ${gone} doesn't exist`,
    );
    // The runtime's own words went to the job log, not to the container's stderr.
    assertEquals(run.stderr.text(), "");
    assert(lines.some((l) => l.startsWith("singularity: FATAL:")), lines.join("\n"));
  }, { log });
});

Deno.test("start() binds read-only mounts read-only, writable ones writable, and HOME under a bind", async () => {
  await withExecutor("singularity-3.4", "busybox", async (run) => {
    const ro = join(run.dir, "ro");
    const rw = join(run.dir, "rw");
    for (const d of [ro, rw]) await Deno.mkdir(d);
    await Deno.writeTextFile(join(ro, "in.txt"), "input\n");
    const code = await runToEnd(
      run,
      await spec(run, "busybox", {
        command: [
          "sh",
          "-c",
          "cat /in/in.txt; echo x > /in/new || echo ro; echo y > /out/new; echo $HOME; echo h > $HOME/h; pwd",
        ],
        env: { PATH: "/bin", HOME: "/out/home" },
        workingDir: "/out",
        mounts: { "/in": { hostPath: ro, readOnly: true }, "/out": { hostPath: rw, readOnly: false } },
      }),
    );
    assertEquals(code, 0, run.stderr.text());
    assertEquals(run.stdout.text(), "input\nro\n/out/home\n/out\n");
    assertStringIncludes(run.stderr.text(), "Read-only file system");
    assertEquals(await Deno.readTextFile(join(rw, "new")), "y\n");
    await assertRejects(() => Deno.stat(join(ro, "new")), Deno.errors.NotFound);
    assertEquals(run.exec.execArgs.includes("--home"), false, "HOME inside a bind needs no --home");
  });
});

Deno.test("start() pipes stdin to the container with backpressure", async () => {
  await withExecutor("apptainer-1.2", "busybox", async (run) => {
    const chunk = new Uint8Array(64 * 1024).fill(97);
    let sent = 0;
    const stdin = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 64) return controller.close();
        sent++;
        controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    const code = await runToEnd(run, await spec(run, "busybox", { command: ["wc", "-c"], stdin }));
    assertEquals(code, 0);
    assertEquals(run.stdout.text().trim(), String(64 * 64 * 1024));
  });
});

Deno.test("wait() reports 137 for a contained kill -9 and for stop(), and stop() kills every contained process", async () => {
  await withExecutor("singularity-ce-3.11", "busybox", async (run) => {
    assertEquals(
      await runToEnd(run, await spec(run, "busybox", { command: ["sh", "-c", "kill -9 $$"] })),
      137,
    );
  });
  await withExecutor("singularity-ce-3.11", "busybox", async (run) => {
    await run.exec.stop(); // before create: a no-op
    await run.exec.create(
      await spec(run, "busybox", { command: ["sh", "-c", "sleep 100 & sleep 100; echo end"] }),
    );
    await run.exec.stop(); // before start: a no-op
    await run.exec.start();
    const pid = await pollNonZero(() => run.exec.pid());
    assert(pid > 0, "pid() found the contained process");
    assert(
      await psField(pid, "pidns") !== await psField(Deno.pid, "pidns"),
      "it is in another PID namespace",
    );
    const stopped = Promise.all([run.exec.stop(), run.exec.stop()]);
    assertEquals(await run.exec.wait(), 137);
    await stopped;
    await run.exec.stop(); // after exit: a no-op
    assertEquals(run.stdout.text(), "");
    assert(run.stdout.closed && run.stderr.closed, "both sinks were closed");
    assertEquals(await run.exec.pid(), 0);
    const state = await psField(pid, "stat");
    assert(
      state === "" || state.startsWith("Z"),
      `contained process ${pid} is still running (state ${state})`,
    );
  });
});

Deno.test("pid() finds the contained command below the engine process", async () => {
  await withExecutor("apptainer-1.2", "busybox", async (run) => {
    await run.exec.create(await spec(run, "busybox", { command: ["sleep", "100"] }));
    assertEquals(await run.exec.pid(), 0);
    await run.exec.start();
    const pid = await pollNonZero(async () => {
      const p = await run.exec.pid();
      if (p === 0) return 0;
      return (await psField(p, "args")) === "sleep 100" ? p : 0;
    });
    assert(pid > 0, "pid() settled on the sleep command");
    await run.exec.stop();
    assertEquals(await run.exec.wait(), 137);
  });
});

Deno.test("close() kills a running container and removes the executor's temp dir", async () => {
  await withExecutor("singularity-3.4", "busybox", async (run) => {
    await run.exec.create(await spec(run, "busybox", { command: ["sleep", "100"] }));
    await run.exec.start();
    assert(await pollNonZero(() => run.exec.pid()) > 0);
    await run.exec.close();
    assertEquals(await run.exec.wait(), 137);
    await assertRejects(() => Deno.stat(run.exec.workDir), Deno.errors.NotFound);
    await assertRejects(() => run.exec.loadImage("sha256:" + "0".repeat(64), "/nonexistent"), EngineError);
  });
});

Deno.test("close() closes the output sinks of a container that never started", async () => {
  await withExecutor("singularity-ce-3.11", "busybox", async (run) => {
    await run.exec.create(await spec(run, "busybox", {}));
    await run.exec.close();
    assert(run.stdout.closed && run.stderr.closed);
    await assertRejects(() => run.exec.wait(), EngineError);
  });
});

Deno.test("create() refuses an image that was not loaded", async () => {
  await withExecutor("singularity-ce-3.11", "busybox", async (run) => {
    const err = await assertRejects(
      async () => await run.exec.create(await spec(run, "busybox", { image: "sha256:" + "1".repeat(64) })),
      EngineError,
    );
    assertStringIncludes(err.message, "was not loaded");
  });
});

Deno.test("create() leaves limits out with a log line when the cgroup probe says they cannot work", async () => {
  const { log, lines } = recordingLog();
  await withExecutor("singularity-ce-3.11", "busybox", async (run) => {
    const code = await runToEnd(run, await spec(run, "busybox", { vcpus: 2, ram: 64 << 20 }));
    assertEquals(code, 0);
    assertEquals(run.exec.execArgs.includes("--cpus") || run.exec.execArgs.includes("--memory"), false);
    assert(lines.includes("probe: no limits here"));
    assert(lines.some((l) => l.startsWith("CPU limit of 2 not enforced: the host's cgroup setup")));
    assert(lines.some((l) => l.startsWith(`Memory limit of ${64 << 20} bytes not enforced`)));
  }, {
    log,
    cgroupProbe: (probeLog) => {
      probeLog("probe: no limits here");
      return Promise.resolve({ cpu: false, memory: false, swap: false, hierarchy: "none" });
    },
  });
});

Deno.test("create() on Singularity 3.4 as a non-root user says the limits are not enforced, and why", async () => {
  const { log, lines } = recordingLog();
  await withExecutor("singularity-3.4", "busybox", async (run) => {
    assertEquals(await runToEnd(run, await spec(run, "busybox", { vcpus: 1, ram: 64 << 20 })), 0);
    assertEquals(run.exec.execArgs.includes("--apply-cgroups"), false);
    assert(
      lines.includes(
        "CPU limit of 1 not enforced: Singularity 3.4.2 has no --cpus/--memory, and its --apply-cgroups is for root only",
      ),
      lines.join("\n"),
    );
  }, {
    log,
    isRoot: false,
    cgroupProbe: () => Promise.resolve({ cpu: true, memory: true, swap: true, hierarchy: "v1" }),
  });
});

// The fixture applies limits through cgroup v1 only; the test needs root and both v1 controllers.
const V1_MOUNTS = Deno.uid() === 0 ? await realCgroupProbeHost(true, {}).mounts().catch(() => "") : "";
const V1_LIMITS = /^\S+ \/sys\/fs\/cgroup\/cpu\S* cgroup \S*\bcpu\b/m.test(V1_MOUNTS) &&
  /^\S+ \/sys\/fs\/cgroup\/memory cgroup /m.test(V1_MOUNTS);

for (
  const [generation, mechanism] of [["singularity-ce-3.11", "--cpus"], ["singularity-3.4", "--apply-cgroups"]]
) {
  Deno.test({
    name:
      `create() on ${generation} limits CPU, memory and swap = memory through ${mechanism} where the real probe allows`,
    ignore: !V1_LIMITS,
    fn: async () => {
      await withExecutor(generation as FixtureGeneration, "busybox", async (run) => {
        const script = "cpu=$(grep -E '^[0-9]+:cpu(,|:)' /proc/self/cgroup | cut -d: -f3); " +
          "mem=$(grep -E '^[0-9]+:memory:' /proc/self/cgroup | cut -d: -f3); " +
          "cat /cg/cpu$cpu/cpu.cfs_quota_us /cg/memory$mem/memory.limit_in_bytes " +
          "/cg/memory$mem/memory.memsw.limit_in_bytes";
        const code = await runToEnd(
          run,
          await spec(run, "busybox", {
            command: ["sh", "-c", script],
            vcpus: 1.5,
            ram: 256 << 20,
            mounts: {
              "/cg/cpu": { hostPath: "/sys/fs/cgroup/cpu", readOnly: true },
              "/cg/memory": { hostPath: "/sys/fs/cgroup/memory", readOnly: true },
            },
          }),
        );
        assertEquals(run.stderr.text(), "");
        assertEquals(code, 0);
        assertEquals(run.stdout.text(), `150000\n${256 << 20}\n${256 << 20}\n`);
        assert(run.exec.execArgs.includes(mechanism), run.exec.execArgs.join(" "));
      });
    },
  });
}
if (!V1_LIMITS) {
  console.error("cgroup limit tests ignored: need root and cgroup v1 cpu and memory controllers");
}
