/**
 * Demultiplexes the framed stdout/stderr stream of a non-TTY attach: each frame is an 8-byte header
 * `{type, 0, 0, 0, size (uint32 big-endian)}` followed by `size` bytes. Type 1 is stdout, 2 stderr, 0 (stdin
 * echoed) is treated as stdout, 3 carries an error message of the engine.
 *
 * {@link FrameDemuxer} is a pure state machine fed with chunks of any size (frames split across reads, several
 * frames in one read); payload bytes are handed out as soon as they arrive, so a large frame is never buffered.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";

/** Where a payload segment belongs. */
export type FrameStream = "stdout" | "stderr" | "system";

/** A piece of a frame's payload. */
export interface FrameSegment {
  /** The stream the bytes belong to. */
  stream: FrameStream;
  /** The bytes (a view into the chunk that was pushed). */
  data: Uint8Array;
}

/** Frame header size in bytes. */
export const FRAME_HEADER_SIZE = 8;

/** Thrown by {@link FrameDemuxer.push} when the bytes at a frame boundary are not a frame header. */
export class FrameFormatError extends EngineError {
  /** The bytes from the bad header onward in the chunk that held it (up to 4 KiB), for the error message. */
  readonly rest: Uint8Array;
  /** Keeps `rest` (the bytes from the bad header onward) for the message. */
  constructor(rest: Uint8Array) {
    super(`The attach stream holds an invalid frame header`);
    this.rest = rest;
  }
}

function streamOf(type: number): FrameStream | null {
  switch (type) {
    case 0:
    case 1:
      return "stdout";
    case 2:
      return "stderr";
    case 3:
      return "system";
    default:
      return null;
  }
}

/** Incremental frame parser. Feed chunks with {@link push}; check {@link atBoundary} at end of stream. */
export class FrameDemuxer {
  #header = new Uint8Array(FRAME_HEADER_SIZE);
  #headerFill = 0;
  #remaining = 0;
  #stream: FrameStream = "stdout";

  /** True when no frame is partly read: the stream may end here without losing bytes. */
  get atBoundary(): boolean {
    return this.#headerFill === 0 && this.#remaining === 0;
  }

  /**
   * Consumes one chunk and returns the payload segments it completes or continues, in order.
   * @throws {FrameFormatError} when a frame header has an unknown stream type (for example an HTTP error line
   * the engine wrote on the hijacked connection).
   */
  push(chunk: Uint8Array): FrameSegment[] {
    const out: FrameSegment[] = [];
    let at = 0;
    while (at < chunk.length) {
      if (this.#remaining > 0) {
        const n = Math.min(this.#remaining, chunk.length - at);
        out.push({ stream: this.#stream, data: chunk.subarray(at, at + n) });
        this.#remaining -= n;
        at += n;
        continue;
      }
      const n = Math.min(FRAME_HEADER_SIZE - this.#headerFill, chunk.length - at);
      this.#header.set(chunk.subarray(at, at + n), this.#headerFill);
      this.#headerFill += n;
      at += n;
      if (this.#headerFill < FRAME_HEADER_SIZE) break;
      this.#headerFill = 0;
      const stream = streamOf(this.#header[0]);
      if (stream === null) {
        throw new FrameFormatError(new Uint8Array([...this.#header, ...chunk.subarray(at, at + 4096)]));
      }
      this.#stream = stream;
      this.#remaining = new DataView(this.#header.buffer).getUint32(4, false);
    }
    return out;
  }
}
