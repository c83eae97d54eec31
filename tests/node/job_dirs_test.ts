/**
 * Nothing berth creates for a job is writable by other users (#13 item 3), and the one case where the container
 * runs as someone else (root's berth, a numeric non-root image USER) gets exactly that user, nobody more.
 */
import { join } from "node:path";
import { assertEquals } from "../helpers/assert.ts";
import { writableOwnerFor } from "../../src/node/job_dirs.ts";
import { prepareMounts } from "../../src/runner/mounts.ts";
import { resolveMountSources } from "../../src/runner/mount_sources.ts";
import { createWorkDir, workDirLayout } from "../../src/runner/work_dir.ts";
import { jobFrom } from "../runner/_job.ts";
import { withDirs } from "./_helpers.ts";

Deno.test("writableOwnerFor() names the image user only for root's berth on Docker or Podman with a numeric USER", () => {
  assertEquals(writableOwnerFor("docker", 0, "1000:1000"), { uid: 1000, gid: 1000 });
  assertEquals(writableOwnerFor("podman", 0, "1000"), { uid: 1000, gid: 0 });
  assertEquals(writableOwnerFor("docker", 0, ""), null, "the image runs as root");
  assertEquals(writableOwnerFor("docker", 0, "0:0"), null);
  assertEquals(writableOwnerFor("docker", 0, "nobody"), null, "names are not resolved");
  assertEquals(
    writableOwnerFor("docker", 1500, "1000:1000"),
    null,
    "a user's berth runs the container as itself",
  );
  assertEquals(writableOwnerFor("singularity", 0, "1000:1000"), null);
});

/** `path` and everything below it with mode (octal) and owner. */
async function tree(path: string, root = path): Promise<string[]> {
  const st = await Deno.lstat(path);
  const line = `${path.slice(root.length) || "/"} ${(st.mode! & 0o7777).toString(8)} ${st.uid}:${st.gid}`;
  if (!st.isDirectory) return [line];
  const out = [line];
  for await (const e of Deno.readDir(path)) out.push(...await tree(join(path, e.name), root));
  return out.sort();
}

for (const owner of [null, { uid: 1000, gid: 1001 }]) {
  Deno.test(`work dir and mounts: 0755 dirs, 0644 staged files, nothing writable by others${owner ? ", writable ones given to the image user" : ""}`, async () => {
    await withDirs(1, async (root) => {
      const keep = join(root, "keep");
      const pdh = "0123456789abcdef0123456789abcdef+12";
      await Deno.mkdir(join(keep, "by_id", pdh, "sub"), { recursive: true });
      await Deno.writeTextFile(join(keep, "by_id", pdh, "sub", "f.txt"), "f\n");
      await Deno.chmod(join(keep, "by_id", pdh, "sub", "f.txt"), 0o666);
      const layout = workDirLayout(join(root, "work"));
      await createWorkDir(layout);
      await Deno.mkdir(join(root, "tmp"));
      const parsed = jobFrom({
        mounts: {
          "/out": { kind: "tmp" },
          "/scratch": { kind: "tmp" },
          "/empty": { kind: "collection", writable: true },
          "/out/coll": { kind: "collection", portable_data_hash: pdh, writable: true },
          "/out/ro": { kind: "collection", portable_data_hash: pdh },
          "/out/deep/staged.txt": { kind: "text", content: "staged" },
          "stdout": { kind: "file", path: "/out/logs/out.txt" },
        },
      });
      const sources = await resolveMountSources(parsed.job, parsed.path, keep, []);
      const m = await prepareMounts(parsed.job, {
        sources,
        outputDir: layout.output,
        tmpDir: join(root, "tmp"),
        log: () => {},
        writableOwner: owner,
      });
      const me = `${Deno.uid()}:${Deno.gid()}`;
      const given = owner ? `${owner.uid}:${owner.gid}` : me;
      assertEquals(
        await tree(layout.root),
        [
          `/ 755 ${me}`,
          `/logs 755 ${me}`,
          `/output 755 ${given}`,
          `/output/coll 755 ${given}`,
          `/output/coll/sub 755 ${given}`,
          `/output/coll/sub/f.txt 644 ${given}`,
          `/output/deep 755 ${given}`,
          `/output/deep/staged.txt 644 ${given}`,
          `/output/logs 755 ${given}`,
          `/output/ro 755 ${me}`,
          `/output/ro/sub 755 ${me}`,
          `/output/ro/sub/f.txt 644 ${me}`,
        ].sort(),
      );
      for (const target of ["/scratch", "/empty"]) {
        assertEquals((await tree(m.binds[target].hostPath))[0], `/ 755 ${given}`, target);
      }
    });
  });
}
