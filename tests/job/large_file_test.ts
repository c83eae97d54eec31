/**
 * Large and pathological job files finish (no timing asserts: finishing at all is the property; a quadratic
 * path would make these tests run for hours).
 */

import { ok, strictEqual, throws } from "node:assert/strict";
import { JobFileError } from "../../src/errors.ts";
import { parseJob, readJobFile, serializeJsonContent } from "../../src/job/mod.ts";

const MB = 1024 * 1024;
const HEAD = '{"uuid":"big","container_image":"/i.tar","command":["true"],"output_path":"/out",';

Deno.test("readJobFile() parses a 10 MB job file with large json and text content", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-job-test-" });
  try {
    const items = Array.from({ length: 200_000 }, (_, i) => `{"id":${i},"n":123456789123456789${i % 10}}`);
    const text = HEAD + '"mounts":{"/out":{"kind":"tmp"},' +
      `"/in.json":{"kind":"json","content":[${items.join(",")}]},` +
      `"/big.txt":{"kind":"text","content":"${"x".repeat(3 * MB)}"}}}`;
    ok(text.length >= 10 * MB, `only ${text.length} bytes`);
    await Deno.writeTextFile(`${dir}/big.json`, text);
    const { job } = await readJobFile(`${dir}/big.json`);
    const m = job.mounts["/in.json"];
    if (m.kind !== "json" || !Array.isArray(m.content)) throw new Error("not a json array");
    strictEqual(m.content.length, 200_000);
    strictEqual(serializeJsonContent(m.content[199_999]), '{"id":199999,"n":1234567891234567899}');
    const t = job.mounts["/big.txt"];
    strictEqual(t.kind === "text" ? t.content.length : 0, 3 * MB);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseJob() refuses 10 MB of pathological input with one short line", () => {
  const cases: Array<[string, string]> = [
    ["[".repeat(10 * MB), "nests arrays and objects deeper than 512 levels at line 1 column 513"],
    ['{"a":' + "1".repeat(10 * MB) + ".}", "is not valid JSON at line 1 column "],
    [
      HEAD + '"mounts":{"/out":{"kind":"tmp"}},"runtime_constraints":{"ram":1' + "0".repeat(10 * MB) + "1}}",
      "ram",
    ],
    [
      HEAD + '"mounts":{"/out":{"kind":"tmp"}},"runtime_constraints":{"ram":1.' + "0".repeat(10 * MB) + "}}",
      "ram",
    ],
    [HEAD + '"mounts":{"/out":{"kind":"tmp","capacity":0.' + "0".repeat(10 * MB) + "1}}}", "capacity"],
    ['{"uuid":"' + "a".repeat(10 * MB) + '"}', "must be at most 255 characters long"],
    ['{"x":"' + "\\u0000".repeat(2 * MB) + '",' + '"y":1,'.repeat(MB) + '"z":}', "object value expected"],
    [
      HEAD + '"mounts":{' + Array.from({ length: MB / 4 }, (_, i) => `"/m${i}":{"kind":"tmp"},`).join("") +
      '"/out":{"kind":"tmp"},"/z":{"kind":"x"}}}',
      'field "mounts[\\"/z\\"].kind" must be one of',
    ],
  ];
  for (const [text, fragment] of cases) {
    throws(() => parseJob(text, "big.json"), (err: unknown) => {
      ok(err instanceof JobFileError, String(err));
      ok(err.message.includes(fragment), err.message);
      ok(err.message.length < 600, `message of ${err.message.length} characters`);
      return true;
    });
  }
});
