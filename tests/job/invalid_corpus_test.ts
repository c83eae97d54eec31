/**
 * The invalid job corpus: every file under `corpus/invalid/` must be refused with exactly the message recorded
 * in `corpus/invalid/expected.json`, as a JobFileError with exit code 2.
 */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { JobFileError } from "../../src/errors.ts";
import { parseJobBytes } from "../../src/job/mod.ts";

const dir = new URL("./corpus/invalid/", import.meta.url);
const expected: Record<string, string> = JSON.parse(await Deno.readTextFile(new URL("expected.json", dir)));
const files = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n !== "expected.json").sort();

Deno.test("invalid corpus has at least 60 cases and a message for every file", () => {
  ok(files.length >= 60, `only ${files.length} invalid job files`);
  deepStrictEqual(files, Object.keys(expected).sort());
});

for (const name of files) {
  Deno.test(`parseJobBytes() refuses corpus/invalid/${name}`, async () => {
    const bytes = await Deno.readFile(new URL(name, dir));
    let caught: unknown;
    try {
      parseJobBytes(bytes, name);
    } catch (err) {
      caught = err;
    }
    ok(caught instanceof JobFileError, `expected a JobFileError, got ${caught}`);
    strictEqual(caught.message, expected[name]);
    strictEqual(caught.exitCode, 2);
    strictEqual(caught.path, name);
    ok(!caught.message.includes("\n"), "the message is one line");
  });
}
