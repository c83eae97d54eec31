/**
 * Hostile and broken input through the real command line, under the `hardened` permission profile: every bad
 * job file of `tests/job/corpus/invalid/`, bad image tarballs, mounts reaching outside their roots, and bad
 * arguments. Each case must give exactly one line on stderr (the expected message), the documented exit code, no
 * stack trace, and leave nothing behind: no work dir, nothing in the tmp or runtime dir, no container.
 */

import { join } from "node:path";
// @ts-types="@types/tar-stream"
import tar from "tar-stream";
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { berthArgs, profileFlags, REPO_ROOT } from "../helpers/berth.ts";
import { berthContainers, ENGINE_SOCKETS } from "../helpers/engine_api.ts";
import { IMAGES_DIR, testImage } from "../images/mod.ts";

const CORPUS = join(REPO_ROOT, "tests", "job", "corpus", "invalid");
const expected: Record<string, string> = JSON.parse(await Deno.readTextFile(join(CORPUS, "expected.json")));
const busybox = await testImage("busybox");

/** A temp tree berth is confined to (BERTH_ROOTS), with the dirs a run would use. */
async function sandbox(): Promise<string> {
  const root = await Deno.makeTempDir({ prefix: "berth-hostile-" });
  for (const d of ["tmp", "rt", "keep/by_id", "allowed"]) {
    await Deno.mkdir(join(root, d), { recursive: true });
  }
  return root;
}

interface Outcome {
  code: number;
  stderr: string;
  stdout: string;
}

/** Runs `berth run JOB [extra]` under the hardened profile with the sandbox's dirs. */
async function berthRun(root: string, job: string, extra: string[] = [], cwd = root): Promise<Outcome> {
  const env = { BERTH_ROOTS: `${root},${IMAGES_DIR},${CORPUS}`, BERTH_PROFILE: "hardened" };
  const flags = await profileFlags("hardened", env);
  const out = await new Deno.Command(Deno.execPath(), {
    args: berthArgs(flags, [
      "run",
      job,
      "--work-dir",
      join(root, "work"),
      "--tmp-dir",
      join(root, "tmp"),
      "--runtime-dir",
      join(root, "rt"),
      "--keep-mount",
      join(root, "keep"),
      "--allow-bind",
      join(root, "allowed"),
      "--runtime-engine",
      "docker",
      ...extra,
    ]),
    cwd,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** Asserts the run left nothing: no work dir, empty tmp and runtime dirs, no container of berth's. */
async function assertNothingLeft(root: string, containersBefore: string[]): Promise<void> {
  assertEquals(await Deno.stat(join(root, "work")).then(() => "work dir exists", () => "none"), "none");
  for (const d of ["tmp", "rt"]) {
    const left: string[] = [];
    for await (const e of Deno.readDir(join(root, d))) left.push(e.name);
    assertEquals(left, [], `left in ${d}/`);
  }
  assertEquals(await berthContainers(ENGINE_SOCKETS.docker), containersBefore, "containers");
}

/** Asserts one line on stderr, equal to `berth: <message>` (or matching a pattern), and the exit code. */
function assertOneLine(out: Outcome, message: string | RegExp, code: number): void {
  assertEquals(out.code, code, out.stderr);
  assertEquals(out.stdout, "");
  assertEquals(out.stderr.split("\n").length, 2, `exactly one line on stderr: ${JSON.stringify(out.stderr)}`);
  if (typeof message === "string") assertEquals(out.stderr, `berth: ${message}\n`);
  else assertMatch(out.stderr, message);
}

/** Runs `cases` with a small pool, since each one is a Deno start. */
async function pool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const failures: string[] = [];
  await Promise.all(Array.from({ length: width }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) {
      try {
        await fn(item);
      } catch (err) {
        failures.push(`${JSON.stringify(item)}: ${err instanceof Error ? err.message : err}`);
      }
    }
  }));
  assertEquals(failures, [], `${failures.length} of ${items.length} cases failed`);
}

const corpusFiles = Object.keys(expected).sort();

Deno.test(`berth run refuses each of the ${corpusFiles.length} invalid job files with its message, exit 2, nothing left`, async () => {
  const before = await berthContainers(ENGINE_SOCKETS.docker);
  await pool(corpusFiles, 3, async (name) => {
    const root = await sandbox();
    try {
      // Run from the corpus dir with the bare file name, so the message names the file as expected.json does.
      const out = await berthRun(root, name, [], CORPUS);
      assertOneLine(out, expected[name], 2);
      await assertNothingLeft(root, before);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
});

/** Writes a tarball of `entries` (with a manifest naming a config and one layer) into `dir`. */
async function craftImage(
  dir: string,
  entries: { name: string; data?: string; type?: "file" | "symlink"; linkname?: string }[],
): Promise<string> {
  const pack = tar.pack();
  const chunks: Uint8Array[] = [];
  pack.on("data", (c: Uint8Array) => chunks.push(c));
  const ended = new Promise((r) => pack.on("end", r));
  for (const e of entries) {
    pack.entry({ name: e.name, type: e.type ?? "file", linkname: e.linkname }, e.data ?? "");
  }
  pack.entry({ name: "manifest.json" }, JSON.stringify([{ Config: "c.json", Layers: ["l/layer.tar"] }]));
  pack.entry({ name: "c.json" }, "{}");
  pack.entry({ name: "l/layer.tar" }, "");
  pack.finalize();
  await ended;
  const path = join(dir, "image.tar");
  await Deno.writeFile(path, new Uint8Array(await new Blob(chunks as BlobPart[]).arrayBuffer()));
  return path;
}

interface FsCase {
  name: string;
  /** Prepares the sandbox and returns the job's fields (uuid and output_path are added). */
  setup(root: string): Promise<Record<string, unknown>>;
  message: RegExp;
  code?: number;
  extra?: (root: string) => string[];
}

const out = { "/out": { kind: "tmp" } };
const FS_CASES: FsCase[] = [
  {
    name: "a missing image tarball",
    setup: (root) =>
      Promise.resolve({ container_image: join(root, "nope.tar"), command: ["true"], mounts: out }),
    message:
      /^berth: Cannot read job file ".*job\.json": field "container_image" names ".*nope\.tar", which does not exist\n$/,
  },
  {
    name: "a truncated image tarball",
    setup: () =>
      testImage("truncated").then((t) => ({ container_image: t.path, command: ["true"], mounts: out })),
    message:
      /field "container_image" names an unusable image: Image tarball ".*truncated\.tar" is truncated\n$/,
  },
  {
    name: "an image tarball with a ../ entry",
    setup: async (root) => ({
      container_image: await craftImage(root, [{ name: "../escape", data: "x" }]),
      command: ["true"],
      mounts: out,
    }),
    message:
      /names an unusable image: Image tarball ".*" has an unsafe entry "..\/escape" \(absolute or with ".."\)\n$/,
  },
  {
    name: "an image tarball with a symlink escaping it",
    setup: async (root) => ({
      container_image: await craftImage(root, [{
        name: "evil",
        type: "symlink",
        linkname: "../../../etc/shadow",
      }]),
      command: ["true"],
      mounts: out,
    }),
    message: /has a symlink "evil" pointing outside the archive/,
  },
  {
    name: "an image tarball with an absolute symlink",
    setup: async (root) => ({
      container_image: await craftImage(root, [{ name: "abs", type: "symlink", linkname: "/etc/shadow" }]),
      command: ["true"],
      mounts: out,
    }),
    message: /has a symlink "abs" pointing outside the archive/,
  },
  {
    name: "an image file that is not a tar archive",
    setup: async (root) => {
      await Deno.writeTextFile(join(root, "junk.tar"), "junk ".repeat(1000));
      return { container_image: join(root, "junk.tar"), command: ["true"], mounts: out };
    },
    message: /names an unusable image: Image tarball ".*junk\.tar" is not a valid tar archive\n$/,
  },
  {
    name: "an image directory instead of a file",
    setup: (root) =>
      Promise.resolve({ container_image: join(root, "allowed"), command: ["true"], mounts: out }),
    message: /field "container_image" names ".*allowed", which is not a file\n$/,
  },
  {
    name: "a keep: image without --keep-mount content",
    setup: () =>
      Promise.resolve({
        container_image: "keep:0123456789abcdef0123456789abcdef+100",
        command: ["true"],
        mounts: out,
      }),
    message:
      /field "container_image" is "keep:0123456789abcdef0123456789abcdef\+100", but ".*" cannot be listed/,
  },
  {
    name: "a bind source outside every --allow-bind root",
    setup: () =>
      Promise.resolve({
        container_image: busybox.path,
        command: ["true"],
        mounts: { ...out, "/data": { kind: "bind", source: "/etc" } },
      }),
    message: /field "mounts\[\\"\/data\\"\]\.source" is "\/etc" outside every --allow-bind root/,
  },
  {
    name: "a bind source reaching outside through a symlink",
    setup: async (root) => {
      await Deno.symlink("/etc", join(root, "allowed", "link"));
      return {
        container_image: busybox.path,
        command: ["true"],
        mounts: { ...out, "/data": { kind: "bind", source: join(root, "allowed", "link") } },
      };
    },
    message: /which resolves to "\/etc", outside every --allow-bind root/,
  },
  {
    name: "a bind source that does not exist",
    setup: (root) =>
      Promise.resolve({
        container_image: busybox.path,
        command: ["true"],
        mounts: { ...out, "/data": { kind: "bind", source: join(root, "allowed", "missing") } },
      }),
    message: /field "mounts\[\\"\/data\\"\]\.source" .*does not exist/,
  },
  {
    name: "a collection that is a symlink out of the keep mount",
    setup: async (root) => {
      await Deno.symlink("/etc", join(root, "keep", "by_id", "0123456789abcdef0123456789abcdef+1"));
      return {
        container_image: busybox.path,
        command: ["true"],
        mounts: {
          ...out,
          "/in": { kind: "collection", portable_data_hash: "0123456789abcdef0123456789abcdef+1" },
        },
      };
    },
    message: /field "mounts\[\\"\/in\\"\]" names ".*", which resolves to "\/etc" outside --keep-mount\n$/,
  },
  {
    name: "a collection missing from the keep mount",
    setup: () =>
      Promise.resolve({
        container_image: busybox.path,
        command: ["true"],
        mounts: {
          ...out,
          "/in": { kind: "collection", portable_data_hash: "ffffffffffffffffffffffffffffffff+1" },
        },
      }),
    message: /mounts\[\\"\/in\\"\]/,
  },
  {
    name: "a work dir that exists and is not empty",
    setup: async (root) => {
      await Deno.mkdir(join(root, "otherwork"));
      await Deno.writeTextFile(join(root, "otherwork", "state.json"), "{}");
      return { container_image: busybox.path, command: ["true"], mounts: out };
    },
    extra: (root) => ["--work-dir", join(root, "otherwork")],
    message: /^berth: .*otherwork.* (is not empty|exists)/,
  },
];

Deno.test(`berth run refuses ${FS_CASES.length} bad images and mount sources with one line, exit 2, nothing left`, async () => {
  const before = await berthContainers(ENGINE_SOCKETS.docker);
  await pool(FS_CASES, 3, async (c) => {
    const root = await sandbox();
    try {
      const uuid = `hostile-${crypto.randomUUID().slice(0, 8)}`;
      await Deno.writeTextFile(
        join(root, "job.json"),
        JSON.stringify({ uuid, output_path: "/out", ...(await c.setup(root)) }),
      );
      const o = await berthRun(root, join(root, "job.json"), c.extra?.(root) ?? []);
      assertOneLine(o, c.message, c.code ?? 2);
      await assertNothingLeft(root, before);
    } catch (err) {
      throw new Error(`${c.name}: ${err instanceof Error ? err.message : err}`);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
});

const ARG_CASES: [string[], RegExp][] = [
  [
    ["--runtime-engine", "lxc"],
    /^berth: run: --runtime-engine must be one of "auto", "docker", "podman", "singularity", "apptainer", got "lxc"\n$/,
  ],
  [
    ["--crunchstat-interval=-1"],
    /^berth: run: --crunchstat-interval must be a number of seconds, got "-1"\n$/,
  ],
  [
    ["--crunchstat-interval", "-1"],
    /^berth: run: Option '--crunchstat-interval' argument is ambiguous \(try "berth run --help"\)\n$/,
  ],
  [
    ["--crunchstat-interval", "soon"],
    /^berth: run: --crunchstat-interval must be a number of seconds, got "soon"\n$/,
  ],
  [
    ["--watchdog-interval", "0"],
    /^berth: run: --watchdog-interval must be a number of seconds of at least 0\.1, got "0"\n$/,
  ],
  [
    ["--enable-memory-limit", "maybe"],
    /^berth: run: --enable-memory-limit must be one of "true", "false", got "maybe"\n$/,
  ],
  [
    ["--container-enable-networking", "sometimes"],
    /^berth: run: --container-enable-networking must be one of "default", "always", got "sometimes"\n$/,
  ],
  [["--frobnicate"], /^berth: run: Unknown option '--frobnicate' \(try "berth run --help"\)\n$/],
  [["--work-dir"], /^berth: run: Option '--work-dir <value>' argument missing \(try "berth run --help"\)\n$/],
  [["second.json"], /^berth: run: expected one job file, got 2 arguments \(try "berth run --help"\)\n$/],
  [["--docker-socket", ""], /^berth: run: --docker-socket must not be empty\n$/],
];

Deno.test(`berth run refuses ${ARG_CASES.length} bad arguments with one line, exit 2, nothing left`, async () => {
  const before = await berthContainers(ENGINE_SOCKETS.docker);
  await pool(ARG_CASES, 3, async ([args, message]) => {
    const root = await sandbox();
    try {
      await Deno.writeTextFile(
        join(root, "job.json"),
        JSON.stringify({
          uuid: `hostile-${crypto.randomUUID().slice(0, 8)}`,
          container_image: busybox.path,
          command: ["true"],
          output_path: "/out",
          mounts: out,
        }),
      );
      assertOneLine(await berthRun(root, join(root, "job.json"), args), message, 2);
      await assertNothingLeft(root, before);
    } finally {
      await Deno.remove(root, { recursive: true });
    }
  });
});

Deno.test("berth run names the path and the profile when the hardened sandbox refuses a job file", async () => {
  const root = await sandbox();
  const outside = await Deno.makeTempDir({ prefix: "berth-outside-" });
  try {
    await Deno.writeTextFile(join(outside, "job.json"), "{}");
    const o = await berthRun(root, join(outside, "job.json"));
    assertOneLine(
      o,
      new RegExp(
        `^berth: permission refused by berth's Deno sandbox \\(profile "hardened"\\): Requires read access to "${
          join(outside, "job.json").replaceAll("/", "\\/")
        }"\\n$`,
      ),
      125,
    );
    await assertNothingLeft(root, await berthContainers(ENGINE_SOCKETS.docker));
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
});
