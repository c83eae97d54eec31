/**
 * A request whose body is a whole file (an image tarball for `POST /images/load`), sent over a connection of its
 * own to the engine's socket. The file goes through one buffer, used again for every write, and the engine's
 * answer is read while the body is still being sent (an engine that refuses the upload early is heard).
 *
 * Why not `fetch` with a stream body: every chunk of such a body is a fresh buffer that only the garbage collector
 * frees, and V8 lets some 64 MiB of them pile up before it collects; a 200 MiB image load then lifted berth's peak
 * memory above 100 MiB, and the extra work slowed the load (#17). `fetch` streams a file's own `readable` natively,
 * but then nobody can tell how much of the file the engine took (the progress lines and the stall bound need it).
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import { indexOfHeadEnd, parseResponseHead } from "./hijack.ts";
import { EngineApiError, type EngineTransport, errorMessageOf } from "./transport.ts";

/** The buffer the file is sent through. */
const UPLOAD_BUFFER_BYTES = 256 * 1024;
/** The longest response head accepted. */
const MAX_HEAD_BYTES = 64 * 1024;
/** The longest line of a chunked body's framing (a chunk size with extensions). */
const MAX_CHUNK_LINE = 4096;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The file could not be read while it was being sent; `cause` says why. */
export class FileReadError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "FileReadError";
  }
}

/** Options of {@link uploadFile}. */
export interface UploadOptions {
  /** Query parameters. */
  query?: Record<string, string | number>;
  /** The body's `Content-Type`. */
  contentType: string;
  /** Called after each write with the number of bytes sent so far. */
  onSent?: (sent: number) => void;
  /** Closes the connection: the upload (or the reading of its answer) fails with the signal's reason. */
  signal?: AbortSignal;
  /** Prefix for error messages, e.g. `Image load failed`. */
  context: string;
}

/**
 * Sends `size` bytes of `file` as the body of `POST path` (versioned) and returns the engine's answer once its
 * head arrived; the body of the answer streams from the same connection, which closes when it ends.
 * @throws {EngineApiError} for an answer that is not 2xx (its body read for the message).
 * @throws {FileReadError} when the file could not be read (or ended early).
 * @throws {EngineError} (broken node) when the socket cannot be reached or the engine went away before answering.
 * @throws the signal's reason when it was aborted.
 */
export async function uploadFile(
  api: EngineTransport,
  path: string,
  file: Deno.FsFile,
  size: number,
  o: UploadOptions,
): Promise<Response> {
  let conn: Deno.UnixConn;
  try {
    conn = await Deno.connect({ transport: "unix", path: api.socket });
  } catch (err) {
    throw api.connectionError(err, o.context);
  }
  const close = () => {
    try {
      conn.close();
    } catch { /* already closed */ }
  };
  const abort = () => close();
  o.signal?.addEventListener("abort", abort, { once: true });
  let readError: unknown = null;
  try {
    const query = new URLSearchParams(Object.entries(o.query ?? {}).map(([k, v]) => [k, String(v)]));
    const target = api.versionedPath(path) + (query.size > 0 ? `?${query}` : "");
    await writeAll(
      conn,
      encoder.encode(
        `POST ${target} HTTP/1.1\r\nHost: engine.invalid\r\nUser-Agent: berth\r\n` +
          `Content-Type: ${o.contentType}\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`,
      ),
    );
    const sending = (async () => {
      const buf = new Uint8Array(UPLOAD_BUFFER_BYTES);
      let sent = 0;
      while (sent < size) {
        let n: number | null;
        try {
          n = await file.read(buf.subarray(0, Math.min(buf.length, size - sent)));
          if (n === null) throw new Error(`it ended after ${sent} of ${size} bytes`);
        } catch (err) {
          readError = err;
          close(); // the engine must not take a truncated body for a whole one
          return;
        }
        try {
          await writeAll(conn, buf.subarray(0, n));
        } catch {
          return; // the engine closed the connection: its answer (or its absence) tells why
        }
        sent += n;
        o.onSent?.(sent);
      }
    })();
    let res: Response;
    try {
      res = await readResponse(conn, close);
    } catch (err) {
      await sending;
      if (readError !== null) throw fileReadError(readError);
      if (o.signal?.aborted) throw o.signal.reason;
      if (err instanceof EngineError) throw err;
      throw api.connectionError(err, o.context);
    }
    if (!res.ok) {
      const message = await errorMessageOf(res);
      close();
      throw new EngineApiError(res.status, message, o.context);
    }
    return res;
  } catch (err) {
    close();
    if (readError !== null) throw fileReadError(readError);
    if (o.signal?.aborted) throw o.signal.reason;
    throw err;
  } finally {
    o.signal?.removeEventListener("abort", abort);
  }
}

function fileReadError(cause: unknown): FileReadError {
  return new FileReadError(cause instanceof Error ? cause.message : String(cause), { cause });
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

/** Buffered reads from the connection. */
class WireReader {
  readonly #conn: Deno.UnixConn;
  #buf = new Uint8Array(64 * 1024);
  #start = 0;
  #end = 0;
  constructor(conn: Deno.UnixConn, first?: Uint8Array) {
    this.#conn = conn;
    if (first && first.length > 0) {
      this.#buf.set(first);
      this.#end = first.length;
    }
  }

  /** The bytes buffered so far (at least one more read when none are). Empty at EOF. */
  async peek(): Promise<Uint8Array> {
    if (this.#start === this.#end) {
      this.#start = this.#end = 0;
      const n = await this.#conn.read(this.#buf);
      if (n !== null) this.#end = n;
    }
    return this.#buf.subarray(this.#start, this.#end);
  }

  /** Marks `n` buffered bytes as used. */
  consume(n: number): void {
    this.#start += n;
  }

  /** One line (without CRLF); throws past `max` bytes or at EOF. */
  async line(max: number): Promise<string> {
    let text = "";
    while (true) {
      const part = await this.peek();
      if (part.length === 0) throw new Error("the engine's answer ended in the middle of a line");
      const nl = part.indexOf(10);
      const take = nl < 0 ? part.length : nl + 1;
      text += decoder.decode(part.subarray(0, take));
      this.consume(take);
      if (nl >= 0) return text.replace(/\r?\n$/, "");
      if (text.length > max) {
        throw new EngineError("The engine's answer has a line too long to be HTTP framing");
      }
    }
  }
}

/** Reads the response head from the connection and returns a Response whose body streams the rest. */
async function readResponse(conn: Deno.UnixConn, close: () => void): Promise<Response> {
  const head = new Uint8Array(MAX_HEAD_BYTES);
  let length = 0;
  let end = -1;
  while (end < 0) {
    if (length === head.length) throw new EngineError("The engine's answer has a head over 64 KiB");
    const n = await conn.read(head.subarray(length));
    if (n === null) throw new Error("the engine closed the connection before answering");
    length += n;
    end = indexOfHeadEnd(head, length);
  }
  const parsed = parseResponseHead(decoder.decode(head.subarray(0, end)));
  const reader = new WireReader(conn, head.subarray(end, length));
  const chunked = /\bchunked\b/i.test(parsed.headers.get("transfer-encoding") ?? "");
  const declared = parsed.headers.get("content-length");
  let left = chunked || declared === undefined ? Infinity : Number(declared);
  let chunkLeft = 0;
  let done = false;
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        if (chunked && chunkLeft === 0) {
          const size = parseInt((await reader.line(MAX_CHUNK_LINE)).split(";")[0].trim(), 16);
          if (!Number.isFinite(size)) throw new EngineError("The engine's answer has a bad chunk size");
          if (size === 0) done = true;
          chunkLeft = size;
        }
        if (done || left <= 0) {
          close();
          controller.close();
          return;
        }
        const part = await reader.peek();
        if (part.length === 0) {
          close();
          if (chunked || Number.isFinite(left)) {
            // The engine went away in the middle of its answer: the caller reports the connection as failed.
            controller.error(new Error("the engine's answer ended before its body was complete"));
          } else controller.close();
          return;
        }
        const want = Math.min(part.length, chunked ? chunkLeft : left);
        controller.enqueue(part.slice(0, want));
        reader.consume(want);
        if (!chunked) left -= want;
        else if ((chunkLeft -= want) === 0) await reader.line(MAX_CHUNK_LINE); // the CRLF after the data
      } catch (err) {
        close();
        controller.error(err);
      }
    },
    cancel() {
      close();
    },
  });
  const headers = new Headers([...parsed.headers].filter(([k]) => k !== "transfer-encoding"));
  if (parsed.status < 200 || [204, 205, 304].includes(parsed.status)) {
    close();
    return new Response(null, { status: parsed.status < 200 ? 502 : parsed.status, headers });
  }
  return new Response(body, { status: parsed.status, headers });
}
