/**
 * The CLI fixture itself: it must refuse what it does not implement (so berth cannot lean on an unchecked flag)
 * and really do what it claims (layers and whiteouts, namespaces, literal environment).
 */
import { join } from "node:path";
import { findContainedPid } from "../../../src/executor/singularity/mod.ts";
import { isSifFile } from "../../../src/image/mod.ts";
import { testImage } from "../../images/mod.ts";
import { FIXTURE_BIN, fixtureBinary, type FixtureGeneration } from "../../fixtures/singularity/mod.ts";
import { assertEquals, assertMatch, assertStringIncludes } from "../../helpers/assert.ts";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

async function fixture(
  name: "singularity" | "apptainer" | FixtureGeneration,
  args: string[],
  env: Record<string, string> = {},
): Promise<Result> {
  const program = name === "singularity" || name === "apptainer" ? FIXTURE_BIN[name] : fixtureBinary(name);
  const out = await new Deno.Command(program, { args, env, clearEnv: true, stdin: "null" })
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

Deno.test("fixture --version prints the real version line and names itself a berth test fixture", async () => {
  const s = await fixture("singularity", ["--version"]);
  assertEquals(s, {
    code: 0,
    stdout: "singularity-ce version 3.11.4 (berth test fixture singularity-ce-3.11, not the real program)\n",
    stderr: "",
  });
  assertMatch(
    (await fixture("apptainer", ["version"])).stdout,
    /^apptainer version 1\.2\.5 \(berth test fixture/,
  );
  assertMatch(
    (await fixture("singularity-3.4", ["--version"])).stdout,
    /^singularity version 3\.4\.2 \(berth/,
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

Deno.test("fixture build writes a SIF-shaped file; exec runs it, and a bare squashfs image (older caches) too", async () => {
  await withSif(async (sif, dir) => {
    const bytes = await Deno.readFile(sif);
    assertEquals(await isSifFile(sif), true);
    // The squashfs partition at the real default data offset: its own magic "hsqs" there.
    assertEquals(new TextDecoder().decode(bytes.subarray(32768, 32772)), "hsqs");
    const bare = join(dir, "bare.img");
    await Deno.writeFile(bare, bytes.subarray(32768));
    assertEquals(await isSifFile(bare), false);
    for (const image of [sif, bare]) {
      const r = await fixture("singularity", [...EXEC, image, "cat", "/etc/berth-kept"], {
        SINGULARITY_NO_EVAL: "1",
      });
      assertEquals([r.code, r.stdout], [0, "kept\n"], `${image}: ${r.stderr}`);
    }
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
      [
        [...EXEC, "--writable-tmpfs", sif, "true"],
        /--writable-tmpfs is a flag of singularity-ce version 3.11.4, but/,
      ],
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
  });
});

Deno.test("fixture exec fails as the real program does on a flag its generation lacks: exit 1 and the usage", async () => {
  await withSif(async (sif) => {
    for (
      const [generation, flag] of [
        ["singularity-3.4", "--cpus"],
        ["singularity-3.4", "--env"],
        ["singularity-3.4", "--rocm"],
        ["singularity-3.4", "--no-eval"],
        ["singularity-ce-3.8", "--memory"],
        ["apptainer-1.0", "--cpus"],
      ] as const
    ) {
      const r = await fixture(generation, [...EXEC, flag, "1", sif, "true"]);
      assertEquals([r.code, r.stdout], [1, ""], `${generation} ${flag}`);
      const lines = r.stderr.split("\n");
      assertEquals(lines[0], `Error for command "exec": unknown flag: ${flag}`);
      assertEquals(lines.slice(1, 4), ["", "Options for exec command:", ""]);
      assertEquals(
        lines.at(-2),
        `Run '${generation.split("-")[0]} exec --help' for more detailed usage information.`,
      );
    }
    const short = await fixture("singularity-3.4", [...EXEC, "-Z", sif, "true"]);
    assertEquals([short.code, short.stderr.split("\n")[0]], [
      1,
      `Error for command "exec": unknown shorthand flag: 'Z' in -Z`,
    ]);
    const help = await fixture("singularity-3.4", ["exec", "--help"]);
    assertEquals(help.code, 0);
    assertStringIncludes(help.stdout, "--apply-cgroups string   apply cgroups from file for container");
  });
});

Deno.test("fixture exec treats forwarded variables as each generation does: literal, evaluated, or NO_EVAL", async () => {
  await withSif(async (sif) => {
    const run = (g: FixtureGeneration, env: Record<string, string>) =>
      fixture(g, [...EXEC, sif, "sh", "-c", 'echo "$A"'], env);
    const value = { SINGULARITYENV_A: "$SINGULARITY_NAME" };
    // 3.4: the value reaches the container as it is, SINGULARITY_NO_EVAL or not.
    assertEquals((await run("singularity-3.4", value)).stdout, "$SINGULARITY_NAME\n");
    assertEquals(
      (await run("singularity-3.4", { ...value, SINGULARITY_NO_EVAL: "1" })).stdout,
      "$SINGULARITY_NAME\n",
    );
    // 3.8 evaluates it, and has no way to stop that; 3.11 stops with SINGULARITY_NO_EVAL=1.
    assertEquals(
      (await run("singularity-ce-3.8", { ...value, SINGULARITY_NO_EVAL: "1" })).stdout,
      "image.sif\n",
    );
    assertEquals((await run("singularity-ce-3.11", value)).stdout, "image.sif\n");
    assertEquals(
      (await run("singularity-ce-3.11", { ...value, SINGULARITY_NO_EVAL: "1" })).stdout,
      "$SINGULARITY_NAME\n",
    );
    const home = await run("singularity-ce-3.11", { SINGULARITYENV_HOME: "/x" });
    assertStringIncludes(
      home.stderr,
      "Overriding HOME environment variable with SINGULARITYENV_HOME is not permitted",
    );
  });
});

Deno.test("fixture exec: --apply-cgroups reads only what it implements; a missing --pwd falls back to the home", async () => {
  await withSif(async (sif, dir) => {
    const toml = join(dir, "cg.toml");
    await Deno.writeTextFile(toml, "[pids]\n  limit = 10\n");
    const base = ["exec", "--containall", "--cleanenv"];
    if (Deno.uid() === 0) {
      const r = await fixture("singularity-3.4", [
        ...base,
        "--pwd",
        "/",
        "--apply-cgroups",
        toml,
        sif,
        "true",
      ]);
      assertEquals(r.code, 255);
      assertMatch(r.stderr, /\[pids\] limit is not implemented by the fixture/);
    }
    const pwd = await fixture("singularity-3.4", [...base, "--pwd", "/no/such", sif, "pwd"]);
    assertEquals([pwd.code, pwd.stdout], [0, `${Deno.uid() === 0 ? "/root" : "/"}\n`]);
  });
});

Deno.test("fixture apptainer warns about SINGULARITYENV_ variables as Apptainer does", async () => {
  await withSif(async (sif) => {
    const r = await fixture("apptainer", [...EXEC, sif, "sh", "-c", "echo $A"], { SINGULARITYENV_A: "x" });
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
