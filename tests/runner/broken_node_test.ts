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

Deno.test("reportBrokenNode() logs a failing or missing hook and does not throw", async () => {
  const lines: string[] = [];
  // The Singularity fixture without arguments fails with a FATAL line and status 255.
  await reportBrokenNode(err, {
    hook: FIXTURE_BIN.singularity,
    markerPath: "/nonexistent/m",
    log: (m) => lines.push(m),
  });
  assertMatch(lines.join("\n"), /FATAL/);
  assertMatch(lines.at(-1)!, /^Error running broken node hook: exit status 255$/);
  const missing: string[] = [];
  await reportBrokenNode(err, {
    hook: "/nonexistent/hook",
    markerPath: "/nonexistent/m",
    log: (m) => missing.push(m),
  });
  assertMatch(missing.at(-1)!, /^Error running broken node hook: /);
});

Deno.test("looksLikeBrokenNode() matches a full disk as Deno reports it", () => {
  assertEquals(looksLikeBrokenNode("Cannot set up mounts: No space left on device (os error 28)"), true);
  assertEquals(looksLikeBrokenNode("write /var/lib/docker/x: no space left on device"), true);
  assertEquals(looksLikeBrokenNode("Cannot set up mounts: Permission denied (os error 13)"), false);
});
