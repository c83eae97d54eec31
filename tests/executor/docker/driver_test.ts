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

async function driver(args: string[], extraNet = ""): Promise<DriverResult> {
  const env: Record<string, string> = extraNet ? { BERTH_EXTRA_NET: extraNet } : {};
  const flags = await profileFlags("standard", env);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--quiet", "--cached-only", ...flags, DRIVER, ...args],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  assertEquals(out.code, 0, `driver failed: ${stdout}\n${stderr}`);
  const result = JSON.parse(stdout.trim().split("\n").at(-1)!) as DriverResult;
  assertEquals(result.fatal, undefined, stderr);
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

for (const [engine, label] of [["docker", "Docker daemon"], ["podman", "Podman service"]] as const) {
  Deno.test({
    name: `loadImage() fails with a broken-node EngineError when no ${engine} engine listens on the socket`,
    ignore: !canRunDeno,
    async fn() {
      await withTempDir(async (dir) => {
        const socket = join(dir, "dead.sock");
        const r = await driver(["dead", engine, socket], `unix:${socket}`);
        assertEquals(r.runtime, `${engine} (unknown version)`);
        assertEquals([r.errorClass, r.brokenNode], ["EngineError", true]);
        assertMatch(
          r.error as string,
          new RegExp(`^Cannot read the \\w+ version: Cannot connect to the ${label} at unix://${socket}: `),
        );
      });
    },
  });
}
