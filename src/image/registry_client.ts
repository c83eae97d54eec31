/**
 * A reader of the registry HTTP API (the OCI distribution spec, which Docker Hub, GHCR, Harbor and Debian's
 * `docker-registry` serve): resolves a reference to its manifest digest, platform manifest and config, and
 * streams blobs. Used where berth itself must know an image's config digest before having the image: the
 * Singularity/Apptainer SIF cache is keyed by it, so that the same image from a tarball and from a registry is
 * converted once.
 *
 * Authentication follows the registry's `WWW-Authenticate` challenge: `Basic` sends the credentials to the
 * registry; `Bearer` asks the named token server for a pull token (with the credentials, or anonymously), as
 * `docker pull` does. Every document is checked against its digest. Credentials are only ever in request
 * headers; no message of this module contains them.
 *
 * Network access is TCP to the registry (and its token server and blob redirect hosts): the permission profiles
 * grant it through `${BERTH_REGISTRIES}` (see scripts/profiles/). A refusal by the profile passes through as
 * Deno's `NotCapable`, like every permission refusal.
 *
 * @module
 */

import type { ImageConfig } from "./docker_archive.ts";
import { Sha256, sha256Of } from "./digest.ts";
import { referenceString, registryApiHost, type RegistryReference } from "./reference.ts";
import type { RegistryCredentials } from "./registry_auth.ts";
import { RegistryError } from "./registry_error.ts";

/** Media types of manifests berth reads, in the order of preference sent in `Accept`. */
export const MANIFEST_MEDIA_TYPES = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
} as const;

const ACCEPT = Object.values(MANIFEST_MEDIA_TYPES).join(", ");
const MAX_DOCUMENT_BYTES = 4 << 20;
const MAX_CONFIG_BYTES = 16 << 20;
/** Bound on one request for a document (manifest, config, token), headers and body. */
export const DOCUMENT_TIMEOUT_MS = 30_000;
/** A blob transfer that brings no byte for this long is abandoned. */
export const BLOB_IDLE_MS = 60_000;

/** A content descriptor: what a manifest says about a config or layer blob. */
export interface Descriptor {
  /** The blob's media type. */
  mediaType: string;
  /** `sha256:<hex>`. */
  digest: string;
  /** Size in bytes. */
  size: number;
  /** In an index: the platform the manifest is for. */
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** A single-platform image manifest (Docker schema 2 or OCI). */
export interface PlatformManifest {
  /** The manifest's media type. */
  mediaType: string;
  /** The config blob. */
  config: Descriptor;
  /** Layer blobs, bottom first. */
  layers: Descriptor[];
}

/** What a reference resolved to. */
export interface ResolvedImage {
  /** The reference resolved. */
  reference: RegistryReference;
  /** Digest of the document the reference names (an index for a multi-platform image): what `@digest` pins. */
  manifestDigest: string;
  /** The manifest for this node's platform. */
  manifest: PlatformManifest;
  /** `sha256:<hex>` of the config: the image ID. */
  id: string;
  /** The config file exactly as stored (its digest is the image ID). */
  configBytes: Uint8Array;
  /** The config, parsed. */
  config: ImageConfig;
}

/** Options of a {@link RegistryClient}. */
export interface RegistryClientOptions {
  /** Credentials for the registry, or null for anonymous pulls. */
  credentials: RegistryCredentials | null;
  /** Speak plain HTTP (`--insecure-registry`). */
  insecure: boolean;
  /** The platform to pick from a multi-platform image. @default linux and this machine's architecture */
  platform?: { os: string; architecture: string };
  /** Aborts every request. */
  signal?: AbortSignal;
}

/** This machine's platform in OCI terms. */
export function hostPlatform(): { os: string; architecture: string } {
  const arch = ({ x86_64: "amd64", aarch64: "arm64" } as Record<string, string>)[Deno.build.arch] ??
    Deno.build.arch;
  return { os: "linux", architecture: arch };
}

/** Parses `Bearer realm="…",service="…",scope="…"` (or `Basic realm="…"`). */
export function parseChallenge(header: string): { scheme: string; params: Record<string, string> } {
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return { scheme: "", params: {} };
  const params: Record<string, string> = {};
  for (const p of m[2].matchAll(/([\w-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g)) {
    params[p[1].toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, "$1") : p[3];
  }
  return { scheme: m[1].toLowerCase(), params };
}

function basicHeader(username: string, password: string): string {
  const bytes = new TextEncoder().encode(`${username}:${password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}

function isPermissionError(err: unknown): boolean {
  return err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied;
}

function detailOf(err: unknown): string {
  const e = err as { message?: string; cause?: { message?: string } };
  const text = [e?.message, e?.cause?.message].filter(Boolean).join(": ");
  return (text || String(err)).replace(/\s*\n\s*/g, " ");
}

/** Reads a body up to `max` bytes; longer bodies are refused. */
async function readLimited(res: Response, max: number, what: string): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of res.body ?? new ReadableStream<Uint8Array>()) {
    size += chunk.byteLength;
    if (size > max) {
      await res.body?.cancel().catch(() => {});
      throw new RegistryError(`${what} is larger than ${max} bytes`);
    }
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}

/** The registry's own words from an error body (`{"errors":[{"code","message"}]}`), or its start. */
async function registryMessage(res: Response): Promise<string> {
  let text = "";
  try {
    text = new TextDecoder().decode(await readLimited(res, 64 << 10, "error body"));
  } catch {
    return "";
  }
  try {
    const body = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
    if (Array.isArray(body.errors) && body.errors.length > 0) {
      return body.errors.map((e) => [e.code, e.message].filter(Boolean).join(": ")).join("; ");
    }
  } catch {
    // Not JSON.
  }
  return text.trim().replace(/\s+/g, " ").slice(0, 300);
}

/** A client for one registry and repository. */
export class RegistryClient {
  readonly #ref: RegistryReference;
  readonly #opts: RegistryClientOptions;
  readonly #base: string;
  #authorization = "";

  /**
   * @param reference The image (its registry and repository are the client's).
   * @param options Credentials, plain HTTP, platform, abort signal.
   */
  constructor(reference: RegistryReference, options: RegistryClientOptions) {
    this.#ref = reference;
    this.#opts = options;
    const scheme = options.insecure ? "http" : "https";
    this.#base = `${scheme}://${registryApiHost(reference.registry)}/v2/${reference.repository}`;
  }

  #fail(problem: string, options?: { cause?: unknown; unreachable?: boolean }): RegistryError {
    return new RegistryError(`Cannot pull image "${referenceString(this.#ref)}": ${problem}`, options);
  }

  #signal(bound: number | AbortSignal): AbortSignal {
    const own = typeof bound === "number" ? AbortSignal.timeout(bound) : bound;
    return this.#opts.signal ? AbortSignal.any([this.#opts.signal, own]) : own;
  }

  async #fetch(url: string, init: RequestInit, what: string): Promise<Response> {
    try {
      return await fetch(url, init);
    } catch (err) {
      if (isPermissionError(err)) throw err;
      if (this.#opts.signal?.aborted) throw this.#opts.signal.reason ?? err;
      const timedOut = err instanceof DOMException && err.name === "TimeoutError";
      throw this.#fail(
        timedOut
          ? `${what}: no answer from ${new URL(url).host} in time`
          : `${what}: cannot reach ${new URL(url).host}: ${detailOf(err)}`,
        { cause: err, unreachable: true },
      );
    }
  }

  /** Gets a pull token from the token server a Bearer challenge names. */
  async #token(params: Record<string, string>): Promise<string> {
    const realm = params.realm;
    if (!realm) throw this.#fail("the registry asked for a token but named no token server");
    const url = new URL(realm);
    if (params.service) url.searchParams.set("service", params.service);
    url.searchParams.set("scope", params.scope ?? `repository:${this.#ref.repository}:pull`);
    const creds = this.#opts.credentials;
    let res: Response;
    if (creds?.kind === "identity-token") {
      const form = new URLSearchParams({
        grant_type: "refresh_token",
        refresh_token: creds.identityToken,
        service: params.service ?? "",
        scope: url.searchParams.get("scope") ?? "",
        client_id: "berth",
      });
      res = await this.#fetch(realm, {
        method: "POST",
        body: form,
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        signal: this.#signal(DOCUMENT_TIMEOUT_MS),
      }, "token request");
    } else {
      const headers: Record<string, string> = {};
      if (creds?.kind === "basic") headers.Authorization = basicHeader(creds.username, creds.password);
      res = await this.#fetch(
        url.href,
        { headers, signal: this.#signal(DOCUMENT_TIMEOUT_MS) },
        "token request",
      );
    }
    if (!res.ok) {
      const why = await registryMessage(res);
      throw this.#fail(
        `the token server ${url.host} refused${
          creds ? " the credentials" : " an anonymous pull"
        } (HTTP ${res.status})` +
          (why ? `: ${why}` : ""),
      );
    }
    const body = JSON.parse(new TextDecoder().decode(await readLimited(res, 1 << 20, "token"))) as {
      token?: string;
      access_token?: string;
    };
    const token = body.token ?? body.access_token;
    if (typeof token !== "string" || token === "") throw this.#fail("the token server sent no token");
    return token;
  }

  /**
   * One authenticated GET: answers a 401 challenge once (Basic or Bearer) and repeats the request.
   * @param bound Milliseconds for the whole request, or a signal that aborts it.
   */
  async get(path: string, accept: string, what: string, bound: number | AbortSignal): Promise<Response> {
    const url = `${this.#base}${path}`;
    for (let attempt = 0;; attempt++) {
      const headers: Record<string, string> = { Accept: accept };
      if (this.#authorization) headers.Authorization = this.#authorization;
      const res = await this.#fetch(url, { headers, signal: this.#signal(bound) }, what);
      if (res.status !== 401 || attempt > 0) {
        if (res.ok) return res;
        const why = await registryMessage(res);
        const auth = res.status === 401 || res.status === 403
          ? this.#opts.credentials ? " (the credentials were refused)" : " (no credentials for this registry)"
          : "";
        throw this.#fail(`${what}: the registry answered HTTP ${res.status}${why ? ` ${why}` : ""}${auth}`);
      }
      await res.body?.cancel().catch(() => {});
      const challenge = parseChallenge(res.headers.get("WWW-Authenticate") ?? "");
      const creds = this.#opts.credentials;
      if (challenge.scheme === "bearer") {
        this.#authorization = `Bearer ${await this.#token(challenge.params)}`;
      } else if (challenge.scheme === "basic" && creds?.kind === "basic") {
        this.#authorization = basicHeader(creds.username, creds.password);
      } else {
        throw this.#fail(
          `${what}: the registry wants ${challenge.scheme || "unknown"} authentication` +
            (creds ? " that these credentials cannot give" : " and no --registry-auth entry names it"),
        );
      }
    }
  }

  /**
   * Fetches one JSON document (a manifest, index or config), bounded in size and time, and checks it against
   * `digest` when one is expected.
   */
  async #document(
    path: string,
    accept: string,
    what: string,
    maxBytes: number,
    digest: string | null,
  ): Promise<{ bytes: Uint8Array; digest: string; doc: unknown; res: Response }> {
    const res = await this.get(path, accept, what, DOCUMENT_TIMEOUT_MS);
    const bytes = await readLimited(res, maxBytes, what).catch((err) => {
      if (err instanceof RegistryError) throw this.#fail(err.message);
      throw this.#fail(`${what}: the transfer broke off: ${detailOf(err)}`, {
        cause: err,
        unreachable: true,
      });
    });
    const got = sha256Of(bytes);
    if (digest !== null && got !== digest) {
      throw this.#fail(`${what}: the registry sent a document whose digest is ${got}`);
    }
    try {
      return { bytes, digest: got, doc: JSON.parse(new TextDecoder().decode(bytes)), res };
    } catch {
      throw this.#fail(`${what} is not valid JSON`);
    }
  }

  /** Fetches a manifest or index by tag or digest; checks a digest reference against the bytes. */
  async #manifest(tagOrDigest: string): Promise<{ digest: string; mediaType: string; doc: unknown }> {
    const pinned = tagOrDigest.startsWith("sha256:") ? tagOrDigest : null;
    const { digest, doc, res } = await this.#document(
      `/manifests/${tagOrDigest}`,
      ACCEPT,
      `manifest ${tagOrDigest}`,
      MAX_DOCUMENT_BYTES,
      pinned,
    );
    const declared = (doc as { mediaType?: unknown })?.mediaType;
    const header = (res.headers.get("Content-Type") ?? "").split(";")[0].trim();
    const mediaType = typeof declared === "string" && declared !== "" ? declared : header;
    return { digest, mediaType, doc };
  }

  /** Picks this platform's manifest out of an index. */
  #pick(index: { manifests?: Descriptor[] }): Descriptor {
    const want = this.#opts.platform ?? hostPlatform();
    const entries = Array.isArray(index.manifests) ? index.manifests : [];
    const found = entries.find((m) =>
      m.platform?.os === want.os && m.platform?.architecture === want.architecture
    );
    if (!found) {
      const has = entries.map((m) => `${m.platform?.os ?? "?"}/${m.platform?.architecture ?? "?"}`).join(
        ", ",
      );
      throw this.#fail(
        `the image has no manifest for ${want.os}/${want.architecture} (it has: ${has || "none"})`,
      );
    }
    return found;
  }

  /**
   * Resolves the reference: the manifest digest it names, this platform's manifest, and the config.
   * @throws {RegistryError} when the registry cannot be reached, refuses, or sends what does not verify.
   */
  async resolve(): Promise<ResolvedImage> {
    const ref = this.#ref;
    const top = await this.#manifest(ref.digest || ref.tag);
    let current = top;
    if (
      current.mediaType === MANIFEST_MEDIA_TYPES.ociIndex ||
      current.mediaType === MANIFEST_MEDIA_TYPES.dockerList
    ) {
      current = await this.#manifest(this.#pick(current.doc as { manifests?: Descriptor[] }).digest);
    }
    const doc = current.doc as { schemaVersion?: number; config?: Descriptor; layers?: Descriptor[] };
    if (doc.schemaVersion !== 2 || !doc.config || !Array.isArray(doc.layers)) {
      throw this.#fail(
        `the manifest (media type "${current.mediaType}") is not a schema 2 or OCI image manifest; berth reads only those`,
      );
    }
    const manifest: PlatformManifest = {
      mediaType: current.mediaType,
      config: doc.config,
      layers: doc.layers,
    };
    const what = `config ${manifest.config.digest}`;
    const fetched = await this.#document(
      `/blobs/${manifest.config.digest}`,
      "*/*",
      what,
      MAX_CONFIG_BYTES,
      manifest.config.digest,
    );
    const configBytes = fetched.bytes;
    const id = fetched.digest;
    const config = fetched.doc as ImageConfig;
    const diffIds = config?.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== manifest.layers.length) {
      throw this.#fail(
        `${what} lists ${
          Array.isArray(diffIds) ? diffIds.length : "no"
        } layer diff IDs for ${manifest.layers.length} layers`,
      );
    }
    return { reference: ref, manifestDigest: top.digest, manifest, id, configBytes, config };
  }

  /**
   * Opens a blob for reading; the caller verifies the digest (see {@link verifyingStream}). The transfer is
   * abandoned when no byte arrives for {@link BLOB_IDLE_MS} (the stream then errors with a RegistryError).
   * @throws {RegistryError} as {@link RegistryClient.get}.
   */
  async blob(digest: string): Promise<ReadableStream<Uint8Array>> {
    const what = `layer ${digest}`;
    const idle = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(new DOMException("stalled", "TimeoutError")), BLOB_IDLE_MS);
    };
    arm();
    let res: Response;
    try {
      res = await this.get(`/blobs/${digest}`, "*/*", what, idle.signal);
    } catch (err) {
      clearTimeout(timer);
      throw err;
    }
    arm();
    const fail = (err: unknown) =>
      idle.signal.aborted && !this.#opts.signal?.aborted
        ? this.#fail(`${what}: no data for ${BLOB_IDLE_MS / 1000} s`, { cause: err, unreachable: true })
        : err instanceof RegistryError || this.#opts.signal?.aborted
        ? err
        : this.#fail(`${what}: the transfer broke off: ${detailOf(err)}`, { cause: err, unreachable: true });
    const reader = (res.body ?? new ReadableStream<Uint8Array>()).getReader();
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        try {
          const { done, value } = await reader.read();
          if (done) {
            clearTimeout(timer);
            controller.close();
          } else {
            arm();
            controller.enqueue(value);
          }
        } catch (err) {
          clearTimeout(timer);
          controller.error(fail(err));
        }
      },
      async cancel(reason) {
        clearTimeout(timer);
        await reader.cancel(reason).catch(() => {});
      },
    });
  }
}

/**
 * Passes a blob through while hashing it; at the end the digest (and the size, when given) must match, else the
 * stream errors with a {@link RegistryError}.
 */
export function verifyingStream(
  digest: string,
  size: number | null,
  what: string,
  onBytes?: (n: number) => void,
): TransformStream<Uint8Array, Uint8Array> {
  const hash = new Sha256();
  return new TransformStream({
    transform(chunk, controller) {
      hash.update(chunk);
      onBytes?.(chunk.byteLength);
      controller.enqueue(chunk);
    },
    flush() {
      const got = hash.digest();
      if (got !== digest) {
        throw new RegistryError(`${what}: the registry sent data whose digest is ${got}, not ${digest}`);
      }
      if (size !== null && hash.bytes !== size) {
        throw new RegistryError(`${what}: the registry sent ${hash.bytes} bytes, not ${size}`);
      }
    },
  });
}
