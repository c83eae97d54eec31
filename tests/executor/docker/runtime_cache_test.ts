/**
 * The node's cache of the engine's runtime description: used only while its key matches and it is fresh, never
 * a failure; and the Docker-API executor's `runtime()` through it, against the real engines.
 * @module
 */

import { join } from "node:path";
import { assert, assertEquals, assertNotEquals } from "../../helpers/assert.ts";
import { ENGINE_SOCKETS } from "../../helpers/engine_api.ts";
import { connectDockerExecutor } from "../../../src/executor/docker/mod.ts";
import {
  cachedRuntime,
  RUNTIME_CACHE_TTL_MS,
  runtimeCacheKey,
  runtimeCachePath,
} from "../../../src/executor/docker/runtime_cache.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

const withDir = (fn: (dir: string) => Promise<void>) => withTempDir(fn, "berth-runtime-cache-");

/** A `describe` that counts how often it was asked. */
function asker(answer: string | null) {
  const calls: number[] = [];
  return {
    calls,
    describe: (): Promise<string | null> => {
      calls.push(1);
      return Promise.resolve(answer);
    },
  };
}

Deno.test("cachedRuntime() asks once, then answers from the cache while the key matches", async () => {
  await withDir(async (dir) => {
    const a = asker("docker Engine 1.2.3");
    const o = { dir, socket: "/run/x.sock", key: "k1", describe: a.describe, now: 1_000 };
    assertEquals(await cachedRuntime(o), "docker Engine 1.2.3");
    assertEquals(await cachedRuntime({ ...o, now: 2_000 }), "docker Engine 1.2.3");
    assertEquals(a.calls.length, 1);
    const entry = JSON.parse(await Deno.readTextFile(await runtimeCachePath(dir, "/run/x.sock")));
    assertEquals(entry, { key: "k1", value: "docker Engine 1.2.3", at: 1_000 });
  });
});

Deno.test("cachedRuntime() asks again for another key, after the time to live, and for an entry from the future", async () => {
  await withDir(async (dir) => {
    const a = asker("podman Engine 4.3.1");
    const o = { dir, socket: "/run/y.sock", key: "k1", describe: a.describe, now: 10_000_000 };
    await cachedRuntime(o);
    await cachedRuntime({ ...o, key: "k2" });
    assertEquals(a.calls.length, 2);
    await cachedRuntime({ ...o, key: "k2", now: o.now + RUNTIME_CACHE_TTL_MS });
    assertEquals(a.calls.length, 3);
    await cachedRuntime({ ...o, key: "k2", now: 0 });
    assertEquals(a.calls.length, 4);
  });
});

Deno.test("cachedRuntime() caches no failure, ignores a corrupt entry, and works without a usable dir", async () => {
  await withDir(async (dir) => {
    const none = asker(null);
    const o = { dir, socket: "/run/z.sock", key: "k", describe: none.describe };
    assertEquals(await cachedRuntime(o), null);
    assertEquals([...Deno.readDirSync(dir)], []);
    await Deno.writeTextFile(await runtimeCachePath(dir, "/run/z.sock"), "{not json");
    const a = asker("docker Engine 9");
    assertEquals(await cachedRuntime({ ...o, describe: a.describe }), "docker Engine 9");
    assertEquals(a.calls.length, 1);
    const missing = asker("docker Engine 9");
    assertEquals(
      await cachedRuntime({ ...o, dir: join(dir, "no", "such"), describe: missing.describe }),
      "docker Engine 9",
    );
  });
});

Deno.test("runtimeCacheKey() changes when the socket file is made anew or the engine's ping differs", async () => {
  await withDir(async (dir) => {
    // A plain file stands in for the socket (the profile lets tests listen on no socket of their own): the key
    // reads only the file's identity. A restarted engine makes a new socket file at the same path.
    const path = join(dir, "engine.sock");
    const ping = { server: "Libpod/4.3.1 (linux)", apiVersion: "1.41" };
    await Deno.writeTextFile(path, "");
    const first = runtimeCacheKey(path, ping);
    assert(first !== null);
    assertEquals(runtimeCacheKey(path, ping), first);
    assertNotEquals(runtimeCacheKey(path, { ...ping, server: "Libpod/4.4.0 (linux)" }), first);
    assertNotEquals(runtimeCacheKey(path, { ...ping, apiVersion: "1.40" }), first);
    await Deno.writeTextFile(`${path}.new`, "");
    await Deno.rename(`${path}.new`, path);
    assertNotEquals(runtimeCacheKey(path, ping), first);
    assertEquals(runtimeCacheKey(join(dir, "missing.sock"), ping), null);
  });
});

for (const engine of ["docker", "podman"] as const) {
  Deno.test(`[${engine}] runtime() with a cache dir: the same line as without, kept for the next executor`, async () => {
    await withDir(async (dir) => {
      const open = (runtimeCacheDir?: string) =>
        connectDockerExecutor({
          engine,
          socket: ENGINE_SOCKETS[engine],
          hostEnv: {},
          log: () => {},
          runtimeCacheDir,
        });
      const plain = await open();
      const cached = await open(dir);
      try {
        const line = await plain.runtime();
        assert(line.startsWith(`${engine} Engine `), line);
        assertEquals(await cached.runtime(), line);
        const entry = JSON.parse(
          await Deno.readTextFile(await runtimeCachePath(dir, ENGINE_SOCKETS[engine])),
        );
        assertEquals(entry.value, line);
      } finally {
        await plain.close();
        await cached.close();
      }
    });
  });
}
