/**
 * Helpers for the node tests: a stand-in berth process that holds a job lock, and temp dirs.
 * @module
 */

import { fileURLToPath } from "node:url";
import { type TestUser, userCommand } from "../helpers/as_user.ts";
import { assertEquals } from "../helpers/assert.ts";
import { engineRequest } from "../helpers/engine_api.ts";
import { testImage } from "../images/mod.ts";
import { containerIdentity, type RunIdentity } from "../../src/node/container_name.ts";

const HOLDER = fileURLToPath(new URL("./fixtures/hold_lock.ts", import.meta.url));

/** A process holding a job lock (see fixtures/hold_lock.ts). */
export interface Holder {
  /** Its pid. */
  pid: number;
  /** The lock file it holds. */
  path: string;
  /** Resolves with its exit status. */
  status: Promise<Deno.CommandStatus>;
  /** Kills it (SIGKILL) if it still runs and waits for it. */
  kill(): Promise<void>;
}

/**
 * Starts a holder of job `uuid`'s lock in `runtimeDir` ("-" for the default runtime dir), as root or as test
 * user `user`; resolves once it holds the lock.
 */
export async function startHolder(
  runtimeDir: string,
  uuid: string,
  mode = "",
  user?: TestUser,
): Promise<Holder> {
  const args = ["run", "-A", "--quiet", "--cached-only", HOLDER, runtimeDir, uuid, mode];
  const child =
    (user
      ? userCommand(user, Deno.execPath(), args, { stderr: "inherit" })
      : new Deno.Command(Deno.execPath(), { args, stdin: "null", stdout: "piped", stderr: "inherit" }))
      .spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let seen = "";
  while (!/^locked .+\n/m.test(seen)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the lock holder exited before taking the lock: ${seen}`);
    seen += value;
  }
  const path = /^locked (.+)$/m.exec(seen)![1];
  reader.releaseLock();
  child.stdout.cancel().catch(() => {});
  let ended = false;
  const status = child.status.then((s) => {
    ended = true;
    return s;
  });
  return {
    pid: child.pid,
    path,
    status,
    async kill() {
      if (!ended) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
      }
      await status;
    },
  };
}

/** The pid of a process that has exited and been reaped. */
export async function deadPid(): Promise<number> {
  const child = new Deno.Command(Deno.execPath(), { args: ["--version"], stdout: "null", stderr: "null" })
    .spawn();
  await child.status;
  return child.pid;
}

/** Runs `fn` with fresh temp dirs, removed afterwards whatever happens. */
export async function withDirs(n: number, fn: (...dirs: string[]) => Promise<void>): Promise<void> {
  const dirs: string[] = [];
  try {
    for (let i = 0; i < n; i++) dirs.push(await Deno.makeTempDir({ prefix: "berth-node-test-" }));
    await fn(...dirs);
  } finally {
    for (const d of dirs) await Deno.remove(d, { recursive: true }).catch(() => {});
  }
}

/**
 * Creates (without starting) a busybox container `name` with `labels` on the engine behind `socket`, loading the
 * image first when the engine lacks it: a leftover of a berth that is gone, for gc to judge. Returns its ID.
 */
export async function plantContainer(
  socket: string,
  name: string,
  labels: Record<string, string>,
): Promise<string> {
  const image = await testImage("busybox");
  if ((await engineRequest(socket, "GET", `/images/${image.id}/json`)).status !== 200) {
    const file = await Deno.open(image.path);
    const res = await engineRequest(socket, "POST", "/images/load?quiet=1", file.readable, {
      "Content-Type": "application/x-tar",
    });
    assertEquals(res.status, 200, res.text);
  }
  const res = await engineRequest(
    socket,
    "POST",
    `/containers/create?name=${name}`,
    JSON.stringify({
      Image: image.id,
      Cmd: ["sleep", "300"],
      Labels: labels,
      HostConfig: { NetworkMode: "none" },
    }),
    { "Content-Type": "application/json" },
  );
  assertEquals(res.status, 201, res.text);
  return (res.json as { Id: string }).Id;
}

/** Plants the container berth would have made for `run` (its name and labels), as a berth that died leaves it. */
export async function plantRunContainer(
  socket: string,
  run: RunIdentity,
): Promise<{ name: string; id: string }> {
  const identity = containerIdentity(run);
  const id = await plantContainer(socket, identity.name, { "org.berth.managed": "true", ...identity.labels });
  return { name: identity.name, id };
}
