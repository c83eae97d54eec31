import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { describeFailure, runBounded } from "../../src/runner/subprocess.ts";

Deno.test("runBounded() returns a program's output and exit code", async () => {
  const r = await runBounded("uname", [], 10_000);
  assertEquals([r.code, r.timedOut, r.startError], [0, false, null]);
  assertEquals(r.text, "Linux\n");
  assertEquals(describeFailure(r, 10_000), null);
});

Deno.test("runBounded() reports a program that cannot be started instead of throwing", async () => {
  const r = await runBounded("/nonexistent/program", [], 10_000);
  assertEquals(r.code, null);
  assertMatch(describeFailure(r, 10_000)!, /No such file|not found|NotFound|Requires run access/i);
});

Deno.test("runBounded() kills a program that runs past its limit", async () => {
  // A program that certainly outlives its limit (`df` with a 0 ms limit sometimes finished first on an idle
  // machine: a flaky case). bash is a test-only program of scripts/test's profile.
  const r = await runBounded("bash", ["-c", "sleep 30"], 100);
  assertEquals(r.timedOut, true);
  assertEquals(r.code, null);
  assertEquals(describeFailure(r, 100), "killed after 0.1 s");
});
