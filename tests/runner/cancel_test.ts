import { assertEquals } from "../helpers/assert.ts";
import { cancelExitCode, Cancellation, describeCancel } from "../../src/runner/cancel.ts";

Deno.test("Cancellation keeps the first reason and tells late listeners at once", async () => {
  const c = new Cancellation();
  const early: string[] = [];
  c.onCancel((r) => early.push(r.kind));
  assertEquals(c.reason, null);
  assertEquals(c.cancel({ kind: "signal", signal: "SIGTERM" }), true);
  assertEquals(c.cancel({ kind: "timeout", seconds: 5 }), false);
  assertEquals(c.reason, { kind: "signal", signal: "SIGTERM" });
  const late: string[] = [];
  c.onCancel((r) => late.push(r.kind === "signal" ? r.signal : "timeout"));
  assertEquals(early, ["signal"]);
  assertEquals(late, ["SIGTERM"]);
  assertEquals(await c.cancelled, { kind: "signal", signal: "SIGTERM" });
});

Deno.test("cancelExitCode() maps signals to 128+N and max_run_time to 124", () => {
  assertEquals(cancelExitCode({ kind: "signal", signal: "SIGTERM" }), 143);
  assertEquals(cancelExitCode({ kind: "signal", signal: "SIGINT" }), 130);
  assertEquals(cancelExitCode({ kind: "signal", signal: "SIGQUIT" }), 131);
  assertEquals(cancelExitCode({ kind: "timeout", seconds: 1 }), 124);
});

Deno.test("describeCancel() uses Go's signal names, as crunch-run logs them", () => {
  assertEquals(describeCancel({ kind: "signal", signal: "SIGTERM" }), "caught signal: terminated");
  assertEquals(describeCancel({ kind: "signal", signal: "SIGINT" }), "caught signal: interrupt");
  assertEquals(describeCancel({ kind: "signal", signal: "SIGQUIT" }), "caught signal: quit");
  assertEquals(describeCancel({ kind: "timeout", seconds: 90 }), "maximum run time exceeded (90 s)");
});
