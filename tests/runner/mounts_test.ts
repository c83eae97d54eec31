import { assert, assertEquals, assertRejects } from "../helpers/assert.ts";
import { HostPathChangedError } from "../../src/runner/host_paths.ts";
import { prepareMounts } from "../../src/runner/mounts.ts";
import { resolveMountSources } from "../../src/runner/mount_sources.ts";
import { jobFrom, modeOf, withTempDir } from "./_job.ts";

const PDH = "0123456789abcdef0123456789abcdef+12";
const PDH2 = "fedcba9876543210fedcba9876543210+34";

async function keepFixture(root: string): Promise<string> {
  const keep = `${root}/keep`;
  await Deno.mkdir(`${keep}/by_id/${PDH}/sub`, { recursive: true });
  await Deno.writeTextFile(`${keep}/by_id/${PDH}/top.txt`, "top\n");
  await Deno.writeTextFile(`${keep}/by_id/${PDH}/sub/inner.txt`, "inner\n");
  await Deno.chmod(`${keep}/by_id/${PDH}/sub/inner.txt`, 0o444);
  await Deno.mkdir(`${keep}/by_id/${PDH2}`, { recursive: true });
  await Deno.writeTextFile(`${keep}/by_id/${PDH2}/stdin.txt`, "to stdin\n");
  return keep;
}

Deno.test("prepareMounts() lays out every mount kind as crunch-run does, with output/ behind output_path", async () => {
  await withTempDir(async (root) => {
    const keep = await keepFixture(root);
    await Deno.mkdir(`${root}/allowed/data`, { recursive: true });
    await Deno.mkdir(`${root}/output`);
    await Deno.mkdir(`${root}/tmp`);
    const parsed = jobFrom({
      mounts: {
        "/out": { kind: "tmp" },
        "/scratch": { kind: "tmp" },
        "/in/t.txt": { kind: "text", content: "text here" },
        "/in/j.json": { kind: "json", content: { n: "BIG:123456789123456789123" } },
        "/keep": { kind: "collection", portable_data_hash: PDH },
        "/keepsub": { kind: "collection", portable_data_hash: `${PDH}/sub` },
        "/empty": { kind: "collection", writable: true },
        "/out/coll": { kind: "collection", portable_data_hash: PDH, writable: true },
        "/out/ro": { kind: "collection", portable_data_hash: PDH },
        "/out/deep/staged.txt": { kind: "text", content: "staged" },
        "/data": { kind: "bind", source: `${root}/allowed/data` },
        "/rw": { kind: "bind", source: `${root}/allowed/data`, writable: true },
        "stdin": { kind: "collection", portable_data_hash: PDH2, path: "stdin.txt" },
        "stdout": { kind: "file", path: "/out/logs/out.txt" },
        "stderr": { kind: "file", path: "/out/err.txt" },
      },
      secret_mounts: {
        "/etc/secret.txt": { kind: "text", content: "s3cret" },
        "/out/secret.json": { kind: "json", content: { k: "v" } },
      },
    });
    const sources = await resolveMountSources(parsed.job, parsed.path, keep, [`${root}/allowed`]);
    const logged: string[] = [];
    const m = await prepareMounts(parsed.job, {
      sources,
      outputDir: `${root}/output`,
      tmpDir: `${root}/tmp`,
      log: (s) => logged.push(s),
    });
    const b = m.binds;
    assertEquals(Object.keys(b), [...Object.keys(b)].sort(), "parents come before children");
    assertEquals(b["/out"], { hostPath: `${root}/output`, readOnly: false });
    assertEquals(b["/scratch"].readOnly, false);
    assertEquals(await modeOf(b["/scratch"].hostPath), 0o755);
    assertEquals(await Deno.readTextFile(b["/in/t.txt"].hostPath), "text here");
    assertEquals(b["/in/t.txt"].readOnly, true);
    assertEquals(await modeOf(b["/in/t.txt"].hostPath), 0o444);
    assertEquals(await Deno.readTextFile(b["/in/j.json"].hostPath), '{"n":123456789123456789123}');
    assertEquals(await modeOf(b["/in/j.json"].hostPath), 0o444);
    assertEquals(b["/keep"], { hostPath: `${keep}/by_id/${PDH}`, readOnly: true });
    assertEquals(b["/keepsub"], { hostPath: `${keep}/by_id/${PDH}/sub`, readOnly: true });
    assertEquals(b["/empty"].readOnly, false);
    assertEquals(await modeOf(b["/empty"].hostPath), 0o755);
    assertEquals(b["/data"], { hostPath: `${root}/allowed/data`, readOnly: true });
    assertEquals(b["/rw"], { hostPath: `${root}/allowed/data`, readOnly: false });
    // Below output_path: copies, so that the container may change them and the output shows the result.
    assertEquals(b["/out/coll"], undefined);
    assertEquals(await Deno.readTextFile(`${root}/output/coll/sub/inner.txt`), "inner\n");
    assertEquals(await modeOf(`${root}/output/coll`), 0o755);
    assertEquals(await modeOf(`${root}/output/coll/sub/inner.txt`), 0o644);
    assertEquals(await Deno.readTextFile(`${root}/output/ro/top.txt`), "top\n");
    assertEquals(
      b["/out/ro"],
      { hostPath: `${keep}/by_id/${PDH}`, readOnly: true },
      "read-only over its copy",
    );
    assertEquals(await Deno.readTextFile(`${root}/output/deep/staged.txt`), "staged");
    assertEquals(await modeOf(`${root}/output/deep`), 0o755);
    // Secrets: bound read-only from the temp dir, never copied into output/.
    assertEquals(await Deno.readTextFile(b["/etc/secret.txt"].hostPath), "s3cret");
    assertEquals(b["/out/secret.json"].readOnly, true);
    assert(b["/out/secret.json"].hostPath.startsWith(`${root}/tmp/`));
    assertEquals(m.secretPaths, ["secret.json"]);
    // stdio.
    assertEquals(m.stdin, { kind: "file", path: `${keep}/by_id/${PDH2}/stdin.txt` });
    assertEquals(m.stdoutFile, `${root}/output/logs/out.txt`);
    assertEquals(m.stderrFile, `${root}/output/err.txt`);
    assertEquals(await modeOf(`${root}/output/logs`), 0o755);
    const outputNames: string[] = [];
    for await (const e of Deno.readDir(`${root}/output`)) outputNames.push(e.name);
    assertEquals(outputNames.sort(), ["coll", "deep", "logs", "ro"]);
    assert(logged.some((l) => l.includes("Copying collection")));
  });
});

Deno.test("prepareMounts() binds output/ for a writable collection at output_path and serializes a json stdin", async () => {
  await withTempDir(async (root) => {
    const keep = await keepFixture(root);
    await Deno.mkdir(`${root}/output`);
    await Deno.mkdir(`${root}/tmp`);
    const parsed = jobFrom({
      mounts: {
        "/out": { kind: "collection", writable: true },
        "stdin": { kind: "json", content: ["a", { b: "BIG:98765432109876543210" }] },
      },
      runtime_constraints: { API: true },
    });
    const sources = await resolveMountSources(parsed.job, parsed.path, keep, []);
    const ca = `${root}/ca.pem`;
    await Deno.writeTextFile(ca, "CERT");
    const m = await prepareMounts(parsed.job, {
      sources,
      outputDir: `${root}/output`,
      tmpDir: `${root}/tmp`,
      log: () => {},
      caBundles: [`${root}/missing.pem`, ca],
    });
    assertEquals(m.binds["/out"], { hostPath: `${root}/output`, readOnly: false });
    assert(m.stdin.kind === "bytes");
    assertEquals(new TextDecoder().decode(m.stdin.data), '["a",{"b":98765432109876543210}]');
    assertEquals(m.binds["/etc/arvados/ca-certificates.crt"], { hostPath: ca, readOnly: true });
  });
});

Deno.test("prepareMounts() never follows a symlink where it makes a parent dir inside output/", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/output`);
    await Deno.mkdir(`${root}/tmp`);
    await Deno.mkdir(`${root}/elsewhere`);
    // Planted before berth lays out the mounts (or swapped in between two of them).
    await Deno.symlink(`${root}/elsewhere`, `${root}/output/deep`);
    const parsed = jobFrom({
      mounts: {
        "/out": { kind: "tmp" },
        "/out/deep/staged.txt": { kind: "text", content: "staged" },
      },
    });
    const sources = await resolveMountSources(parsed.job, parsed.path, `${root}/keep`, []);
    const err = await assertRejects(
      () =>
        prepareMounts(parsed.job, {
          sources,
          outputDir: `${root}/output`,
          tmpDir: `${root}/tmp`,
          log: () => {},
        }),
      HostPathChangedError,
    );
    assert(err.message.includes(`"${root}/output/deep", which berth created, is a symlink now`), err.message);
    assertEquals([...Deno.readDirSync(`${root}/elsewhere`)], []);
  });
});
