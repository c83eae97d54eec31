/** Lossless JSON: big numbers survive parsing and serialization exactly, and serialization matches Go's. */

import { strictEqual, throws } from "node:assert/strict";
import { isLosslessNumber, LosslessNumber } from "lossless-json";
import { JobFileError } from "../../src/errors.ts";
import { type JsonValue, parseJob, parseJsonText, serializeJsonContent } from "../../src/job/mod.ts";

const EDGE_NUMBERS = [
  "123456789123456789123",
  "-9007199254740993",
  "9007199254740993",
  "1e400",
  "-1E-400",
  "2.5e+308",
  "0.1000000000000000055511151231257827",
  "-0",
  "0.0",
  "1.0",
  "1e2",
  "340282366920938463463374607431768211457",
];

Deno.test("parseJsonText() keeps the exact text of numbers beyond 2^53 and beyond double range", () => {
  for (const text of EDGE_NUMBERS) {
    const value = parseJsonText(`{"n": ${text}}`, "t.json") as { n: JsonValue };
    strictEqual(isLosslessNumber(value.n), true);
    strictEqual(String(value.n), text);
    strictEqual(serializeJsonContent(value), `{"n":${text}}`);
  }
});

Deno.test("parseJob() delivers json mount content with big integers exactly, as compact sorted JSON", () => {
  const text = `{"uuid":"j","container_image":"/i.tar","command":["cat"],"output_path":"/out",
    "mounts":{"/out":{"kind":"tmp"},
      "stdin":{"kind":"json","content":{"z":123456789123456789123,"a":[-9007199254740993, 1e400]}},
      "/in.json":{"kind":"json","content":[1e400, {"b": 2, "a": -0}]}},
    "secret_mounts":{"/s.json":{"kind":"json","content":{"k":18446744073709551617}}}}`;
  const { job } = parseJob(text, "/j.json");
  const stdin = job.mounts.stdin;
  const input = job.mounts["/in.json"];
  const secret = job.secret_mounts["/s.json"];
  if (stdin.kind !== "json" || input.kind !== "json" || secret.kind !== "json") {
    throw new Error("wrong kinds");
  }
  strictEqual(
    serializeJsonContent(stdin.content),
    '{"a":[-9007199254740993,1e400],"z":123456789123456789123}',
  );
  strictEqual(serializeJsonContent(input.content), '[1e400,{"a":-0,"b":2}]');
  strictEqual(serializeJsonContent(secret.content), '{"k":18446744073709551617}');
});

Deno.test("serializeJsonContent() escapes like Go's encoding/json", () => {
  strictEqual(
    serializeJsonContent("<a href='x'>&</a>"),
    "\"\\u003ca href='x'\\u003e\\u0026\\u003c/a\\u003e\"",
  );
  strictEqual(serializeJsonContent("\u2028\u2029"), '"\\u2028\\u2029"');
  strictEqual(serializeJsonContent("\b\f\n\r\t\u0000\u001f\u007f"), '"\\b\\f\\n\\r\\t\\u0000\\u001f\u007f"');
  strictEqual(serializeJsonContent('"\\/'), '"\\"\\\\/"');
  // A lone surrogate cannot be UTF-8: Go decodes "\ud800" to U+FFFD and writes that character.
  strictEqual(serializeJsonContent("a\ud800b"), '"a\ufffdb"');
  strictEqual(serializeJsonContent("🚢é"), '"🚢é"');
  strictEqual(serializeJsonContent(null), "null");
  strictEqual(serializeJsonContent(true), "true");
  strictEqual(serializeJsonContent(12345678901234567890n), "12345678901234567890");
});

Deno.test("serializeJsonContent() sorts keys by code point, as Go sorts UTF-8 bytes", () => {
  // UTF-16 order would put "🚢" (surrogates, 0xD83D...) before "\uffff"; code point order puts it after.
  const value: JsonValue = { "🚢": 1, "\uffff": 2, "b": 3, "a": 4, "B": 5, "": 6 };
  strictEqual(serializeJsonContent(value), '{"":6,"B":5,"a":4,"b":3,"\uffff":2,"🚢":1}');
});

Deno.test("serializeJsonContent() with indent 4 matches Go's MarshalIndent layout", () => {
  const value: JsonValue = { b: [new LosslessNumber("1"), {}, []], a: { c: "x" } };
  strictEqual(
    serializeJsonContent(value, { indent: 4 }),
    '{\n    "a": {\n        "c": "x"\n    },\n    "b": [\n        1,\n        {},\n        []\n    ]\n}',
  );
});

Deno.test("serializeJsonContent() refuses values with no JSON form", () => {
  throws(() => serializeJsonContent(Number.NaN), TypeError);
  throws(() => serializeJsonContent(Infinity), TypeError);
  throws(() => serializeJsonContent({ f: (() => 1) as unknown as JsonValue }), TypeError);
});

Deno.test("parseJsonText() rejects duplicate keys with different values but not exact repeats", () => {
  throws(() => parseJsonText('{"a": 1, "a": 2}', "t.json"), (err: unknown) => {
    return err instanceof JobFileError && err.message.endsWith('line 1 column 10: duplicate key "a"');
  });
  strictEqual(serializeJsonContent(parseJsonText('{"a": 1, "a": 1}', "t.json")), '{"a":1}');
});

Deno.test("parseJsonText() keeps a __proto__ key as data, not as the object's prototype", () => {
  const value = parseJsonText('{"__proto__": {"polluted": true}}', "t.json") as Record<string, unknown>;
  strictEqual(Object.getPrototypeOf(value), Object.prototype);
  strictEqual(({} as Record<string, unknown>).polluted, undefined);
  strictEqual(serializeJsonContent(value as JsonValue), '{"__proto__":{"polluted":true}}');
});

Deno.test("parseJsonText() accepts nesting up to the limit and refuses one level more", () => {
  const ok = "[".repeat(512) + "]".repeat(512);
  strictEqual(serializeJsonContent(parseJsonText(ok, "t.json")), ok);
  throws(() => parseJsonText("[" + ok + "]", "t.json"), JobFileError);
  // Brackets inside strings do not count.
  const inString = JSON.stringify({ s: "[".repeat(10000) });
  strictEqual(serializeJsonContent(parseJsonText(inString, "t.json")), inString);
});
