/**
 * `--registry-auth FILE`: registry credentials from a Docker `config.json`-style file, the file `docker login`
 * and `podman login` write:
 *
 * ```json
 * { "auths": { "ghcr.io": { "auth": "<base64 of user:password>" },
 *              "https://index.docker.io/v1/": { "identitytoken": "<token>" } } }
 * ```
 *
 * Keys may be host names or URLs (`https://host:port/v1/`); Docker Hub is found under any of its names.
 * Credential helpers (`credHelpers`, `credsStore`) run programs berth does not run: a registry they serve is
 * refused with a clear line instead of being pulled anonymously.
 *
 * Secrets never appear in a message of this module; {@link credentialSecrets} lists them for the log filters.
 *
 * @module
 */

import { UsageError } from "../errors.ts";
import { DOCKER_HUB } from "./reference.ts";

/** Credentials for one registry. */
export type RegistryCredentials =
  | {
    /** User name and password (or a personal access token used as the password). */
    kind: "basic";
    /** The user name. */
    username: string;
    /** The password. */
    password: string;
  }
  | {
    /** An OAuth2 refresh token from `docker login` against a token server (`identitytoken`). */
    kind: "identity-token";
    /** The user name, when the file gives one (informational). */
    username: string;
    /** The refresh token. */
    identityToken: string;
  };

/** A bad or unusable `--registry-auth` file, or a registry it cannot serve. Exit code 2. */
export class RegistryAuthError extends UsageError {}

/** The parsed file: credentials by normalised registry name, and the helpers berth refuses. */
export interface RegistryAuthFile {
  /** The file's path, for messages. */
  path: string;
  /** Credentials keyed by normalised registry (`docker.io`, `host:port`). */
  auths: Map<string, RegistryCredentials>;
  /** `credHelpers`: registry → helper name. */
  helpers: Map<string, string>;
  /** `credsStore`, or "". */
  store: string;
}

const DOCKER_HUB_ALIASES = new Set(["docker.io", "index.docker.io", "registry-1.docker.io"]);
const MAX_FILE_BYTES = 1 << 20;

/**
 * The registry name of a `config.json` key: the scheme and any path are dropped (`https://host:5000/v1/` →
 * `host:5000`) and Docker Hub's names become `docker.io`.
 */
export function normaliseRegistryKey(key: string): string {
  const host = key.trim().replace(/^[a-z][a-z0-9+.-]*:\/\//i, "").split("/")[0].toLowerCase();
  return DOCKER_HUB_ALIASES.has(host) ? DOCKER_HUB : host;
}

function decodeBase64(text: string): string | null {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(
      Uint8Array.from(atob(text.trim()), (c) => c.charCodeAt(0)),
    );
  } catch {
    return null;
  }
}

/**
 * Interprets the text of a `config.json`-style file. Only structure is reported in errors, never a value.
 * @param text The file's content.
 * @param path The file's path, for messages.
 * @throws {RegistryAuthError} for text that is not such a file.
 */
export function parseRegistryAuth(text: string, path: string): RegistryAuthFile {
  const fail = (problem: string) =>
    new RegistryAuthError(`Cannot use registry auth file "${path}": ${problem}`);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw fail("it is not valid JSON");
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw fail("it is not a JSON object");
  const root = doc as Record<string, unknown>;
  const file: RegistryAuthFile = { path, auths: new Map(), helpers: new Map(), store: "" };
  const auths = root.auths ?? {};
  if (auths === null || typeof auths !== "object" || Array.isArray(auths)) {
    throw fail(`field "auths" must be an object of registry entries`);
  }
  for (const [key, entry] of Object.entries(auths as Record<string, unknown>)) {
    const where = `field "auths[${JSON.stringify(key)}]"`;
    if (entry === null || typeof entry !== "object" || Array.isArray(entry)) {
      throw fail(`${where} must be an object`);
    }
    const e = entry as Record<string, unknown>;
    for (const name of ["auth", "username", "password", "identitytoken"]) {
      if (e[name] !== undefined && typeof e[name] !== "string") {
        throw fail(`${where}.${name} must be a string`);
      }
    }
    const registry = normaliseRegistryKey(key);
    let username = typeof e.username === "string" ? e.username : "";
    let password = typeof e.password === "string" ? e.password : "";
    if (typeof e.auth === "string" && e.auth !== "") {
      const decoded = decodeBase64(e.auth);
      const colon = decoded?.indexOf(":") ?? -1;
      if (decoded === null || colon < 0) {
        throw fail(`${where}.auth must be base64 of "user:password"`);
      }
      username = decoded.slice(0, colon);
      password = decoded.slice(colon + 1);
    }
    if (typeof e.identitytoken === "string" && e.identitytoken !== "") {
      file.auths.set(registry, { kind: "identity-token", username, identityToken: e.identitytoken });
    } else if (username !== "" || password !== "") {
      file.auths.set(registry, { kind: "basic", username, password });
    }
  }
  const helpers = root.credHelpers ?? {};
  if (helpers === null || typeof helpers !== "object" || Array.isArray(helpers)) {
    throw fail(`field "credHelpers" must be an object`);
  }
  for (const [key, helper] of Object.entries(helpers as Record<string, unknown>)) {
    file.helpers.set(normaliseRegistryKey(key), String(helper));
  }
  if (root.credsStore !== undefined) {
    if (typeof root.credsStore !== "string") throw fail(`field "credsStore" must be a string`);
    file.store = root.credsStore;
  }
  return file;
}

/**
 * Reads and parses a `--registry-auth` file.
 * @throws {RegistryAuthError} when the file cannot be read or is not a `config.json`-style file.
 */
export async function readRegistryAuth(path: string): Promise<RegistryAuthFile> {
  let text: string;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new Error("not a regular file");
    if (info.size > MAX_FILE_BYTES) throw new Error(`larger than ${MAX_FILE_BYTES} bytes`);
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    throw new RegistryAuthError(
      `Cannot read registry auth file "${path}": ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  return parseRegistryAuth(text, path);
}

/**
 * The credentials for `registry` (a normalised name, as {@link RegistryReference.registry}), or null to pull
 * anonymously.
 * @throws {RegistryAuthError} when the file hands the registry to a credential helper or store, which berth does
 *   not run (pulling anonymously instead would hide the mistake behind an "unauthorized" from the registry).
 */
export function credentialsFor(file: RegistryAuthFile | null, registry: string): RegistryCredentials | null {
  if (file === null) return null;
  const key = normaliseRegistryKey(registry);
  const helper = file.helpers.get(key);
  if (helper !== undefined) {
    throw new RegistryAuthError(
      `Cannot use registry auth file "${file.path}": registry "${key}" is served by the credential helper ` +
        `"docker-credential-${helper}" ("credHelpers"), which berth does not run; put its "auth" in "auths"`,
    );
  }
  const found = file.auths.get(key);
  if (found) return found;
  if (file.store !== "") {
    throw new RegistryAuthError(
      `Cannot use registry auth file "${file.path}": it keeps credentials in the store ` +
        `"docker-credential-${file.store}" ("credsStore"), which berth does not run, and has no "auths" entry ` +
        `for registry "${key}"`,
    );
  }
  return null;
}

/**
 * Every text that would give the credentials away: the password, the token, and the base64 `user:password` as
 * it stands in the file and in HTTP Basic headers. Log and record filters replace these.
 */
export function credentialSecrets(creds: RegistryCredentials | null): string[] {
  if (creds === null) return [];
  if (creds.kind === "identity-token") return [creds.identityToken];
  const pair = `${creds.username}:${creds.password}`;
  return [creds.password, btoa(String.fromCharCode(...new TextEncoder().encode(pair)))].filter((s) =>
    s !== ""
  );
}
