/**
 * A fault injector in front of a real Docker-API socket: a unix-socket proxy, run as its own process, that
 * forwards every connection to the engine and can delay, stall or drop chosen API calls. A test can also
 * SIGKILL it (every connection berth holds breaks at once, as when the engine is killed) or SIGSTOP it (the
 * socket still accepts connections but nothing answers, as a stopped dockerd) without touching the engine other
 * tests share.
 *
 *   deno run --allow-net=unix:LISTEN,unix:TARGET --allow-read --allow-write _engine_proxy.ts LISTEN TARGET [RULE…]
 *
 * Each RULE is `ACTION=PATTERN` or `ACTION=PATTERN@MS`; PATTERN is a regular expression matched against
 * `METHOD /path` of each request, with the `/vX.Y` prefix and the query left out (`^POST /containers/create$`):
 *
 * - `delay=PATTERN@MS`: hold the request MS ms before forwarding it.
 * - `hold=PATTERN`: hold the request until the file `LISTEN.release` exists.
 * - `stall=PATTERN`: never forward the request and never answer it (the connection stays open).
 * - `drop=PATTERN`: close the client's connection instead of forwarding the request.
 * - `delay-reply=PATTERN@MS`: forward the request at once, but hold the engine's answer MS ms.
 * - `stall-reply=PATTERN`: forward the request, never pass on the answer (the engine acts, berth never hears).
 *
 * Requests are framed (Content-Length, chunked bodies, upgrades) so rules apply per call on kept-alive
 * connections; an upgraded connection (attach) is piped raw after its request. Every matched rule is reported
 * on stderr as `proxy: ACTION METHOD /path`. Prints "ready" on stdout once it accepts connections.
 *
 * Imported (not run), the module exports {@link startEngineProxy} for tests.
 * @module
 */

/** One fault rule. */
export interface ProxyRule {
  /** What to do with a matching request. */
  action: "delay" | "hold" | "stall" | "drop" | "delay-reply" | "stall-reply";
  /** Matched against `METHOD /path` (no version prefix, no query; Podman's own API as `/libpod/...`). */
  pattern: string;
  /** Milliseconds for `delay` and `delay-reply`. */
  ms?: number;
}

/** Options of {@link startEngineProxy}. */
export interface EngineProxyOptions {
  /** The socket path the proxy listens on. */
  listen: string;
  /** The engine's real socket. */
  target: string;
  /** Fault rules, in order; the first match applies. */
  rules?: ProxyRule[];
  /** Where the proxy may read and write (the directory of `listen`). */
  root: string;
}

/** A running proxy process. */
export interface EngineProxy {
  /** The child process (kill it with SIGKILL to kill the "engine", SIGSTOP to freeze it). */
  child: Deno.ChildProcess;
  /** Lets every `hold` request through. */
  release(): Promise<void>;
  /** Stops the proxy (SIGKILL, after SIGCONT in case it was stopped) and waits for it. */
  stop(): Promise<void>;
  /** What the proxy reported on stderr so far: one `proxy: ACTION METHOD /path` line per matched rule. */
  reports(): string[];
}

const PROXY = new URL(import.meta.url).pathname;

/** Starts the proxy in its own process; resolves once it accepts connections. */
export async function startEngineProxy(options: EngineProxyOptions): Promise<EngineProxy> {
  const ruleArgs = (options.rules ?? []).map((r) =>
    `${r.action}=${r.pattern}${r.ms === undefined ? "" : `@${r.ms}`}`
  );
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--no-prompt",
      `--allow-net=unix:${options.listen},unix:${options.target}`,
      `--allow-read=${options.root},${options.target}`,
      `--allow-write=${options.root},${options.target}`,
      PROXY,
      options.listen,
      options.target,
      ...ruleArgs,
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
  const lines: string[] = [];
  (async () => {
    let text = "";
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      const parts = text.split("\n");
      text = parts.pop()!;
      lines.push(...parts);
    }
  })().catch(() => {});
  const reader = child.stdout.getReader();
  const first = await reader.read();
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  const said = new TextDecoder().decode(first.value).trim();
  if (said !== "ready") {
    child.kill("SIGKILL");
    await child.status;
    throw new Error(`The engine proxy did not start: "${said}" ${lines.join("\n")}`);
  }
  return {
    child,
    release: () => Deno.writeTextFile(`${options.listen}.release`, ""),
    reports: () => [...lines],
    async stop() {
      for (const signal of ["SIGCONT", "SIGKILL"] as const) {
        try {
          child.kill(signal);
        } catch { /* already gone */ }
      }
      await child.status;
    },
  };
}

// ---- the proxy program ----

const encoder = new TextEncoder();
const decoder = new TextDecoder();

interface CompiledRule extends ProxyRule {
  re: RegExp;
}

function parseRule(arg: string): CompiledRule {
  const m = /^(delay|hold|stall|drop|delay-reply|stall-reply)=(.*?)(?:@(\d+))?$/.exec(arg);
  if (!m) throw new Error(`bad rule "${arg}"`);
  return {
    action: m[1] as ProxyRule["action"],
    pattern: m[2],
    ms: m[3] ? Number(m[3]) : undefined,
    re: new RegExp(m[2]),
  };
}

/** Buffered reads from a connection. */
class Reader {
  #conn: Deno.Conn;
  #buf = new Uint8Array(0);
  constructor(conn: Deno.Conn) {
    this.#conn = conn;
  }
  /** Bytes read but not consumed. */
  take(): Uint8Array {
    const b = this.#buf;
    this.#buf = new Uint8Array(0);
    return b;
  }
  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    const n = await this.#conn.read(chunk);
    if (n === null) return false;
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }
  /** Reads up to and including `delim`; null at EOF before it. */
  async until(delim: string): Promise<Uint8Array | null> {
    const d = encoder.encode(delim);
    let from = 0;
    while (true) {
      for (let i = from; i + d.length <= this.#buf.length; i++) {
        let ok = true;
        for (let j = 0; j < d.length && ok; j++) ok = this.#buf[i + j] === d[j];
        if (ok) {
          const out = this.#buf.slice(0, i + d.length);
          this.#buf = this.#buf.slice(i + d.length);
          return out;
        }
      }
      from = Math.max(0, this.#buf.length - d.length + 1);
      if (!(await this.#fill())) return null;
    }
  }
  /** Reads exactly `n` bytes, handing them to `sink` as they come; false at EOF before. */
  async copy(n: number, sink: (b: Uint8Array) => Promise<void>): Promise<boolean> {
    while (n > 0) {
      if (this.#buf.length === 0 && !(await this.#fill())) return false;
      const part = this.#buf.subarray(0, Math.min(n, this.#buf.length));
      this.#buf = this.#buf.slice(part.length);
      n -= part.length;
      await sink(part);
    }
    return true;
  }
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let off = 0; off < data.length;) off += await conn.write(data.subarray(off));
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function released(path: string): Promise<void> {
  while (true) {
    try {
      await Deno.stat(path);
      return;
    } catch {
      await sleep(50);
    }
  }
}

function closeQuietly(conn: Deno.Conn) {
  try {
    conn.close();
  } catch { /* already closed */ }
}

async function serve(client: Deno.Conn, target: string, rules: CompiledRule[], releaseFile: string) {
  const upstream = await Deno.connect({ transport: "unix", path: target });
  /** Until when the engine's answers are held (`delay-reply`, `stall-reply`). */
  const reply = { holdUntil: 0 };
  const down = (async () => {
    const buf = new Uint8Array(64 * 1024);
    while (true) {
      const n = await upstream.read(buf);
      if (n === null) break;
      while (Date.now() < reply.holdUntil) await sleep(Math.min(100, reply.holdUntil - Date.now()));
      await writeAll(client, buf.subarray(0, n));
    }
  })().catch(() => {}).finally(() => closeQuietly(client));
  const reader = new Reader(client);
  const send = (b: Uint8Array) => writeAll(upstream, b);
  try {
    while (true) {
      const head = await reader.until("\r\n\r\n");
      if (head === null) break;
      const text = decoder.decode(head);
      const [requestLine, ...headerLines] = text.split("\r\n");
      const [method, target = ""] = requestLine.split(" ");
      // Deno's unix-socket client sends the absolute form (`http://engine.invalid/v1.41/...`); Podman's own
      // API is versioned by its release (`/v4.3.1/libpod/...`).
      const path = target.split("?")[0].replace(/^[a-z]+:\/\/[^/]*/, "").replace(/^\/v\d+(\.\d+)+(?=\/)/, "");
      const headers = new Map<string, string>();
      for (const line of headerLines) {
        const colon = line.indexOf(":");
        if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
      const rule = rules.find((r) => r.re.test(`${method} ${path}`));
      if (rule) console.error(`proxy: ${rule.action} ${method} ${path}`);
      switch (rule?.action) {
        case "stall":
          await new Promise(() => {});
          break;
        case "drop":
          closeQuietly(client);
          closeQuietly(upstream);
          return;
        case "delay":
          await sleep(rule.ms ?? 0);
          break;
        case "hold":
          await released(releaseFile);
          break;
        case "delay-reply":
          reply.holdUntil = Date.now() + (rule.ms ?? 0);
          break;
        case "stall-reply":
          reply.holdUntil = Infinity;
          break;
      }
      await send(head);
      if ((headers.get("connection") ?? "").toLowerCase().includes("upgrade")) {
        await send(reader.take());
        const buf = new Uint8Array(64 * 1024);
        while (true) {
          const n = await client.read(buf);
          if (n === null) break;
          await send(buf.subarray(0, n));
        }
        await upstream.closeWrite().catch(() => {});
        break;
      }
      if ((headers.get("transfer-encoding") ?? "").toLowerCase().includes("chunked")) {
        while (true) {
          const sizeLine = await reader.until("\r\n");
          if (sizeLine === null) return;
          await send(sizeLine);
          const size = parseInt(decoder.decode(sizeLine).split(";")[0].trim(), 16);
          if (size === 0) {
            // Trailers, then the blank line.
            while (true) {
              const line = await reader.until("\r\n");
              if (line === null) return;
              await send(line);
              if (line.length === 2) break;
            }
            break;
          }
          if (!(await reader.copy(size + 2, send))) return;
        }
      } else {
        const length = Number(headers.get("content-length") ?? 0);
        if (!(await reader.copy(length, send))) return;
      }
    }
    await upstream.closeWrite().catch(() => {});
  } catch {
    closeQuietly(upstream);
  }
  await down;
  closeQuietly(upstream);
}

if (import.meta.main) {
  const [listenPath, targetPath, ...ruleArgs] = Deno.args;
  const rules = ruleArgs.map(parseRule);
  try {
    Deno.removeSync(listenPath);
  } catch { /* not there */ }
  const listener = Deno.listen({ transport: "unix", path: listenPath });
  console.log("ready");
  for await (const conn of listener) {
    serve(conn, targetPath, rules, `${listenPath}.release`).catch(() => closeQuietly(conn));
  }
}
