import { createHash } from "node:crypto";
import { assertEquals } from "../helpers/assert.ts";
import { type OutputManifest, sha256File, writeOutputManifest } from "../../src/runner/output_manifest.ts";
import { withTempDir } from "./_job.ts";

Deno.test("writeOutputManifest() lists files with size, sha256 and mode, depth first, without following symlinks", async () => {
  await withTempDir(async (root) => {
    const out = `${root}/output`;
    await Deno.mkdir(`${out}/sub/empty`, { recursive: true });
    await Deno.mkdir(`${out}/sub-b`);
    await Deno.writeTextFile(`${out}/b.txt`, "hello\n");
    await Deno.chmod(`${out}/b.txt`, 0o640);
    const big = new Uint8Array(3 * 1024 * 1024 + 7).map((_, i) => (i * 31) & 0xff);
    await Deno.writeFile(`${out}/sub/big.bin`, big);
    await Deno.chmod(`${out}/sub/big.bin`, 0o600);
    await Deno.chmod(`${out}/sub`, 0o2775);
    await Deno.symlink("/etc/shadow", `${out}/a-link`);
    const totals = await writeOutputManifest(out, `${root}/output.json`, "job-9");
    assertEquals(totals, { entries: 6, files: 2, bytes: 6 + big.length, complete: true });
    const manifest: OutputManifest = JSON.parse(await Deno.readTextFile(`${root}/output.json`));
    const hex = (data: Uint8Array) => createHash("sha256").update(data).digest("hex");
    assertEquals(manifest.uuid, "job-9");
    assertEquals(manifest.files, 2);
    assertEquals(manifest.bytes, 6 + big.length);
    assertEquals(manifest.complete, true);
    // Path order component by component: "sub/…" before "sub-b".
    assertEquals(manifest.entries.map((e) => e.path), [
      "a-link",
      "b.txt",
      "sub",
      "sub/big.bin",
      "sub/empty",
      "sub-b",
    ]);
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
    const names: string[] = [];
    for await (const e of Deno.readDir(root)) names.push(e.name);
    assertEquals(names.sort(), ["output", "output.json"], "no temporary file left");
  });
});

Deno.test("writeOutputManifest() writes one entry per line, never the whole output as one string", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/out`);
    for (let i = 0; i < 300; i++) {
      await Deno.writeTextFile(`${root}/out/f${String(i).padStart(3, "0")}`, `${i}`);
    }
    await writeOutputManifest(`${root}/out`, `${root}/m.json`, "u");
    const lines = (await Deno.readTextFile(`${root}/m.json`)).split("\n");
    assertEquals(lines.length, 300 + 3);
    assertEquals(JSON.parse(lines[1].replace(/,$/, "")).path, "f000");
  });
});

Deno.test("writeOutputManifest() stops when its signal fires and records the manifest as incomplete", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/out`);
    await Deno.writeTextFile(`${root}/out/a`, "a");
    await Deno.writeTextFile(`${root}/out/b`, "b");
    const abort = new AbortController();
    abort.abort();
    const totals = await writeOutputManifest(`${root}/out`, `${root}/m.json`, "u", abort.signal);
    assertEquals(totals, { entries: 0, files: 0, bytes: 0, complete: false });
    const manifest: OutputManifest = JSON.parse(await Deno.readTextFile(`${root}/m.json`));
    assertEquals(manifest.complete, false);
    assertEquals(manifest.entries, []);
  });
});

Deno.test("sha256File() hashes an empty file, and stops when its signal fires", async () => {
  await withTempDir(async (root) => {
    await Deno.writeFile(`${root}/e`, new Uint8Array());
    assertEquals(
      await sha256File(`${root}/e`),
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    );
    const abort = new AbortController();
    abort.abort();
    let threw = false;
    await sha256File(`${root}/e`, abort.signal).catch(() => threw = true);
    assertEquals(threw, true);
  });
});
