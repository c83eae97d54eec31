import { assertEquals, assertRejects } from "../helpers/assert.ts";
// @ts-types="@types/tar-stream"
import tar from "tar-stream";
import { indexTar, readTarEntry } from "../../src/image/mod.ts";
import { ImageError } from "../../src/errors.ts";

async function tarFile(build: (pack: tar.Pack) => void): Promise<string> {
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  pack.on("data", (c: Uint8Array) => chunks.push(c));
  const ended = new Promise((r) => pack.on("end", r));
  build(pack);
  pack.finalize();
  await ended;
  const path = await Deno.makeTempFile({ suffix: ".tar" });
  await Deno.writeFile(path, new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer()));
  return path;
}

Deno.test("indexTar() reads long (PAX) names, sizes and offsets without reading data", async () => {
  const long = "d/" + "x".repeat(180) + "/file.txt";
  const path = await tarFile((p) => {
    p.entry({ name: "a.txt" }, "hello");
    p.entry({ name: long }, "long name data");
    p.entry({ name: "dir", type: "directory" });
    p.entry({ name: "link", type: "symlink", linkname: "a.txt" });
  });
  try {
    const entries = await indexTar(path);
    assertEquals(entries.map((e) => [e.name, e.type, e.size]), [
      ["a.txt", "file", 5],
      [long, "file", 14],
      ["dir", "directory", 0],
      ["link", "symlink", 0],
    ]);
    assertEquals(entries[3].linkName, "a.txt");
    assertEquals(new TextDecoder().decode(await readTarEntry(path, entries[1], 100)), "long name data");
    await assertRejects(() => readTarEntry(path, entries[1], 4), ImageError);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("indexTar() rejects an archive cut before its end-of-archive blocks", async () => {
  const path = await tarFile((p) => p.entry({ name: "a.txt" }, "hello"));
  try {
    const whole = await Deno.readFile(path);
    await Deno.writeFile(path, whole.subarray(0, 1024)); // header + data block, no trailer
    const err = await assertRejects(() => indexTar(path), ImageError);
    assertEquals(err.message, `Image tarball "${path}" is truncated`);
  } finally {
    await Deno.remove(path);
  }
});
