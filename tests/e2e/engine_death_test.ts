/**
 * The engine dies while the container runs: berth must notice, report the node as broken (Queued, exit 75, the
 * hook run) and finish, rather than hang. The "engine" is a proxy process in front of the real socket, killed
 * with SIGKILL; the container itself keeps running on the real engine, so the test removes it afterwards.
 */

import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type EngineProxy, startEngineProxy } from "./_engine_proxy.ts";
import { berthContainers, engineRequest } from "../helpers/engine_api.ts";
import { testImage } from "../images/mod.ts";
import { containerName } from "../../src/runner/mod.ts";
import {
  assertFinalState,
  ENGINES,
  extraNet,
  extraRun,
  type Running,
  spawnBerth,
  waitForLog,
  withWorkspace,
} from "./_harness.ts";

const busybox = await testImage("busybox");

function killQuietly(child: Deno.ChildProcess | undefined) {
  try {
    child?.kill("SIGKILL");
  } catch { /* already gone */ }
}

for (const engine of ENGINES.filter((e) => e.socket !== null)) {
  Deno.test({
    name: `berth run on ${engine.name}: the engine dies mid-run: Queued, exit 75, the hook run`,
    ignore: !engine.available,
    async fn() {
      await withWorkspace(engine, "engine-death", async (ws) => {
        const socket = join(ws.root, "engine.sock");
        let proxy: EngineProxy | undefined;
        let run: Running | undefined;
        try {
          proxy = await startEngineProxy({ listen: socket, target: engine.socket!, root: ws.root });
          const hook = join(ws.root, "hook.sh");
          await Deno.writeTextFile(hook, "#!/bin/sh\necho hook saw a broken node\n");
          await Deno.chmod(hook, 0o755);
          await ws.writeJob({
            container_image: busybox.path,
            command: ["sh", "-c", "echo running; sleep 120"],
            mounts: { "/out": { kind: "tmp" } },
          });
          run = await spawnBerth(
            ws.args(["--docker-socket", socket, "--watchdog-interval", "0.5", "--broken-node-hook", hook]),
            { ...extraNet(socket), ...extraRun(hook) },
          );
          await waitForLog(ws, "Waiting for container to finish", 30_000);
          proxy.child.kill("SIGKILL");
          const r = await run.done;
          assertEquals(r.code, 75, r.stderr);
          assert(r.seconds < 60, `berth took ${r.seconds} s`);
          const log = await assertFinalState(ws, "Queued", 75);
          assert(
            log.some((l) => l.startsWith("Error suggests node is unable to run containers: ")),
            log.join("\n"),
          );
          assert(log.includes("hook saw a broken node"), log.join("\n"));
          // The real engine still runs the container berth could no longer reach: clean it up, then check.
          for (const name of await berthContainers(engine.socket!, containerName(ws.uuid))) {
            await engineRequest(engine.socket!, "DELETE", `/containers/${name.replace(/^\//, "")}?force=1`);
          }
          await ws.assertNoLeftovers();
        } finally {
          killQuietly(run?.child);
          await run?.done;
          await proxy?.stop();
        }
      });
    },
  });
}
