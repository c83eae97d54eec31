import { assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { JobFileError } from "../../src/errors.ts";
import { resolveImageTarball } from "../../src/runner/image.ts";
import { withTempDir } from "./_job.ts";

const PDH = "0123456789abcdef0123456789abcdef+99";
const keepRef = { kind: "keep", locator: PDH, locatorType: "portable_data_hash" } as const;

Deno.test("resolveImageTarball() finds the one .tar of a keep: collection", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/by_id/${PDH}`, { recursive: true });
    await Deno.writeTextFile(`${root}/by_id/${PDH}/sha256:abc.tar`, "x");
    await Deno.writeTextFile(`${root}/by_id/${PDH}/README`, "x");
    assertEquals(await resolveImageTarball(keepRef, "/j.json", root), `${root}/by_id/${PDH}/sha256:abc.tar`);
  });
});

Deno.test("resolveImageTarball() refuses a keep: collection with no .tar or several", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/by_id/${PDH}`, { recursive: true });
    const none = await assertRejects(() => resolveImageTarball(keepRef, "/j.json", root), JobFileError);
    assertMatch(
      none.message,
      /field "container_image" is "keep:.*", but the collection ".*" does not include a \.tar image file$/,
    );
    await Deno.writeTextFile(`${root}/by_id/${PDH}/a.tar`, "x");
    await Deno.writeTextFile(`${root}/by_id/${PDH}/b.tar`, "x");
    const two = await assertRejects(() => resolveImageTarball(keepRef, "/j.json", root), JobFileError);
    assertMatch(two.message, /holds several \.tar files \("a\.tar", "b\.tar"\); cannot choose one$/);
    assertEquals(two.exitCode, 2);
  });
});

Deno.test("resolveImageTarball() refuses a missing tarball and keep: without --keep-mount", async () => {
  const missing = await assertRejects(
    () => resolveImageTarball({ kind: "file", path: "/nonexistent/i.tar" }, "/j.json", ""),
    JobFileError,
  );
  assertMatch(missing.message, /names "\/nonexistent\/i\.tar", which does not exist$/);
  const noKeep = await assertRejects(() => resolveImageTarball(keepRef, "/j.json", ""), JobFileError);
  assertMatch(noKeep.message, /which needs --keep-mount DIR$/);
});
