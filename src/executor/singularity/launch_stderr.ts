/**
 * The engine's stderr, split at the launch script's verdict line (see `launch_script.ts`): what comes before it is
 * the runtime's (each line goes to the job log, the last few are kept for an error message), the verdict line
 * itself is consumed, and every byte after it is the container's and is piped to the container's stderr sink,
 * byte-exact and with backpressure.
 *
 * @module
 */

import type { LogFn } from "../types.ts";
import { LAUNCH_VERDICTS, type LaunchVerdict } from "./launch_script.ts";

/** How many of the runtime's last lines are kept for an error message. */
const KEPT_LINES = 40;
/** A runtime line longer than this is cut (the runtime never writes such lines; a bound on memory). */
const MAX_LINE = 64 * 1024;

/** Removes terminal colour codes (the runtimes colour `FATAL:` and `WARNING:` on a terminal). */
function plain(line: string): string {
  // deno-lint-ignore no-control-regex
  return line.replace(/\x1b\[[0-9;]*m/g, "").replace(/\r$/, "");
}

function indexOf(haystack: Uint8Array, needle: Uint8Array, from = 0): number {
  outer: for (let i = from; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The splitter; pipe the engine's stderr into {@link LaunchStderr.writable}. */
export class LaunchStderr {
  /** Where the engine's stderr goes. Closing it closes the container's sink. */
  readonly writable: WritableStream<Uint8Array>;
  /** Settles with the verdict once its line has been read, or null when the stream ended without one. */
  readonly verdict: Promise<LaunchVerdict | null>;
  /** What follows the verdict word on its line (the bind of `no-bind`); "" when nothing does. */
  detail = "";
  readonly #token: Uint8Array;
  readonly #log: LogFn;
  readonly #lines: string[] = [];
  #pending: Uint8Array = new Uint8Array(0);
  #decided: LaunchVerdict | null = null;
  #resolve!: (v: LaunchVerdict | null) => void;

  /**
   * @param token The verdict token.
   * @param sink The container's stderr; closed when the engine's stderr ends (or aborted when it fails).
   * @param log Receives each runtime line, prefixed with `prefix`.
   * @param prefix For example `singularity: `.
   */
  constructor(token: string, sink: WritableStream<Uint8Array>, log: LogFn, prefix: string) {
    this.#token = new TextEncoder().encode(token);
    this.#log = (line) => log(`${prefix}${line}`);
    this.verdict = new Promise((resolve) => this.#resolve = resolve);
    const writer = sink.getWriter();
    this.writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        if (this.#decided !== null) {
          await writer.write(chunk);
          return;
        }
        const rest = this.#scan(chunk);
        if (rest !== null && rest.length > 0) await writer.write(rest);
      },
      close: async () => {
        if (this.#decided === null) this.#flushRuntime(true);
        this.#resolve(this.#decided);
        await writer.close();
      },
      abort: async (reason) => {
        this.#resolve(this.#decided);
        await writer.abort(reason);
      },
    });
  }

  /** The runtime's last lines before the verdict (at most 40), colour codes removed. */
  get runtimeLines(): readonly string[] {
    return this.#lines;
  }

  /**
   * The runtime's own error line: its last `FATAL`/`ERROR`/`Error` line, else its last `WARNING` line, else its last
   * non-empty line, else "".
   */
  errorLine(): string {
    const lines = this.#lines.map((l) => l.trim()).filter((l) => l !== "");
    return lines.findLast((l) => /^(FATAL|ERROR|Error)\b/.test(l)) ??
      lines.findLast((l) => /^WARNING\b/.test(l)) ??
      lines.at(-1) ?? "";
  }

  #keep(line: string): void {
    const text = plain(line);
    this.#log(text);
    this.#lines.push(text);
    if (this.#lines.length > KEPT_LINES) this.#lines.shift();
  }

  /** Logs the complete lines of the pending runtime text (all of it when `all`), keeping what may be a token. */
  #flushRuntime(all: boolean): void {
    const text = this.#pending;
    let start = 0;
    for (let nl = text.indexOf(10); nl !== -1; nl = text.indexOf(10, start)) {
      this.#keep(new TextDecoder().decode(text.subarray(start, nl)));
      start = nl + 1;
    }
    let rest = text.subarray(start);
    if (all && rest.length > 0) {
      this.#keep(new TextDecoder().decode(rest));
      rest = new Uint8Array(0);
    } else if (rest.length > MAX_LINE) {
      this.#keep(new TextDecoder().decode(rest.subarray(0, rest.length - this.#token.length)));
      rest = rest.slice(rest.length - this.#token.length);
    }
    this.#pending = rest.slice();
  }

  /** Scans runtime text for the verdict; returns the container's bytes after it, or null while undecided. */
  #scan(chunk: Uint8Array): Uint8Array | null {
    const buf = concat(this.#pending, chunk);
    const at = indexOf(buf, this.#token);
    if (at === -1) {
      this.#pending = buf;
      this.#flushRuntime(false);
      return null;
    }
    const eol = buf.indexOf(10, at);
    if (eol === -1) {
      // The verdict line is not complete yet: keep it whole, log what came before it.
      this.#pending = buf.subarray(0, at);
      this.#flushRuntime(true);
      this.#pending = buf.slice(at);
      return null;
    }
    this.#pending = buf.subarray(0, at);
    this.#flushRuntime(true);
    const line = new TextDecoder().decode(buf.subarray(at + this.#token.length, eol)).replace(/^ /, "");
    const space = line.indexOf(" ");
    const word = space === -1 ? line.trim() : line.slice(0, space);
    const verdict = LAUNCH_VERDICTS.find((v) => v === word);
    this.detail = space === -1 ? "" : line.slice(space + 1);
    if (verdict === undefined) {
      // Not a verdict after all (cannot happen with berth's script): treat it as runtime text.
      this.#keep(new TextDecoder().decode(buf.subarray(at, eol)));
      this.#pending = new Uint8Array(0);
      return this.#scan(buf.slice(eol + 1));
    }
    this.#decided = verdict;
    this.#resolve(verdict);
    return buf.slice(eol + 1);
  }
}
