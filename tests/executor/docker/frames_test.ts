import fc from "fast-check";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { FrameDemuxer, FrameFormatError } from "../../../src/executor/docker/frames.ts";

function frame(type: number, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  out[0] = type;
  new DataView(out.buffer).setUint32(4, payload.length, false);
  out.set(payload, 8);
  return out;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Splits `bytes` at the given cut points (taken modulo the length). */
function chunk(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => bytes.length === 0 ? 0 : c % bytes.length))].sort((a, b) =>
    a - b
  );
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of points) {
    out.push(bytes.subarray(prev, p));
    prev = p;
  }
  out.push(bytes.subarray(prev));
  return out;
}

Deno.test("FrameDemuxer.push() reassembles stdout and stderr byte-exact under any chunking", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.constantFrom(1, 2), fc.uint8Array({ maxLength: 300 })), { maxLength: 20 }),
      fc.array(fc.nat(), { maxLength: 40 }),
      (frames, cuts) => {
        const stream = concat(frames.map(([t, p]) => frame(t, p)));
        const demux = new FrameDemuxer();
        const got = { stdout: [] as Uint8Array[], stderr: [] as Uint8Array[], system: [] as Uint8Array[] };
        for (const c of chunk(stream, cuts)) {
          for (const seg of demux.push(c)) got[seg.stream].push(seg.data.slice());
        }
        assertEquals(demux.atBoundary, true);
        assertEquals(concat(got.stdout), concat(frames.filter(([t]) => t === 1).map(([, p]) => p)));
        assertEquals(concat(got.stderr), concat(frames.filter(([t]) => t === 2).map(([, p]) => p)));
        assertEquals(got.system.length, 0);
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("FrameDemuxer.push() hands out a large frame as it arrives, without waiting for its end", () => {
  const payload = new Uint8Array(100_000).fill(7);
  const bytes = frame(1, payload);
  const demux = new FrameDemuxer();
  const first = demux.push(bytes.subarray(0, 1008));
  assertEquals(first.map((s) => [s.stream, s.data.length]), [["stdout", 1000]]);
  assertEquals(demux.atBoundary, false);
  const rest = demux.push(bytes.subarray(1008));
  assertEquals(rest.reduce((n, s) => n + s.data.length, 0), 99_000);
  assertEquals(demux.atBoundary, true);
});

Deno.test("FrameDemuxer.push() maps type 0 to stdout, 3 to system, and skips empty frames", () => {
  const demux = new FrameDemuxer();
  const enc = new TextEncoder();
  const segs = demux.push(
    concat([frame(0, enc.encode("in")), frame(1, new Uint8Array()), frame(3, enc.encode("oops"))]),
  );
  assertEquals(segs.map((s) => [s.stream, new TextDecoder().decode(s.data)]), [["stdout", "in"], [
    "system",
    "oops",
  ]]);
});

Deno.test("FrameDemuxer.atBoundary is false while a header is split across chunks", () => {
  const demux = new FrameDemuxer();
  assertEquals(demux.push(frame(2, new Uint8Array([1, 2])).subarray(0, 5)), []);
  assertEquals(demux.atBoundary, false);
});

Deno.test("FrameDemuxer.push() rejects an HTTP error line written on the hijacked connection", () => {
  const demux = new FrameDemuxer();
  const err = assertThrows(
    () => demux.push(new TextEncoder().encode("HTTP/1.1 500 Internal Server Error\r\n\r\nboom")),
    FrameFormatError,
  );
  assertEquals(new TextDecoder().decode(err.rest), "HTTP/1.1 500 Internal Server Error\r\n\r\nboom");
});
