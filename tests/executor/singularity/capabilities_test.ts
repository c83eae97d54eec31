import { EngineError } from "../../../src/errors.ts";
import {
  describeRuntime,
  detectCapabilities,
  parseHelpFlags,
  parseVersionLine,
} from "../../../src/executor/singularity/mod.ts";
import {
  PROGRAM_CACHE_TTL_MS,
  programCacheKey,
  programCacheOptions,
} from "../../../src/executor/singularity/capabilities.ts";
import { factCachePath, readCachedFact, writeCachedFact } from "../../../src/node/fact_cache.ts";
import { assert, assertEquals, assertRejects } from "../../helpers/assert.ts";
import {
  FIXTURE_GENERATIONS,
  FIXTURE_VERSION_LINES,
  fixtureBinary,
  fixtureExecutor,
  fixtureHelp,
} from "../../fixtures/singularity/mod.ts";
import { withTempDir } from "../../helpers/temp_dir.ts";

Deno.test("parseVersionLine() reads the flavour and version of every real program's --version", () => {
  const cases: [string, string, [number, number, number], string][] = [
    ["singularity version 3.4.2", "Singularity", [3, 4, 2], "3.4.2"],
    ["singularity version 3.7.4-1.el7", "Singularity", [3, 7, 4], "3.7.4-1.el7"],
    ["singularity-ce version 3.8.0", "SingularityCE", [3, 8, 0], "3.8.0"],
    ["singularity-ce version 4.1.0-jammy", "SingularityCE", [4, 1, 0], "4.1.0-jammy"],
    ["apptainer version 1.2.5", "Apptainer", [1, 2, 5], "1.2.5"],
    ["apptainer version 1.3.0-rc.1 (berth test fixture x)", "Apptainer", [1, 3, 0], "1.3.0-rc.1"],
    ["SingularityCE version 3.9", "SingularityCE", [3, 9, 0], "3.9"],
  ];
  for (const [line, flavour, numbers, text] of cases) {
    assertEquals(parseVersionLine(line), { flavour: flavour as never, numbers, text }, line);
  }
  for (const line of ["", "docker version 20.10", "singularity", "Singularity Enterprise 3"]) {
    assertEquals(parseVersionLine(line), null, line);
  }
});

Deno.test("parseHelpFlags() reads every option of the real SingularityCE 3.4.2 exec --help, and no more", async () => {
  const flags = parseHelpFlags(await fixtureHelp("singularity-3.4"));
  assertEquals(flags.size, 45);
  for (
    const f of ["containall", "cleanenv", "pwd", "bind", "home", "net", "network", "nv", "apply-cgroups"]
  ) {
    assert(flags.has(f), f);
  }
  for (const f of ["cpus", "memory", "memory-swap", "env", "rocm", "no-eval", "nvccli", "mount"]) {
    assert(!flags.has(f), f);
  }
  // Words in descriptions ("--contain was also used") are not flags.
  assertEquals(
    parseHelpFlags("  -W, --workdir string   (if -c/--contain was\n      also --used)\n"),
    new Set(["workdir"]),
  );
});

Deno.test("the fixture's generations have the flags their real programs have", async () => {
  const has = async (g: typeof FIXTURE_GENERATIONS[number]) => parseHelpFlags(await fixtureHelp(g));
  const table: Record<string, Record<string, boolean>> = {
    "singularity-3.4": {
      cpus: false,
      memory: false,
      env: false,
      rocm: false,
      "no-eval": false,
      "apply-cgroups": true,
    },
    "singularity-ce-3.8": {
      cpus: false,
      memory: false,
      env: true,
      rocm: true,
      "no-eval": false,
      "apply-cgroups": true,
    },
    "singularity-ce-3.11": {
      cpus: true,
      memory: true,
      env: true,
      rocm: true,
      "no-eval": true,
      "memory-swap": true,
    },
    "apptainer-1.0": {
      cpus: false,
      memory: false,
      env: true,
      rocm: true,
      "no-eval": false,
      "apply-cgroups": true,
    },
    "apptainer-1.2": {
      cpus: true,
      memory: true,
      env: true,
      rocm: true,
      "no-eval": true,
      "memory-swap": true,
    },
  };
  for (const g of FIXTURE_GENERATIONS) {
    const flags = await has(g);
    for (const [flag, expected] of Object.entries(table[g])) {
      assertEquals(flags.has(flag), expected, `${g} --${flag}`);
    }
  }
});

Deno.test("detectCapabilities() asks each program once per version and names it", async () => {
  const prog = fixtureBinary("singularity-3.4");
  const line = FIXTURE_VERSION_LINES["singularity-3.4"];
  const first = detectCapabilities(prog, line, "/");
  // The same (path, version) gets the very same answer: the help is read once.
  assert(detectCapabilities(prog, line, "/") === first);
  const caps = await first;
  assertEquals(describeRuntime(caps), "Singularity 3.4.2");
  assertEquals(caps.execFlags, parseHelpFlags(await fixtureHelp("singularity-3.4")));
  // Another version line of the same path is a new question.
  assert(detectCapabilities(prog, "singularity version 3.4.3", "/") !== first);
});

Deno.test("detectCapabilities() refuses a program that is not of the Singularity family", async () => {
  const bad = await assertRejects(
    () => detectCapabilities("/usr/bin/uname", "docker version 20.10", "/"),
    EngineError,
  );
  assertEquals(
    bad.message,
    `Cannot tell which Singularity or Apptainer "/usr/bin/uname" is: its --version printed "docker version 20.10"`,
  );
  // A program whose "exec --help" lists no --bind is not one berth can drive; the failure is not cached.
  const line = "singularity version 9.9.9";
  const noBind = await assertRejects(() => detectCapabilities("/usr/bin/uname", line, "/"), EngineError);
  assertEquals(
    noBind.message,
    `Cannot read the exec flags of "/usr/bin/uname": its "exec --help" lists no --bind flag`,
  );
  assertEquals(noBind.brokenNode, false);
  const again = detectCapabilities("/usr/bin/uname", line, "/");
  await assertRejects(() => again, EngineError);
});

/** A temp dir for a node cache and the executors' temp dirs, removed afterwards. */
const withCacheDir = (fn: (dir: string) => Promise<void>) => withTempDir(fn, "berth-program-cache-");

Deno.test("programCacheKey() names the program's path and file identity, null for a missing program", async () => {
  const a = await programCacheKey(fixtureBinary("singularity-3.4"));
  const b = await programCacheKey(fixtureBinary("apptainer-1.2"));
  assert(a !== null && b !== null);
  assertEquals(await programCacheKey(fixtureBinary("singularity-3.4")), a);
  assert(a !== b);
  assertEquals(await programCacheKey("/no/such/singularity"), null);
});

Deno.test("a Singularity executor with a runtime cache dir asks once, records the answers, and the next one reads them", async () => {
  await withCacheDir(async (dir) => {
    const gen = "singularity-ce-3.8";
    const binary = fixtureBinary(gen);
    const key = await programCacheKey(binary);
    assert(key !== null);
    const opts = programCacheOptions(dir, binary, key);
    const first = await fixtureExecutor("singularity", dir, { binary, runtimeCacheDir: dir });
    let line = "";
    try {
      line = await first.runtime();
      assert(line.startsWith(`${FIXTURE_VERSION_LINES[gen]} (berth test fixture`), line);
      const caps = await first.capabilities();
      assertEquals(caps.execFlags, parseHelpFlags(await fixtureHelp(gen)));
    } finally {
      await first.close();
    }
    const recorded = await readCachedFact(opts);
    assertEquals(recorded?.versionLine, line);
    assertEquals(new Set(recorded?.execFlags), parseHelpFlags(await fixtureHelp(gen)));

    // The next executor answers from the record without running the program: a record that says something the
    // program would not (another version, one flag fewer) is what it reports.
    const planted = {
      versionLine: "singularity-ce version 3.8.99",
      execFlags: ["bind", "containall", "cpus"],
    };
    await writeCachedFact(opts, planted);
    const second = await fixtureExecutor("singularity", dir, { binary, runtimeCacheDir: dir });
    try {
      assertEquals(await second.runtime(), planted.versionLine);
      assertEquals((await second.capabilities()).execFlags, new Set(planted.execFlags));
    } finally {
      await second.close();
    }
  });
});

Deno.test("a Singularity executor asks again when the record's key differs, it is stale or malformed, or no cache dir is given", async () => {
  await withCacheDir(async (dir) => {
    const gen = "apptainer-1.0";
    const binary = fixtureBinary(gen);
    const key = (await programCacheKey(binary))!;
    const planted = { versionLine: "apptainer version 1.0.99", execFlags: ["bind"] };
    const cases: [string, () => Promise<void>, string | undefined][] = [
      [
        "another key (the program file changed)",
        () => writeCachedFact(programCacheOptions(dir, binary, key + "x"), planted),
        dir,
      ],
      ["stale", () =>
        writeCachedFact(
          { ...programCacheOptions(dir, binary, key), now: Date.now() - PROGRAM_CACHE_TTL_MS - 1 },
          planted,
        ), dir],
      ["malformed", async () => {
        const path = await factCachePath(dir, "singularity", binary);
        await Deno.writeTextFile(path, JSON.stringify({ key, at: Date.now(), value: { versionLine: 7 } }));
      }, dir],
      ["no cache dir", () => writeCachedFact(programCacheOptions(dir, binary, key), planted), undefined],
    ];
    for (const [what, plant, runtimeCacheDir] of cases) {
      await plant();
      const exec = await fixtureExecutor("apptainer", dir, { binary, runtimeCacheDir });
      try {
        const line = await exec.runtime();
        assert(line.startsWith(`${FIXTURE_VERSION_LINES[gen]} (berth test fixture`), `${what}: ${line}`);
        assertEquals((await exec.capabilities()).execFlags, parseHelpFlags(await fixtureHelp(gen)), what);
      } finally {
        await exec.close();
      }
      const path = await factCachePath(dir, "singularity", binary);
      await Deno.remove(path).catch(() => {});
    }
  });
});
