/**
 * A stand-in for an engine that dies: a unix-socket proxy in front of a real Docker-API socket, run as its own
 * process so that a test can SIGKILL it mid-run (every connection berth holds then breaks at once, as when the
 * engine is killed) without touching the engine other tests share.
 *
 *   deno run --allow-net=unix:LISTEN,unix:TARGET --allow-read --allow-write _engine_proxy.ts LISTEN TARGET
 *
 * Prints "ready" once it accepts connections.
 * @module
 */

const [listenPath, targetPath] = Deno.args;
try {
  Deno.removeSync(listenPath);
} catch { /* not there */ }
const listener = Deno.listen({ transport: "unix", path: listenPath });
console.log("ready");
for await (const conn of listener) {
  (async () => {
    const upstream = await Deno.connect({ transport: "unix", path: targetPath });
    await Promise.allSettled([
      conn.readable.pipeTo(upstream.writable),
      upstream.readable.pipeTo(conn.writable),
    ]);
  })().catch(() => conn.close());
}
