/**
 * A hijacked HTTP/1.1 connection on a unix socket, for `POST /containers/{id}/attach`: the request and the
 * response head are written and parsed by hand, then the same connection carries the container's raw stdio in
 * both directions. `fetch` cannot do this.
 *
 * The request carries `Connection: Upgrade` and `Upgrade: tcp`; Docker answers `101 UPGRADED`, Podman 4 may
 * answer `200 OK`; both are accepted. Bytes that arrived together with the response head belong to the stream
 * and are kept.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import { describeMs } from "./bounds.ts";
import { EngineApiError, EngineTimeoutError, isPermissionError, statusReason } from "./transport.ts";

const MAX_HEAD_BYTES = 64 * 1024;
const MAX_ERROR_BODY = 64 * 1024;
const READ_SIZE = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** An open hijacked connection. */
export interface HijackedConnection {
  /** The raw connection: write stdin to it, then `closeWrite()`. */
  conn: Deno.UnixConn;
  /** The HTTP status of the upgrade answer (101 or 200). */
  status: number;
  /** The stream bytes from the server, starting with those that arrived together with the response head. */
  chunks: AsyncIterableIterator<Uint8Array>;
}

/** A parsed HTTP response head. */
export interface ResponseHead {
  /** The status code. */
  status: number;
  /** Headers by lower-case name. */
  headers: Map<string, string>;
}

/** The index just past the blank line that ends an HTTP head in `buf[0, length)`, or -1. */
export function indexOfHeadEnd(buf: Uint8Array, length: number): number {
  for (let i = 3; i < length; i++) {
    if (buf[i] === 10 && buf[i - 1] === 13 && buf[i - 2] === 10 && buf[i - 3] === 13) return i + 1;
  }
  return -1;
}

/**
 * Parses an HTTP/1.x response head (status line and headers, up to and including the blank line).
 * @throws {EngineError} when it is not a valid HTTP response head.
 */
export function parseResponseHead(text: string): ResponseHead {
  const lines = text.split("\r\n");
  const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
  if (!m) throw new EngineError(`The engine answered with an invalid HTTP status line "${lines[0]}"`);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    if (line === "") continue;
    const colon = line.indexOf(":");
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return { status: Number(m[1]), headers };
}

async function* readChunks(conn: Deno.UnixConn, first: Uint8Array): AsyncIterableIterator<Uint8Array> {
  if (first.length > 0) yield first;
  const buf = new Uint8Array(READ_SIZE);
  while (true) {
    let n: number | null;
    try {
      n = await conn.read(buf);
    } catch (err) {
      // A connection closed by us (close()/stop()) ends the stream like EOF.
      if (err instanceof Deno.errors.BadResource || err instanceof Deno.errors.Interrupted) return;
      throw err;
    }
    if (n === null) return;
    // A copy of exactly what arrived: consumers may keep the bytes, and a short read must not pin a whole buffer.
    yield buf.slice(0, n);
  }
}

async function readErrorBody(conn: Deno.UnixConn, head: ResponseHead, rest: Uint8Array): Promise<string> {
  const parts: Uint8Array[] = [rest];
  let total = rest.length;
  const wanted = Number(head.headers.get("content-length") ?? NaN);
  const deadline = AbortSignal.timeout(5000);
  while (total < MAX_ERROR_BODY && !(total >= wanted) && !deadline.aborted) {
    const buf = new Uint8Array(4096);
    const n = await conn.read(buf).catch(() => null);
    if (n === null) break;
    parts.push(buf.subarray(0, n));
    total += n;
  }
  const text = decoder.decode(concat(parts)).trim();
  try {
    const body = JSON.parse(text);
    if (body && typeof body.message === "string") return body.message;
  } catch {
    // Not JSON.
  }
  return text || statusReason(head.status);
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

/**
 * Opens a unix-socket connection, sends `method path` with upgrade headers and returns the hijacked stream.
 * @param socket path of the engine's unix socket.
 * @param path request path with query, already versioned (`/v1.41/containers/x/attach?...`).
 * @param label the engine's name in connection errors (`Docker daemon`).
 * @param timeoutMs bound from connecting to the end of the engine's answer head.
 * @throws {EngineApiError} when the engine answers with an error status.
 * @throws {EngineTimeoutError} when the engine did not answer within `timeoutMs`.
 * @throws {EngineError} when the socket cannot be reached or the answer is not HTTP.
 */
export async function hijack(
  socket: string,
  method: string,
  path: string,
  label: string,
  timeoutMs = 30_000,
): Promise<HijackedConnection> {
  let conn: Deno.UnixConn | null = null;
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    try {
      conn?.close();
    } catch {
      // Already closed.
    }
  }, timeoutMs);
  const timedOut = () =>
    new EngineTimeoutError(
      `Cannot attach to the container: the ${label} at unix://${socket} did not answer within ` +
        `${describeMs(timeoutMs)} (engine unresponsive)`,
      timeoutMs,
    );
  try {
    return await handshake();
  } finally {
    clearTimeout(timer);
  }

  async function handshake(): Promise<HijackedConnection> {
    let c: Deno.UnixConn;
    try {
      c = await Deno.connect({ transport: "unix", path: socket });
    } catch (err) {
      if (expired) throw timedOut();
      const detail = err instanceof Error ? err.message : String(err);
      if (isPermissionError(err)) throw err; // berth's permission profile: reported as such by the CLI

      throw new EngineError(`Cannot connect to the ${label} at unix://${socket}: ${detail}`, {
        cause: err,
        brokenNode: true,
      });
    }
    conn = c;
    try {
      if (expired) throw timedOut();
      const request = `${method} ${path} HTTP/1.1\r\nHost: engine.invalid\r\nUser-Agent: berth\r\n` +
        `Content-Type: text/plain\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`;
      const bytes = encoder.encode(request);
      for (let off = 0; off < bytes.length;) off += await c.write(bytes.subarray(off));

      const buf = new Uint8Array(MAX_HEAD_BYTES);
      let length = 0;
      let end = -1;
      while (end < 0) {
        if (length === buf.length) {
          throw new EngineError(`The engine's answer to attach has a head over 64 KiB`);
        }
        const n = await c.read(buf.subarray(length));
        if (n === null) {
          // No answer at all, not even an error status: the engine went away in the middle of the call.
          throw new EngineError(`The ${label} closed the attach connection before answering`, {
            brokenNode: true,
          });
        }
        length += n;
        end = indexOfHeadEnd(buf, length);
      }
      const head = parseResponseHead(decoder.decode(buf.subarray(0, end)));
      const rest = buf.slice(end, length);
      if (head.status !== 101 && head.status !== 200) {
        throw new EngineApiError(
          head.status,
          await readErrorBody(c, head, rest),
          "Cannot attach to the container",
        );
      }
      return { conn: c, status: head.status, chunks: readChunks(c, rest) };
    } catch (err) {
      try {
        c.close();
      } catch {
        // Already closed.
      }
      if (expired) throw timedOut();
      if (err instanceof EngineError) throw err;
      throw new EngineError(
        `Cannot attach to the container: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err, brokenNode: true },
      );
    }
  }
}
