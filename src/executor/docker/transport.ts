/**
 * HTTP transport to a Docker Engine API on a unix socket: ordinary requests through `fetch` with a unix-socket
 * HTTP client, and typed errors carrying the HTTP status and the engine's own message.
 *
 * The hijacked attach connection, which `fetch` cannot do, lives in `hijack.ts`.
 *
 * @module
 */

import { EngineError } from "../../errors.ts";
import { describeMs } from "./bounds.ts";

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

/**
 * A request the engine did not answer within its time bound: the engine is taken as unresponsive, so the node
 * as broken.
 */
export class EngineTimeoutError extends EngineError {
  /** The bound that passed, in milliseconds. */
  readonly ms: number;
  /**
   * @param message the whole message.
   * @param ms the bound that passed.
   */
  constructor(message: string, ms: number) {
    super(message, { brokenNode: true });
    this.ms = ms;
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
  /**
   * Time bound in milliseconds for the whole exchange (for {@link EngineTransport.json} and
   * {@link EngineTransport.send}: up to the end of the body; for {@link EngineTransport.request}: up to the
   * response head). When it passes the request is aborted and an {@link EngineTimeoutError} thrown.
   */
  timeoutMs?: number;
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
   * Sends one request and returns the response once its headers arrived (the body is left to the caller, and
   * `timeoutMs`, if given, no longer applies to it).
   * @throws {EngineApiError} for a status not in 2xx or `accept` (the body is consumed).
   * @throws {EngineTimeoutError} when `timeoutMs` passed first.
   * @throws {EngineError} (broken node) when the socket cannot be reached or the connection fails.
   */
  async request(method: string, path: string, options: RequestOptions = {}): Promise<Response> {
    const bound = TimeBound.start(options.timeoutMs);
    try {
      return await this.#send(method, path, options, bound);
    } finally {
      bound?.clear();
    }
  }

  /**
   * Sends a request, reads its reply body to the end and returns the status (for calls whose answer is the
   * status alone: kill, remove, start).
   */
  async send(method: string, path: string, options: RequestOptions = {}): Promise<number> {
    const bound = TimeBound.start(options.timeoutMs);
    try {
      const res = await this.#send(method, path, options, bound);
      await this.#readText(res, method, path, options, bound);
      return res.status;
    } finally {
      bound?.clear();
    }
  }

  /** Sends a request and parses a JSON reply body. */
  async json<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const bound = TimeBound.start(options.timeoutMs);
    let text: string;
    try {
      const res = await this.#send(method, path, options, bound);
      text = await this.#readText(res, method, path, options, bound);
    } finally {
      bound?.clear();
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

  async #send(method: string, path: string, options: RequestOptions, bound: TimeBound | null) {
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
    const signals = [options.signal, bound?.signal].filter((s) => s !== undefined);
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    let res: Response;
    try {
      res = await fetch(url, { method, headers, body, client: this.#client, signal });
    } catch (err) {
      throw this.#failure(err, method, path, options, bound);
    }
    if (res.ok || options.accept?.includes(res.status)) return res;
    let message: string;
    try {
      message = await errorMessageOf(res);
    } catch (err) {
      throw this.#failure(err, method, path, options, bound);
    }
    throw new EngineApiError(res.status, message, options.context);
  }

  async #readText(
    res: Response,
    method: string,
    path: string,
    options: RequestOptions,
    bound: TimeBound | null,
  ): Promise<string> {
    try {
      return await res.text();
    } catch (err) {
      throw this.#failure(err, method, path, options, bound);
    }
  }

  /** What a failed exchange throws: the time bound, the caller's abort, or a connection error. */
  #failure(err: unknown, method: string, path: string, options: RequestOptions, bound: TimeBound | null) {
    if (bound?.signal.aborted) return this.timeoutError(`${method} ${path}`, bound.ms, options.context);
    if (options.signal?.aborted) return options.signal.reason ?? err;
    return this.connectionError(err, options.context);
  }

  /** The error for a request that got no answer within `ms`: the engine counts as unresponsive. */
  timeoutError(what: string, ms: number, context?: string): EngineTimeoutError {
    const where = context ? `${context}: ` : "";
    return new EngineTimeoutError(
      `${where}the ${this.label} at unix://${this.socket} did not answer ${what} within ${describeMs(ms)} ` +
        `(engine unresponsive)`,
      ms,
    );
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

/** A time bound for one exchange: an abort signal that fires after `ms`, and its timer's release. */
class TimeBound {
  readonly ms: number;
  readonly #controller = new AbortController();
  readonly #timer: ReturnType<typeof setTimeout>;

  private constructor(ms: number) {
    this.ms = ms;
    this.#timer = setTimeout(
      () => this.#controller.abort(new DOMException("time bound", "TimeoutError")),
      ms,
    );
  }

  /** A bound of `ms`, or null when there is none. */
  static start(ms: number | undefined): TimeBound | null {
    return ms === undefined ? null : new TimeBound(ms);
  }

  /** Fires when the bound passes. */
  get signal(): AbortSignal {
    return this.#controller.signal;
  }

  /** Releases the timer. */
  clear(): void {
    clearTimeout(this.#timer);
  }
}
