/**
 * HTTP transport to a Docker Engine API on a unix socket: ordinary requests through `fetch` with a unix-socket
 * HTTP client, and typed errors carrying the HTTP status and the engine's own message.
 *
 * The hijacked attach connection, which `fetch` cannot do, lives in `hijack.ts`.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";

/** An error answer from the engine: `(HTTP 404) not found - No such container: x`. */
export class EngineApiError extends EngineError {
  /** The HTTP status the engine answered with. */
  readonly status: number;
  /** The engine's own message (`message` of the JSON error body, or the body text). */
  readonly engineMessage: string;
  /**
   * Builds the message from the status, its reason and the engine's message.
   * @param status the HTTP status.
   * @param engineMessage the engine's message.
   * @param context what berth was doing, put before the status (`Cannot create container "x"`).
   */
  constructor(status: number, engineMessage: string, context = "") {
    const text = `(HTTP ${status}) ${statusReason(status)} - ${engineMessage}`;
    super(context ? `${context}: ${text}` : text);
    this.status = status;
    this.engineMessage = engineMessage;
  }
}

/** A short reason for an HTTP status, as dockerode prints them. */
export function statusReason(status: number): string {
  switch (status) {
    case 304:
      return "not modified";
    case 400:
      return "bad parameter";
    case 404:
      return "not found";
    case 409:
      return "conflict";
    case 500:
      return "server error";
    case 503:
      return "unavailable";
    default:
      return status >= 500 ? "server error" : "request failed";
  }
}

/** Reads an error body and returns the engine's message: Docker `{"message"}`, Podman `{"message","cause"}`. */
export async function errorMessageOf(res: Response): Promise<string> {
  let text: string;
  try {
    text = await res.text();
  } catch (err) {
    return `(the error body could not be read: ${err instanceof Error ? err.message : String(err)})`;
  }
  try {
    const body = JSON.parse(text);
    if (body && typeof body.message === "string") return body.message.trim();
  } catch {
    // Not JSON: use the text.
  }
  return text.trim().slice(0, 2000) || statusReason(res.status);
}

/** Options of one {@link EngineTransport.request}. */
export interface RequestOptions {
  /** Query parameters; `undefined` values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
  /** A JSON body (sent with `Content-Type: application/json`). */
  json?: unknown;
  /** A raw body (a stream is sent chunked, without being read into memory). */
  body?: BodyInit;
  /** Extra request headers. */
  headers?: Record<string, string>;
  /** False sends the request without the `/v<version>` prefix (for `/version` and `/_ping`). */
  versioned?: boolean;
  /** Aborts the request and its body. */
  signal?: AbortSignal;
  /** Statuses to return instead of throwing (for example 404 when absence is an answer). */
  accept?: number[];
  /** Prefix for the error message, e.g. `Cannot create container "x"`. */
  context?: string;
}

/**
 * A connection to one engine socket. `apiVersion` is set by the caller after negotiation; until then requests
 * that are versioned fail.
 */
export class EngineTransport {
  /** The socket path. */
  readonly socket: string;
  /** How the engine is named in connection errors, e.g. `Docker daemon`. */
  readonly label: string;
  /** The negotiated API version (`1.41`), or "" before negotiation. */
  apiVersion = "";
  #client: Deno.HttpClient;
  #closed = false;

  /**
   * Creates the unix-socket HTTP client (no connection is made yet).
   * @param socket the unix socket path.
   * @param label the engine's name in connection errors (`Docker daemon`, `Podman service`).
   * @throws {EngineError} when berth's permissions do not allow the socket.
   */
  constructor(socket: string, label: string) {
    this.socket = socket;
    this.label = label;
    try {
      this.#client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
    } catch (err) {
      throw this.connectionError(err);
    }
  }

  /** Prefixes `path` with the negotiated `/v<version>`. */
  versionedPath(path: string): string {
    if (!this.apiVersion) throw new EngineError(`Internal error: no API version negotiated before "${path}"`);
    return `/v${this.apiVersion}${path}`;
  }

  /**
   * Sends one request and returns the response once its headers arrived (the body is left to the caller).
   * @throws {EngineApiError} for a status not in 2xx or `accept` (the body is consumed).
   * @throws {EngineError} (broken node) when the socket cannot be reached or the connection fails.
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const fullPath = options.versioned === false ? path : this.versionedPath(path);
    const url = new URL(`http://engine.invalid${fullPath}`);
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined) url.searchParams.set(k, String(v));
    }
    const headers = new Headers(options.headers);
    let body = options.body;
    if (options.json !== undefined) {
      headers.set("Content-Type", "application/json");
      body = JSON.stringify(options.json);
    }
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, client: this.#client, signal: options.signal });
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      throw this.connectionError(err, options.context);
    }
    if (res.ok || options.accept?.includes(res.status)) return res;
    throw new EngineApiError(res.status, await errorMessageOf(res), options.context);
  }

  /** Sends a request and parses a JSON reply body. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, options);
    let text: string;
    try {
      text = await res.text();
    } catch (err) {
      if (options.signal?.aborted) throw options.signal.reason ?? err;
      throw this.connectionError(err, options.context);
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      const where = options.context ? `${options.context}: ` : "";
      throw new EngineError(
        `${where}the engine answered ${method} ${path} with invalid JSON: ${text.slice(0, 200)}`,
      );
    }
  }

  /**
   * The error for a request that did not get an answer: the node is considered broken. A refusal by berth's own
   * permission profile is returned as it is (Deno's `NotCapable`): the CLI reports it in one line with the
   * profile's name, and it must not mark the node broken.
   */
  connectionError(err: unknown, context?: string): Error {
    const detail = err instanceof Error ? err.message : String(err);
    const where = context ? `${context}: ` : "";
    if (isPermissionError(err)) return err as Error;
    return new EngineError(
      `${where}Cannot connect to the ${this.label} at unix://${this.socket}: ${detail}`,
      {
        cause: err,
        brokenNode: true,
      },
    );
  }

  /** Closes the HTTP client. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#client.close();
  }
}

/** True for Deno's permission errors (`--allow-net` does not cover the socket). */
export function isPermissionError(err: unknown): boolean {
  return err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied ||
    (err instanceof Error && /Requires net access/.test(err.message));
}

/** Consumes and discards a response body, so its connection is released. Never throws. */
export async function discardBody(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    // Nothing to release.
  }
}
