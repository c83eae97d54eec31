/**
 * Registry image references, `docker://NAME[:TAG][@sha256:DIGEST]`, read with Docker's own normalisation rules
 * (github.com/distribution/reference): a first path component that has no "." or ":", is not `localhost` and is
 * lowercase is a repository path on Docker Hub, not a host; Docker Hub's host is written `docker.io` (also when
 * given as `index.docker.io`); a one-component Docker Hub repository gets `library/`; with neither tag nor digest
 * the tag is `latest`. A reference with both tag and digest keeps both, and the digest decides what is pulled.
 *
 * @module
 */

/** The prefix that marks a registry image in `container_image`. */
export const DOCKER_SCHEME = "docker://";

/** Docker Hub's canonical registry name. */
export const DOCKER_HUB = "docker.io";

/** The host that actually serves Docker Hub's registry API. */
export const DOCKER_HUB_API_HOST = "registry-1.docker.io";

/** The longest repository name (registry included) Docker accepts. */
export const MAX_NAME_LENGTH = 255;

/** A normalised registry image reference. */
export interface RegistryReference {
  /** Registry host, with `:port` when given: `docker.io`, `127.0.0.1:5000`, `localhost`, `ghcr.io`. */
  registry: string;
  /** Repository path inside the registry: `library/busybox`, `org/tool`. */
  repository: string;
  /** The tag; "" when only a digest was given. */
  tag: string;
  /** `sha256:<64 hex>`, or "" when not pinned. */
  digest: string;
}

/** The result of {@link parseRegistryReference}: the reference, or the problem with the text. */
export type RegistryReferenceResult =
  | { ok: true; reference: RegistryReference }
  | { ok: false; problem: string };

const ALNUM = "[a-z0-9]+";
const SEPARATOR = "(?:[._]|__|[-]*)";
const PATH_COMPONENT = new RegExp(`^${ALNUM}(?:${SEPARATOR}${ALNUM})*$`);
const HOST_COMPONENT = "(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])";
const HOST = new RegExp(`^${HOST_COMPONENT}(?:\\.${HOST_COMPONENT})*(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[0-9a-f]{64}$/;
const BARE_ID = /^[0-9a-f]{64}$/;

function quoted(text: string): string {
  return JSON.stringify(text.length > 100 ? text.slice(0, 100) + "…" : text);
}

/**
 * Splits a name into registry and repository path as Docker does (`splitDockerDomain`).
 * @param name The name without tag or digest.
 * @returns The registry (normalised) and the repository path (with `library/` added for Docker Hub).
 */
export function splitRegistry(name: string): { registry: string; repository: string } {
  const slash = name.indexOf("/");
  let registry: string;
  let repository: string;
  const first = slash < 0 ? "" : name.slice(0, slash);
  if (
    slash < 0 ||
    (!/[.:]/.test(first) && first !== "localhost" && first.toLowerCase() === first)
  ) {
    registry = DOCKER_HUB;
    repository = name;
  } else {
    registry = first;
    repository = name.slice(slash + 1);
  }
  if (registry === "index.docker.io") registry = DOCKER_HUB;
  if (registry === DOCKER_HUB && !repository.includes("/")) repository = `library/${repository}`;
  return { registry, repository };
}

/**
 * Parses a `container_image` value that starts with `docker://`.
 *
 * @param text The whole value, `docker://` included.
 * @returns The normalised reference, or a problem phrase for `field "container_image" <problem>` that names the
 *   part at fault (registry host, repository path, tag or digest) and what was expected.
 *
 * @example
 * ```ts
 * import { parseRegistryReference } from "./reference.ts";
 * const r = parseRegistryReference("docker://busybox");
 * console.assert(r.ok && r.reference.repository === "library/busybox" && r.reference.tag === "latest");
 * ```
 */
export function parseRegistryReference(text: string): RegistryReferenceResult {
  const fail = (problem: string): RegistryReferenceResult => ({
    ok: false,
    problem: `${problem} (expected "docker://NAME[:TAG][@sha256:DIGEST]")`,
  });
  if (!text.startsWith(DOCKER_SCHEME)) {
    return fail(`is ${quoted(text)}, which does not start with "docker://"`);
  }
  let rest = text.slice(DOCKER_SCHEME.length);
  if (rest === "") return fail(`is "docker://" without an image name`);
  if (/\s/.test(rest)) return fail(`has white space in ${quoted(text)}`);

  let digest = "";
  const at = rest.indexOf("@");
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) {
      return fail(
        `has an invalid digest ${quoted(digest)}: a digest is "sha256:" and 64 lowercase hex digits`,
      );
    }
  }
  let tag = "";
  const colon = rest.lastIndexOf(":");
  if (colon > rest.lastIndexOf("/")) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) {
      return fail(
        `has an invalid tag ${
          quoted(tag)
        }: a tag is 1 to 128 letters, digits, "_", "." or "-", not starting ` +
          `with "." or "-"`,
      );
    }
  }
  if (rest === "") return fail(`has no image name in ${quoted(text)}`);
  if (BARE_ID.test(rest)) {
    return fail(`names ${quoted(rest)}, a 64-digit hex image ID, not a repository`);
  }
  const { registry, repository } = splitRegistry(rest);
  if (registry !== DOCKER_HUB && !HOST.test(registry)) {
    return fail(
      `has an invalid registry host ${
        quoted(registry)
      }: expected a host name or address with an optional ":PORT"`,
    );
  }
  if (repository === "") return fail(`has no repository path after the registry host ${quoted(registry)}`);
  if (repository.toLowerCase() !== repository) {
    return fail(`has an invalid repository path ${quoted(repository)}: it must be lowercase`);
  }
  const bad = repository.split("/").find((c) => !PATH_COMPONENT.test(c));
  if (bad !== undefined) {
    return fail(
      `has an invalid repository path ${
        quoted(repository)
      }: each "/"-separated part must be lowercase letters ` +
        `and digits, joined by single ".", "_", "__" or runs of "-"${
          bad === "" ? " (an empty part was found)" : ""
        }`,
    );
  }
  const fullName = `${registry}/${repository}`;
  if (fullName.length > MAX_NAME_LENGTH) {
    return fail(
      `has a repository name of ${fullName.length} characters; at most ${MAX_NAME_LENGTH} are allowed`,
    );
  }
  if (tag === "" && digest === "") tag = "latest";
  return { ok: true, reference: { registry, repository, tag, digest } };
}

/** True for a registry host as references and `--insecure-registry` name it: `host`, `host:port`, `1.2.3.4:5000`. */
export function isRegistryHost(text: string): boolean {
  return HOST.test(text);
}

/**
 * True when `registry` (`host[:port]`) is on the loopback network: `127.0.0.0/8`, `localhost`, `::1`. Docker treats
 * these as insecure registries by itself; berth does the same on every engine.
 */
export function isLoopbackRegistry(registry: string): boolean {
  const host = registry.replace(/:\d+$/, "").replace(/^\[(.*)\]$/, "$1");
  return host === "localhost" || host === "::1" || /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** `registry/repository`, as engines name the image without tag or digest: `docker.io/library/busybox`. */
export function referenceName(ref: RegistryReference): string {
  return `${ref.registry}/${ref.repository}`;
}

/**
 * The canonical text of a reference: `docker.io/library/busybox:latest`, `127.0.0.1:5000/x/y@sha256:…`, or with
 * both tag and digest `name:tag@sha256:…`.
 */
export function referenceString(ref: RegistryReference): string {
  return referenceName(ref) + (ref.tag ? `:${ref.tag}` : "") + (ref.digest ? `@${ref.digest}` : "");
}

/** The host whose `/v2/` API serves a registry: Docker Hub's API lives on `registry-1.docker.io`. */
export function registryApiHost(registry: string): string {
  return registry === DOCKER_HUB ? DOCKER_HUB_API_HOST : registry;
}
