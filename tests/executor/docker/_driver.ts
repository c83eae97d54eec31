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
 * @module
 */

import { createHash } from "node:crypto";
import { dirname } from "node:path";
import { createDockerExecutor } from "../../../src/executor/docker/mod.ts";
import type { DockerApiEngine } from "../../../src/executor/docker/mod.ts";
import { EngineError } from "../../../src/errors.ts";

const [mode, engine, socket, ...rest] = Deno.args;
const logs: string[] = [];
const log = (m: string) => logs.push(m);

let peakRss = Deno.memoryUsage().rss;
const sample = () => peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
const sampler = setInterval(sample, 10);

function spec(name: string, image: string, command: string[], stdout: WritableStream<Uint8Array>) {
  return {
    name,
    image,
    command,
    workingDir: "",
    env: { PATH: "/usr/bin:/bin" },
    mounts: {} as Record<string, { hostPath: string; readOnly: boolean }>,
    vcpus: 0,
    ram: 0,
    gpu: { stack: "" as const, deviceCount: 0 },
    enableNetwork: false,
    networkMode: "default",
    cgroupParent: "",
    stdin: null,
    stdout,
    stderr: new WritableStream<Uint8Array>(),
  };
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
  }
} catch (err) {
  result.fatal = err instanceof Error ? `${err.constructor.name}: ${err.message}` : String(err);
} finally {
  clearInterval(sampler);
}
sample();
console.log(JSON.stringify({ ...result, peakRssMiB: peakRss / (1 << 20), logs }));
Deno.exit(0);
