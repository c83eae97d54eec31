import { assertEquals, assertMatch, assertNotMatch } from "../helpers/assert.ts";
import { runBerth } from "../helpers/berth.ts";

Deno.test("berth --help lists the commands and exits 0", async () => {
  const r = await runBerth(["--help"]);
  assertEquals(r.code, 0);
  assertMatch(r.stdout, /Usage: berth <command>/);
  assertMatch(r.stdout, /\n {2}version +print berth's version/);
});

Deno.test("berth version prints the version", async () => {
  const r = await runBerth(["version"]);
  assertEquals(r.code, 0);
  assertMatch(r.stdout, /^berth \d+\.\d+\.\d+ \(deno \d+\.\d+\.\d+, v8 [^)]+\)\n$/);
});

for (
  const [args, message] of [
    [[], /Usage: berth <command>/],
    [["frob"], /^berth: unknown command "frob" \(try "berth --help"\)\n$/],
    [["version", "--bogus"], /^berth: version: Unknown option '--bogus' \(try "berth version --help"\)\n$/],
  ] as [string[], RegExp][]
) {
  Deno.test(`berth ${args.join(" ") || "(no arguments)"} is a usage error: exit 2, no stack trace`, async () => {
    const r = await runBerth(args);
    assertEquals(r.code, 2);
    assertMatch(r.stderr, message);
    assertNotMatch(r.stderr, /\n\s+at /);
  });
}
