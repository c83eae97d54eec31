import { assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { JobFileError } from "../../src/errors.ts";
import { resolveMountSources } from "../../src/runner/mount_sources.ts";
import { jobFrom, withTempDir } from "./_job.ts";

const PDH = "0123456789abcdef0123456789abcdef+12";
const UUID = "zzzzz-4zz18-0123456789abcde";

Deno.test("resolveMountSources() resolves collections by pdh and uuid under --keep-mount", async () => {
  await withTempDir(async (root) => {
    await Deno.mkdir(`${root}/keep/by_id/${PDH}/d`, { recursive: true });
    await Deno.mkdir(`${root}/keep/by_id/${UUID}`, { recursive: true });
    const parsed = jobFrom({
      mounts: {
        "/out": { kind: "tmp" },
        "/a": { kind: "collection", portable_data_hash: PDH, path: "d" },
        "/b": { kind: "collection", uuid: UUID },
        "/c": { kind: "collection", writable: true },
      },
    });
    const sources = await resolveMountSources(parsed.job, parsed.path, `${root}/keep`, []);
    assertEquals([...sources.entries()], [
      ["/a", `${root}/keep/by_id/${PDH}/d`],
      ["/b", `${root}/keep/by_id/${UUID}`],
    ]);
  });
});

for (
  const [name, mount, setup, message] of [
    [
      "a missing collection",
      { kind: "collection", portable_data_hash: PDH },
      async (root: string) => {
        await Deno.mkdir(`${root}/keep/by_id`, { recursive: true });
      },
      /^Cannot read job file "\/jobs\/job.json": field "mounts\[\\"\/in\\"\]" needs its collection path ".*", which does not exist$/,
    ],
    [
      "a collection that links out of the keep mount",
      { kind: "collection", portable_data_hash: PDH },
      async (root: string) => {
        await Deno.mkdir(`${root}/keep/by_id`, { recursive: true });
        await Deno.symlink("/etc", `${root}/keep/by_id/${PDH}`);
      },
      /which resolves to "\/etc" outside --keep-mount$/,
    ],
    [
      "a stdin collection path that is a directory",
      { kind: "collection", portable_data_hash: PDH, path: "d" },
      async (root: string) => {
        await Deno.mkdir(`${root}/keep/by_id/${PDH}/d`, { recursive: true });
      },
      /which is not a file$/,
    ],
    [
      "a bind outside every --allow-bind root",
      { kind: "bind", source: "/etc" },
      async (_root: string) => {},
      /outside every --allow-bind root/,
    ],
  ] as const
) {
  Deno.test(`resolveMountSources() refuses ${name} as a job-file error (exit 2)`, async () => {
    await withTempDir(async (root) => {
      await setup(root);
      await Deno.mkdir(`${root}/allowed`);
      const key = name.includes("stdin") ? "stdin" : "/in";
      const parsed = jobFrom({ mounts: { "/out": { kind: "tmp" }, [key]: mount } });
      const err = await assertRejects(
        () => resolveMountSources(parsed.job, parsed.path, `${root}/keep`, [`${root}/allowed`]),
        JobFileError,
      );
      assertEquals(err.exitCode, 2);
      assertMatch(err.message, message);
    });
  });
}

Deno.test("resolveMountSources() asks for --keep-mount when a collection is named without it", async () => {
  const parsed = jobFrom({ mounts: { "/out": { kind: "tmp" }, "/in": { kind: "collection", uuid: UUID } } });
  const err = await assertRejects(() => resolveMountSources(parsed.job, parsed.path, "", []), JobFileError);
  assertMatch(
    err.message,
    /field "mounts\[\\"\/in\\"\]" is a collection mount, which needs --keep-mount DIR$/,
  );
});
