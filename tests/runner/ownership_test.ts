import { assert, assertEquals } from "../helpers/assert.ts";
import { fixOwnership } from "../../src/runner/ownership.ts";
import { modeOf, withTempDir } from "./_job.ts";

const isRoot = Deno.uid() === 0;

/** What must stay the same about a file berth must not touch (ctime changes on any chmod or chown). */
async function fingerprint(path: string) {
  const s = await Deno.stat(path);
  return { mode: s.mode, uid: s.uid, gid: s.gid, ctime: s.ctime?.getTime(), size: s.size };
}

Deno.test({
  name: "fixOwnership() gives the output to the user without following symlinks out of the tree",
  ignore: !isRoot,
  async fn() {
    await withTempDir(async (root) => {
      const out = `${root}/out`;
      const outside = `${root}/outside`;
      await Deno.mkdir(out);
      await Deno.mkdir(outside);
      await Deno.writeTextFile(`${outside}/victim.txt`, "victim");
      await Deno.chown(`${outside}/victim.txt`, 4321, 4321);
      await Deno.chmod(`${outside}/victim.txt`, 0o400);
      await Deno.writeTextFile(`${outside}/linked.txt`, "linked");
      await Deno.chown(`${outside}/linked.txt`, 4321, 4321);
      await Deno.chmod(`${outside}/linked.txt`, 0o400);
      // What a root container leaves behind.
      await Deno.mkdir(`${out}/private/deeper`, { recursive: true });
      await Deno.writeTextFile(`${out}/private/deeper/data.bin`, "data");
      await Deno.chmod(`${out}/private/deeper/data.bin`, 0o000);
      await Deno.chown(`${out}/private/deeper/data.bin`, 1234, 1234);
      await Deno.chown(`${out}/private/deeper`, 1234, 1234);
      await Deno.chmod(`${out}/private/deeper`, 0o000);
      await Deno.chown(`${out}/private`, 1234, 1234);
      await Deno.chmod(`${out}/private`, 0o500);
      await Deno.writeTextFile(`${out}/suid`, "#!/bin/sh\n");
      await Deno.chmod(`${out}/suid`, 0o4755);
      await Deno.writeTextFile(`${out}/a`, "same inode");
      await Deno.link(`${out}/a`, `${out}/b`);
      await Deno.chown(`${out}/a`, 1234, 1234);
      await Deno.chmod(`${out}/a`, 0o000);
      await Deno.link(`${outside}/linked.txt`, `${out}/hardlink-out`);
      // The traps: links the container planted towards files it must not get.
      await Deno.symlink("/etc/shadow", `${out}/shadow`);
      await Deno.symlink(`${outside}/victim.txt`, `${out}/victim`);
      await Deno.symlink(outside, `${out}/outside-dir`);
      const shadowBefore = await fingerprint("/etc/shadow").catch(() => null);
      const victimBefore = await fingerprint(`${outside}/victim.txt`);
      const linkedBefore = await fingerprint(`${outside}/linked.txt`);
      const outsideBefore = await fingerprint(outside);

      const report = await fixOwnership(out, { uid: 0, gid: 0 });

      for (
        const path of [
          `${out}/private`,
          `${out}/private/deeper`,
          `${out}/private/deeper/data.bin`,
          `${out}/a`,
        ]
      ) {
        const s = await Deno.lstat(path);
        assertEquals([s.uid, s.gid], [0, 0], path);
      }
      assertEquals(await modeOf(`${out}/private`), 0o700);
      assertEquals(await modeOf(`${out}/private/deeper`), 0o700);
      assertEquals(await modeOf(`${out}/private/deeper/data.bin`), 0o600);
      assertEquals(await modeOf(`${out}/a`), 0o600, "hard links that all lie in the tree are fixed");
      assertEquals(await modeOf(`${out}/suid`), 0o755, "setuid is cleared");
      assertEquals(await Deno.readLink(`${out}/shadow`), "/etc/shadow");
      assertEquals(await Deno.readLink(`${out}/victim`), `${outside}/victim.txt`);
      assertEquals(await fingerprint(`${outside}/victim.txt`), victimBefore);
      assertEquals(
        await fingerprint(`${outside}/linked.txt`),
        linkedBefore,
        "a file linked from outside is left alone",
      );
      assertEquals(await fingerprint(outside), outsideBefore);
      if (shadowBefore) assertEquals(await fingerprint("/etc/shadow"), shadowBefore);
      assertEquals(report.skippedLinked, [`${out}/hardlink-out`]);
      assertEquals(report.failed, []);
      assert(report.changed >= 5);
    });
  },
});

Deno.test({
  name: "fixOwnership() changes nothing in a tree that is already the user's",
  async fn() {
    await withTempDir(async (root) => {
      await Deno.mkdir(`${root}/d`);
      await Deno.writeTextFile(`${root}/d/f`, "x");
      await Deno.chmod(`${root}/d/f`, 0o644);
      const report = await fixOwnership(root, { uid: Deno.uid()!, gid: Deno.gid()! });
      assertEquals(report, { changed: 0, failed: [], removedDevices: [], skippedLinked: [], complete: true });
    });
  },
});
