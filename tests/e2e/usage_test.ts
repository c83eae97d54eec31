/**
 * `berth run` refusing jobs before anything is created (exit 2), and choosing an engine by itself.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertNotMatch } from "../helpers/assert.ts";
import { testImage } from "../images/mod.ts";
import {
  assertFinalState,
  deadSocket,
  ENGINES,
  extraNet,
  runBerthE2e,
  withWorkspace,
  type Workspace,
} from "./_harness.ts";

const busybox = await testImage("busybox");

async function assertNothingCreated(ws: Workspace) {
  assertEquals(await Deno.stat(ws.work).then(() => true, () => false), false, "no work dir");
  await ws.assertNoLeftovers();
}

const REFUSALS: Array<[string, (ws: Workspace) => Promise<void>, RegExp]> = [
  [
    "an invalid job file",
    (ws) => ws.writeJob({ container_image: busybox.path, command: [], mounts: { "/out": { kind: "tmp" } } }),
    /^berth: Cannot read job file ".*job\.json": field "command" must be a non-empty array of strings, got an empty array\n$/,
  ],
  [
    "a bind mount outside every --allow-bind root",
    (ws) =>
      ws.writeJob({
        container_image: busybox.path,
        command: ["true"],
        mounts: { "/out": { kind: "tmp" }, "/etc-host": { kind: "bind", source: "/etc" } },
      }),
    /^berth: Cannot read job file .*: field "mounts\[\\"\/etc-host\\"\]\.source" is "\/etc" outside every --allow-bind root/,
  ],
  [
    "a bind mount through a symlink that leaves the --allow-bind root",
    async (ws) => {
      await Deno.symlink("/etc", join(ws.allowed, "sneaky"));
      await ws.writeJob({
        container_image: busybox.path,
        command: ["true"],
        mounts: { "/out": { kind: "tmp" }, "/x": { kind: "bind", source: join(ws.allowed, "sneaky") } },
      });
    },
    /which resolves to "\/etc", outside every --allow-bind root/,
  ],
  [
    "a missing image tarball",
    (ws) =>
      ws.writeJob({
        container_image: "no-such-image.tar",
        command: ["true"],
        mounts: { "/out": { kind: "tmp" } },
      }),
    /field "container_image" names ".*\/no-such-image\.tar", which does not exist\n$/,
  ],
  [
    "a tmp mount as stdin",
    (ws) =>
      ws.writeJob({
        container_image: busybox.path,
        command: ["cat"],
        mounts: { "/out": { kind: "tmp" }, "stdin": { kind: "tmp" } },
      }),
    /field "mounts\[\\"stdin\\"\]\.kind" is "tmp", but only "collection", "json", "text" and "bind" \(a host file\) are supported for stdin\n$/,
  ],
  [
    "a bind stdin that is a directory",
    (ws) =>
      ws.writeJob({
        container_image: busybox.path,
        command: ["cat"],
        mounts: { "/out": { kind: "tmp" }, "stdin": { kind: "bind", source: ws.allowed } },
      }),
    /field "mounts\[\\"stdin\\"\]\.source" is ".*\/allowed", which is not a file\n$/,
  ],
  [
    "a stdout file mount outside output_path",
    (ws) =>
      ws.writeJob({
        container_image: busybox.path,
        command: ["true"],
        mounts: { "/out": { kind: "tmp" }, "stdout": { kind: "file", path: "/tmp/out.txt" } },
      }),
    /field "mounts\[\\"stdout\\"\]\.path" must be a normalized path under output_path "\/out"/,
  ],
  [
    "an unknown option",
    (ws) =>
      ws.writeJob({ container_image: busybox.path, command: ["true"], mounts: { "/out": { kind: "tmp" } } }),
    /^berth: run: Unknown option '--bogus'/,
  ],
];

for (const [what, setup, message] of REFUSALS) {
  Deno.test(`berth run refuses ${what}: one line, exit 2, nothing created`, async () => {
    await withWorkspace(null, "usage", async (ws) => {
      await setup(ws);
      const r = await runBerthE2e(ws.args(what === "an unknown option" ? ["--bogus"] : []));
      assertEquals(r.code, 2, r.stderr);
      assertMatch(r.stderr, message);
      assertEquals(r.stderr.split("\n").length, 2, "one line");
      assertNotMatch(r.stderr, /\n\s+at /);
      await assertNothingCreated(ws);
    });
  });
}

Deno.test("berth run refuses a work dir that holds an earlier run, and leaves it alone", async () => {
  await withWorkspace(null, "workdir", async (ws) => {
    await ws.writeJob({
      container_image: busybox.path,
      command: ["true"],
      mounts: { "/out": { kind: "tmp" } },
    });
    await Deno.mkdir(ws.work);
    await Deno.writeTextFile(join(ws.work, "state.json"), '{"state":"Complete"}');
    const r = await runBerthE2e(ws.args());
    assertEquals(r.code, 2, r.stderr);
    assertMatch(r.stderr, /^berth: Cannot use work dir ".*\/work": it is not empty/);
    assertEquals(await Deno.readTextFile(join(ws.work, "state.json")), '{"state":"Complete"}');
    const names: string[] = [];
    for await (const e of Deno.readDir(ws.work)) names.push(e.name);
    assertEquals(names, ["state.json"]);
  });
});

/** A job that would run, for the refusals that come from the options or the environment. */
async function validJob(ws: Workspace): Promise<void> {
  await ws.writeJob({
    container_image: busybox.path,
    command: ["true"],
    mounts: { "/out": { kind: "tmp" } },
  });
}

const NAMED_TARGET_REFUSALS: Array<
  [string, (ws: Workspace) => Promise<{ args: string[]; env: Record<string, string> }>, RegExp]
> = [
  [
    "a DOCKER_HOST that is not a unix socket",
    () =>
      Promise.resolve({ args: ["--runtime-engine", "docker"], env: { DOCKER_HOST: "tcp://127.0.0.1:2375" } }),
    /^berth: Cannot use DOCKER_HOST="tcp:\/\/127\.0\.0\.1:2375": berth speaks to the engine only on a unix socket/,
  ],
  [
    "a --docker-socket that does not exist",
    (ws) => {
      const path = join(ws.root, "no-such.sock");
      return Promise.resolve({
        args: ["--runtime-engine", "docker", "--docker-socket", path],
        env: extraNet(path),
      });
    },
    /^berth: run: --docker-socket names ".*\/no-such\.sock", which does not exist\n$/,
  ],
  [
    "a --docker-socket that is not a socket",
    async (ws) => {
      const path = join(ws.root, "plain-file");
      await Deno.writeTextFile(path, "");
      return { args: ["--runtime-engine", "podman", "--docker-socket", path], env: extraNet(path) };
    },
    /^berth: run: --docker-socket names ".*\/plain-file", which is not a unix socket\n$/,
  ],
  [
    "a --singularity-binary path that does not exist",
    (ws) =>
      Promise.resolve({
        args: ["--runtime-engine", "singularity", "--singularity-binary", join(ws.root, "no-singularity")],
        env: {},
      }),
    /^berth: run: --singularity-binary ".*\/no-singularity" does not exist\n$/,
  ],
  [
    "a --broken-node-hook the permission profile does not allow",
    async (ws) => {
      const hook = join(ws.root, "hook.sh");
      await Deno.writeTextFile(hook, "#!/bin/sh\ntrue\n");
      await Deno.chmod(hook, 0o755);
      return { args: ["--runtime-engine", "docker", "--broken-node-hook", hook], env: {} };
    },
    /^berth: run: --broken-node-hook ".*\/hook\.sh" is not allowed by berth's permission profile: set BERTH_BROKEN_NODE_HOOK/,
  ],
];

for (const [what, setup, message] of NAMED_TARGET_REFUSALS) {
  Deno.test(`berth run refuses ${what}: the user's mistake, exit 2, nothing created, node not marked`, async () => {
    await withWorkspace(null, "named", async (ws) => {
      await validJob(ws);
      const { args, env } = await setup(ws);
      const r = await runBerthE2e(ws.args(args), env);
      assertEquals(r.code, 2, r.stderr);
      assertMatch(r.stderr, message);
      assertEquals(r.stderr.split("\n").length, 2, "one line");
      await assertNothingCreated(ws);
      assertEquals(await Deno.stat(join(ws.rt, "berth-broken")).then(() => true, () => false), false);
    });
  });
}

const docker = ENGINES.find((e) => e.name === "docker")!;
const podman = ENGINES.find((e) => e.name === "podman")!;

Deno.test({
  name: "berth run --runtime-engine auto takes Podman when the Docker socket does not answer",
  ignore: !podman.available,
  async fn() {
    await withWorkspace(null, "auto", async (ws) => {
      await ws.writeJob({
        container_image: busybox.path,
        command: ["sh", "-c", "echo auto"],
        mounts: { "/out": { kind: "tmp" } },
      });
      const dead = await deadSocket(join(ws.root, "dead.sock"));
      const r = await runBerthE2e(
        ws.args(["--runtime-engine", "auto", "--docker-socket", dead]),
        extraNet(dead),
      );
      assertEquals(r.code, 0, r.stderr);
      const log = await assertFinalState(ws, "Complete", 0);
      assert(log.includes('Engine "auto": using podman'), log.join("\n"));
      assert(log.some((l) => l.startsWith("Using container runtime: podman")));
      assertEquals((await ws.read("logs/stdout.txt")).replace(/^\S+ /, ""), "auto\n");
    });
  },
});

Deno.test({
  name: "berth run --runtime-engine auto takes Docker when its socket answers",
  ignore: !docker.available,
  async fn() {
    await withWorkspace(null, "auto-docker", async (ws) => {
      await ws.writeJob({
        container_image: busybox.path,
        command: ["true"],
        mounts: { "/out": { kind: "tmp" } },
      });
      const r = await runBerthE2e(ws.args());
      assertEquals(r.code, 0, r.stderr);
      const log = await assertFinalState(ws, "Complete", 0);
      assert(log.includes('Engine "auto": using docker'), log.join("\n"));
    });
  },
});
