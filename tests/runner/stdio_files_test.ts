import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { StdioFiles, type StdioTargets } from "../../src/runner/stdio_files.ts";
import { FakeClock } from "./_fakes.ts";
import { withTempDir } from "./_job.ts";

const encode = (s: string) => new TextEncoder().encode(s);

function targets(dir: string, over: Partial<StdioTargets> = {}): StdioTargets {
  return {
    stdin: { kind: "none" },
    stdoutFile: null,
    stderrFile: null,
    stdoutLog: `${dir}/stdout.txt`,
    stderrLog: `${dir}/stderr.txt`,
    ...over,
  };
}

Deno.test("StdioFiles timestamps log lines, writes a file mount raw, and reports the first byte once", async () => {
  await withTempDir(async (dir) => {
    let firstBytes = 0;
    const stdio = await StdioFiles.open(targets(dir, { stdoutFile: `${dir}/raw.out` }), {
      onFirstByte: () => firstBytes++,
      onFailure: () => {},
    });
    const out = stdio.stdout.getWriter();
    const err = stdio.stderr.getWriter();
    await out.write(encode("raw "));
    await out.write(encode("bytes"));
    await err.write(encode("line one\nline two\n"));
    await out.close();
    await err.close();
    assertEquals(await stdio.close(1000), true, "every stream reached its file");
    assertEquals(await Deno.readTextFile(`${dir}/raw.out`), "raw bytes");
    const lines = (await Deno.readTextFile(`${dir}/stderr.txt`)).trimEnd().split("\n");
    assertEquals(lines.map((l) => l.replace(/^\S+Z /, "")), ["line one", "line two"]);
    assertEquals(firstBytes, 1);
    assertEquals(stdio.failure, null);
  });
});

Deno.test("StdioFiles never rejects a write: a file that fails is reported once and the rest dropped", async () => {
  await withTempDir(async (dir) => {
    const full = Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" });
    const failures: string[] = [];
    const stdio = await StdioFiles.open(targets(dir), {
      onFailure: (path, e) => failures.push(`${path}: ${(e as Error).message}`),
      openFile: () => Promise.resolve({ write: () => Promise.reject(full), close: () => {} }),
    });
    const out = stdio.stdout.getWriter();
    for (let i = 0; i < 3; i++) await out.write(encode(`chunk ${i}\n`));
    await out.close();
    await stdio.close(1000);
    assertEquals(failures, [`${dir}/stdout.txt: No space left on device (os error 28)`]);
    assertEquals(stdio.failure?.path, `${dir}/stdout.txt`);
  });
});

Deno.test("StdioFiles.close() closes the sinks nobody took and bounds the wait for a stuck one", async () => {
  await withTempDir(async (dir) => {
    const clock = new FakeClock();
    const stdio = await StdioFiles.open(targets(dir, { stdin: { kind: "bytes", data: encode("in") } }), {
      onFailure: () => {},
      clock,
    });
    // stdout is taken and never closed (an executor that was abandoned); stderr is never taken.
    const stuck = stdio.stdout.getWriter();
    await stuck.write(encode("partial"));
    const closing = stdio.close(2000);
    await new Promise((r) => setTimeout(r, 0));
    assertEquals(clock.pending, [2000]);
    clock.advance(2000);
    assertEquals(await closing, false, "the wait was cut short");
    assertMatch(await Deno.readTextFile(`${dir}/stdout.txt`), /partial$/);
    assert(stdio.stderr.locked === false);
  });
});
