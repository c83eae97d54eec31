import { assertEquals, assertMatch } from "../helpers/assert.ts";
import { EngineError, looksLikeBrokenNode } from "../../src/errors.ts";
import { reportBrokenNode } from "../../src/runner/broken_node.ts";
import { FIXTURE_BIN } from "../fixtures/singularity/mod.ts";
import { withTempDir } from "./_job.ts";

const err = new EngineError("Cannot connect to the Docker daemon at unix:///x.sock");

Deno.test("reportBrokenNode() writes the marker file when there is no hook", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    await reportBrokenNode(err, { hook: "", markerPath: `${dir}/berth-broken`, log: (m) => lines.push(m) });
    assertMatch(await Deno.readTextFile(`${dir}/berth-broken`), /Cannot connect to the Docker daemon/);
    assertEquals(lines, [
      "Error suggests node is unable to run containers: Cannot connect to the Docker daemon at unix:///x.sock",
      `Writing ${dir}/berth-broken to mark node as broken`,
    ]);
  });
});

Deno.test("reportBrokenNode() runs the hook instead, with its output in the log", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    await reportBrokenNode(err, {
      hook: "uname",
      markerPath: `${dir}/berth-broken`,
      log: (m) => lines.push(m),
    });
    assertEquals(lines[1], 'Running broken node hook "uname"');
    assertEquals(lines[2], "Linux");
    assertEquals(lines.length, 3);
    assertEquals(await Deno.stat(`${dir}/berth-broken`).then(() => true, () => false), false);
  });
});

Deno.test("reportBrokenNode() logs a failing hook and does not throw", async () => {
  const lines: string[] = [];
  // The Singularity fixture without arguments fails with a FATAL line and status 255.
  await reportBrokenNode(err, {
    hook: FIXTURE_BIN.singularity,
    markerPath: "/nonexistent/m",
    log: (m) => lines.push(m),
  });
  assertMatch(lines.join("\n"), /FATAL/);
  assertMatch(lines.at(-1)!, /^Error running broken node hook: exit status 255$/);
  assertEquals(
    lines.some((l) => l.startsWith("Writing ")),
    false,
    "a hook that ran is not replaced by the marker",
  );
});

Deno.test("reportBrokenNode() writes the marker when the hook cannot be started, so the node is still marked", async () => {
  await withTempDir(async (dir) => {
    const missing: string[] = [];
    await reportBrokenNode(err, {
      hook: "/nonexistent/hook",
      markerPath: `${dir}/berth-broken`,
      log: (m) => missing.push(m),
    });
    assertMatch(missing[2], /^Error running broken node hook: /);
    assertEquals(missing[3], `Writing ${dir}/berth-broken to mark node as broken`);
    assertMatch(await Deno.readTextFile(`${dir}/berth-broken`), /Cannot connect to the Docker daemon/);
  });
});

Deno.test("reportBrokenNode() kills a hook that runs past its limit", async () => {
  await withTempDir(async (dir) => {
    const lines: string[] = [];
    await reportBrokenNode(err, {
      hook: FIXTURE_BIN.singularity,
      markerPath: `${dir}/berth-broken`,
      log: (m) => lines.push(m),
      hookTimeoutMs: 0,
    });
    assertEquals(lines.at(-1), "Error running broken node hook: killed after 0 s");
  });
});

Deno.test("looksLikeBrokenNode() matches a full disk as Deno reports it", () => {
  assertEquals(looksLikeBrokenNode("Cannot set up mounts: No space left on device (os error 28)"), true);
  assertEquals(looksLikeBrokenNode("write /var/lib/docker/x: no space left on device"), true);
  assertEquals(looksLikeBrokenNode("Cannot set up mounts: Permission denied (os error 13)"), false);
});
