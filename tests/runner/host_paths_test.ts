/** The check-then-mount window: host paths claimed when prepared, verified again before create and start. */

import { join } from "node:path";
import { assertEquals, assertRejects, assertStringIncludes } from "../helpers/assert.ts";
import {
  assertNoLinkUnder,
  assertRealDirectory,
  claimHostPaths,
  HostPathChangedError,
} from "../../src/runner/host_paths.ts";

/** A tree with an allowed root holding `d/` (a dir) and `f` (a file), and an outside dir the swaps point at. */
async function withTree(fn: (t: { root: string; allowed: string; outside: string }) => Promise<void>) {
  const root = await Deno.realPath(await Deno.makeTempDir({ prefix: "berth-host-paths-" }));
  const allowed = join(root, "allowed");
  const outside = join(root, "outside");
  await Deno.mkdir(join(allowed, "d"), { recursive: true });
  await Deno.mkdir(outside);
  await Deno.writeTextFile(join(allowed, "f"), "data");
  await Deno.writeTextFile(join(outside, "f"), "other");
  try {
    await fn({ root, allowed, outside });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const bind = (hostPath: string) => ({ hostPath, readOnly: false });

/** Asserts `fn` rejects with a HostPathChangedError whose message includes `text`. */
async function refused(fn: () => Promise<unknown>, text: string): Promise<void> {
  const err = await assertRejects(fn, HostPathChangedError);
  assertStringIncludes(err.message, text);
}

Deno.test("claimHostPaths() records resolved paths and verify() passes while nothing changed", async () => {
  await withTree(async ({ allowed }) => {
    const claims = await claimHostPaths({ "/d": bind(join(allowed, "d")), "/f": bind(join(allowed, "f")) });
    assertEquals(claims.claims.map((c) => [c.target, c.isDirectory]), [["/d", true], ["/f", false]]);
    await claims.verify();
    await claims.verify();
  });
});

Deno.test("claimHostPaths() refuses a host path that is not resolved (a symlink in it)", async () => {
  await withTree(async ({ allowed, outside }) => {
    await Deno.symlink(outside, join(allowed, "link"));
    const err = await assertRejects(
      () => claimHostPaths({ "/x": bind(join(allowed, "link")) }),
      HostPathChangedError,
    );
    assertStringIncludes(err.message, `now resolves to "${outside}"`);
  });
});

Deno.test("verify() refuses a bind source swapped for a symlink after the claim", async () => {
  await withTree(async ({ allowed, outside }) => {
    const claims = await claimHostPaths({ "/data": bind(join(allowed, "d")) });
    await Deno.rename(join(allowed, "d"), join(allowed, "d.o"));
    await Deno.symlink(outside, join(allowed, "d"));
    const err = await assertRejects(() => claims.verify(), HostPathChangedError);
    assertEquals(
      err.message,
      `The host path "${join(allowed, "d")}" of the mount at "/data" now resolves to "${outside}": ` +
        "a component was replaced by a symlink since berth checked it",
    );
  });
});

Deno.test("verify() refuses a parent directory swapped for a symlink", async () => {
  await withTree(async ({ root, outside }) => {
    await Deno.mkdir(join(root, "work", "output"), { recursive: true });
    await Deno.mkdir(join(outside, "output"));
    const claims = await claimHostPaths({ "/out": bind(join(root, "work", "output")) });
    await Deno.rename(join(root, "work"), join(root, "work.o"));
    await Deno.symlink(outside, join(root, "work"));
    await refused(() => claims.verify(), "now resolves to");
  });
});

Deno.test("verify() refuses a directory or file replaced by another, and one removed", async () => {
  await withTree(async ({ allowed }) => {
    const claims = await claimHostPaths({ "/d": bind(join(allowed, "d")), "/f": bind(join(allowed, "f")) });
    // The replacement exists before the original goes, so it cannot get the original's inode number back.
    await Deno.writeTextFile(join(allowed, "f.new"), "replaced");
    await Deno.rename(join(allowed, "f.new"), join(allowed, "f"));
    await refused(() => claims.verify(), "was replaced by another file or directory");
    const dirClaims = await claimHostPaths({ "/d": bind(join(allowed, "d")) });
    await Deno.mkdir(join(allowed, "d.new"));
    await Deno.rename(join(allowed, "d"), join(allowed, "d.o"));
    await Deno.rename(join(allowed, "d.new"), join(allowed, "d"));
    await refused(() => dirClaims.verify(), "was replaced");
    await Deno.remove(join(allowed, "d"));
    await refused(() => dirClaims.verify(), "no longer exists");
  });
});

Deno.test("assertRealDirectory() refuses a symlink, a file, and another user's directory", async () => {
  await withTree(async ({ allowed, outside }) => {
    await assertRealDirectory(join(allowed, "d"), Deno.uid()!);
    await Deno.symlink(outside, join(allowed, "link"));
    await refused(() => assertRealDirectory(join(allowed, "link")), "is a symlink now");
    await refused(() => assertRealDirectory(join(allowed, "f")), "not a directory");
    await Deno.chown(join(allowed, "d"), 1500, 1500);
    await refused(() => assertRealDirectory(join(allowed, "d"), 0), "owned by uid 1500");
  });
});

Deno.test("assertNoLinkUnder() passes real dirs and a regular or absent file, refuses any symlink on the way", async () => {
  await withTree(async ({ allowed, outside }) => {
    const base = allowed;
    await assertNoLinkUnder(base, join(base, "d", "new.txt"));
    await assertNoLinkUnder(base, join(base, "f"));
    // A name that merely starts with ".." is inside.
    await Deno.mkdir(join(base, "..d"));
    await assertNoLinkUnder(base, join(base, "..d", "f"));
    // A parent swapped for a link to elsewhere, the file itself a link, the base itself a link.
    await Deno.symlink(outside, join(base, "l"));
    const parent = await assertRejects(
      () => assertNoLinkUnder(base, join(base, "l", "f")),
      HostPathChangedError,
    );
    assertStringIncludes(
      parent.message,
      `${JSON.stringify(join(base, "l"))}, which berth created, is a symlink now`,
    );
    await Deno.symlink(join(outside, "f"), join(base, "d", "out.txt"));
    const file = await assertRejects(
      () => assertNoLinkUnder(base, join(base, "d", "out.txt")),
      HostPathChangedError,
    );
    assertStringIncludes(file.message, "which berth writes, is a symlink now");
    const linkedBase = join(outside, "base");
    await Deno.symlink(base, linkedBase);
    await assertRejects(() => assertNoLinkUnder(linkedBase, join(linkedBase, "f")), HostPathChangedError);
    await assertRejects(() => assertNoLinkUnder(base, join(outside, "f")), HostPathChangedError);
    assertEquals(await Deno.readTextFile(join(outside, "f")), "other");
  });
});
