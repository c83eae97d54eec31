/**
 * Docker executor tests that run the executor in a separate berth-like process (`_driver.ts`) under berth's
 * permission profile: its peak RSS is berth's, and a proxy socket can be put between it and the real engine.
 *
 * They need permission to run deno itself, which `scripts/test` grants (BERTH_EXTRA_RUN); without it they are
 * ignored.
 * @module
 */

import { join } from "node:path";
import { createHash } from "node:crypto";
import { assert, assertEquals, assertMatch } from "../../helpers/assert.ts";
import { profileFlags, REPO_ROOT } from "../../helpers/berth.ts";
import { ENGINE_SOCKETS, engineRequest } from "../../helpers/engine_api.ts";
import { IMAGES_DIR, testImage } from "../../images/mod.ts";
import { buildImage, type BuiltImage } from "../../images/builder.ts";
import { type EngineProxy, type ProxyRule, startEngineProxy } from "../../e2e/_engine_proxy.ts";
import { cgroupVersion } from "../../../src/executor/docker/executor.ts";
import {
  TEST_USERS,
  type TestUser,
  testUsersMissing,
  userCommand,
  userDir,
  userEnv,
} from "../../helpers/as_user.ts";

const canRunDeno =
  (await Deno.permissions.query({ name: "run", command: Deno.execPath() })).state === "granted";
const DRIVER = join(REPO_ROOT, "tests", "executor", "docker", "_driver.ts");
const MiB = 1 << 20;

interface DriverResult {
  peakRssMiB: number;
  logs: string[];
  fatal?: string;
  [key: string]: unknown;
}

/**
 * Runs the driver to its end and returns its final report; `onEvent` sees each event line as it comes (the
 * driver waits for nothing, so a test acts on the engine while the driver goes on).
 */
async function driver(
  args: string[],
  extraNet = "",
  onEvent?: (event: Record<string, unknown>) => void | Promise<void>,
): Promise<DriverResult> {
  const env: Record<string, string> = extraNet ? { BERTH_EXTRA_NET: extraNet } : {};
  const flags = await profileFlags("standard", env);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--quiet", "--cached-only", ...flags, DRIVER, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const lines: string[] = [];
  let partial = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    const parts = (partial + chunk).split("\n");
    partial = parts.pop()!;
    for (const line of parts) {
      lines.push(line);
      const parsed = JSON.parse(line);
      if (typeof parsed.event === "string") await onEvent?.(parsed);
    }
  }
  if (partial !== "") lines.push(partial);
  const status = await child.status;
  const stdout = lines.join("\n");
  assertEquals(status.code, 0, `driver failed: ${stdout}\n${await stderr}`);
  const result = JSON.parse(lines.filter((l) => l.trim() !== "").at(-1)!) as DriverResult;
  assertEquals(result.fatal, undefined, await stderr);
  return result;
}

/** A one-layer image of `mib` MiB of incompressible bytes, built once into the test images directory. */
async function bigLoadImage(mib: number): Promise<BuiltImage> {
  const path = join(IMAGES_DIR, `load${mib}.tar`);
  try {
    const stamp = JSON.parse(await Deno.readTextFile(`${path}.json`)) as BuiltImage;
    await Deno.stat(path);
    return stamp;
  } catch {
    const built = await buildImage({
      repoTag: `berth-test/load${mib}:latest`,
      layers: [[{ type: "bigfile", path: "data/blob", size: mib * MiB, seed: mib }]],
      config: { Cmd: ["/data/blob"] },
    }, path);
    await Deno.writeTextFile(`${path}.json`, JSON.stringify(built));
    return built;
  }
}

async function withTempDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "berth-driver-" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test({
  name: "loadImage() streams a 1 GiB image into Docker with berth's RSS under 150 MiB",
  ignore: !canRunDeno,
  async fn() {
    const image = await bigLoadImage(1024);
    const size = (await Deno.stat(image.path)).size;
    assert(size > 1024 * MiB, `the big image is only ${size} bytes`);
    await engineRequest(ENGINE_SOCKETS.docker, "DELETE", `/images/${image.id}?force=1`);
    try {
      const r = await driver(["load", "docker", ENGINE_SOCKETS.docker, image.path, image.id]);
      assert((r.progressCalls as number) > 0, "no progress was reported");
      assert(r.peakRssMiB < 150, `berth's RSS reached ${r.peakRssMiB.toFixed(1)} MiB`);
      const inspect = await engineRequest(ENGINE_SOCKETS.docker, "GET", `/images/${image.id}/json`);
      assertEquals(inspect.status, 200);
    } finally {
      await engineRequest(ENGINE_SOCKETS.docker, "DELETE", `/images/${image.id}?force=1`);
    }
  },
});

for (const engine of ["docker", "podman"] as const) {
  Deno.test({
    name: `wait() passes 256 MiB of ${engine} output with berth's RSS under 100 MiB`,
    ignore: !canRunDeno,
    async fn() {
      await withTempDir(async (dir) => {
        const file = join(dir, "data");
        const hash = createHash("sha256");
        const f = await Deno.open(file, { write: true, create: true });
        try {
          for (let i = 0; i < 256; i++) {
            const chunk = new Uint8Array(MiB);
            for (let j = 0; j < MiB; j += 65536) crypto.getRandomValues(chunk.subarray(j, j + 65536));
            hash.update(chunk);
            await f.write(chunk);
          }
        } finally {
          f.close();
        }
        const busybox = await testImage("busybox");
        const r = await driver(["stdout", engine, ENGINE_SOCKETS[engine], file, busybox.id]);
        assertEquals([r.code, r.bytes, r.sha256], [0, 256 * MiB, hash.digest("hex")]);
        assert(r.peakRssMiB < 100, `berth's RSS reached ${r.peakRssMiB.toFixed(1)} MiB`);
      });
    },
  });

  Deno.test({
    name: `wait() rejects with a broken-node EngineError when ${engine} stops answering`,
    ignore: !canRunDeno,
    async fn() {
      await withTempDir(async (dir) => {
        const proxy = join(dir, "proxy.sock");
        const busybox = await testImage("busybox");
        const r = await driver(
          ["watchdog", engine, ENGINE_SOCKETS[engine], proxy, busybox.id],
          `unix:${proxy}`,
        );
        assertEquals(r.errorClass, "EngineError");
        assertMatch(r.error as string, /engine unresponsive: 5 container inspections in a row failed/);
        assertEquals(r.brokenNode, true);
        assert(r.logs.some((l) => /watchdog: giving up$/.test(l)), r.logs.join("\n"));
        // 5 inspections, each given one 200 ms interval, then close() gives up on removal after 1 s.
        assert((r.ms as number) < 10_000, `wait() took ${r.ms} ms to give up`);
        assert((r.closeMs as number) < 5_000, `close() took ${r.closeMs} ms`);
      });
    },
  });
}

/** One executor call's outcome as the driver reports it. */
interface CallResult {
  ms: number;
  error?: string;
  errorClass?: string;
  brokenNode?: boolean | null;
  exitCode?: number | null;
  value?: unknown;
}

/** A proxy in `dir` in front of the engine's real socket, stopped (and its socket released) after `fn`. */
async function withProxy(
  dir: string,
  engine: "docker" | "podman",
  rules: ProxyRule[],
  fn: (proxy: EngineProxy, socket: string) => Promise<void>,
): Promise<void> {
  const socket = join(dir, "engine.sock");
  const proxy = await startEngineProxy({ listen: socket, target: ENGINE_SOCKETS[engine], rules, root: dir });
  try {
    await fn(proxy, socket);
  } finally {
    await proxy.stop();
  }
}

/** Removes the container `name` through the engine's real socket (a proxy may have swallowed berth's removal). */
async function removeOnEngine(engine: "docker" | "podman", name: string): Promise<void> {
  await engineRequest(ENGINE_SOCKETS[engine], "DELETE", `/containers/${name}?force=1`);
}

async function assertGone(engine: "docker" | "podman", name: string): Promise<void> {
  const res = await engineRequest(ENGINE_SOCKETS[engine], "GET", `/containers/${name}/json`);
  assertEquals(res.status, 404, `container "${name}" was left behind`);
}

for (const [engine, label] of [["docker", "Docker daemon"], ["podman", "Podman service"]] as const) {
  Deno.test({
    name: `loadImage() fails with a broken-node EngineError when no ${engine} engine listens on the socket`,
    ignore: !canRunDeno,
    async fn() {
      await withTempDir(async (dir) => {
        // A socket file nobody listens on: what a killed engine leaves behind.
        let socket = "";
        await withProxy(dir, engine, [], async (proxy, path) => {
          socket = path;
          proxy.child.kill("SIGKILL");
          await proxy.child.status;
        });
        assert((await Deno.stat(socket)).isSocket, "the killed proxy's socket is gone");
        const r = await driver(["dead", engine, socket], `unix:${socket}`);
        assertEquals(r.runtime, `${engine} (unknown version)`);
        assertEquals([r.errorClass, r.brokenNode], ["EngineError", true]);
        assertMatch(
          r.error as string,
          new RegExp(
            `^Cannot negotiate the \\w+ API version: Cannot connect to the ${label} at unix://${socket}: `,
          ),
        );
      });
    },
  });

  Deno.test({
    name:
      `connectDockerExecutor() on ${engine}: a socket the user named that does not exist is a usage error`,
    ignore: !canRunDeno,
    async fn() {
      await withTempDir(async (dir) => {
        const missing = join(dir, "missing.sock");
        const file = join(dir, "plain-file");
        await Deno.writeTextFile(file, "");
        const variable = engine === "docker" ? "DOCKER_HOST" : "CONTAINER_HOST";
        const net = `unix:${missing},unix:${file}`;
        const cases: [string, string, string][] = [
          [missing, "{}", `Cannot use --docker-socket "${missing}": "${missing}" does not exist`],
          [
            "-",
            JSON.stringify({ [variable]: `unix://${missing}` }),
            `Cannot use ${variable}="unix://${missing}": "${missing}" does not exist`,
          ],
          [file, "{}", `Cannot use --docker-socket "${file}": "${file}" is not a socket`],
          [
            "-",
            JSON.stringify({ [variable]: "tcp://127.0.0.1:2375" }),
            `Cannot use ${variable}="tcp://127.0.0.1:2375": berth speaks to the engine only on a unix socket (unix:///path)`,
          ],
        ];
        for (const [socket, hostEnv, message] of cases) {
          const r = await driver(["connect", engine, socket, hostEnv, "0"], net);
          const c = r.connect as CallResult;
          assertEquals([c.errorClass, c.exitCode, c.error], ["UsageError", 2, message]);
        }
      });
    },
  });

  Deno.test({
    name: `connectDockerExecutor() on ${engine}: a stopped engine is a broken node within the ping's bound`,
    ignore: !canRunDeno,
    async fn() {
      await withTempDir(async (dir) => {
        await withProxy(dir, engine, [], async (proxy, socket) => {
          proxy.child.kill("SIGSTOP");
          const r = await driver(["connect", engine, socket, "{}", "0"], `unix:${socket}`);
          const c = r.connect as CallResult;
          assertEquals([c.errorClass, c.brokenNode], ["EngineTimeoutError", true]);
          assertEquals(
            c.error,
            `Cannot negotiate the ${
              engine === "docker" ? "Docker" : "Podman"
            } API version: the ${label} at ` +
              `unix://${socket} did not answer GET /_ping within 5 s (engine unresponsive)`,
          );
          assert(c.ms >= 4_900 && c.ms < 8_000, `connect gave up after ${c.ms} ms`);
        });
      });
    },
  });
}

Deno.test({
  name:
    "connectDockerExecutor(): Podman's default rootless socket missing is a broken node, not a usage error",
  ignore: !canRunDeno,
  async fn() {
    await withTempDir(async (dir) => {
      const socket = join(dir, "podman", "podman.sock");
      const r = await driver(
        ["connect", "podman", "-", JSON.stringify({ XDG_RUNTIME_DIR: dir }), "4242"],
        `unix:${socket}`,
      );
      const c = r.connect as CallResult;
      assertEquals([c.errorClass, c.brokenNode], ["EngineError", true]);
      assertMatch(c.error!, new RegExp(`Cannot connect to the Podman service at unix://${socket}: `));
    });
  },
});

for (const engine of ["docker", "podman"] as const) {
  Deno.test({
    name: `stop() and close() on ${engine} while the create's answer is late: the container is removed by ID`,
    ignore: !canRunDeno,
    async fn() {
      const busybox = await testImage("busybox");
      await withTempDir(async (dir) => {
        await withProxy(dir, engine, [{
          action: "delay-reply",
          pattern: "^POST /containers/create$",
          ms: 2500,
        }], async (proxy, socket) => {
          const plan = { command: ["sleep", "30"], stopDuring: "create", stopAfterMs: 500 };
          const r = await driver(
            ["lifecycle", engine, socket, busybox.id, JSON.stringify(plan)],
            `unix:${socket}`,
          );
          try {
            const [create, stop, close] = [r.create, r.stop, r.close] as CallResult[];
            assertMatch(create.error ?? "", /was (stopped|closed) while it was being created$/);
            assert(stop.ms < 1_000, `stop() took ${stop.ms} ms`);
            // close() waited for the create's answer (2.5 s after it was sent), then removed the container.
            assert(close.ms >= 1_500 && close.ms < 4_500, `close() took ${close.ms} ms`);
            assert(
              proxy.reports().includes("proxy: delay-reply POST /containers/create"),
              proxy.reports().join("\n"),
            );
            await assertGone(engine, r.name as string);
          } finally {
            await removeOnEngine(engine, r.name as string);
          }
        });
      });
    },
  });

  Deno.test({
    name: `stop() and close() on ${engine} while the create's answer never comes: removed by name, bounded`,
    ignore: !canRunDeno,
    async fn() {
      const busybox = await testImage("busybox");
      await withTempDir(async (dir) => {
        await withProxy(
          dir,
          engine,
          [{ action: "stall-reply", pattern: "^POST /containers/create$" }],
          async (_proxy, socket) => {
            const plan = {
              command: ["sleep", "30"],
              stopDuring: "create",
              stopAfterMs: 1000,
              abandonCreate: true,
            };
            const r = await driver(
              ["lifecycle", engine, socket, busybox.id, JSON.stringify(plan)],
              `unix:${socket}`,
            );
            try {
              const close = r.close as CallResult;
              assert(close.ms >= 2_000 && close.ms < 4_500, `close() took ${close.ms} ms`);
              assert(
                r.logs.some((l) =>
                  l.endsWith(
                    "was still being created or started when berth stopped waiting for the engine; removing it by name",
                  )
                ),
                r.logs.join("\n"),
              );
              await assertGone(engine, r.name as string);
            } finally {
              await removeOnEngine(engine, r.name as string);
            }
          },
        );
      });
    },
  });

  Deno.test({
    name:
      `stop() on ${engine} with the engine stopped mid-run: wait() and close() give up within their bounds`,
    ignore: !canRunDeno,
    async fn() {
      const busybox = await testImage("busybox");
      await withTempDir(async (dir) => {
        await withProxy(dir, engine, [], async (proxy, socket) => {
          const plan = {
            command: ["sleep", "60"],
            stopDuring: "wait",
            stopAfterMs: 300,
            watchdogIntervalMs: 60_000,
          };
          let name = "";
          const r = await driver(
            ["lifecycle", engine, socket, busybox.id, JSON.stringify(plan)],
            `unix:${socket}`,
            (e) => {
              if (e.event === "name") name = e.name as string;
              if (e.event === "started") proxy.child.kill("SIGSTOP");
            },
          );
          try {
            const [stop, wait, close] = [r.stop, r.wait, r.close] as CallResult[];
            assertEquals(r.start, { ms: (r.start as CallResult).ms });
            // The kill got no answer within 4 s; wait() settles within 4.5 s of stop(); close() within 4 s.
            assert(stop.ms >= 3_900 && stop.ms < 4_600, `stop() took ${stop.ms} ms`);
            assertEquals([wait.errorClass, wait.brokenNode], ["EngineTimeoutError", true]);
            assertMatch(
              wait.error!,
              /^Cannot kill container "[^"]+": the \w+ \w+ at unix:\/\/\S+ did not answer POST \/containers\/\S+\/kill within 4 s \(engine unresponsive\)$/,
            );
            assert(wait.ms < 5_000, `wait() settled ${wait.ms} ms after stop()`);
            assert(close.ms < 4_500, `close() took ${close.ms} ms`);
            assert(stop.ms + close.ms < 9_000);
          } finally {
            await removeOnEngine(engine, name);
          }
        });
      });
    },
  });
}

/** A user the container runs as: the first test user, with the docker group as a supplementary group. */
const SPEC_USER = {
  uid: TEST_USERS.first.uid,
  gid: TEST_USERS.first.gid,
  groups: [TEST_USERS.first.gid, 105],
};
const notAsUsers = await testUsersMissing();

/** Runs the driver's `user` mode as root (`as` null) or as a test user; returns its report. */
async function userRun(
  engine: "docker" | "podman",
  socket: string,
  dir: string,
  as: TestUser | null,
): Promise<DriverResult> {
  const busybox = await testImage("busybox");
  const args = ["user", engine, socket, busybox.path, busybox.id, dir, JSON.stringify(SPEC_USER)];
  if (as === null) return await driver(args);
  const flags = await profileFlags("standard", userEnv(as));
  const out = await userCommand(as, Deno.execPath(), [
    "run",
    "--no-prompt",
    "--quiet",
    "--cached-only",
    ...flags,
    DRIVER,
    ...args,
  ]).output();
  const stdout = new TextDecoder().decode(out.stdout);
  assertEquals(out.code, 0, `driver failed: ${stdout}\n${new TextDecoder().decode(out.stderr)}`);
  const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as DriverResult;
  assertEquals(result.fatal, undefined, result.logs.join("\n"));
  return result;
}

for (const engine of ["docker", "podman"] as const) {
  Deno.test({
    name: `create() on rootful ${engine} runs a spec user as uid:gid with its groups; its files are its own`,
    ignore: !canRunDeno,
    async fn() {
      await withTempDir(async (dir) => {
        await Deno.chmod(dir, 0o777);
        const r = await userRun(engine, ENGINE_SOCKETS[engine], dir, null);
        assertEquals([r.code, r.stdout, r.owner], [0, "1500\n1500\n1500 105\n", [1500, 1500]]);
      });
    },
  });
}

for (const [engine, label] of [["docker", "Docker"], ["podman", "rootless Podman"]] as const) {
  Deno.test({
    name:
      `create() as a non-root user on ${label}: the container runs as that user, files come back as theirs`,
    ignore: !canRunDeno || notAsUsers !== null,
    async fn() {
      const user = TEST_USERS.first;
      const parent = await Deno.makeTempDir({ prefix: "berth-driver-user-" });
      await Deno.chmod(parent, 0o755);
      const dir = await userDir(user, join(parent, "out"), 0o700);
      try {
        const socket = engine === "docker" ? ENGINE_SOCKETS.docker : user.podmanSocket;
        const r = await userRun(engine, socket, dir, user);
        // Rootless Podman maps the user to itself (keep-id); a user namespace cannot map the host's other groups.
        const groups = engine === "docker" ? "1500 105" : "1500";
        assertEquals([r.code, r.stdout, r.owner], [0, `1500\n1500\n${groups}\n`, [1500, 1500]]);
        // Rootless Podman without cgroup v2 accepts the 64 MiB limit and ignores it: berth says so.
        const warned = r.logs.includes(
          "Podman warning: rootless Podman on cgroup v1 cannot apply the memory and CPU limits; the container " +
            "runs without them",
        );
        const version = await cgroupVersion();
        assert(version !== 0, "the host's cgroup version must be readable under the profile");
        assertEquals(warned, engine === "podman" && version === 1, r.logs.join("\n"));
      } finally {
        await Deno.remove(parent, { recursive: true });
      }
    },
  });
}
