/**
 * The check-then-mount window, attacked under the hardened profile on every engine: while berth is held (in the
 * image step by the engine proxy for Docker and Podman, by a build wrapper for the Singularity fixture; and, for
 * Docker and Podman, at the create request itself, after every host path was prepared and checked), the test
 * swaps a path berth already checked for a symlink to a directory outside every root: the `--allow-bind` source
 * of a writable bind, and the work dir's `output/`. The run must be refused (exit 125, the reason in
 * `crunch-run.txt`), the outside directory untouched, and nothing left behind.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { testImage } from "../images/mod.ts";
import {
  assertFinalState,
  type EngineCase,
  ENGINES,
  extraNet,
  extraRun,
  spawnBerth,
  withWorkspace,
  type Workspace,
} from "../e2e/_harness.ts";
import { type EngineProxy, startEngineProxy } from "../e2e/_engine_proxy.ts";

const busybox = await testImage("busybox");

/** Polls `done()` every 50 ms until it is true, or fails after `ms`. */
async function until(what: string, done: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const exists = (path: string) => Deno.lstat(path).then(() => true, () => false);

/** Where berth is held while the test swaps a path: the image step, or the engine's create request. */
type HoldPoint = "image" | "create";

/** The engine calls a proxy holds at each point. */
const HOLD_PATTERNS: Record<HoldPoint, string> = {
  image: "^(GET /images/[^/]+/json|POST /images/load)$",
  create: "^POST /containers/create$",
};

/**
 * Holds berth at `point`: for Docker/Podman a proxy in front of the engine holding those calls, for Singularity
 * (image step only) a wrapper around the fixture whose `build` waits. Returns berth's extra arguments and
 * environment, a promise that resolves once berth is held, a release, and a clean-up.
 */
async function hold(engine: EngineCase, ws: Workspace, point: HoldPoint): Promise<{
  args: string[];
  env: Record<string, string>;
  held: () => Promise<boolean>;
  release: () => Promise<void>;
  stop: () => Promise<void>;
}> {
  if (engine.socket !== null) {
    const listen = join(ws.root, "engine.sock");
    const proxy: EngineProxy = await startEngineProxy({
      listen,
      target: engine.socket,
      root: ws.root,
      rules: [{ action: "hold", pattern: HOLD_PATTERNS[point] }],
    });
    return {
      args: ["--docker-socket", listen],
      env: extraNet(listen),
      held: () => Promise.resolve(proxy.reports().some((l) => l.startsWith("proxy: hold"))),
      release: () => proxy.release(),
      stop: () => proxy.stop(),
    };
  }
  // The engine's own program (a fixture generation, or a real one): the wrapper runs it.
  const engineArgs = engine.args(ws);
  const program = engineArgs[engineArgs.indexOf("--singularity-binary") + 1];
  const wrapper = join(ws.root, "singularity");
  const started = join(ws.root, "build-started");
  const release = join(ws.root, "build-release");
  await Deno.writeTextFile(
    wrapper,
    `#!/bin/bash
# A test wrapper around the engine's program whose "build" waits until the test releases it.
if [ "$1" = build ]; then
  : > '${started}'
  while [ ! -e '${release}' ]; do sleep 0.05; done
fi
exec '${program}' "$@"
`,
  );
  await Deno.chmod(wrapper, 0o755);
  return {
    // A cache of its own, so that the image really is converted (and held) in this run.
    args: ["--singularity-binary", wrapper, "--image-cache", join(ws.root, "sif-cache")],
    env: extraRun(wrapper),
    held: () => exists(started),
    release: () => Deno.writeTextFile(release, ""),
    stop: () => Deno.writeTextFile(release, "").catch(() => {}),
  };
}

interface SwapCase {
  name: string;
  /** The container path written to, and the host path swapped (relative to the workspace root). */
  target: string;
  swapped: (ws: Workspace) => string;
}

const CASES: SwapCase[] = [
  { name: "a writable bind source", target: "/data", swapped: (ws) => join(ws.allowed, "d") },
  { name: "the work dir's output/", target: "/out", swapped: (ws) => join(ws.work, "output") },
];

for (const engine of ENGINES) {
  const points: HoldPoint[] = engine.socket === null ? ["image"] : ["image", "create"];
  for (const [c, point] of CASES.flatMap((c) => points.map((p) => [c, p] as const))) {
    Deno.test({
      name:
        `hostile: ${c.name} swapped for a symlink while berth waits for the ${point} step is not mounted on ${engine.label}`,
      ignore: !engine.available,
      fn: async () => {
        await withWorkspace(engine, "swap", async (ws) => {
          const outside = join(ws.root, "outside");
          await Deno.mkdir(outside);
          await Deno.mkdir(join(ws.allowed, "d"));
          await ws.writeJob({
            container_image: busybox.path,
            command: ["sh", "-c", `echo pwned > ${c.target}/pwned`],
            mounts: {
              "/out": { kind: "tmp" },
              "/data": { kind: "bind", source: join(ws.allowed, "d"), writable: true },
            },
          });
          const held = await hold(engine, ws, point);
          try {
            const berth = await spawnBerth(ws.args(held.args), held.env);
            await until(`berth to reach the ${point} step`, held.held);
            const path = c.swapped(ws);
            await Deno.rename(path, `${path}.checked`);
            await Deno.symlink(outside, path);
            await held.release();
            const r = await berth.done;
            assertEquals(r.code, 125, r.stderr);
            const log = (await assertFinalState(ws, "Cancelled", 125)).join("\n");
            // Refused at the first check after the swap: the claim of berth's own dir, or a re-check of a path.
            assertMatch(
              log,
              new RegExp(
                `(of the mount at "${c.target}" now resolves to "${await Deno.realPath(outside)}"|` +
                  `"${path}", which berth created, is a symlink now)`,
              ),
            );
            assertEquals(await Array.fromAsync(Deno.readDir(outside)), [], "the outside dir is untouched");
            assert(!(await exists(join(`${path}.checked`, "pwned"))), "the container never ran");
            await Deno.remove(path);
            await Deno.rename(`${path}.checked`, path);
            await ws.assertNoLeftovers();
          } finally {
            await held.stop();
          }
        });
      },
    });
  }
}
