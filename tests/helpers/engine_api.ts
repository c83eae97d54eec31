/**
 * A minimal Docker Engine API client for TESTS only (checking what berth left behind, loading images to compare
 * IDs). berth's own client lives in `src/executor/docker/`; this one is deliberately independent of it so tests
 * do not trust the code under test to observe itself.
 * @module
 */

/** The engines' API sockets on the test machines (started by scripts/setup). */
export const ENGINE_SOCKETS = {
  docker: "/var/run/docker.sock",
  podman: "/run/podman/podman.sock",
} as const;

/** Sends one API request over a unix socket and returns status and parsed JSON (or text) body. */
export async function engineRequest(
  socket: string,
  method: string,
  path: string,
  body?: BodyInit,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; text: string }> {
  using client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  const res = await fetch(`http://engine.invalid/v1.41${path}`, { method, body, headers, client });
  const text = await res.text();
  let json: unknown = undefined;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON */ }
  return { status: res.status, json, text };
}

/** Names of the containers carrying berth's label that exist now on the engine behind `socket`. */
export async function berthContainers(socket: string, job?: string): Promise<string[]> {
  const label = job ? `org.berth.job=${job}` : "org.berth.managed=true";
  const filters = encodeURIComponent(JSON.stringify({ label: [label] }));
  const { json } = await engineRequest(socket, "GET", `/containers/json?all=1&filters=${filters}`);
  return (json as { Names: string[] }[]).map((c) => c.Names[0]);
}
