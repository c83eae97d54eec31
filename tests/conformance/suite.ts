/**
 * The one behavioural conformance suite every {@link ContainerExecutor} must pass (Docker, Podman, Singularity,
 * Apptainer). Each engine's test file calls {@link defineConformanceSuite} with a factory and the few things that
 * legitimately differ between engines ({@link ConformanceOptions}); nothing else in here may know which engine
 * runs.
 *
 * Every test uses a fresh executor and a unique container name, and closes the executor on every path.
 *
 * @module
 */

import { assert, assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { createHash } from "node:crypto";
import { join } from "node:path";
import type { BindMount, ContainerExecutor, ContainerSpec, LogFn } from "../../src/executor/types.ts";
import { EngineError, ImageError } from "../../src/errors.ts";
import { readImageManifest } from "../../src/image/mod.ts";
import { imageDefaults } from "../../src/runner/container_spec.ts";
import { testImage } from "../images/mod.ts";
import { plainSpec, TEST_PATH } from "../helpers/container_spec.ts";
import { buildImage, IMAGE_PATH, type LayerEntry } from "../images/builder.ts";

/** What the suite needs to look into an engine (engine-specific; implemented next to each engine's test). */
export interface EngineProbe {
  /** Names of what the executor left behind for job `name`: containers, processes, temp dirs. Empty when clean. */
  leftovers(name: string): Promise<string[]>;
  /** Leaves behind what a crashed earlier run of job `name` would have (a running container of that name). */
  makeStale(name: string): Promise<void>;
  /** Removes an image (or cached conversion) by ID, so later runs are unaffected; absent is fine. */
  removeImage(id: string): Promise<void>;
}

/** Engine differences the suite allows. Each one is documented where it is used. */
export interface ConformanceOptions {
  /**
   * Environment variables the engine itself adds to every container (Docker: `HOSTNAME`, `HOME`); they are
   * removed before the container's environment is compared with the spec's.
   */
  engineAddedEnv: readonly string[];
  /** What `runtime()` must match, e.g. `/^docker Engine \d+\.\d+/`. */
  runtimePattern: RegExp;
  /** Looks into the engine for leftovers, stale containers and images. */
  probe: EngineProbe;
  /**
   * Binds a container needs to see its own cgroup limits: Singularity and Apptainer mount no cgroup file system in
   * the container, so their limit tests bind the host's `/sys/fs/cgroup` read-only. Only the limit tests use it.
   * @default none
   */
  limitMounts?: Record<string, BindMount>;
  /**
   * Why the engine cannot enforce CPU and memory limits where the suite runs (for example Singularity 3.4 as an
   * ordinary user); the limit tests are then reported as ignored with this reason. "" or absent: they run.
   */
  limitsUnsupported?: string;
  /**
   * False for engines without named containers (Singularity): a crashed earlier run leaves no container that
   * `create()` would have to replace, so that test is reported as ignored.
   * @default true
   */
  namedContainers?: boolean;
}

/** Makes a fresh executor whose messages go to `log`. */
export type ExecutorFactory = (log: LogFn) => Promise<ContainerExecutor>;

const MiB = 1024 * 1024;

/** The one layer of the images the suite builds: busybox as `/bin/sh`. */
const BUSYBOX_LAYER: LayerEntry[] = [
  { type: "dir", path: "bin" },
  { type: "hostfile", path: "bin/busybox", source: "/bin/busybox", mode: 0o755 },
  { type: "symlink", path: "bin/sh", target: "busybox" },
];

/** A sink that keeps everything written to it. */
function collector() {
  const chunks: Uint8Array[] = [];
  return {
    stream: new WritableStream<Uint8Array>({ write: (c) => void chunks.push(c.slice()) }),
    text: () => new TextDecoder().decode(concat(chunks)),
  };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function uniqueName(label: string): string {
  return `berth-conf-${label}-${crypto.randomUUID().slice(0, 12)}`;
}

/** Polls `fn` until it returns true (every 50 ms, up to `ms`); false when time ran out. */
async function until(fn: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Registers the conformance tests for one engine. `label` goes into every test name. */
export function defineConformanceSuite(
  label: string,
  factory: ExecutorFactory,
  opts: ConformanceOptions,
): void {
  const tag = `[${label}]`;

  /** The busybox image, loaded into `ex`. */
  async function busybox(ex: ContainerExecutor) {
    const image = await testImage("busybox");
    await ex.loadImage(image.id, image.path);
    return image;
  }

  async function baseSpec(ex: ContainerExecutor, command: string[], over: Partial<ContainerSpec> = {}) {
    const image = await busybox(ex);
    const out = collector();
    const err = collector();
    const spec = plainSpec({
      name: uniqueName(label),
      image: image.id,
      command,
      vcpus: 1,
      stdout: out.stream,
      stderr: err.stream,
      ...over,
    });
    return { spec, out, err };
  }

  /** Runs `command` to its end in a fresh executor: create, start, wait, close. */
  async function run(command: string[], over: Partial<ContainerSpec> = {}) {
    const logs: string[] = [];
    const ex = await factory((m) => logs.push(m));
    try {
      const { spec, out, err } = await baseSpec(ex, command, over);
      await ex.create(spec);
      await ex.start();
      const code = await ex.wait();
      return { code, stdout: out.text(), stderr: err.text(), name: spec.name, logs };
    } finally {
      await ex.close();
    }
  }

  /** Runs a test with a temporary host directory that is removed afterwards. */
  async function withTempDir(fn: (dir: string) => Promise<void>) {
    const dir = await Deno.makeTempDir({ prefix: "berth-conf-" });
    try {
      await fn(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  }

  Deno.test(`${tag} runtime() names the engine and its version`, async () => {
    const ex = await factory(() => {});
    try {
      assertMatch(await ex.runtime(), opts.runtimePattern);
    } finally {
      await ex.close();
    }
  });

  Deno.test(`${tag} wait() returns 0 and stdout "ok\\n" for echo ok`, async () => {
    const r = await run(["echo", "ok"]);
    assertEquals(r, { ...r, code: 0, stdout: "ok\n", stderr: "" });
  });

  Deno.test(`${tag} wait() returns 1 for false`, async () => {
    assertEquals((await run(["false"])).code, 1);
  });

  Deno.test(`${tag} wait() returns 137 for a process killed by SIGKILL`, async () => {
    const r = await run(["sh", "-c", 'sh -c "kill -9 \\$\\$"; exit $?']);
    assertEquals(r.code, 137);
  });

  Deno.test(`${tag} stop() during sleep 10 makes wait() return promptly with a non-zero code`, async () => {
    const ex = await factory(() => {});
    try {
      const { spec, out, err } = await baseSpec(ex, ["sh", "-c", "sleep 10; echo ok"]);
      await ex.create(spec);
      await ex.start();
      const waiting = ex.wait();
      assert(await until(async () => (await ex.pid()) > 0), "pid() never became positive while sleeping");
      const stoppedAt = performance.now();
      await Promise.all([ex.stop(), ex.stop()]); // concurrent calls are safe
      const code = await waiting;
      const took = performance.now() - stoppedAt;
      assert(took < 5000, `wait() returned ${took.toFixed(0)} ms after stop()`);
      assert(code !== 0, `exit code after stop() is ${code}`);
      await ex.stop(); // after exit, still safe
      assertEquals([out.text(), err.text()], ["", ""]);
    } finally {
      await ex.close();
    }
  });

  Deno.test(`${tag} stop() is safe before create() and between create() and start()`, async () => {
    const ex = await factory(() => {});
    let name = "";
    try {
      await ex.stop();
      const { spec } = await baseSpec(ex, ["echo", "never"]);
      name = spec.name;
      await ex.create(spec);
      await ex.stop();
      await ex.stop();
    } finally {
      await ex.close();
    }
    assertEquals(await opts.probe.leftovers(name), []);
  });

  Deno.test(`${tag} the container's environment is exactly the spec's`, async () => {
    const env = { PATH: TEST_PATH, BERTH_A: "a b=c", BERTH_EMPTY: "", BERTH_QUOTE: 'it\'s "q"' };
    const r = await run(["env"], { env });
    assertEquals([r.code, r.stderr], [0, ""]);
    const seen: Record<string, string> = {};
    for (const line of r.stdout.split("\n").filter((l) => l !== "")) {
      const eq = line.indexOf("=");
      seen[line.slice(0, eq)] = line.slice(eq + 1);
    }
    for (const name of opts.engineAddedEnv) delete seen[name];
    assertEquals(seen, env);
  });

  Deno.test(`${tag} the working directory is the spec's`, async () => {
    const r = await run(["sh", "-c", "pwd"], { workingDir: "/tmp" });
    assertEquals([r.code, r.stdout], [0, "/tmp\n"]);
  });

  Deno.test(`${tag} the spec is applied literally: the image's Entrypoint and WorkingDir are not added again`, async () => {
    // The runner has already resolved the image's defaults into the spec (SEAMS decision 3): command = Entrypoint +
    // job command, the working directory, the image's Env overlaid by the job's. An engine that prepends the
    // Entrypoint again, moves to the image's WorkingDir or lets the image's Env win would change the job's result.
    await withTempDir(async (dir) => {
      const unique = crypto.randomUUID();
      const built = await buildImage({
        repoTag: `berth-test/entrypoint-${unique}:latest`,
        layers: [[...BUSYBOX_LAYER, { type: "dir", path: "imagewd" }]],
        config: {
          Env: [IMAGE_PATH, "IMAGE_ONLY=from-image", "OVERRIDE=image"],
          Entrypoint: ["/bin/sh", "-c", "echo image-entrypoint-ran", "--"],
          WorkingDir: "/imagewd",
          Cmd: ["sh"],
        },
      }, join(dir, "entrypoint.tar"));
      const ex = await factory(() => {});
      try {
        await ex.loadImage(built.id, built.path);
        const { spec, out, err } = await baseSpec(ex, ["sh", "-c", 'pwd; echo "$IMAGE_ONLY $OVERRIDE"'], {
          image: built.id,
          env: { PATH: TEST_PATH, IMAGE_ONLY: "from-image", OVERRIDE: "job" },
        });
        await ex.create(spec);
        await ex.start();
        assertEquals([await ex.wait(), out.text(), err.text()], [0, "/\nfrom-image job\n", ""]);
      } finally {
        await ex.close();
        await opts.probe.removeImage(built.id);
      }
    });
  });

  Deno.test(`${tag} same job, same result: no cwd, the image's WorkingDir/Env/Entrypoint and a job HOME`, async () => {
    // A job without cwd, with a HOME of its own, on an image with WorkingDir, Env and Entrypoint; the spec holds
    // what the runner resolves from them (SEAMS decision 3: Entrypoint + command, job cwd else WorkingDir else /,
    // image Env under the job's), and every engine must print the same lines.
    await withTempDir(async (dir) => {
      const built = await buildImage({
        repoTag: `berth-test/same-result-${crypto.randomUUID()}:latest`,
        layers: [[...BUSYBOX_LAYER, { type: "dir", path: "imagewd" }]],
        config: {
          Env: [IMAGE_PATH, "IMG_VAR=from-image", "HOME=/imghome"],
          Entrypoint: [
            "/bin/sh",
            "-c",
            'echo "entry:$0 $*"; pwd; echo "home=$HOME img=$IMG_VAR job=$JOB_VAR"',
            "ep",
          ],
          WorkingDir: "/imagewd",
          Cmd: ["default-cmd"],
        },
      }, join(dir, "same.tar"));
      const image = imageDefaults((await readImageManifest(built.path)).config);
      const job = { command: ["arg1", "arg 2"], environment: { JOB_VAR: "j", HOME: "/home/job" } };
      const ex = await factory(() => {});
      try {
        await ex.loadImage(built.id, built.path);
        const { spec, out, err } = await baseSpec(ex, [...image.entrypoint, ...job.command], {
          image: built.id,
          workingDir: image.workingDir || "/",
          env: { ...image.env, ...job.environment },
        });
        await ex.create(spec);
        await ex.start();
        assertEquals([await ex.wait(), out.text(), err.text()], [
          0,
          "entry:ep arg1 arg 2\n/imagewd\nhome=/home/job img=from-image job=j\n",
          "",
        ]);
      } finally {
        await ex.close();
        await opts.probe.removeImage(built.id);
      }
    });
  });

  Deno.test(`${tag} a runtime failure rejects, a container exiting with the same number resolves`, async () => {
    // The runtime's own failure (the command is not in the image, or is a directory) must never be reported as
    // the container's exit 127/126, and a container that really exits 127/126/255 must never read as a failure.
    for (const command of [["no-such-command-in-the-image"], ["/"]]) {
      const ex = await factory(() => {});
      try {
        const { spec, out } = await baseSpec(ex, command);
        await ex.create(spec);
        let failure: unknown = null;
        try {
          await ex.start();
          await ex.wait();
        } catch (e) {
          failure = e;
        }
        assert(failure instanceof EngineError, `${command[0]}: ${failure ?? "no failure"}`);
        assertEquals(failure.brokenNode, false);
        assertEquals(out.text(), "");
      } finally {
        await ex.close();
      }
    }
    for (const code of [127, 126, 255, 1]) {
      const r = await run(["sh", "-c", `echo before; exit ${code}`]);
      assertEquals([r.code, r.stdout], [code, "before\n"]);
    }
  });

  Deno.test(`${tag} interleaved stdout and stderr stay apart byte-exact`, async () => {
    const r = await run(["sh", "-c", "echo foo; echo -n bar >&2; echo baz; echo waz >&2"]);
    assertEquals([r.code, r.stdout, r.stderr], [0, "foo\nbaz\n", "barwaz\n"]);
    const many = await run([
      "sh",
      "-c",
      "i=0; while [ $i -lt 2000 ]; do echo out$i; echo err$i >&2; i=$((i+1)); done",
    ]);
    const expect = (p: string) => Array.from({ length: 2000 }, (_, i) => `${p}${i}\n`).join("");
    assertEquals([many.code, many.stdout, many.stderr], [0, expect("out"), expect("err")]);
  });

  Deno.test(`${tag} a null stdin reads as empty (cat ends at once)`, async () => {
    const r = await run(["cat"]);
    assertEquals([r.code, r.stdout, r.stderr], [0, "", ""]);
  });

  Deno.test(`${tag} 100 MiB of random stdin reach the container byte-exact`, async () => {
    const size = 100 * MiB;
    const hash = createHash("sha256");
    let sent = 0;
    const stdin = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= size) return controller.close();
        const chunk = crypto.getRandomValues(new Uint8Array(Math.min(65536, size - sent)));
        hash.update(chunk);
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    }, { highWaterMark: 0 });
    const r = await run(["sha256sum"], { stdin });
    assertEquals(sent, size);
    assertEquals([r.code, r.stdout, r.stderr], [0, `${hash.digest("hex")}  -\n`, ""]);
  });

  Deno.test(`${tag} 256 MiB of stdout arrive byte-exact while the RSS grows by less than 50 MiB`, async () => {
    // berth's own RSS is about 45 MiB before a job; 50 MiB of growth keeps it under 100 MiB. The test process
    // starts far higher (the test runner), so the growth is what is measured.
    await withTempDir(async (dir) => {
      const size = 256 * MiB;
      const sent = createHash("sha256");
      const file = await Deno.open(join(dir, "data"), { write: true, create: true });
      try {
        for (let done = 0; done < size; done += MiB) {
          const chunk = new Uint8Array(MiB);
          for (let i = 0; i < MiB; i += 65536) crypto.getRandomValues(chunk.subarray(i, i + 65536));
          sent.update(chunk);
          await file.write(chunk);
        }
      } finally {
        file.close();
      }
      const got = createHash("sha256");
      let received = 0;
      const baseline = Deno.memoryUsage().rss;
      let maxRss = baseline;
      const sample = () => maxRss = Math.max(maxRss, Deno.memoryUsage().rss);
      const sampler = setInterval(sample, 20);
      const stdout = new WritableStream<Uint8Array>({
        write(chunk) {
          got.update(chunk);
          received += chunk.length;
          sample();
        },
      });
      try {
        const r = await run(["cat", "/in/data"], {
          stdout,
          mounts: { "/in": { hostPath: dir, readOnly: true } },
        });
        assertEquals([r.code, r.stderr, received], [0, "", size]);
        assertEquals(got.digest("hex"), sent.digest("hex"));
      } finally {
        clearInterval(sampler);
      }
      const growth = (maxRss - baseline) / MiB;
      assert(growth < 50, `RSS grew by ${growth.toFixed(1)} MiB while 256 MiB of output passed through`);
    });
  });

  Deno.test(`${tag} a read-only bind cannot be written, a writable one can and the host sees it`, async () => {
    await withTempDir(async (dir) => {
      const ro = join(dir, "ro");
      const rw = join(dir, "rw");
      await Deno.mkdir(ro);
      await Deno.mkdir(rw);
      await Deno.chmod(rw, 0o777);
      await Deno.writeTextFile(join(ro, "in.txt"), "input\n");
      const r = await run(
        ["sh", "-c", "cat /in/in.txt; if touch /in/new; then exit 3; fi; echo written > /out/out.txt"],
        { mounts: { "/in": { hostPath: ro, readOnly: true }, "/out": { hostPath: rw, readOnly: false } } },
      );
      assertEquals([r.code, r.stdout], [0, "input\n"]);
      assertMatch(r.stderr, /Read-only file system/);
      assertEquals(await Deno.readTextFile(join(rw, "out.txt")), "written\n");
      await assertRejects(() => Deno.stat(join(ro, "new")), Deno.errors.NotFound);
    });
  });

  Deno.test(`${tag} networking off leaves only the loopback interface`, async () => {
    const r = await run(["ls", "/sys/class/net"], { enableNetwork: false });
    assertEquals([r.code, r.stdout], [0, "lo\n"]);
  });

  Deno.test(`${tag} network mode host shares the host's interfaces and 127.0.0.1`, async () => {
    // berth's permission profile allows no TCP, so the listener on 127.0.0.1 runs in a second host-mode
    // container; the interface list proves that namespace is the host's.
    const hostIfaces = [...new Set(Deno.networkInterfaces().map((i) => i.name))].sort();
    const net = { enableNetwork: true, networkMode: "host" };
    const ifaces = await run(["ls", "/sys/class/net"], net);
    assertEquals(ifaces.code, 0);
    for (const name of hostIfaces) {
      assert(ifaces.stdout.split("\n").includes(name), `no "${name}" in the container`);
    }

    const port = 20000 + Math.floor(Math.random() * 40000);
    const token = crypto.randomUUID();
    const listener = await factory(() => {});
    try {
      const { spec } = await baseSpec(listener, [
        "sh",
        "-c",
        `mkdir -p /tmp/www && echo ${token} > /tmp/www/t.txt && exec httpd -f -p 127.0.0.1:${port} -h /tmp/www`,
      ], net);
      await listener.create(spec);
      await listener.start();
      const client = await run([
        "sh",
        "-c",
        `i=0; while [ $i -lt 100 ]; do wget -q -O - http://127.0.0.1:${port}/t.txt && exit 0; sleep 0.1; ` +
        `i=$((i+1)); done; exit 1`,
      ], net);
      assertEquals([client.code, client.stdout], [0, `${token}\n`]);
      await listener.stop();
      assert((await listener.wait()) !== 0);
    } finally {
      await listener.close();
    }
  });

  const limitTest = (name: string, fn: () => Promise<void>) =>
    Deno.test({
      name: `${tag} ${name}${opts.limitsUnsupported ? ` (not run: ${opts.limitsUnsupported})` : ""}`,
      ignore: !!opts.limitsUnsupported,
      fn,
    });

  limitTest("the RAM limit is visible in the cgroup and an allocation above it is killed", async () => {
    const ram = 64 * MiB;
    const limit = await run([
      "sh",
      "-c",
      // v2 (own cgroup namespace), else v1 at the process's own cgroup (host namespace, as Singularity), else
      // v1 at the root of the mount (Docker and Podman mount the container's own cgroup there).
      'p=$(grep -E "^[0-9]+:memory:" /proc/self/cgroup | cut -d: -f3); cat /sys/fs/cgroup/memory.max 2>/dev/null || ' +
      "cat /sys/fs/cgroup/memory$p/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes",
    ], { ram, mounts: opts.limitMounts ?? {} });
    assertEquals([limit.code, limit.stdout], [0, `${ram}\n`]);
    // tail -c keeps the last 300 MiB of an endless /dev/zero in its own memory: anonymous pages, charged at page
    // fault, so the OOM killer acts at once. (Through a pipe, a writer stuck charging pipe buffers at the limit
    // can spin instead of being killed under cgroup v1: seen with the Singularity fixture on kernel 6.18.)
    const big = await run(["sh", "-c", "tail -c 300m /dev/zero > /dev/null"], { ram });
    assertEquals(big.code, 137);
  });

  limitTest("the vCPU limit is visible in the cgroup", async () => {
    const r = await run([
      "sh",
      "-c",
      'p=$(grep -E "^[0-9]+:([^:]*,)?cpu(,[^:]*)?:" /proc/self/cgroup | cut -d: -f3); ' +
      "cat /sys/fs/cgroup/cpu.max 2>/dev/null || " +
      "{ [ -e /sys/fs/cgroup/cpu$p/cpu.cfs_quota_us ] && d=/sys/fs/cgroup/cpu$p || d=/sys/fs/cgroup/cpu; " +
      "echo $(cat $d/cpu.cfs_quota_us) $(cat $d/cpu.cfs_period_us); }",
    ], { vcpus: 0.5, mounts: opts.limitMounts ?? {} });
    assertEquals(r.code, 0);
    const [quota, period] = r.stdout.trim().split(" ").map(Number);
    assertEquals(quota / period, 0.5);
  });

  Deno.test(`${tag} loadImage() of a truncated tarball fails with the load error`, async () => {
    const truncated = await testImage("truncated");
    const ex = await factory(() => {});
    // A fresh ID: the truncated tarball's own ID (busybox's) may well be loaded already.
    const id = `sha256:${crypto.randomUUID().replaceAll("-", "").padEnd(64, "0")}`;
    try {
      const err = await assertRejects(() => ex.loadImage(id, truncated.path), ImageError);
      assertMatch(err.message, /^Image load failed: .*(unexpected EOF|truncated|EOF)/i);
    } finally {
      await ex.close();
    }
  });

  Deno.test(`${tag} loadImage() loads an absent image once and not again when present`, async () => {
    await withTempDir(async (dir) => {
      const unique = crypto.randomUUID();
      const built = await buildImage({
        repoTag: `berth-test/unique-${unique}:latest`,
        layers: [BUSYBOX_LAYER],
        config: { Env: [IMAGE_PATH, `BERTH_UNIQUE=${unique}`], Cmd: ["sh"] },
      }, join(dir, "unique.tar"));
      const size = (await Deno.stat(built.path)).size;
      try {
        const first: number[] = [];
        const ex1 = await factory(() => {});
        try {
          await ex1.loadImage(built.id, built.path, (p) => {
            assertEquals(p.total, size);
            first.push(p.done);
          });
        } finally {
          await ex1.close();
        }
        assert(first.length > 0, "no progress was reported while loading");
        assertEquals(first.at(-1), size);
        const second: number[] = [];
        const ex2 = await factory(() => {});
        try {
          await ex2.loadImage(built.id, built.path, (p) => second.push(p.done));
          const { spec, out } = await baseSpec(ex2, ["sh", "-c", "echo $BERTH_UNIQUE"], { image: built.id });
          spec.env = { PATH: TEST_PATH, BERTH_UNIQUE: unique };
          await ex2.create(spec);
          await ex2.start();
          assertEquals([await ex2.wait(), out.text()], [0, `${unique}\n`]);
        } finally {
          await ex2.close();
        }
        assertEquals(second, [], "the present image was loaded again");
      } finally {
        await opts.probe.removeImage(built.id);
      }
    });
  });

  Deno.test({
    name: `${tag} create() replaces a stale container of the same name`,
    ignore: opts.namedContainers === false,
  }, async () => {
    const ex = await factory(() => {});
    let name = "";
    try {
      const { spec, out } = await baseSpec(ex, ["echo", "fresh"]);
      name = spec.name;
      await opts.probe.makeStale(name);
      assertEquals((await opts.probe.leftovers(name)).length, 1);
      await ex.create(spec);
      await ex.start();
      assertEquals([await ex.wait(), out.text()], [0, "fresh\n"]);
    } finally {
      await ex.close();
    }
    assertEquals(await opts.probe.leftovers(name), []);
  });

  Deno.test(`${tag} close() leaves nothing of the container behind`, async () => {
    const ex = await factory(() => {});
    let name = "";
    try {
      const { spec } = await baseSpec(ex, ["sleep", "10"]);
      name = spec.name;
      await ex.create(spec);
      await ex.start();
      assert(await until(async () => (await ex.pid()) > 0), "pid() never became positive");
      assert((await opts.probe.leftovers(name)).length > 0, "the probe does not see the running container");
    } finally {
      await ex.close();
    }
    assertEquals(await opts.probe.leftovers(name), []);
    await ex.close(); // a second close is harmless
  });
}
