/**
 * A byte stream transform that starts every line with a timestamp and one space, as crunch-run's log files do.
 *
 * A write that ends in the middle of a line leaves the next write unprefixed: a partial line never gets a second
 * timestamp. Bytes are passed through untouched otherwise (no decoding, so binary output is kept exactly).
 *
 * @module
 */

import { timestamp as defaultClock } from "./timestamp.ts";

const NL = 0x0a;
const encoder = new TextEncoder();

/** Options for {@link createTimestamper}. */
export interface TimestamperOptions {
  /** Returns the timestamp text for "now"; injectable for tests. @default the real UTC clock */
  clock?: () => string;
}

/**
 * Creates a transform that prefixes each line of the byte stream with `<timestamp> `.
 *
 * Lines that arrive in the same chunk share one timestamp (they arrived together), and each input chunk becomes
 * one output chunk, so output with many short lines costs one copy per chunk rather than work per line.
 */
export function createTimestamper(options: TimestamperOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const clock = options.clock ?? defaultClock;
  let atLineStart = true;
  return new TransformStream({
    transform(chunk, controller) {
      if (chunk.length === 0) return;
      const leading = atLineStart;
      const starts = countInner(chunk) + (leading ? 1 : 0);
      atLineStart = chunk[chunk.length - 1] === NL;
      if (starts === 0) {
        controller.enqueue(chunk);
        return;
      }
      const prefix = encoder.encode(clock() + " ");
      const out = new Uint8Array(chunk.length + starts * prefix.length);
      let o = 0;
      if (leading) {
        out.set(prefix, 0);
        o = prefix.length;
      }
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(NL, start);
        if (nl < 0 || nl === chunk.length - 1) {
          out.set(chunk.subarray(start), o);
          break;
        }
        out.set(chunk.subarray(start, nl + 1), o);
        o += nl + 1 - start;
        out.set(prefix, o);
        o += prefix.length;
        start = nl + 1;
      }
      controller.enqueue(out);
    },
  });
}

/** The number of "\n" bytes in `chunk` that are followed by more bytes of the same chunk. */
function countInner(chunk: Uint8Array): number {
  let n = 0;
  for (let i = chunk.indexOf(NL); i >= 0 && i < chunk.length - 1; i = chunk.indexOf(NL, i + 1)) n++;
  return n;
}

/** Prefixes every line of a complete text message with a timestamp; ensures it ends with a newline. */
export function timestampLines(message: string, clock: () => string = defaultClock): string {
  const text = message.endsWith("\n") ? message.slice(0, -1) : message;
  const ts = clock();
  return text.split("\n").map((line) => `${ts} ${line}\n`).join("");
}
