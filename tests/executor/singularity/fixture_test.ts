/**
 * The CLI fixture itself: it must refuse what it does not implement (so berth cannot lean on an unchecked flag)
 * and really do what it claims (layers and whiteouts, namespaces, literal environment).
 */
import { join } from "node:path";
import { findContainedPid } from "../../../src/executor/singularity/mod.ts";
import { testImage } from "../../images/mod.ts";
import { FIXTURE_BIN } from "../../fixtures/singularity/mod.ts";
import { assertEquals, assertMatch, assertStringIncludes } from "../../helpers/assert.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function fixture(
  name: "singularity" | "apptainer",
  args: string[],
  env: Record<string, string> = {},
): Promise<Result> {
  const out = await new Deno.Command(FIXTURE_BIN[name], { args, env, clearEnv: true, stdin: "null" })
    .output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Builds the multilayer test image with the fixture into a temp dir, runs `fn`, removes everything. */
async function withSif(fn: (sif: string, dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "berth-fixture-test-" });
  try {
    const image = await testImage("multilayer");
    await Deno.symlink(image.path, join(dir, "image.tar"));
    const sif = join(dir, "image.sif");
    const built = await fixture("singularity", ["build", sif, `docker-archive://${join(dir, "image.tar")}`], {
      SINGULARITY_TMPDIR: dir,
    });
    assertEquals(built.code, 0, built.stderr);
    await fn(sif, dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const EXEC = ["exec", "--containall", "--cleanenv", "--pwd="];

Deno.test("fixture --version names itself a berth test fixture under both names", async () => {
  const s = await fixture("singularity", ["--version"]);
  assertEquals(s, {
    code: 0,
    stdout: "singularity-fixture version 3.11.0 (berth test fixture, not SingularityCE/Apptainer)\n",
    stderr: "",
  });
  assertMatch(
    (await fixture("apptainer", ["version"])).stdout,
    /^apptainer-fixture version \d+\.\d+\.\d+ \(berth test fixture/,
  );
});

Deno.test("fixture build unpacks the layers in order and honours whiteouts", async () => {
  await withSif(async (sif) => {
    const r = await fixture(
      "singularity",
      [...EXEC, sif, "sh", "-c", "ls /etc/berth-removed 2>&1; cat /etc/berth-kept /work/hello.txt"],
      { SINGULARITY_NO_EVAL: "1" },
    );
    assertEquals(r.code, 0, r.stderr);
    assertEquals(
      r.stdout,
      "ls: /etc/berth-removed: No such file or directory\nkept\nhello from the upper layer\n",
    );
  });
});

Deno.test("fixture build refuses ':' in a docker-archive path, an existing destination and a truncated tarball", async () => {
  const truncated = await testImage("truncated");
  const dir = await Deno.makeTempDir({ prefix: "berth-fixture-test-" });
  try {
    const colon = await fixture("singularity", [
      "build",
      join(dir, "a.sif"),
      `docker-archive://${dir}/sha256:x.tar`,
    ]);
    assertEquals(colon.code, 255);
    assertStringIncludes(colon.stderr, '":" in the path starts a tag');
    await Deno.writeTextFile(join(dir, "exists.sif"), "");
    const exists = await fixture("singularity", [
      "build",
      join(dir, "exists.sif"),
      `docker-archive://${truncated.path}`,
    ]);
    assertEquals(exists.code, 255);
    assertStringIncludes(exists.stderr, "already exists");
    const cut = await fixture("singularity", [
      "build",
      join(dir, "cut.sif"),
      `docker-archive://${truncated.path}`,
    ], {
      SINGULARITY_TMPDIR: dir,
    });
    assertEquals(cut.code, 255);
    assertMatch(cut.stderr, /FATAL: .*unable to unpack docker-archive/);
    assertEquals((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["exists.sif"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("fixture exec rejects every flag and mode it does not implement with status 255", async () => {
  await withSif(async (sif) => {
    const cases: [string[], RegExp][] = [
      [["exec", "--cleanenv", "--pwd=", sif, "true"], /without --containall/],
      [["exec", "--containall", "--pwd=", sif, "true"], /without --cleanenv/],
      [["exec", "--containall", "--cleanenv", sif, "true"], /without --pwd/],
      [[...EXEC, "--net", "--network=bridge", sif, "true"], /--network=bridge is not implemented/],
      [[...EXEC, "--net", sif, "true"], /--net without --network/],
      [[...EXEC, "--nv", sif, "true"], /GPU support is not implemented/],
      [[...EXEC, "--rocm", sif, "true"], /GPU support is not implemented/],
      [[...EXEC, "--writable-tmpfs", sif, "true"], /unknown flag: --writable-tmpfs/],
      [[...EXEC, "--bind", "/tmp:/x:ro,nosuid", sif, "true"], /option "ro,nosuid" is not implemented/],
      [
        [...EXEC, "--bind", "/nonexistent-berth:/x:ro", sif, "true"],
        /mount source \/nonexistent-berth doesn't exist/,
      ],
      [[...EXEC, "--memory", "1G", sif, "true"], /invalid value "1G" for --memory/],
      [["--debug", "exec"], /unknown command or flag "--debug"/],
      [["run", sif], /unknown command or flag "run"/],
    ];
    for (const [args, message] of cases) {
      const r = await fixture("singularity", args, { SINGULARITY_NO_EVAL: "1" });
      assertEquals(r.code, 255, args.join(" "));
      assertMatch(r.stderr, message);
    }
    const noEval = await fixture("apptainer", [...EXEC, sif, "true"], {});
    assertEquals(noEval.code, 255);
    assertStringIncludes(noEval.stderr, "set APPTAINER_NO_EVAL=1");
  });
});

Deno.test("fixture apptainer warns about SINGULARITYENV_ variables as Apptainer does", async () => {
  await withSif(async (sif) => {
    const r = await fixture("apptainer", [...EXEC, sif, "sh", "-c", "echo $A"], {
      APPTAINER_NO_EVAL: "1",
      SINGULARITYENV_A: "x",
    });
    assertEquals(r.code, 0);
    assertEquals(r.stdout, "x\n");
    assertStringIncludes(r.stderr, "DEPRECATED USAGE: Forwarding SINGULARITYENV_A");
  });
});

Deno.test("fixture exec isolates the network, PID and /tmp namespaces and passes signals through", async () => {
  await withSif(async (sif) => {
    const r = await fixture(
      "singularity",
      [
        ...EXEC,
        "--net",
        "--network=none",
        sif,
        "sh",
        "-c",
        "ls /sys/class/net; ps -o pid= | wc -l; ls -A /tmp; kill -TERM $$",
      ],
      { SINGULARITY_NO_EVAL: "1" },
    );
    assertEquals(r.stdout, "lo\n4\n");
    assertEquals(r.stderr, "");
    assertEquals(r.code, 128 + 15);
  });
});

Deno.test("findContainedPid() picks the first child of the first process in another PID namespace", () => {
  const table = {
    ownPidns: "4026531836",
    processes: [
      { pid: 100, ppid: 1, pidns: "4026531836" }, // berth
      { pid: 200, ppid: 100, pidns: "4026531836" }, // engine
      { pid: 201, ppid: 200, pidns: "4026531836" }, // engine helper
      { pid: 300, ppid: 201, pidns: "4026532000" }, // container init
      { pid: 305, ppid: 300, pidns: "4026532000" }, // the command
      { pid: 302, ppid: 300, pidns: "4026532000" }, // an earlier child
      { pid: 400, ppid: 1, pidns: "4026532999" }, // another container
    ],
  };
  assertEquals(findContainedPid(table, 200), 302);
  assertEquals(
    findContainedPid({ ...table, processes: table.processes.filter((p) => p.ppid !== 300) }, 200),
    300,
  );
  assertEquals(findContainedPid(table, 400), 0);
  assertEquals(findContainedPid(table, 999), 0);
});
