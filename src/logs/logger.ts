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

/** The most bytes kept in memory for a log file that cannot be written (a full disk) until it can again. */
export const MAX_PENDING_BYTES = 4 << 20;

function writeAll(sink: { writeSync(data: Uint8Array): number }, data: Uint8Array) {
  let off = 0;
  while (off < data.length) off += sink.writeSync(data.subarray(off));
}

/**
 * A line logger writing to an open file (and an optional mirror). Messages may span several lines.
 *
 * A file write that fails (the work dir's disk is full) loses nothing: the bytes not written, from where the
 * write stopped, wait in memory (up to {@link MAX_PENDING_BYTES}) and go to the file, in order, before the next
 * message or at {@link Logger.flush} / {@link Logger.closeFile} once there is room again (the runner frees its
 * reserve for the final record). The mirror gets every line at once either way.
 */
export class Logger {
  #file: Deno.FsFile | null;
  #mirror: LoggerOptions["mirror"];
  #prefix: string;
  #clock: () => string;
  #filters: ((line: string) => string)[] = [];
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  #dropped = 0;

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

  /** Writes one message, each of its lines timestamped. Never throws (see the class doc for a full disk). */
  log(message: string): void {
    let text = message;
    for (const f of this.#filters) text = f(text);
    const lines = timestampLines(text, this.#clock);
    if (this.#file) {
      const bytes = encoder.encode(lines);
      if (this.#pendingBytes + bytes.length <= MAX_PENDING_BYTES) {
        this.#pending.push(bytes);
        this.#pendingBytes += bytes.length;
      } else {
        this.#dropped++;
      }
      this.flush();
    }
    try {
      if (this.#mirror) {
        const mirrored = this.#prefix === ""
          ? lines
          : lines.replace(/^/gm, this.#prefix).replace(/\n[^\n]*$/, "\n");
        writeAll(this.#mirror, encoder.encode(mirrored));
      }
    } catch { /* stderr closed */ }
  }

  /**
   * Writes what is waiting for the file. Returns true when nothing is left waiting. Never throws.
   */
  flush(): boolean {
    const file = this.#file;
    if (!file) return true;
    try {
      while (this.#pending.length > 0) {
        const chunk = this.#pending[0];
        const n = file.writeSync(chunk);
        this.#pendingBytes -= n;
        if (n >= chunk.length) this.#pending.shift();
        else this.#pending[0] = chunk.subarray(n);
      }
      if (this.#dropped > 0) {
        const note = timestampLines(
          `${this.#dropped} log messages were lost: the log file could not be written and the memory kept ` +
            `for it (${MAX_PENDING_BYTES} bytes) was full`,
          this.#clock,
        );
        this.#dropped = 0;
        writeAll(file, encoder.encode(note));
      }
      return true;
    } catch {
      return false; // the disk is full (or the file gone): what was not written waits for the next try
    }
  }

  /** Writes what is waiting, then stops writing to the file (closing it); later messages go to the mirror only. */
  closeFile(): void {
    this.flush();
    try {
      this.#file?.close();
    } catch { /* already closed */ }
    this.#file = null;
  }
}
