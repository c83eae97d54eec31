/**
 * berth's own log (`logs/crunch-run.txt`): one timestamped line per message, written synchronously so that no
 * message is lost when berth is stopped right after logging it, and optionally mirrored to stderr with the job
 * uuid in front (as crunch-run mirrors its log as `<uuid> <timestamp> <message>`).
 *
 * @module
 */

import { timestampLines } from "./timestamper.ts";
import { timestamp } from "./timestamp.ts";

/** Options for {@link Logger}. */
export interface LoggerOptions {
  /** Mirror each line to this sink (normally stderr); null for none. @default null */
  mirror?: { writeSync(data: Uint8Array): number } | null;
  /** Text put before each mirrored line (e.g. the job uuid and a space). @default "" */
  mirrorPrefix?: string;
  /** Returns the timestamp text; injectable for tests. @default the real UTC clock */
  clock?: () => string;
}

const encoder = new TextEncoder();

function writeAll(sink: { writeSync(data: Uint8Array): number }, data: Uint8Array) {
  let off = 0;
  while (off < data.length) off += sink.writeSync(data.subarray(off));
}

/** A line logger writing to an open file (and an optional mirror). Messages may span several lines. */
export class Logger {
  #file: Deno.FsFile | null;
  #mirror: LoggerOptions["mirror"];
  #prefix: string;
  #clock: () => string;
  #filters: ((line: string) => string)[] = [];

  constructor(file: Deno.FsFile | null, options: LoggerOptions = {}) {
    this.#file = file;
    this.#mirror = options.mirror ?? null;
    this.#prefix = options.mirrorPrefix ?? "";
    this.#clock = options.clock ?? timestamp;
  }

  /** Adds a function every message passes through before it is written (used to redact secrets). */
  addFilter(filter: (text: string) => string): void {
    this.#filters.push(filter);
  }

  /** Writes one message, each of its lines timestamped. Never throws: a log that cannot be written is dropped. */
  log(message: string): void {
    let text = message;
    for (const f of this.#filters) text = f(text);
    const lines = timestampLines(text, this.#clock);
    try {
      if (this.#file) writeAll(this.#file, encoder.encode(lines));
    } catch { /* the log file is gone (disk full?): keep going, the mirror may still work */ }
    try {
      if (this.#mirror) {
        const mirrored = this.#prefix === ""
          ? lines
          : lines.replace(/^/gm, this.#prefix).replace(/\n[^\n]*$/, "\n");
        writeAll(this.#mirror, encoder.encode(mirrored));
      }
    } catch { /* stderr closed */ }
  }

  /** Stops writing to the file (closing it); later messages go to the mirror only. */
  closeFile(): void {
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = null;
  }
}
