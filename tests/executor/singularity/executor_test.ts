/**
 * The Singularity executor's own behaviour with the CLI fixture (the shared behaviour is in the conformance
 * suite): what reaches the container, limits, pid(), stop() and close().
 */
import { join } from "node:path";
import { EngineError } from "../../../src/errors.ts";
import {
  realCgroupProbeHost,
  type SingularityEngine,
  type SingularityExecutor,
  type SingularityExecutorOptions,
} from "../../../src/executor/singularity/mod.ts";
import type { ContainerSpec } from "../../../src/executor/types.ts";
import { testImage } from "../../images/mod.ts";
import {
  CollectingSink,
  fixtureExecutor,
  recordingLog,
  testHostEnv,
} from "../../fixtures/singularity/mod.ts";
import { assert, assertEquals, assertRejects, assertStringIncludes } from "../../helpers/assert.ts";

interface Run {
  exec: SingularityExecutor;
  stdout: CollectingSink;
  stderr: CollectingSink;
  dir: string;
}

/** Creates an executor for `name` with `image` loaded, runs `fn`, and cleans up whatever happens. */
async function withExecutor(
  name: SingularityEngine,
  image: "busybox" | "multilayer",
  fn: (run: Run) => Promise<void>,
  overrides: Partial<SingularityExecutorOptions> = {},
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "berth-singularity-test-" });
  let exec: SingularityExecutor | undefined;
  try {
    exec = await fixtureExecutor(name, dir, overrides);
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
  return {
    name: "zzzzz-dz642-singularitytest",
    image: (await testImage(image)).id,
    command: ["true"],
    workingDir: "",
    env: { PATH: "/bin:/usr/bin" },
    mounts: {},
    vcpus: 0,
    ram: 0,
    gpu: { stack: "", deviceCount: 0 },
    enableNetwork: false,
    networkMode: "default",
    cgroupParent: "",
    stdin: null,
    stdout: run.stdout.stream,
    stderr: run.stderr.stream,
    ...fields,
  };
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

function envLines(text: string): string[] {
  return text.split("\n").filter((l) => l !== "").sort();
}

for (const name of ["singularity", "apptainer"] as const) {
  const P = name === "apptainer" ? "APPTAINER" : "SINGULARITY";

  Deno.test(`${name}: runtime() reports the fixture's version line`, async () => {
    await withExecutor(name, "busybox", async ({ exec }) => {
      const version = await exec.runtime();
      assertStringIncludes(version, `${name}-fixture version`);
      assertStringIncludes(version, "berth test fixture");
    });
  });

  Deno.test(`${name}: the container sees the image Env and the job env literally, and no engine warning`, async () => {
    await withExecutor(name, "multilayer", async (run) => {
      const code = await runToEnd(
        run,
        await spec(run, "multilayer", {
          command: ["env"],
          env: { PATH: "/bin:/usr/bin", LITERAL: "$HOME `id` \"q\" 'q' $$", HOME: "/nowhere" },
          workingDir: "/work",
        }),
      );
      assertEquals(code, 0);
      assertEquals(run.stderr.text(), "");
      const sif = run.exec.sifPath((await testImage("multilayer")).id)!;
      assertEquals(
        envLines(run.stdout.text()),
        [
          "BERTH_IMAGE_VAR=from-image",
          "HOME=/root",
          "LITERAL=$HOME `id` \"q\" 'q' $$",
          "PATH=/bin:/usr/bin",
          `${P}_CONTAINER=${sif}`,
          `${P}_NAME=${sif.split("/").pop()}`,
        ].sort(),
      );
    });
  });
}

Deno.test("start() binds read-only mounts read-only, writable ones writable, and the HOME bind as --home", async () => {
  await withExecutor("singularity", "busybox", async (run) => {
    const ro = join(run.dir, "ro");
    const rw = join(run.dir, "rw");
    const home = join(run.dir, "home");
    for (const d of [ro, rw, home]) await Deno.mkdir(d);
    await Deno.writeTextFile(join(ro, "in.txt"), "input\n");
    const code = await runToEnd(
      run,
      await spec(run, "busybox", {
        command: [
          "sh",
          "-c",
          "cat /in/in.txt; echo x > /in/new || echo ro; echo y > /out/new; echo $HOME; echo h > $HOME/h; pwd",
        ],
        env: { PATH: "/bin", HOME: "/home/job" },
        workingDir: "/out",
        mounts: {
          "/in": { hostPath: ro, readOnly: true },
          "/out": { hostPath: rw, readOnly: false },
          "/home/job": { hostPath: home, readOnly: false },
        },
      }),
    );
    assertEquals(code, 0);
    assertEquals(run.stdout.text(), "input\nro\n/home/job\n/out\n");
    assertStringIncludes(run.stderr.text(), "Read-only file system");
    assertEquals(await Deno.readTextFile(join(rw, "new")), "y\n");
    assertEquals(await Deno.readTextFile(join(home, "h")), "h\n");
    await assertRejects(() => Deno.stat(join(ro, "new")), Deno.errors.NotFound);
    assert(run.exec.execArgs.includes("--home"));
  });
});

Deno.test("start() pipes stdin to the container with backpressure", async () => {
  await withExecutor("singularity", "busybox", async (run) => {
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
  await withExecutor("singularity", "busybox", async (run) => {
    assertEquals(
      await runToEnd(run, await spec(run, "busybox", { command: ["sh", "-c", "kill -9 $$"] })),
      137,
    );
  });
  await withExecutor("singularity", "busybox", async (run) => {
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
  await withExecutor("apptainer", "busybox", async (run) => {
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
  await withExecutor("singularity", "busybox", async (run) => {
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
  await withExecutor("singularity", "busybox", async (run) => {
    await run.exec.create(await spec(run, "busybox", {}));
    await run.exec.close();
    assert(run.stdout.closed && run.stderr.closed);
    await assertRejects(() => run.exec.wait(), EngineError);
  });
});

Deno.test("create() refuses an image that was not loaded", async () => {
  await withExecutor("singularity", "busybox", async (run) => {
    const err = await assertRejects(
      async () => await run.exec.create(await spec(run, "busybox", { image: "sha256:" + "1".repeat(64) })),
      EngineError,
    );
    assertStringIncludes(err.message, "was not loaded");
  });
});

Deno.test("create() leaves limits out with a log line when the cgroup probe says they cannot work", async () => {
  const { log, lines } = recordingLog();
  await withExecutor("singularity", "busybox", async (run) => {
    const code = await runToEnd(run, await spec(run, "busybox", { vcpus: 2, ram: 64 << 20 }));
    assertEquals(code, 0);
    assertEquals(run.exec.execArgs.includes("--cpus") || run.exec.execArgs.includes("--memory"), false);
    assert(lines.includes("probe: no limits here"));
    assert(lines.some((l) => l.startsWith("CPU limits are not supported")));
    assert(lines.some((l) => l.startsWith("Memory limits are not supported")));
  }, {
    log,
    cgroupProbe: (probeLog) => {
      probeLog("probe: no limits here");
      return Promise.resolve({ cpu: false, memory: false });
    },
  });
});

// The fixture applies --cpus/--memory through cgroup v1 only; the test needs root and both v1 controllers.
const V1_MOUNTS = Deno.uid() === 0 ? await realCgroupProbeHost(true, {}).mounts().catch(() => "") : "";
const V1_LIMITS = /^\S+ \/sys\/fs\/cgroup\/cpu\S* cgroup \S*\bcpu\b/m.test(V1_MOUNTS) &&
  /^\S+ \/sys\/fs\/cgroup\/memory cgroup /m.test(V1_MOUNTS);

Deno.test({
  name: "create() passes --cpus and --memory where the real probe allows them, and the fixture applies them",
  ignore: !V1_LIMITS,
  fn: async () => {
    await withExecutor("singularity", "busybox", async (run) => {
      const script = "cpu=$(grep -E '^[0-9]+:cpu(,|:)' /proc/self/cgroup | cut -d: -f3); " +
        "mem=$(grep -E '^[0-9]+:memory:' /proc/self/cgroup | cut -d: -f3); " +
        "cat /cg/cpu$cpu/cpu.cfs_quota_us /cg/memory$mem/memory.limit_in_bytes";
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
      assertEquals(run.stdout.text(), `150000\n${256 << 20}\n`);
    }, { hostEnv: testHostEnv() });
  },
});
if (!V1_LIMITS) {
  console.error("cgroup limit test ignored: needs root and cgroup v1 cpu and memory controllers");
}
