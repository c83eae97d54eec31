import { assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { join } from "node:path";
// @ts-types="@types/tar-stream"
import tar from "tar-stream";
import { readImageManifest } from "../../src/image/mod.ts";
import { ImageError } from "../../src/errors.ts";
import { testImage } from "../images/mod.ts";
import { ENGINE_SOCKETS, engineRequest } from "../helpers/engine_api.ts";

/** Writes a tarball with the given entries into a temp dir and returns its path. */
async function writeTar(
  entries: { name: string; data?: string; type?: "file" | "symlink" | "directory"; linkname?: string }[],
): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "berth-test-tar-" });
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  pack.on("data", (c: Uint8Array) => chunks.push(c));
  const ended = new Promise((r) => pack.on("end", r));
  for (const e of entries) {
    pack.entry({ name: e.name, type: e.type ?? "file", linkname: e.linkname }, e.data ?? "");
  }
  pack.finalize();
  await ended;
  const path = join(dir, "image.tar");
  await Deno.writeFile(path, new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer()));
  return path;
}

const goodManifest = JSON.stringify([{ Config: "c.json", RepoTags: [], Layers: ["l/layer.tar"] }]);

for (const name of ["busybox", "multilayer"] as const) {
  for (const engine of ["docker", "podman"] as const) {
    Deno.test(`readImageManifest() gives the image ID that ${engine} reports after loading the ${name} image`, async () => {
      const image = await testImage(name);
      const manifest = await readImageManifest(image.path);
      const socket = ENGINE_SOCKETS[engine];
      const load = await engineRequest(socket, "POST", "/images/load", await Deno.readFile(image.path), {
        "Content-Type": "application/x-tar",
      });
      assertEquals(load.status, 200, load.text);
      const inspect = await engineRequest(socket, "GET", `/images/${manifest.id}/json`);
      assertEquals(inspect.status, 200, inspect.text);
      assertEquals((inspect.json as { Id: string }).Id, manifest.id);
    });
  }
}

Deno.test("readImageManifest() reads layers, tags and config defaults of the multilayer image", async () => {
  const m = await readImageManifest((await testImage("multilayer")).path);
  assertEquals(m.layers.length, 2);
  assertEquals(m.repoTags, ["berth-test/multilayer:latest"]);
  assertEquals(m.config.config?.WorkingDir, "/work");
  assertEquals(m.config.config?.User, "1000:1000");
  assertEquals(m.config.rootfs?.diff_ids.length, 2);
});

Deno.test("readImageManifest() rejects a truncated tarball", async () => {
  const t = await testImage("truncated");
  const err2 = await assertRejects(() => readImageManifest(t.path), ImageError);
  assertEquals(err2.message, `Image tarball "${t.path}" is truncated`);
});

Deno.test("readImageManifest() names a missing tarball", async () => {
  const err = await assertRejects(() => readImageManifest("/nonexistent/image.tar"), ImageError);
  assertEquals(err.message, 'Cannot open image tarball "/nonexistent/image.tar": no such file');
});

Deno.test("readImageManifest() rejects a file that is not a tar archive", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "x.tar");
  await Deno.writeTextFile(path, "not a tar archive at all\n".repeat(100));
  const err = await assertRejects(() => readImageManifest(path), ImageError);
  assertEquals(err.message, `Image tarball "${path}" is not a valid tar archive`);
  await Deno.remove(dir, { recursive: true });
});

const unsafe: [string, Parameters<typeof writeTar>[0], RegExp][] = [
  ["an entry with ../", [{ name: "../evil", data: "x" }], /has an unsafe entry "..\/evil"/],
  [
    "an absolute entry",
    [{ name: "/etc/evil", data: "x" }],
    /has an unsafe entry "\/etc\/evil"|has an unsafe entry "etc\/evil"/,
  ],
  ["a nested ../ entry", [{ name: "a/../../evil", data: "x" }], /has an unsafe entry "a\/..\/..\/evil"/],
  [
    "a symlink escaping",
    [{ name: "l", type: "symlink", linkname: "../../etc/shadow" }],
    /symlink "l" pointing outside/,
  ],
  [
    "an absolute symlink",
    [{ name: "l", type: "symlink", linkname: "/etc/shadow" }],
    /symlink "l" pointing outside/,
  ],
];
for (const [what, entries, message] of unsafe) {
  Deno.test(`readImageManifest() rejects a tarball with ${what}`, async () => {
    const path = await writeTar([...entries, { name: "manifest.json", data: goodManifest }]);
    try {
      const err = await assertRejects(() => readImageManifest(path), ImageError);
      assertMatch(err.message, message);
    } finally {
      await Deno.remove(join(path, ".."), { recursive: true });
    }
  });
}

const malformed: [string, Parameters<typeof writeTar>[0], string][] = [
  ["no manifest.json", [{ name: "x", data: "y" }], " is not a docker-save archive (it has no manifest.json)"],
  ["two images", [{ name: "manifest.json", data: "[{},{}]" }], " holds 2 images; berth needs exactly one"],
  [
    "a manifest that is not JSON",
    [{ name: "manifest.json", data: "{" }],
    ': "manifest.json" is not valid JSON',
  ],
  [
    "a missing config",
    [{ name: "manifest.json", data: goodManifest }],
    ' lacks "c.json" named in its manifest.json',
  ],
  [
    "a missing layer",
    [{ name: "manifest.json", data: goodManifest }, { name: "c.json", data: "{}" }],
    ' lacks "l/layer.tar" named in its manifest.json',
  ],
  [
    "a config that is not an object",
    [{ name: "manifest.json", data: goodManifest }, { name: "c.json", data: "[]" }, { name: "l/layer.tar" }],
    ': config "c.json" is not a JSON object',
  ],
];
for (const [what, entries, message] of malformed) {
  Deno.test(`readImageManifest() rejects a tarball with ${what}`, async () => {
    const path = await writeTar(entries);
    try {
      const err = await assertRejects(() => readImageManifest(path), ImageError);
      assertEquals(err.message, `Image tarball "${path}"${message}`);
    } finally {
      await Deno.remove(join(path, ".."), { recursive: true });
    }
  });
}

Deno.test("readImageManifest() follows an in-archive symlink to a shared layer", async () => {
  const path = await writeTar([
    {
      name: "manifest.json",
      data: JSON.stringify([{ Config: "c.json", Layers: ["a/layer.tar", "b/layer.tar"] }]),
    },
    { name: "c.json", data: '{"config":{}}' },
    { name: "a/layer.tar", data: "" },
    { name: "b/layer.tar", type: "symlink", linkname: "../a/layer.tar" },
  ]);
  try {
    const m = await readImageManifest(path);
    assertEquals(m.layers, ["a/layer.tar", "b/layer.tar"]);
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode('{"config":{}}')),
    );
    assertEquals(m.id, "sha256:" + Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join(""));
  } finally {
    await Deno.remove(join(path, ".."), { recursive: true });
  }
});
