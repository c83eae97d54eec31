/** `berth pull`'s command line: help, usage errors (exit 2, one line), and its refusals before any work. */
import { join } from "node:path";
import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { runBerth } from "../helpers/berth.ts";
import { FIXTURE_BIN } from "../fixtures/singularity/mod.ts";
import { testImage } from "../images/mod.ts";

Deno.test("berth pull --help describes the command and its exit statuses", async () => {
  const r = await runBerth(["pull", "--help"]);
  assertEquals(r.code, 0);
  assertMatch(r.stdout, /^Usage: berth pull JOB\.json \[options\]/);
  assertMatch(r.stdout, /--pull missing\|always\|never/);
  assertMatch(r.stdout, /--registry-auth FILE/);
  assertMatch(r.stdout, /--image-cache-group GROUP/);
  assertMatch(r.stdout, /--image-cache-verify/);
  const main = await runBerth(["--help"]);
  assertMatch(main.stdout, /^ {2}pull +make a job's image ready on this node/m);
});

Deno.test("berth pull refuses bad usage in one line with exit 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-pull-cli-" });
  try {
    const job = join(dir, "job.json");
    const busybox = await testImage("busybox");
    await Deno.writeTextFile(
      job,
      JSON.stringify({
        uuid: "pull-cli",
        container_image: "docker://127.0.0.1:9/x/y:1",
        command: ["true"],
        output_path: "/out",
        mounts: { "/out": { kind: "tmp" } },
      }),
    );
    const tarJob = join(dir, "tar.json");
    await Deno.writeTextFile(
      tarJob,
      JSON.stringify({
        uuid: "pull-cli-tar",
        container_image: busybox.path,
        command: ["true"],
        output_path: "/out",
        mounts: { "/out": { kind: "tmp" } },
      }),
    );
    const badAuth = join(dir, "auth.json");
    await Deno.writeTextFile(badAuth, "{ not json");
    const cases: [string[], RegExp][] = [
      [["pull"], /^berth: pull: missing the job file/],
      [["pull", job, job], /^berth: pull: expected one job file, got 2 arguments/],
      [["pull", job, "--pull", "later"], /^berth: pull: --pull must be one of "missing", "always", "never"/],
      [
        ["pull", job, "--insecure-registry", "https://x"],
        /^berth: pull: --insecure-registry must be a registry HOST/,
      ],
      [
        ["pull", job, "--image-cache-group", "no-such-group-x"],
        /^berth: pull: --image-cache-group must be a group id or a group name in \/etc\/group, got "no-such-group-x"$/,
      ],
      [
        ["pull", job, "--registry-auth", badAuth],
        /^berth: Cannot use registry auth file ".*auth\.json": it is not valid JSON$/,
      ],
      [
        ["pull", tarJob, "--runtime-engine", "singularity", "--singularity-binary", FIXTURE_BIN.singularity],
        /^berth: pull: singularity keeps converted images only in a SIF cache: give --image-cache DIR/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = await runBerth(args, { env: { BERTH_EXTRA_RUN: FIXTURE_BIN.singularity } });
      assertEquals(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
      assertMatch(r.stderr.trim(), re);
      assertEquals(r.stderr.trim().split("\n").length, 1, r.stderr);
      assertEquals(r.stdout, "");
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
