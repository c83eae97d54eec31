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

/** Creates a transform that prefixes each line of the byte stream with `<timestamp> `. */
export function createTimestamper(options: TimestamperOptions = {}): TransformStream<Uint8Array, Uint8Array> {
  const clock = options.clock ?? defaultClock;
  let atLineStart = true;
  return new TransformStream({
    transform(chunk, controller) {
      let start = 0;
      while (start < chunk.length) {
        if (atLineStart) {
          controller.enqueue(encoder.encode(clock() + " "));
          atLineStart = false;
        }
        const nl = chunk.indexOf(NL, start);
        if (nl < 0) {
          controller.enqueue(chunk.subarray(start));
          return;
        }
        controller.enqueue(chunk.subarray(start, nl + 1));
        atLineStart = true;
        start = nl + 1;
      }
    },
  });
}

/** Prefixes every line of a complete text message with a timestamp; ensures it ends with a newline. */
export function timestampLines(message: string, clock: () => string = defaultClock): string {
  const text = message.endsWith("\n") ? message.slice(0, -1) : message;
  const ts = clock();
  return text.split("\n").map((line) => `${ts} ${line}\n`).join("");
}
