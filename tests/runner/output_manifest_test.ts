import { createHash } from "node:crypto";
import { assertEquals } from "../helpers/assert.ts";
import { buildOutputManifest, sha256File, writeOutputManifest } from "../../src/runner/output_manifest.ts";
import { withTempDir } from "./_job.ts";

Deno.test("buildOutputManifest() lists files with size, sha256 and mode, sorted, without following symlinks", async () => {
  await withTempDir(async (root) => {
    const out = `${root}/output`;
    await Deno.mkdir(`${out}/sub/empty`, { recursive: true });
    await Deno.writeTextFile(`${out}/b.txt`, "hello\n");
    await Deno.chmod(`${out}/b.txt`, 0o640);
    const big = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31) & 0xff);
    await Deno.writeFile(`${out}/sub/big.bin`, big);
    await Deno.chmod(`${out}/sub/big.bin`, 0o600);
    await Deno.chmod(`${out}/sub`, 0o2775);
    await Deno.symlink("/etc/shadow", `${out}/a-link`);
    const manifest = await buildOutputManifest(out, "job-9");
    const hex = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
    assertEquals(manifest.uuid, "job-9");
    assertEquals(manifest.files, 2);
    assertEquals(manifest.bytes, 6 + big.length);
    assertEquals(manifest.entries.map((e) => e.path), ["a-link", "b.txt", "sub", "sub/big.bin", "sub/empty"]);
    assertEquals(manifest.entries[0], {
      path: "a-link",
      type: "symlink",
      size: 0,
      mode: manifest.entries[0].mode,
      target: "/etc/shadow",
    });
    assertEquals(manifest.entries[1], {
      path: "b.txt",
      type: "file",
      size: 6,
      mode: "0640",
      sha256: hex(new TextEncoder().encode("hello\n")),
    });
    assertEquals(manifest.entries[2], { path: "sub", type: "directory", size: 0, mode: "2775" });
    assertEquals(manifest.entries[3].sha256, hex(big));
    assertEquals(manifest.entries[3].mode, "0600");
    await writeOutputManifest(`${root}/output.json`, manifest);
    assertEquals(JSON.parse(await Deno.readTextFile(`${root}/output.json`)), manifest);
  });
});

Deno.test("sha256File() hashes an empty file", async () => {
  await withTempDir(async (root) => {
    await Deno.writeFile(`${root}/e`, new Uint8Array());
    assertEquals(
      await sha256File(`${root}/e`),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
  });
});
