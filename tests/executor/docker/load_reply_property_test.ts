import fc from "fast-check";
import { assert } from "../../helpers/assert.ts";
import { readLoadReply } from "../../../src/executor/docker/load_reply.ts";
import { BerthError } from "../../../src/errors.ts";

/** Splits `bytes` at the given cut points into a stream. */
function chunked(bytes: Uint8Array, cuts: number[]): ReadableStream<Uint8Array> {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const p of points) {
    parts.push(bytes.subarray(at, p));
    at = p;
  }
  parts.push(bytes.subarray(at));
  return ReadableStream.from(parts);
}

/** readLoadReply() may answer, or throw a berth error; anything else (a TypeError, a hang) fails. */
async function onlyTypedOutcomes(bytes: Uint8Array, cuts: number[]): Promise<void> {
  try {
    const reply = await readLoadReply(chunked(bytes, cuts));
    assert(Array.isArray(reply.messages));
    assert(reply.error === null || typeof reply.error === "string");
  } catch (err) {
    assert(err instanceof BerthError, `unexpected ${err instanceof Error ? err.stack : String(err)}`);
  }
}

Deno.test("readLoadReply() gives a reply or a berth error for random bytes in random chunks", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ maxLength: 2048 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      onlyTypedOutcomes,
    ),
    { numRuns: 500 },
  );
});

Deno.test("readLoadReply() gives a reply or a berth error for random JSON lines in random chunks", async () => {
  const line = fc.oneof(
    fc.json(),
    fc.record({ stream: fc.string() }).map((o) => JSON.stringify(o)),
    fc.record({ error: fc.string(), errorDetail: fc.record({ message: fc.string() }) }).map((o) =>
      JSON.stringify(o)
    ),
    fc.string(),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(line, { maxLength: 30 }),
      fc.array(fc.nat(), { maxLength: 20 }),
      (lines, cuts) => onlyTypedOutcomes(new TextEncoder().encode(lines.join("\n")), cuts),
    ),
    { numRuns: 300 },
  );
});
