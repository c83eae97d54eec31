/**
 * A real image registry on loopback for tests: Debian's `docker-registry` (distribution 2.8) started as
 * `docker-registry serve CONFIG` on `127.0.0.1:<free port>` with its storage in a temp dir, optionally behind
 * htpasswd (bcrypt, written by apache2-utils' `htpasswd -B`). Test images are pushed into it through the Docker
 * Engine API (`POST /images/{name}/push` with `X-Registry-Auth`), so what berth later pulls was put there by a
 * real engine, which is then untagged at once. The process and the temp dir are removed by
 * {@link TestRegistry.close}; images pulled from the registry are the test's to remove ({@link removeRegistryTags}).
 *
 * Docker treats 127.0.0.0/8 as an insecure registry by itself, so no daemon setting is needed.
 *
 * @module
 */

import { join } from "node:path";
import { ENGINE_SOCKETS, engineRequest } from "./engine_api.ts";
import { type BuiltImage, testImage, type TestImageName } from "../images/mod.ts";

/** htpasswd credentials the registry demands. */
export interface RegistryUser {
  /** User name. */
  username: string;
  /** Password. */
  password: string;
}

/** Options of {@link startRegistry}. */
export interface StartRegistryOptions {
  /** Demand these credentials (htpasswd auth). @default none: anonymous access */
  user?: RegistryUser;
}

/** A pushed image: where it is and what the registry says it is. */
export interface PushedImage {
  /** `127.0.0.1:PORT/REPO:TAG`. */
  reference: string;
  /** The repository path, `berth-img-<random>/busybox`. */
  repository: string;
  /** The tag. */
  tag: string;
  /** The manifest digest the registry stored (`sha256:…`). */
  digest: string;
  /** The image ID (config digest) of the test image. */
  id: string;
}

/** A running test registry. */
export interface TestRegistry {
  /** `127.0.0.1:PORT`. */
  host: string;
  /** The registry's storage and config directory. */
  dir: string;
  /** The credentials it demands, if any. */
  user: RegistryUser | null;
  /**
   * Pushes a test image (by name, or a built one such as `bigTestImage(n)`) as `<unique repo>/<name>:<tag>` and
   * returns its digest.
   */
  push(image: TestImageName | BuiltImage, tag?: string): Promise<PushedImage>;
  /** Stops the registry and removes its directory. */
  close(): Promise<void>;
}

/** A port nobody listens on right now (the registry may lose a race for it: {@link startRegistry} retries). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

function configYaml(dir: string, port: number, htpasswd: string | null): string {
  return [
    "version: 0.1",
    "log:",
    "  level: error",
    "  accesslog:",
    "    disabled: true",
    "storage:",
    "  filesystem:",
    `    rootdirectory: ${join(dir, "data")}`,
    "  delete:",
    "    enabled: true",
    "http:",
    `  addr: 127.0.0.1:${port}`,
    `  secret: ${crypto.randomUUID()}`,
    ...(htpasswd ? ["auth:", "  htpasswd:", "    realm: berth-test", `    path: ${htpasswd}`] : []),
    "",
  ].join("\n");
}

async function writeHtpasswd(path: string, user: RegistryUser): Promise<void> {
  const out = await new Deno.Command("htpasswd", {
    args: ["-B", "-b", "-c", path, user.username, user.password],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(`htpasswd failed: ${new TextDecoder().decode(out.stderr).trim()}`);
  }
}

async function answers(host: string): Promise<boolean> {
  try {
    const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) });
    await res.body?.cancel();
    return res.status === 200 || res.status === 401;
  } catch {
    return false;
  }
}

/** The X-Registry-Auth value Docker needs even for anonymous pushes (independent of berth's own encoder). */
function pushAuth(user: RegistryUser | null, host: string): string {
  const json = JSON.stringify(user ? { ...user, serveraddress: host } : {});
  return btoa(json).replaceAll("+", "-").replaceAll("/", "_");
}

/**
 * Starts a registry (and waits until `/v2/` answers).
 * @throws {Error} when `docker-registry` is missing or does not come up within 15 s.
 */
export async function startRegistry(options: StartRegistryOptions = {}): Promise<TestRegistry> {
  const dir = await Deno.makeTempDir({ prefix: "berth-registry-" });
  const user = options.user ?? null;
  const htpasswd = user ? join(dir, "htpasswd") : null;
  if (user && htpasswd) await writeHtpasswd(htpasswd, user);
  let child: Deno.ChildProcess | null = null;
  let host = "";
  let lastErr = "";
  for (let attempt = 0; attempt < 5 && child === null; attempt++) {
    const port = freePort();
    host = `127.0.0.1:${port}`;
    await Deno.writeTextFile(join(dir, "config.yml"), configYaml(dir, port, htpasswd));
    const proc = new Deno.Command("docker-registry", {
      args: ["serve", join(dir, "config.yml")],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const stderr = new Response(proc.stderr).text();
    let exited = false;
    const status = proc.status.then((s) => {
      exited = true;
      return s;
    });
    for (let i = 0; i < 150 && !exited; i++) {
      if (await answers(host)) {
        child = proc;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (child === null) {
      try {
        proc.kill("SIGKILL");
      } catch { /* exited */ }
      await status;
      lastErr = (await stderr).trim().split("\n").slice(-3).join(" | ");
    } else {
      stderr.catch(() => {});
    }
  }
  if (child === null) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw new Error(`docker-registry did not start: ${lastErr}`);
  }
  const running = child;
  const repoPrefix = `berth-img-${crypto.randomUUID().slice(0, 8)}`;

  const push = async (which: TestImageName | BuiltImage, tag = "v1"): Promise<PushedImage> => {
    const image = typeof which === "string" ? await testImage(which) : which;
    const name = image.repoTag.replace(/:[^:/]*$/, "").split("/").pop()!;
    const socket = ENGINE_SOCKETS.docker;
    const present = await engineRequest(socket, "GET", `/images/${image.id}/json`);
    if (present.status === 404) {
      const load = await engineRequest(
        socket,
        "POST",
        "/images/load?quiet=1",
        (await Deno.open(image.path)).readable,
        {
          "Content-Type": "application/x-tar",
        },
      );
      if (load.status !== 200 || /"error"/.test(load.text)) {
        throw new Error(`docker load failed: ${load.text}`);
      }
    }
    const repository = `${repoPrefix}/${name}`;
    const repo = `${host}/${repository}`;
    const tagged = await engineRequest(
      socket,
      "POST",
      `/images/${image.id}/tag?repo=${encodeURIComponent(repo)}&tag=${encodeURIComponent(tag)}`,
    );
    if (tagged.status !== 201) throw new Error(`docker tag failed: ${tagged.text}`);
    let digest: string | undefined;
    try {
      const pushed = await engineRequest(
        socket,
        "POST",
        `/images/${encodeURIComponent(repo)}/push?tag=${encodeURIComponent(tag)}`,
        undefined,
        { "X-Registry-Auth": pushAuth(user, host) },
      );
      const lines = pushed.text.split("\n").filter((l) => l.trim() !== "").map((l) => JSON.parse(l));
      const error = lines.find((l) => l.error || l.errorDetail);
      if (pushed.status !== 200 || error) throw new Error(`docker push failed: ${pushed.text.slice(-500)}`);
      digest = lines.map((l) => l.aux?.Digest).find((d) => typeof d === "string");
      if (!digest) throw new Error(`docker push reported no digest: ${pushed.text.slice(-500)}`);
    } finally {
      // Untag at once (the tag and the digest reference the push left), so that the engine has the image under
      // this name only when a test pulls it.
      for (const name of [`${repo}:${tag}`, ...(digest ? [`${repo}@${digest}`] : [])]) {
        await engineRequest(socket, "DELETE", `/images/${encodeURIComponent(name)}?noprune=1`);
      }
    }
    return { reference: `${repo}:${tag}`, repository, tag, digest, id: image.id };
  };

  const close = async () => {
    try {
      running.kill("SIGTERM");
    } catch { /* exited */ }
    await running.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };

  return { host, dir, user, push, close };
}

/**
 * Removes every image tag under `host` from an engine (the images berth pulled from a test registry), leaving
 * images that other tags still name.
 */
export async function removeRegistryTags(socket: string, host: string): Promise<void> {
  const { json } = await engineRequest(socket, "GET", "/images/json");
  for (const image of (json as { RepoTags?: string[] | null; RepoDigests?: string[] | null }[]) ?? []) {
    for (const ref of [...(image.RepoTags ?? []), ...(image.RepoDigests ?? [])]) {
      if (ref.startsWith(`${host}/`) || ref.startsWith(`docker.io/${host}/`)) {
        await engineRequest(socket, "DELETE", `/images/${encodeURIComponent(ref)}?noprune=1`);
      }
    }
  }
}
