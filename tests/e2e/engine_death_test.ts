/**
 * The engine dies or stops answering: berth must notice, report the node as broken (Queued, exit 75, the hook
 * run) and finish within the documented bounds, rather than hang; a SIGTERM with a dead engine still ends berth
 * within 25 s. The "engine" is a fault proxy in front of the real socket (`_engine_proxy.ts`), killed with
 * SIGKILL, frozen with SIGSTOP (the socket still accepts connections, nothing answers: a stopped dockerd), or
 * told to swallow one API call; the real engine other tests share is never touched, and the container it may
 * still run is removed by the test afterwards.
 */

import { join } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { type EngineProxy, type ProxyRule, startEngineProxy } from "./_engine_proxy.ts";
import { berthContainers, engineRequest } from "../helpers/engine_api.ts";
import { testImage } from "../images/mod.ts";
import {
  assertFinalState,
  ENGINES,
  extraNet,
  extraRun,
  type Running,
  spawnBerth,
  waitForLog,
  withWorkspace,
  type Workspace,
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
          for (const name of await berthContainers(engine.socket!, ws.uuid)) {
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

/** What a fault run saw: berth's result, seconds from the fault to its exit, the final log. */
interface FaultResult {
  code: number;
  stderr: string;
  secondsAfterFault: number;
}

/**
 * Runs `sleep 120` through a fault proxy with `rules`; `fault` injects the fault (after berth started) and
 * returns when it did. Removes the container from the real engine afterwards.
 */
async function faultRun(
  ws: Workspace,
  rules: ProxyRule[],
  fault: (proxy: EngineProxy, run: Running) => Promise<void>,
  extraArgs: string[] = [],
): Promise<FaultResult> {
  const engine = ws.engine!;
  const socket = join(ws.root, "engine.sock");
  const proxy = await startEngineProxy({ listen: socket, target: engine.socket!, root: ws.root, rules });
  let run: Running | undefined;
  try {
    await ws.writeJob({
      container_image: busybox.path,
      command: ["sh", "-c", "echo running; sleep 120"],
      mounts: { "/out": { kind: "tmp" } },
    });
    run = await spawnBerth(ws.args(["--docker-socket", socket, ...extraArgs]), extraNet(socket));
    await fault(proxy, run);
    const faultAt = performance.now();
    const r = await run.done;
    return { code: r.code, stderr: r.stderr, secondsAfterFault: (performance.now() - faultAt) / 1000 };
  } finally {
    killQuietly(run?.child);
    await run?.done;
    await proxy.stop();
    for (const name of await berthContainers(engine.socket!, ws.uuid)) {
      await engineRequest(engine.socket!, "DELETE", `/containers/${name.replace(/^\//, "")}?force=1`);
    }
  }
}

for (const engine of ENGINES.filter((e) => e.socket !== null)) {
  Deno.test({
    name:
      `berth run on ${engine.name}: the engine is stopped before berth negotiates: Queued, exit 75 in seconds`,
    ignore: !engine.available,
    async fn() {
      await withWorkspace(engine, "engine-stopped-early", async (ws) => {
        const r = await faultRun(ws, [], (proxy) => {
          proxy.child.kill("SIGSTOP");
          return Promise.resolve();
        });
        assertEquals(r.code, 75, r.stderr);
        // One /_ping, bounded by 5 s, then the clean-up of a run that created nothing.
        assert(r.secondsAfterFault < 20, `berth took ${r.secondsAfterFault.toFixed(1)} s`);
        const log = await assertFinalState(ws, "Queued", 75);
        assert(
          log.some((l) => l.includes("did not answer GET /_ping within 5 s (engine unresponsive)")),
          log.join("\n"),
        );
        await ws.assertNoLeftovers();
      });
    },
  });

  // The create that is never answered (exit 75 within the create's 30 s bound) is a fault-suite case
  // (tests/fault/_engine_api_cases.ts), with every other call berth makes.

  Deno.test({
    name: `berth run on ${engine.name}: the engine is stopped while the container runs: Queued, exit 75`,
    ignore: !engine.available,
    async fn() {
      await withWorkspace(engine, "engine-stopped-running", async (ws) => {
        // The runtime description's GET /version still unanswered when the engine stops (as Podman's slow one
        // often is on a busy node): berth must not wait out that request's own 30 s bound.
        const rules = [{ action: "stall" as const, pattern: "^GET /version$" }];
        const r = await faultRun(ws, rules, async (proxy) => {
          await waitForLog(ws, "Waiting for container to finish", 60_000);
          proxy.child.kill("SIGSTOP");
        }, ["--watchdog-interval", "0.5"]);
        assertEquals(r.code, 75, r.stderr);
        // 5 watchdog checks of 0.5 s + 0.5 s, then the short clean-up budget.
        assert(
          r.secondsAfterFault < 25,
          `berth took ${r.secondsAfterFault.toFixed(1)} s after the engine stopped`,
        );
        const log = await assertFinalState(ws, "Queued", 75);
        assert(log.some((l) => / watchdog: giving up$/.test(l)), log.join("\n"));
      });
    },
  });

  Deno.test({
    name: `berth run on ${engine.name}: SIGTERM while the engine is stopped: berth exits within 25 s`,
    ignore: !engine.available,
    async fn() {
      await withWorkspace(engine, "sigterm-dead-engine", async (ws) => {
        const r = await faultRun(ws, [], async (proxy, run) => {
          await waitForLog(ws, "Waiting for container to finish", 60_000);
          proxy.child.kill("SIGSTOP");
          run.child.kill("SIGTERM");
        });
        assert(r.secondsAfterFault < 25, `berth took ${r.secondsAfterFault.toFixed(1)} s after SIGTERM`);
        // The kill got no answer within its 4 s, the removal neither (4 s): the run ends as the signal asked.
        assertEquals(r.code, 143, r.stderr);
        const log = await assertFinalState(ws, "Cancelled", 143);
        assert(
          log.some((l) => /did not answer POST \/containers\/\S+\/kill within 4 s/.test(l)),
          log.join("\n"),
        );
      });
    },
  });
}
