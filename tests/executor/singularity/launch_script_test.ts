import { join } from "node:path";
import {
  LAUNCH_SCRIPT_PATH,
  launchScript,
  mountinfoPath,
  shellQuote,
} from "../../../src/executor/singularity/mod.ts";
import { assertEquals } from "../../helpers/assert.ts";

const TOKEN = "berth-launch-test";

/** Sources the script in bash, as the runtime's action script does, then execs `command`. */
async function source(
  input: { env?: Record<string, string>; workingDir?: string; bindTargets?: string[] },
  command: string[],
) {
  const dir = await Deno.makeTempDir({ prefix: "berth-launch-test-" });
  try {
    const script = launchScript({
      env: input.env ?? { PATH: "/usr/bin:/bin" },
      workingDir: input.workingDir ?? "/",
      bindTargets: input.bindTargets ?? [],
      token: TOKEN,
    });
    await Deno.writeTextFile(join(dir, "launch.sh"), script.text);
    const out = await new Deno.Command("bash", {
      args: ["--posix", "-c", '. "$0"; exec "$@"', join(dir, "launch.sh"), ...command],
      clearEnv: true,
      env: { PATH: "/usr/bin:/bin", BEFORE: "image value" },
      stdin: "null",
    }).output();
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      skipped: script.skipped,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("the launch script sets every value literally, leaves out non-shell names and says started", async () => {
  const env = {
    PATH: "/usr/bin:/bin",
    QUOTES: `it's "q" $HOME \`id\` $(id) \\ \n second line`,
    EMPTY: "",
    BEFORE: "job value",
    "A-B": "x",
    "1X": "y",
  };
  const r = await source({ env, workingDir: "/tmp" }, [
    "sh",
    "-c",
    'printf "%s|%s|%s|%s" "$QUOTES" "$EMPTY" "$BEFORE" "$PWD"; env | grep -c OLDPWD || true',
  ]);
  assertEquals(r.stdout, `${env.QUOTES}||job value|/tmp0\n`);
  assertEquals(r.stderr, `${TOKEN} started\n`);
  assertEquals(r.skipped, ["A-B", "1X"]);
  assertEquals(r.code, 0);
});

Deno.test("the launch script finds the command on the spec's PATH or by path, and reports one it cannot", async () => {
  const ok = await source({ env: { PATH: "/nowhere:/usr/bin" } }, ["env"]);
  assertEquals([ok.code, ok.stderr], [0, `${TOKEN} started\n`]);
  assertEquals((await source({}, ["/usr/bin/env"])).stderr, `${TOKEN} started\n`);
  for (const command of ["no-such-command", "/usr/bin/no-such", "/usr/bin", "/etc/passwd"]) {
    const r = await source({}, [command]);
    assertEquals([r.code, r.stderr, r.stdout], [127, `${TOKEN} not-found\n`, ""], command);
  }
  // An empty PATH finds nothing by name.
  assertEquals((await source({ env: { PATH: "" } }, ["env"])).stderr, `${TOKEN} not-found\n`);
});

Deno.test("the launch script reports a missing working directory and a bind that is not mounted", async () => {
  const wd = await source({ workingDir: "/no/such/dir" }, ["true"]);
  assertEquals([wd.code, wd.stderr], [126, `${TOKEN} no-workdir\n`]);
  const bound = await source({ bindTargets: ["/proc", "/"] }, ["true"]);
  assertEquals([bound.code, bound.stderr], [0, `${TOKEN} started\n`]);
  const missing = await source({ bindTargets: ["/proc", "/usr/share/doc"] }, ["true"]);
  assertEquals([missing.code, missing.stderr], [125, `${TOKEN} no-bind /usr/share/doc\n`]);
});

Deno.test("shellQuote() and mountinfoPath() write what sh and the kernel expect", () => {
  assertEquals(shellQuote("it's"), `'it'\\''s'`);
  assertEquals(shellQuote(""), "''");
  assertEquals(mountinfoPath("/a b\tc\\d\ne"), "/a\\040b\\011c\\134d\\012e");
  assertEquals(LAUNCH_SCRIPT_PATH.startsWith("/.singularity.d/env/99-"), true);
});
