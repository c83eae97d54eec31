import { assertEquals } from "../helpers/assert.ts";
import { describeContainerExit, exitStatusFor } from "../../src/runner/exit_status.ts";

Deno.test("describeContainerExit() names the signal of a 128+N code", () => {
  assertEquals(describeContainerExit(0), "Container exited with status code 0");
  assertEquals(describeContainerExit(1), "Container exited with status code 1");
  assertEquals(describeContainerExit(128), "Container exited with status code 128");
  assertEquals(describeContainerExit(137), "Container exited with status code 137 (signal 9, SIGKILL)");
  assertEquals(describeContainerExit(143), "Container exited with status code 143 (signal 15, SIGTERM)");
  assertEquals(describeContainerExit(229), "Container exited with status code 229 (signal 101)");
});

Deno.test("exitStatusFor() follows the documented exit codes", () => {
  assertEquals(exitStatusFor({ state: "Complete", exitCode: 0, cancel: null }), 0);
  assertEquals(exitStatusFor({ state: "Complete", exitCode: 42, cancel: null }), 42);
  assertEquals(exitStatusFor({ state: "Complete", exitCode: -1, cancel: null }), 125);
  assertEquals(exitStatusFor({ state: "Queued", exitCode: null, cancel: null }), 75);
  assertEquals(exitStatusFor({ state: "Cancelled", exitCode: null, cancel: null }), 125);
  assertEquals(
    exitStatusFor({ state: "Cancelled", exitCode: 137, cancel: { kind: "timeout", seconds: 1 } }),
    124,
  );
  assertEquals(
    exitStatusFor({ state: "Cancelled", exitCode: 137, cancel: { kind: "signal", signal: "SIGQUIT" } }),
    131,
  );
});
