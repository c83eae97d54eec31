/**
 * Pulls a registry image into a Docker-API engine and reports what was pulled: the image ID (the config digest)
 * and the manifest digest the reference resolved to.
 *
 * Docker and Podman differ here, so each gets the endpoint that does what berth needs:
 * - Docker: `POST /images/create?fromImage=NAME&tag=TAG|DIGEST`. Docker decides itself which registries may be
 *   spoken to over plain HTTP (127.0.0.0/8 always, others from its `insecure-registries`); the API has no switch.
 * - Podman: `POST /libpod/images/pull?reference=REF&tlsVerify=false` for an insecure registry. Podman's compat
 *   `/images/create` takes no TLS option (it reads registries.conf), its libpod endpoint does.
 *
 * Both stream newline-delimited JSON and report failures in band after a 200 (read with the same line reader as
 * image loads); errors before the stream starts come as an HTTP error. Credentials travel only in the
 * `X-Registry-Auth` header and never reach a message: the registry's and engine's error texts are passed through
 * the caller's redaction like every log line.
 *
 * @module
 */

import { EngineError, ImageError, looksLikeBrokenNode } from "../../errors.ts";
import {
  ImageAbsentError,
  type ImageConfig,
  type ImageSource,
  isInsecureRegistry,
  isLoopbackRegistry,
  type PreparedImage,
  type PrepareImageOptions,
  type PullPolicy,
  referenceName,
  referenceString,
  type RegistryCredentials,
  RegistryError,
  type RegistryReference,
  splitRegistry,
} from "../../image/mod.ts";
import type { ImageProgress, LogFn } from "../types.ts";
import { ENGINE_BOUNDS } from "./bounds.ts";
import { loadImage } from "./image_load.ts";
import { LineSplitter, messageError, parseLoadLine } from "./load_reply.ts";
import type { DockerApiEngine } from "./socket.ts";
import { discardBody, EngineApiError, type EngineTransport } from "./transport.ts";

/** What {@link pullImage} needs. */
export interface PullImageOptions {
  /** Which engine is behind the socket (the endpoints differ). */
  engine: DockerApiEngine;
  /** The image to pull. */
  reference: RegistryReference;
  /** Credentials for the reference's registry, or null for an anonymous pull. */
  credentials: RegistryCredentials | null;
  /** True when the registry is named by `--insecure-registry` (Podman then skips TLS verification). */
  insecure: boolean;
  /** The job log. */
  log: LogFn;
  /** Bytes downloaded so far over the layers' total, as the engine reports them. */
  onProgress?: (p: ImageProgress) => void;
  /** Aborts the pull (the engine stops when the connection closes). */
  signal?: AbortSignal;
}

/** An image the engine has, as {@link inspectImage} and {@link pullImage} report it. */
export interface EngineImage {
  /** `sha256:<hex>`: the config digest, which is the image ID on Docker and Podman. */
  id: string;
  /** The image config as the engine reports it (`Config.Entrypoint`, `Config.Env`, …), in the archive's shape. */
  config: ImageConfig;
  /** `name@sha256:…` entries: the manifest digests the engine knows the image by. */
  repoDigests: string[];
}

/** A pulled image: what the engine has, and the manifest digest the reference resolved to. */
export interface PulledImage extends EngineImage {
  /** `sha256:<hex>` of the manifest (or index) the registry served for the reference. */
  manifestDigest: string;
}

/**
 * The `X-Registry-Auth` header value both engines decode: URL-safe base64 of a JSON auth config.
 * @param creds The credentials.
 * @param registry The registry they are for (`serveraddress`).
 */
export function registryAuthHeader(creds: RegistryCredentials, registry: string): string {
  const config = creds.kind === "basic"
    ? { username: creds.username, password: creds.password, serveraddress: registry }
    : { username: creds.username, identitytoken: creds.identityToken, serveraddress: registry };
  const bytes = new TextEncoder().encode(JSON.stringify(config));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

interface InspectReply {
  Id?: string;
  RepoDigests?: string[];
  Config?: ImageConfig["config"];
}

/**
 * The engine's image named `nameOrId` (a reference or an ID), or null when it has none.
 * @throws {EngineApiError} and {@link EngineError} as the transport throws them.
 */
export async function inspectImage(api: EngineTransport, nameOrId: string): Promise<EngineImage | null> {
  const res = await api.request("GET", `/images/${encodeURIComponent(nameOrId)}/json`, {
    accept: [404],
    timeoutMs: INSPECT_MS,
    context: `Cannot inspect image "${nameOrId}"`,
  });
  if (res.status === 404) {
    await discardBody(res);
    return null;
  }
  let reply: InspectReply;
  try {
    reply = await res.json();
  } catch (err) {
    throw api.connectionError(err, `Cannot inspect image "${nameOrId}"`);
  }
  const id = String(reply.Id ?? "");
  return {
    id: id.startsWith("sha256:") ? id : `sha256:${id}`,
    config: { config: reply.Config ?? {} },
    repoDigests: Array.isArray(reply.RepoDigests) ? reply.RepoDigests.map(String) : [],
  };
}

/**
 * The manifest digest recorded for `ref`'s repository among an image's `RepoDigests` (Docker writes them in the
 * short form `busybox@sha256:…`, Podman in full `docker.io/library/busybox@sha256:…`), or "" when none is.
 * A pinned reference's own digest wins when the engine lists it.
 */
export function repoDigestFor(repoDigests: readonly string[], ref: RegistryReference): string {
  const wanted = referenceName(ref);
  const digests = repoDigests.flatMap((entry) => {
    const at = entry.lastIndexOf("@");
    if (at < 0) return [];
    const { registry, repository } = splitRegistry(entry.slice(0, at));
    return `${registry}/${repository}` === wanted ? [entry.slice(at + 1)] : [];
  });
  if (ref.digest && digests.includes(ref.digest)) return ref.digest;
  return digests[0] ?? "";
}

/** Sums the per-layer progress the engine reports into one figure. */
class PullProgress {
  #layers = new Map<string, { done: number; total: number }>();
  constructor(private readonly report?: (p: ImageProgress) => void) {}

  take(id: string | undefined, detail: unknown): void {
    if (!this.report || !id || detail === null || typeof detail !== "object") return;
    const { current, total } = detail as { current?: unknown; total?: unknown };
    if (typeof current !== "number" || typeof total !== "number" || total <= 0) return;
    this.#layers.set(id, { done: Math.min(current, total), total });
    let done = 0;
    let sum = 0;
    for (const l of this.#layers.values()) {
      done += l.done;
      sum += l.total;
    }
    this.report({ done, total: sum });
  }
}

/** A pull during which the engine sends nothing (no answer, no progress line) for this long is ended. */
export const PULL_STALL_MS = 120_000;
const PING_MS = ENGINE_BOUNDS.pingMs;
const INSPECT_MS = ENGINE_BOUNDS.inspectMs;

/** Statuses that repeat for every chunk; they feed the progress figure, not the log. */
const PROGRESS_STATUSES = new Set(["Downloading", "Extracting", "Waiting", "Verifying Checksum"]);

interface PullMessage {
  status?: string;
  stream?: string;
  id?: string;
  progressDetail?: unknown;
  /** Podman's libpod reply: the pulled image IDs. */
  images?: unknown;
}

/** A failure the engine reported while pulling: the registry's fault unless it says the node is broken. */
function pullFailure(ref: RegistryReference, message: string, cause?: unknown): Error {
  const text = `Cannot pull image "${referenceString(ref)}": ${message.replace(/\s*\n\s*/g, " ").trim()}`;
  if (looksLikeBrokenNode(text)) return new EngineError(text, { cause });
  const unreachable =
    /dial tcp|connection refused|no such host|i\/o timeout|server gave HTTP response to HTTPS/i
      .test(text);
  return new RegistryError(text, { cause, unreachable });
}

/**
 * Pulls `opts.reference` into the engine and returns the image with the manifest digest it resolved to.
 * @throws {RegistryError} when the registry cannot be reached or refuses (not the node's fault).
 * @throws {EngineError} when the engine fails (broken node when it cannot be reached or the disk is full).
 */
export async function pullImage(api: EngineTransport, opts: PullImageOptions): Promise<PulledImage> {
  const { reference: ref, log } = opts;
  const text = referenceString(ref);
  const headers: Record<string, string> = {};
  if (opts.credentials) headers["X-Registry-Auth"] = registryAuthHeader(opts.credentials, ref.registry);
  const wanted = engineImageName(ref);
  log(
    `Pulling image "${text}" through the ${opts.engine === "podman" ? "Podman" : "Docker"} API` +
      `${opts.credentials ? " with credentials from --registry-auth" : ""}` +
      `${opts.insecure ? " (insecure registry: plain HTTP / no TLS verification)" : ""}`,
  );
  // The pull may rightly take long (big layers), but never silently: the engine answers at once and then reports
  // progress. Silence for PULL_STALL_MS ends it, and a ping decides whose fault that was.
  const stall = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(new DOMException("stalled", "TimeoutError")), PULL_STALL_MS);
  };
  const signal = opts.signal ? AbortSignal.any([opts.signal, stall.signal]) : stall.signal;
  const stalled = async (err: unknown): Promise<Error> => {
    if (opts.signal?.aborted) return opts.signal.reason ?? err;
    const engineAlive = await api.request("GET", "/_ping", { versioned: false, timeoutMs: PING_MS })
      .then(async (r) => (await discardBody(r), true), () => false);
    const what = `Cannot pull image "${text}": no word from the engine for ${PULL_STALL_MS / 1000} s`;
    return engineAlive
      ? new RegistryError(`${what} (the engine answers: the registry is stalled)`, {
        cause: err,
        unreachable: true,
      })
      : new EngineError(`${what}; engine unresponsive`, { cause: err, brokenNode: true });
  };
  arm();
  let res: Response;
  try {
    res = opts.engine === "podman"
      ? await api.request("POST", "/libpod/images/pull", {
        query: { reference: wanted, policy: "always", ...(opts.insecure ? { tlsVerify: false } : {}) },
        headers,
        signal,
        context: `Cannot pull image "${text}"`,
      })
      : await api.request("POST", "/images/create", {
        query: { fromImage: referenceName(ref), tag: ref.digest || ref.tag },
        headers,
        signal,
        context: `Cannot pull image "${text}"`,
      });
  } catch (err) {
    clearTimeout(timer);
    if (stall.signal.aborted) throw await stalled(err);
    if (err instanceof EngineApiError) throw pullFailure(ref, err.engineMessage, err);
    throw err;
  }
  const progress = new PullProgress(opts.onProgress);
  let failure: string | null = null;
  const take = (line: string) => {
    const msg = parseLoadLine(line) as PullMessage | null;
    if (!msg) return;
    const error = messageError(msg);
    if (error !== null) {
      failure ??= error;
      return;
    }
    const status = (msg.stream ?? msg.status ?? "").trim();
    if (PROGRESS_STATUSES.has(status)) {
      progress.take(msg.id, msg.progressDetail);
      return;
    }
    if (status !== "") log(msg.id && msg.status ? `${msg.id}: ${status}` : status);
  };
  try {
    const splitter = new LineSplitter();
    for await (const chunk of res.body ?? new ReadableStream()) {
      arm();
      splitter.push(chunk).forEach(take);
    }
    splitter.end().forEach(take);
  } catch (err) {
    if (stall.signal.aborted) throw await stalled(err);
    if (opts.signal?.aborted) throw opts.signal.reason ?? err;
    throw api.connectionError(err, `Cannot pull image "${text}" (reading the engine's reply)`);
  } finally {
    clearTimeout(timer);
  }
  if (failure !== null) throw pullFailure(ref, failure);
  const image = await findPulledImage(api, ref);
  if (image === null) {
    throw new ImageError(
      `Cannot pull image "${text}": the engine reported success but has no image "${wanted}"`,
    );
  }
  const { manifestDigest } = image;
  if (ref.digest && manifestDigest !== ref.digest) {
    throw new RegistryError(
      `Cannot pull image "${text}": the engine holds it under ${
        manifestDigest || "no digest"
      }, not ${ref.digest}`,
    );
  }
  log(`Pulled image "${text}": image ID ${image.id}, manifest digest ${manifestDigest || "(none recorded)"}`);
  return image;
}

/** The engine's name for a reference: `name@digest` when pinned, else `name:tag`. */
export function engineImageName(ref: RegistryReference): string {
  return ref.digest ? `${referenceName(ref)}@${ref.digest}` : `${referenceName(ref)}:${ref.tag}`;
}

/**
 * The image the engine already has for `ref` (by digest when pinned, else by tag), with the manifest digest it
 * was pulled by, or null when the engine has none.
 */
export async function findPulledImage(
  api: EngineTransport,
  ref: RegistryReference,
): Promise<PulledImage | null> {
  const image = await inspectImage(api, engineImageName(ref));
  if (image === null) return null;
  return { ...image, manifestDigest: repoDigestFor(image.repoDigests, ref) };
}

/** What {@link prepareRegistryImage} needs: a pull, and the policy that decides whether it happens. */
export interface PrepareRegistryImageOptions extends PullImageOptions {
  /** `--pull`. */
  policy: PullPolicy;
}

interface DockerInfo {
  RegistryConfig?: { IndexConfigs?: Record<string, { Secure?: boolean }>; InsecureRegistryCIDRs?: string[] };
}

/**
 * Whether the Docker daemon will speak plain HTTP to `registry`: loopback always, others only when its
 * `insecure-registries` names them. Null when the daemon does not say.
 */
async function dockerTreatsInsecure(api: EngineTransport, registry: string): Promise<boolean | null> {
  if (isLoopbackRegistry(registry)) return true;
  try {
    const info = await api.json<DockerInfo>("GET", "/info", {
      timeoutMs: INSPECT_MS,
      context: "Cannot read the Docker daemon's settings",
    });
    const index = info.RegistryConfig?.IndexConfigs?.[registry];
    return index ? index.Secure === false : false;
  } catch {
    return null;
  }
}

/**
 * Makes a registry image present in the engine according to the pull policy, and returns it with the manifest
 * digest it came from.
 * @throws {ImageAbsentError} (exit 2) for `never` when the engine does not have the image.
 * @throws {RegistryError} and {@link EngineError} as {@link pullImage}.
 */
export async function prepareRegistryImage(
  api: EngineTransport,
  opts: PrepareRegistryImageOptions,
): Promise<PulledImage> {
  const ref = opts.reference;
  const text = referenceString(ref);
  if (opts.policy !== "always") {
    const found = await findPulledImage(api, ref);
    if (found) {
      opts.log(
        `Image "${text}" is already in the engine (image ID ${found.id}` +
          `${found.manifestDigest ? `, manifest digest ${found.manifestDigest}` : ""}); not contacting the ` +
          `registry (--pull ${opts.policy})`,
      );
      return found;
    }
    if (opts.policy === "never") {
      throw new ImageAbsentError(
        `Image "${text}" is not in the ${
          opts.engine === "podman" ? "Podman" : "Docker"
        } engine and --pull never ` +
          `forbids fetching it: run "berth pull" on this node first, or use --pull missing`,
      );
    }
  }
  if (
    opts.insecure && opts.engine === "docker" && (await dockerTreatsInsecure(api, ref.registry)) === false
  ) {
    opts.log(
      `Warning: --insecure-registry ${ref.registry}: the Docker daemon decides itself which registries it speaks ` +
        `plain HTTP to, and its "insecure-registries" setting does not name this one; the pull uses HTTPS`,
    );
  }
  return await pullImage(api, opts);
}

/**
 * The Docker-API executor's image step: loads a tarball, pulls a registry image as the policy allows, refuses a
 * SIF file (which the run's plan already refuses before anything is created).
 * @throws {ImageError} for a SIF file or a bad tarball; what {@link prepareRegistryImage} and `loadImage` throw.
 */
export async function prepareDockerImage(
  api: EngineTransport,
  engine: DockerApiEngine,
  source: ImageSource,
  opts: PrepareImageOptions,
  log: LogFn,
): Promise<PreparedImage> {
  switch (source.kind) {
    case "tarball":
      await loadImage(api, source.manifest.id, source.path, log, {
        onProgress: opts.onProgress,
        signal: opts.signal,
      });
      return { id: source.manifest.id, config: source.manifest.config };
    case "sif":
      throw new ImageError(
        `${
          engine === "podman" ? "Podman" : "Docker"
        } cannot run the SIF file "${source.path}": SIF images run ` +
          `under Singularity or Apptainer`,
      );
    case "registry": {
      const ref = source.reference;
      const pulled = await prepareRegistryImage(api, {
        engine,
        reference: ref,
        credentials: opts.credentials,
        insecure: isInsecureRegistry(ref.registry, opts.insecureRegistries),
        policy: opts.pull,
        log,
        onProgress: opts.onProgress,
        signal: opts.signal,
      });
      return {
        id: pulled.id,
        config: pulled.config,
        reference: referenceString(ref),
        manifestDigest: pulled.manifestDigest,
      };
    }
  }
}
