/**
 * The container's stdio files, with one owner: a {@link StdioFiles} opens them, hands the executor a sink per
 * output stream and a readable stdin, and closes every file itself, on every path.
 *
 * - stdout/stderr go to `logs/stdout.txt` and `logs/stderr.txt`, every line timestamped, or, for a `stdout` or
 *   `stderr` file mount, raw into that file under `output/`.
 * - The sinks never reject a write. A file that cannot be written (typically a full work dir) is reported once
 *   through `onFailure` and the rest of that stream is read and dropped, so the container is never blocked and the
 *   executor never mistakes the work dir's problem for the engine's. The runner then stops the container and fails
 *   the job: losing output is never silent.
 * - The executor closes a sink when its stream ends (that is how the end of the stream is signalled); a sink it
 *   never took is closed by {@link StdioFiles.close}, which also bounds how long the last bytes may take to reach
 *   their files.
 * @module
 */

import { createTimestamper } from "../logs/mod.ts";
import { type Clock, REAL_CLOCK, settlesWithin } from "./deadline.ts";
import type { StdinSource } from "./mounts.ts";

/** A file the output is written to (an open `Deno.FsFile` in production). */
export interface OutputFile {
  /** Writes some of `data`; returns how many bytes were written. */
  write(data: Uint8Array): Promise<number>;
  /** Closes the file. */
  close(): void;
}

/** Where the container's stdio goes. */
export interface StdioTargets {
  /** The container's stdin. */
  stdin: StdinSource;
  /** A raw file under `output/` for a `stdout` file mount, or null for the timestamped `stdoutLog`. */
  stdoutFile: string | null;
  /** Likewise for stderr. */
  stderrFile: string | null;
  /** `logs/stdout.txt`. */
  stdoutLog: string;
  /** `logs/stderr.txt`. */
  stderrLog: string;
}

/** What {@link StdioFiles.open} needs besides the targets. */
export interface StdioOptions {
  /** Called once, on the first byte the container writes to stdout or stderr. */
  onFirstByte?: () => void;
  /** Called once per file that cannot be written, with its path and the error. */
  onFailure: (path: string, error: unknown) => void;
  /** The clock bounding {@link StdioFiles.close}. @default {@link REAL_CLOCK} */
  clock?: Clock;
  /** Opens an output file (tests inject failures here). @default `Deno.open` for writing, truncating */
  openFile?: (path: string) => Promise<OutputFile>;
}

/** A file that could not be written. */
export interface StdioFailure {
  /** Its path. */
  path: string;
  /** The first error. */
  error: unknown;
}

function openForWriting(path: string): Promise<OutputFile> {
  return Deno.open(path, { write: true, create: true, truncate: true });
}

/** The container's stdin, stdout and stderr files; see the module doc. */
export class StdioFiles {
  /** The container's stdin, or null for none (EOF at once). */
  readonly stdin: ReadableStream<Uint8Array> | null;
  /** The sink for the container's stdout. */
  readonly stdout: WritableStream<Uint8Array>;
  /** The sink for the container's stderr. */
  readonly stderr: WritableStream<Uint8Array>;
  readonly #files: Array<OutputFile | Deno.FsFile>;
  readonly #pipes: Promise<void>[];
  readonly #clock: Clock;
  #failure: StdioFailure | null = null;

  private constructor(
    parts: {
      stdin: ReadableStream<Uint8Array> | null;
      stdout: WritableStream<Uint8Array>;
      stderr: WritableStream<Uint8Array>;
      files: Array<OutputFile | Deno.FsFile>;
      pipes: Promise<void>[];
    },
    clock: Clock,
  ) {
    this.stdin = parts.stdin;
    this.stdout = parts.stdout;
    this.stderr = parts.stderr;
    this.#files = parts.files;
    this.#pipes = parts.pipes;
    this.#clock = clock;
  }

  /**
   * Opens the files. On failure, whatever was opened is closed again before the error is thrown.
   * @throws the file system's error when a file cannot be opened.
   */
  static async open(targets: StdioTargets, options: StdioOptions): Promise<StdioFiles> {
    const files: Array<OutputFile | Deno.FsFile> = [];
    const pipes: Promise<void>[] = [];
    const open = options.openFile ?? openForWriting;
    let self: StdioFiles | null = null;
    let firstByte = options.onFirstByte;
    const record = (path: string, error: unknown) => {
      if (self && self.#failure === null) self.#failure = { path, error };
      options.onFailure(path, error);
    };
    const sink = async (raw: string | null, logPath: string): Promise<WritableStream<Uint8Array>> => {
      const path = raw ?? logPath;
      const file = await open(path);
      files.push(file);
      let failed = false;
      const writer = new WritableStream<Uint8Array>({
        async write(chunk) {
          if (failed || chunk.length === 0) return;
          if (firstByte) {
            const f = firstByte;
            firstByte = undefined;
            f();
          }
          try {
            for (let off = 0; off < chunk.length;) off += await file.write(chunk.subarray(off));
          } catch (err) {
            failed = true;
            record(path, err);
          }
        },
      });
      if (raw !== null) return writer;
      const stamp = createTimestamper();
      pipes.push(stamp.readable.pipeTo(writer).catch(() => {/* the executor aborted the sink */}));
      return stamp.writable;
    };
    try {
      let stdin: ReadableStream<Uint8Array> | null = null;
      const source = targets.stdin;
      if (source.kind === "bytes") stdin = ReadableStream.from([source.data]);
      if (source.kind === "file") {
        const file = await Deno.open(source.path, { read: true });
        files.push(file);
        stdin = file.readable;
      }
      const stdout = await sink(targets.stdoutFile, targets.stdoutLog);
      const stderr = await sink(targets.stderrFile, targets.stderrLog);
      self = new StdioFiles({ stdin, stdout, stderr, files, pipes }, options.clock ?? REAL_CLOCK);
      return self;
    } catch (err) {
      for (const f of files) closeQuietly(f);
      throw err;
    }
  }

  /** The first file that could not be written, or null. */
  get failure(): StdioFailure | null {
    return this.#failure;
  }

  /**
   * Closes the sinks the executor never took, waits at most `ms` for the last bytes to reach their files, and
   * closes every file. Idempotent.
   * @returns true when every stream ended and reached its file; false when the wait was cut short (a sink the
   *   executor never closed: what it had not passed on yet is not in the files).
   */
  async close(ms: number): Promise<boolean> {
    for (const sink of [this.stdout, this.stderr]) {
      if (!sink.locked) await sink.close().catch(() => {});
    }
    if (this.stdin && !this.stdin.locked) await this.stdin.cancel().catch(() => {});
    const ended = await settlesWithin(Promise.allSettled(this.#pipes), ms, this.#clock);
    for (const f of this.#files.splice(0)) closeQuietly(f);
    return ended;
  }
}

function closeQuietly(file: { close(): void }): void {
  try {
    file.close();
  } catch { /* closed by its stream already */ }
}
