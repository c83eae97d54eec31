import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { createTimestamper, formatTimestamp, Logger, timestamp, timestampLines } from "../../src/logs/mod.ts";

const TS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

Deno.test("formatTimestamp() writes exactly nine fractional digits and a Z", () => {
  assertEquals(formatTimestamp(1795432147123456789n), "2026-11-23T11:09:07.123456789Z");
  assertEquals(formatTimestamp(1795432147000000000n), "2026-11-23T11:09:07.000000000Z");
  assertEquals(formatTimestamp(1795432147000000001n), "2026-11-23T11:09:07.000000001Z");
});

Deno.test("timestamp() has the fixed-width UTC form and does not go backwards", () => {
  let last = "";
  for (let i = 0; i < 2000; i++) {
    const t = timestamp();
    assertMatch(t, TS);
    assert(t >= last, `${t} < ${last}`);
    last = t;
  }
});

async function runThrough(chunks: string[]): Promise<string> {
  let n = 0;
  const ts = createTimestamper({ clock: () => `T${n++}` });
  const writer = ts.writable.getWriter();
  const out = new Response(ts.readable).text();
  for (const c of chunks) await writer.write(new TextEncoder().encode(c));
  await writer.close();
  return await out;
}

Deno.test("createTimestamper() prefixes each line once, also across split writes", async () => {
  // Lines that arrive in one chunk share that chunk's timestamp.
  assertEquals(await runThrough(["a\nb\n"]), "T0 a\nT0 b\n");
  assertEquals(await runThrough(["a\n", "b\n"]), "T0 a\nT1 b\n");
  assertEquals(await runThrough(["par", "tial\nnext"]), "T0 partial\nT1 next");
  assertEquals(await runThrough(["par", "tial\n", "next"]), "T0 partial\nT1 next");
  assertEquals(await runThrough(["\n\n"]), "T0 \nT0 \n");
  assertEquals(await runThrough(["x", "", "y\n", "z"]), "T0 xy\nT1 z");
});

Deno.test("createTimestamper() output equals a line-by-line reference for random chunkings", async () => {
  const text = "alpha\n\nbeta gamma\ndelta\nno newline at end";
  for (let round = 0; round < 200; round++) {
    const chunks: string[] = [];
    for (let i = 0; i < text.length;) {
      const n = 1 + Math.floor(Math.random() * 8);
      chunks.push(text.slice(i, i + n));
      i += n;
    }
    const out = await runThrough(chunks);
    // Remove the timestamps: what remains is the input, and each line got exactly one.
    assertEquals(out.replace(/(^|\n)T\d+ /g, "$1"), text);
    assertEquals(out.split("\n").filter((l) => /^T\d+ /.test(l)).length, text.split("\n").length);
  }
});

Deno.test("createTimestamper() keeps binary bytes exactly", async () => {
  const bytes = new Uint8Array(256).map((_, i) => i);
  const ts = createTimestamper({ clock: () => "T" });
  const out = new Response(ts.readable).arrayBuffer();
  const w = ts.writable.getWriter();
  await w.write(bytes);
  await w.close();
  const got = new Uint8Array(await out);
  // "T " before byte 0, and again after the newline byte 0x0a.
  assertEquals(got.length, 256 + 4);
  assertEquals(Array.from(got.subarray(2, 13)), Array.from(bytes.subarray(0, 11)));
  assertEquals(Array.from(got.subarray(15)), Array.from(bytes.subarray(11)));
});

Deno.test("timestampLines() stamps every line of a multi-line message", () => {
  assertEquals(timestampLines("one\ntwo", () => "T"), "T one\nT two\n");
  assertEquals(timestampLines("x\n", () => "T"), "T x\n");
});

Deno.test("Logger writes timestamped lines to its file and mirrors them with a prefix", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = await Deno.open(`${dir}/crunch-run.txt`, { write: true, create: true });
    const mirrored: string[] = [];
    const mirror = {
      writeSync(d: Uint8Array) {
        mirrored.push(new TextDecoder().decode(d));
        return d.length;
      },
    };
    const logger = new Logger(file, { mirror, mirrorPrefix: "job-1 ", clock: () => "T" });
    logger.addFilter((t) => t.replaceAll("s3cr3t", "<redacted>"));
    logger.log("hello\nworld s3cr3t");
    logger.closeFile();
    logger.log("after close");
    assertEquals(await Deno.readTextFile(`${dir}/crunch-run.txt`), "T hello\nT world <redacted>\n");
    assertEquals(mirrored.join(""), "job-1 T hello\njob-1 T world <redacted>\njob-1 T after close\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
