/**
 * Property tests: whatever bytes or structures reach the job parser, the only failure is a JobFileError (exit
 * code 2, one line), and every job it accepts can be redacted and serialized.
 */

import { ok, strictEqual } from "node:assert/strict";
import fc from "fast-check";
import { LosslessNumber } from "lossless-json";
import { JobFileError } from "../../src/errors.ts";
import {
  type JsonValue,
  type ParsedJob,
  parseJob,
  parseJobBytes,
  redactJob,
  serializeJsonContent,
} from "../../src/job/mod.ts";

const fullText = await Deno.readTextFile(new URL("./corpus/valid/full.json", import.meta.url));

/**
 * Runs the parser and returns what it produced: the job, or the JobFileError. Fails the property on any other
 * exception, on a malformed message, or on an accepted job that cannot be redacted and serialized.
 */
function onlyJobFileErrors(run: () => ParsedJob): ParsedJob | JobFileError {
  let parsed: ParsedJob;
  try {
    parsed = run();
  } catch (err) {
    if (!(err instanceof JobFileError)) throw new Error(`parser threw ${err}`, { cause: err });
    strictEqual(err.exitCode, 2);
    ok(!err.message.includes("\n"), err.message);
    ok(err.message.length < 2000, `message of ${err.message.length} characters`);
    return err;
  }
  serializeJsonContent(redactJob(parsed.job), { indent: 4 });
  return parsed;
}

const numberText = fc.oneof(
  fc.constantFrom(
    "0",
    "-0",
    "1",
    "64",
    "65",
    "4096",
    "4097",
    "1.5",
    "1e3",
    "1E+2",
    "1e400",
    "-1e400",
    "1e-400",
    "9007199254740992",
    "9007199254740993",
    "123456789123456789123",
    "-9007199254740993",
  ),
  fc.integer().map(String),
  fc.double({ noNaN: true, noDefaultInfinity: true }).map((d) => JSON.stringify(d)),
);
const num = numberText.map((t) => new LosslessNumber(t));

/** Any JSON value, numbers as LosslessNumber (so texts like 1e400 reach the parser). */
const anyJson: fc.Arbitrary<JsonValue> = fc.letrec<{ value: JsonValue }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constant(null),
    fc.boolean(),
    num,
    fc.string({ unit: "binary", maxLength: 20 }),
    fc.array(tie("value"), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie("value"), { maxKeys: 4 }),
  ),
})).value;

const PDH = "d41d8cd98f00b204e9800998ecf8427e+0";
const pathLike = fc.oneof(
  fc.constantFrom(
    "/out",
    "/out/x",
    "/out/x/y",
    "/",
    "/a/../b",
    "rel",
    "/out/",
    "//x",
    "/x\u0000",
    "/tmp",
    "/in",
  ),
  fc.string({ unit: "binary", maxLength: 12 }),
);
const target = fc.oneof(fc.constantFrom("stdin", "stdout", "stderr"), pathLike);
/** Mostly a plausible value, sometimes any JSON at all. */
const maybe = <T>(a: fc.Arbitrary<T>) =>
  fc.oneof({ arbitrary: a, weight: 6 }, { arbitrary: anyJson, weight: 1 });

const mount = fc.record({
  kind: maybe(fc.constantFrom("tmp", "collection", "bind", "json", "text", "file", "git_tree")),
  capacity: maybe(num),
  portable_data_hash: maybe(fc.constantFrom(PDH, `${PDH}/sub/../x`, `${PDH}/sub`, "abc")),
  uuid: maybe(fc.constantFrom("zzzzz-4zz18-0123456789abcde", "zzzzz-j7d0g-0123456789abcde")),
  path: maybe(pathLike),
  writable: maybe(fc.boolean()),
  source: maybe(pathLike),
  content: anyJson,
  exclude_from_output: anyJson,
  sizee: anyJson,
}, { requiredKeys: [] });

const jobLike = fc.record({
  uuid: maybe(fc.constantFrom("j1", "j1", "j1", "a/b", "..", "x".repeat(256))),
  container_image: maybe(
    fc.constantFrom(
      "busybox.tar",
      "keep:" + PDH,
      "keep:nope",
      "",
      "docker://busybox",
      "docker://Bad:",
      "docker://",
    ),
  ),
  command: maybe(
    fc.array(fc.string({ unit: "binary", minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 3 }),
  ),
  cwd: maybe(pathLike),
  // Mostly plausible names, so that most structures get past the environment to the mounts and constraints.
  environment: maybe(fc.dictionary(
    fc.oneof(
      { arbitrary: fc.constantFrom("LANG", "THREADS", "X_1"), weight: 6 },
      { arbitrary: fc.string({ unit: "binary", maxLength: 6 }), weight: 1 },
    ),
    maybe(fc.string()),
    { maxKeys: 3 },
  )),
  output_path: maybe(fc.oneof({ arbitrary: fc.constant("/out"), weight: 4 }, pathLike)),
  mounts: maybe(fc.dictionary(target, maybe(mount), { minKeys: 1, maxKeys: 5 })),
  runtime_constraints: maybe(fc.record({
    vcpus: maybe(num),
    ram: maybe(num),
    gpu: maybe(fc.record({ stack: maybe(fc.constantFrom("cuda", "rocm", "")), device_count: maybe(num) })),
    cuda: maybe(fc.record({ device_count: maybe(num) })),
    API: maybe(fc.boolean()),
    keep_cache_ram: anyJson,
  }, { requiredKeys: [] })),
  scheduling_parameters: maybe(
    fc.record({ max_run_time: maybe(num), partitions: anyJson }, { requiredKeys: [] }),
  ),
  secret_mounts: maybe(fc.dictionary(target, maybe(mount), { maxKeys: 3 })),
  state: anyJson,
}, { requiredKeys: ["uuid", "container_image", "command", "output_path", "mounts"] });

Deno.test("parseJobBytes() on random bytes throws nothing but JobFileError", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
      onlyJobFileErrors(() => parseJobBytes(bytes, "random.json"));
    }),
    { numRuns: 500 },
  );
});

Deno.test("parseJob() on random strings and random JSON text throws nothing but JobFileError", () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ unit: "binary" }), fc.json()), (text) => {
      onlyJobFileErrors(() => parseJob(text, "random.json"));
    }),
    { numRuns: 500 },
  );
});

Deno.test("parseJob() on random job-shaped structures throws nothing but JobFileError", () => {
  const fields = new Set<string>();
  fc.assert(
    fc.property(jobLike, (job) => {
      const result = onlyJobFileErrors(() =>
        parseJob(serializeJsonContent(job as JsonValue), "/jobs/random.json")
      );
      if (result instanceof JobFileError) fields.add(result.field.replace(/\[.*?\]/g, "[]"));
    }),
    { numRuns: 1000 },
  );
  // The structures reach past the first fields into mounts and constraints.
  ok([...fields].some((f) => f.startsWith("mounts[]")), [...fields].join(" "));
  ok([...fields].some((f) => f.startsWith("runtime_constraints")), [...fields].join(" "));
});

/** Every path (as a list of keys) to a value inside `v`. */
function paths(v: unknown, prefix: string[] = []): string[][] {
  const out = [prefix];
  if (v !== null && typeof v === "object") {
    for (const [k, child] of Object.entries(v)) out.push(...paths(child, [...prefix, k]));
  }
  return out;
}

Deno.test("parseJob() on a valid job with one nested value replaced throws nothing but JobFileError", () => {
  const base = JSON.parse(fullText);
  const all = paths(base).filter((p) => p.length > 0);
  let accepted = 0;
  let refused = 0;
  fc.assert(
    fc.property(fc.constantFrom(...all), anyJson, (path, value) => {
      const job = structuredClone(base);
      let at = job;
      for (const k of path.slice(0, -1)) at = at[k];
      at[path[path.length - 1]] = value;
      const result = onlyJobFileErrors(() => parseJob(serializeJsonContent(job), "/jobs/full.json"));
      if (result instanceof JobFileError) refused++;
      else accepted++;
    }),
    { numRuns: 1000 },
  );
  // Some replacements are harmless (content, ignored fields), most are not: both outcomes must occur.
  ok(accepted > 0 && refused > 0, `accepted ${accepted}, refused ${refused}`);
});

Deno.test("parseJob() on a valid job with one field replaced throws nothing but JobFileError", () => {
  const base = JSON.parse(fullText) as Record<string, unknown>;
  const keys = Object.keys(base);
  fc.assert(
    fc.property(fc.constantFrom(...keys), anyJson, (key, value) => {
      const job = { ...base, [key]: value } as JsonValue;
      onlyJobFileErrors(() => parseJob(serializeJsonContent(job), "/jobs/full.json"));
    }),
    { numRuns: 500 },
  );
});

Deno.test("parseJob() on a valid job text with random edits throws nothing but JobFileError", () => {
  const edit = fc.tuple(fc.nat({ max: fullText.length }), fc.nat({ max: 4 }), fc.string({ maxLength: 3 }));
  fc.assert(
    fc.property(fc.array(edit, { minLength: 1, maxLength: 4 }), (edits) => {
      let text = fullText;
      for (const [at, remove, insert] of edits) text = text.slice(0, at) + insert + text.slice(at + remove);
      onlyJobFileErrors(() => parseJob(text, "/jobs/full.json"));
    }),
    { numRuns: 1000 },
  );
});
