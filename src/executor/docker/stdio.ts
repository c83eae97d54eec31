/**
 * Moves a container's stdio over a hijacked attach connection: stdin from a web stream into the connection and
 * then a half-close (the container sees EOF), and the framed stdout/stderr from the connection into the spec's
 * sinks, honouring their backpressure.
 *
 * The two directions run concurrently: writing all of stdin before reading any output would deadlock a container
 * that echoes its input.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import type { LogFn } from "../types.ts";
import { FrameDemuxer, FrameFormatError } from "./frames.ts";

const decoder = new TextDecoder();
const MAX_SYSTEM_MESSAGE = 4096;
/** The one buffer stdin is copied through, when its source is a byte stream (a file). */
const STDIN_BUFFER_BYTES = 256 * 1024;

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

/**
 * The chunks of `source`. A byte stream (a file's `readable`) is read into one buffer, used again for every
 * chunk once the previous one was written: gigabytes of stdin then leave no garbage behind, so berth's memory
 * stays flat (#17). Any other stream is read chunk by chunk.
 */
async function* chunksOf(
  reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>,
): AsyncGenerator<Uint8Array> {
  if (!(reader instanceof ReadableStreamBYOBReader)) {
    while (true) {
      const { done, value } = await reader.read();
      if (done) return;
      yield value;
    }
  }
  let buf = new Uint8Array(STDIN_BUFFER_BYTES);
  while (true) {
    const { done, value } = await reader.read(buf);
    if (done || value === undefined) return;
    yield value; // the caller writes it before asking for the next chunk
    buf = new Uint8Array(value.buffer);
  }
}

/** A BYOB reader for a byte stream, else a default reader. */
function readerOf(
  source: ReadableStream<Uint8Array>,
): ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array> {
  try {
    return source.getReader({ mode: "byob" });
  } catch {
    return source.getReader();
  }
}

/**
 * Copies `source` (or nothing, when null) into the connection, then half-closes it so the container reads EOF.
 * A write failure (the container exited without reading everything, or was removed) ends the copy: it is
 * logged, the source is cancelled, and the promise still resolves.
 */
export async function pumpStdin(
  source: ReadableStream<Uint8Array> | null,
  conn: Deno.UnixConn,
  log: LogFn,
): Promise<void> {
  if (source) {
    const reader = readerOf(source);
    try {
      for await (const chunk of chunksOf(reader)) await writeAll(conn, chunk);
    } catch (err) {
      log(`Stopped writing to the container's stdin: ${err instanceof Error ? err.message : String(err)}`);
      await reader.cancel(err).catch(() => {});
      return;
    } finally {
      reader.releaseLock();
    }
  }
  try {
    await conn.closeWrite();
  } catch {
    // The connection is already gone: the container has exited or was removed.
  }
}

/**
 * Demultiplexes the attach stream into the two sinks until the stream ends, then closes both sinks.
 *
 * A sink that fails is not written to again, but the stream is still read to the end so the container is never
 * blocked on a full pipe.
 * @returns null when every byte reached its sink, else the error to report once the container has exited.
 */
export async function pumpOutput(
  chunks: AsyncIterable<Uint8Array>,
  stdout: WritableStream<Uint8Array>,
  stderr: WritableStream<Uint8Array>,
  log: LogFn,
): Promise<EngineError | null> {
  const writers = { stdout: stdout.getWriter(), stderr: stderr.getWriter() };
  const failed: { stdout?: unknown; stderr?: unknown } = {};
  const demux = new FrameDemuxer();
  let system = "";
  let problem: EngineError | null = null;
  try {
    for await (const chunk of chunks) {
      for (const seg of demux.push(chunk)) {
        if (seg.stream === "system") {
          if (system.length < MAX_SYSTEM_MESSAGE) system += decoder.decode(seg.data);
          continue;
        }
        if (failed[seg.stream] !== undefined) continue;
        try {
          await writers[seg.stream].write(seg.data);
        } catch (err) {
          failed[seg.stream] = err;
          problem ??= new EngineError(
            `Cannot copy the container's ${seg.stream}: ${err instanceof Error ? err.message : String(err)}`,
            { cause: err },
          );
        }
      }
    }
    if (!demux.atBoundary) log("The container's output stream ended in the middle of a frame");
  } catch (err) {
    if (err instanceof FrameFormatError) {
      const text = decoder.decode(err.rest).replace(/\s+/g, " ").trim();
      problem ??= new EngineError(`The engine broke off the container's output stream: ${text}`);
    } else {
      problem ??= new EngineError(
        `Cannot read the container's output: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  } finally {
    for (const name of ["stdout", "stderr"] as const) {
      const writer = writers[name];
      if (failed[name] !== undefined) await writer.abort(failed[name]).catch(() => {});
      else await writer.close().catch(() => {});
      writer.releaseLock();
    }
  }
  if (system.trim() !== "") {
    log(`The engine reported on the output stream: ${system.trim()}`);
    problem ??= new EngineError(
      `The engine reported an error on the container's output stream: ${system.trim()}`,
    );
  }
  return problem;
}
