/** checkBindSource(): the resolved source must lie under an --allow-bind root; symlinks cannot escape. */

import { ok, strictEqual } from "node:assert/strict";
import { JobFileError } from "../../src/errors.ts";
import { checkBindSource } from "../../src/job/mod.ts";

const where = { jobPath: "job.json", target: "/data" };

/** A temp tree: root/allowed/{inside, link-out → ../outside, link-in → inside}, root/outside. */
async function withTree(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "berth-bind-test-" }));
  try {
    await Deno.mkdir(`${root}/allowed/inside/deep`, { recursive: true });
    await Deno.mkdir(`${root}/outside`);
    await Deno.writeTextFile(`${root}/outside/secret.txt`, "x");
    await Deno.symlink("../outside", `${root}/allowed/link-out`);
    await Deno.symlink(`${root}/allowed/inside`, `${root}/allowed/link-in`);
    await Deno.symlink("/etc", `${root}/allowed/inside/etc`);
    await Deno.symlink(`${root}/allowed`, `${root}/allowed-alias`);
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

function refusal(check: Awaited<ReturnType<typeof checkBindSource>>): JobFileError {
  if (check.ok) throw new Error(`expected a refusal, got ${check.realPath}`);
  strictEqual(check.error.exitCode, 2);
  ok(check.error instanceof JobFileError);
  return check.error;
}

Deno.test("checkBindSource() accepts the root itself and paths under it", async () => {
  await withTree(async (root) => {
    for (const p of [`${root}/allowed`, `${root}/allowed/inside`, `${root}/allowed/inside/deep`]) {
      const check = await checkBindSource(p, [`${root}/allowed`], where);
      ok(check.ok && check.realPath === p, p);
    }
  });
});

Deno.test("checkBindSource() follows a symlink inside the root and returns the real path", async () => {
  await withTree(async (root) => {
    const check = await checkBindSource(`${root}/allowed/link-in/deep`, [`${root}/allowed`], where);
    ok(check.ok);
    strictEqual(check.realPath, `${root}/allowed/inside/deep`);
  });
});

Deno.test("checkBindSource() refuses a symlink that escapes the root", async () => {
  await withTree(async (root) => {
    const err = refusal(await checkBindSource(`${root}/allowed/link-out`, [`${root}/allowed`], where));
    strictEqual(
      err.message,
      `Cannot read job file "job.json": field "mounts[\\"/data\\"].source" is "${root}/allowed/link-out", ` +
        `which resolves to "${root}/outside", outside every --allow-bind root ("${root}/allowed")`,
    );
    strictEqual(err.field, 'mounts["/data"].source');
    refusal(await checkBindSource(`${root}/allowed/link-out/secret.txt`, [`${root}/allowed`], where));
    refusal(await checkBindSource(`${root}/allowed/inside/etc`, [`${root}/allowed`], where));
  });
});

Deno.test("checkBindSource() refuses a path outside every root and a sibling with the root as prefix", async () => {
  await withTree(async (root) => {
    await Deno.mkdir(`${root}/allowed2`);
    const err = refusal(await checkBindSource(`${root}/allowed2`, [`${root}/allowed`], where));
    strictEqual(
      err.message,
      `Cannot read job file "job.json": field "mounts[\\"/data\\"].source" is "${root}/allowed2" outside every ` +
        `--allow-bind root ("${root}/allowed")`,
    );
    refusal(await checkBindSource("/etc", [`${root}/allowed`, `${root}/missing-root`], where));
  });
});

Deno.test("checkBindSource() resolves symlinks in the roots too", async () => {
  await withTree(async (root) => {
    const check = await checkBindSource(`${root}/allowed/inside`, [`${root}/allowed-alias`], where);
    ok(check.ok);
    strictEqual(check.realPath, `${root}/allowed/inside`);
  });
});

Deno.test("checkBindSource() refuses a missing source, no roots, and an unnormalized source", async () => {
  await withTree(async (root) => {
    const missing = refusal(await checkBindSource(`${root}/allowed/nope`, [`${root}/allowed`], where));
    strictEqual(
      missing.message,
      `Cannot read job file "job.json": field "mounts[\\"/data\\"].source" is "${root}/allowed/nope", which does not exist`,
    );
    const none = refusal(await checkBindSource(`${root}/allowed`, [], where));
    strictEqual(
      none.message,
      `Cannot read job file "job.json": field "mounts[\\"/data\\"].source" is "${root}/allowed", but bind mounts ` +
        "are not allowed: no --allow-bind root was given",
    );
    refusal(await checkBindSource(`${root}/allowed/../outside`, [`${root}/allowed`], where));
    refusal(await checkBindSource("relative/path", [`${root}/allowed`], where));
  });
});
