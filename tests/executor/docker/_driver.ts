/**
 * A berth-like process for the Docker executor tests that must measure berth's own memory, or put a fault
 * between berth and a real engine. Run by `driver_test.ts` with berth's permission profile (plus the proxy
 * socket in `BERTH_EXTRA_NET`); prints one JSON line with what it observed.
 *
 *   _driver.ts load    ENGINE SOCKET TARBALL IMAGE_ID   load an image; report the peak RSS and progress calls
 *   _driver.ts stdout  ENGINE SOCKET FILE               cat FILE in a container; report bytes, sha256, peak RSS
 *   _driver.ts dead    ENGINE SOCKET                    no engine listens on SOCKET: report runtime() and the
 *                                                      error of loadImage()
 *   _driver.ts watchdog ENGINE SOCKET PROXY IMAGE_ID    run `sleep 60` through a proxy socket, then make the
 *                                                      proxy swallow everything; report how wait() ended
 *   _driver.ts connect ENGINE SOCKET|- HOSTENV_JSON UID connectDockerExecutor() with that socket option, host
 *                                                      environment and uid; report how it ended and how long
 *   _driver.ts user ENGINE SOCKET TARBALL IMAGE_ID DIR USER_JSON  run `id` as the spec user USER_JSON (or null)
 *                                                      with a 64 MiB limit and DIR bound writable at /out, where
 *                                                      it writes a file;
 *                                                      report the output and that file's owner
 *   _driver.ts lifecycle ENGINE SOCKET IMAGE_ID PLAN_JSON run the executor's calls as a {@link Plan} says (a stop
 *                                                      and close during create, or during wait), printing an
 *                                                      event line after each call; report each call's outcome
 *                                                      and duration
 * @module
 */

import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { connectDockerExecutor, createDockerExecutor } from "../../../src/executor/docker/mod.ts";
import type { DockerApiEngine } from "../../../src/executor/docker/mod.ts";
import { EngineError } from "../../../src/errors.ts";
import { plainSpec } from "../../helpers/container_spec.ts";

const [mode, engine, socket, ...rest] = Deno.args;
const logs: string[] = [];
const log = (m: string) => logs.push(m);

let peakRss = Deno.memoryUsage().rss;
const sample = () => peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
const sampler = setInterval(sample, 10);

function spec(name: string, image: string, command: string[], stdout: WritableStream<Uint8Array>) {
  return plainSpec({ name, image, command, stdout, stderr: new WritableStream<Uint8Array>() });
}

/** A unix-socket proxy to `upstream` that can be switched to swallow every byte in both directions. */
function proxy(path: string, upstream: string) {
  const state = { swallow: false };
  const listener = Deno.listen({ transport: "unix", path });
  const conns: Deno.Conn[] = [];
  const pipe = async (from: Deno.Conn, to: Deno.Conn) => {
    try {
      for await (const chunk of from.readable) {
        if (!state.swallow) {
          for (let off = 0; off < chunk.length;) off += await to.write(chunk.subarray(off));
        }
      }
    } catch {
      // Either side closed.
    }
  };
  (async () => {
    for await (const client of listener) {
      const server = await Deno.connect({ transport: "unix", path: upstream });
      conns.push(client, server);
      pipe(client, server);
      pipe(server, client);
    }
  })().catch(() => {});
  return {
    state,
    close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch {
          // Already closed.
        }
      }
    },
  };
}

/** What `lifecycle` does. */
interface Plan {
  /** The container's command. */
  command: string[];
  /** Where to call stop() and close(): during create() (without waiting for it), or during wait(). */
  stopDuring?: "create" | "wait";
  /** How long after the call began to stop. */
  stopAfterMs?: number;
  /** The executor's watchdog interval. */
  watchdogIntervalMs?: number;
  /** The executor's drain time. */
  drainTimeoutMs?: number;
  /** With `stopDuring: "create"`: do not wait for the create to settle (nor close again) before reporting. */
  abandonCreate?: boolean;
}

/** One call's outcome: its value or error, and how long it took. */
interface CallResult {
  ms: number;
  value?: unknown;
  error?: string;
  errorClass?: string;
  brokenNode?: boolean | null;
  exitCode?: number | null;
}

async function timedCall(fn: () => Promise<unknown>): Promise<CallResult> {
  const t0 = performance.now();
  try {
    const value = await fn();
    return { ms: Math.round(performance.now() - t0), value };
  } catch (err) {
    return {
      ms: Math.round(performance.now() - t0),
      error: err instanceof Error ? err.message : String(err),
      errorClass: err instanceof Error ? err.constructor.name : typeof err,
      brokenNode: err instanceof EngineError ? err.brokenNode : null,
      exitCode: err instanceof Error && "exitCode" in err ? Number(err.exitCode) : null,
    };
  }
}

/** Tells the test what happened so far, on a line of its own. */
function event(name: string, extra: Record<string, unknown> = {}) {
  console.log(JSON.stringify({ event: name, ...extra }));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const result: Record<string, unknown> = {};
try {
  if (mode === "load") {
    const [tarball, imageId] = rest;
    const ex = createDockerExecutor({ engine: engine as DockerApiEngine, socket, hostEnv: {}, log });
    let calls = 0;
    const t0 = performance.now();
    try {
      await ex.loadImage(imageId, tarball, () => {
        calls++;
        sample();
      });
    } finally {
      await ex.close();
    }
    Object.assign(result, { progressCalls: calls, ms: Math.round(performance.now() - t0) });
  } else if (mode === "stdout") {
    const [file, imageId] = rest;
    const ex = createDockerExecutor({ engine: engine as DockerApiEngine, socket, hostEnv: {}, log });
    const hash = createHash("sha256");
    let bytes = 0;
    const sink = new WritableStream<Uint8Array>({
      write(c) {
        hash.update(c);
        bytes += c.length;
        sample();
      },
    });
    try {
      const s = spec(`berth-driver-${crypto.randomUUID().slice(0, 12)}`, imageId, ["cat", "/in/data"], sink);
      s.mounts["/in"] = { hostPath: dirname(file), readOnly: true };
      await ex.create(s);
      await ex.start();
      result.code = await ex.wait();
    } finally {
      await ex.close();
    }
    Object.assign(result, { bytes, sha256: hash.digest("hex") });
  } else if (mode === "dead") {
    const ex = createDockerExecutor({ engine: engine as DockerApiEngine, socket, hostEnv: {}, log });
    try {
      result.runtime = await ex.runtime();
      await ex.loadImage("sha256:" + "0".repeat(64), "/nonexistent.tar");
    } catch (err) {
      result.error = err instanceof Error ? err.message : String(err);
      result.brokenNode = err instanceof EngineError ? err.brokenNode : null;
      result.errorClass = err instanceof Error ? err.constructor.name : typeof err;
    } finally {
      await ex.close();
    }
  } else if (mode === "watchdog") {
    const [proxyPath, imageId] = rest;
    const p = proxy(proxyPath, socket);
    const name = `berth-driver-${crypto.randomUUID().slice(0, 12)}`;
    const ex = createDockerExecutor({
      engine: engine as DockerApiEngine,
      socket: proxyPath,
      hostEnv: {},
      log,
      watchdogIntervalMs: 200,
      closeTimeoutMs: 1000,
    });
    try {
      await ex.create(spec(name, imageId, ["sleep", "60"], new WritableStream()));
      await ex.start();
      const waiting = ex.wait();
      p.state.swallow = true;
      const t0 = performance.now();
      try {
        result.code = await waiting;
      } catch (err) {
        result.error = err instanceof Error ? err.message : String(err);
        result.brokenNode = err instanceof EngineError ? err.brokenNode : null;
        result.errorClass = err instanceof Error ? err.constructor.name : typeof err;
      }
      result.ms = Math.round(performance.now() - t0);
      const c0 = performance.now();
      await ex.close();
      result.closeMs = Math.round(performance.now() - c0);
    } finally {
      p.close();
      // The proxy swallowed berth's removal: remove the container on the real socket.
      using client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
      const res = await fetch(`http://engine.invalid/v1.41/containers/${name}?force=1`, {
        method: "DELETE",
        client,
      });
      await res.body?.cancel();
    }
  } else if (mode === "user") {
    const [tarball, imageId, dir, userJson] = rest;
    const ex = createDockerExecutor({ engine: engine as DockerApiEngine, socket, hostEnv: {}, log });
    let out = "";
    const sink = new WritableStream<Uint8Array>({ write: (c) => void (out += new TextDecoder().decode(c)) });
    try {
      await ex.loadImage(imageId, tarball);
      const name = `berth-driver-${crypto.randomUUID().slice(0, 12)}`;
      const s = {
        ...spec(name, imageId, ["sh", "-c", "id -u; id -g; id -G; echo hi > /out/f"], sink),
        user: JSON.parse(userJson),
        ram: 64 << 20,
      };
      s.mounts["/out"] = { hostPath: dir, readOnly: false };
      await ex.create(s);
      await ex.start();
      result.code = await ex.wait();
    } finally {
      await ex.close();
    }
    const st = await Deno.stat(`${dir}/f`);
    Object.assign(result, { stdout: out, owner: [st.uid, st.gid] });
  } else if (mode === "connect") {
    const [hostEnvJson, uid] = rest;
    const options = {
      engine: engine as DockerApiEngine,
      socket: socket === "-" ? undefined : socket,
      hostEnv: JSON.parse(hostEnvJson) as Record<string, string>,
      uid: Number(uid),
      log,
    };
    const r = await timedCall(() => connectDockerExecutor(options));
    if (r.value) await (r.value as { close(): Promise<void> }).close();
    delete r.value;
    result.connect = r;
  } else if (mode === "lifecycle") {
    const [imageId, planJson] = rest;
    const plan = JSON.parse(planJson) as Plan;
    const ex = createDockerExecutor({
      engine: engine as DockerApiEngine,
      socket,
      hostEnv: {},
      log,
      watchdogIntervalMs: plan.watchdogIntervalMs,
      drainTimeoutMs: plan.drainTimeoutMs,
    });
    const name = `berth-driver-${crypto.randomUUID().slice(0, 12)}`;
    result.name = name;
    event("name", { name });
    const s = spec(name, imageId, plan.command, new WritableStream());
    if (plan.stopDuring === "create") {
      const creating = timedCall(() => ex.create(s));
      await sleep(plan.stopAfterMs ?? 0);
      result.stop = await timedCall(() => ex.stop());
      result.close = await timedCall(() => ex.close());
      if (!plan.abandonCreate) {
        result.create = await creating;
        // As the runner does once an abandoned call settles: close again, to remove what it made.
        result.close2 = await timedCall(() => ex.close());
      }
    } else {
      result.create = await timedCall(() => ex.create(s));
      event("created");
      result.start = await timedCall(() => ex.start());
      event("started");
      const waiting = timedCall(() => ex.wait());
      if (plan.stopDuring === "wait") {
        await sleep(plan.stopAfterMs ?? 0);
        const t0 = performance.now();
        result.stop = await timedCall(() => ex.stop());
        result.wait = await waiting;
        (result.wait as CallResult).ms = Math.round(performance.now() - t0);
      } else {
        result.wait = await waiting;
      }
      event("waited");
      result.close = await timedCall(() => ex.close());
    }
  }
} catch (err) {
  result.fatal = err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err);
} finally {
  clearInterval(sampler);
}
sample();
console.log(JSON.stringify({ ...result, peakRssMiB: peakRss / (1 << 20), logs }));
Deno.exit(0);
