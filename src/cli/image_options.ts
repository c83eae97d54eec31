/**
 * The image options `berth run` and `berth pull` share: `--pull`, `--insecure-registry`, `--registry-auth`, and
 * the SIF cache's trust (`--image-cache-group`, `--image-cache-verify`).
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { DEFAULT_PULL_POLICY, isRegistryHost, PULL_POLICIES, type PullPolicy } from "../image/mod.ts";
import { parseChoice } from "./command.ts";

/** The `node:util` parseArgs definitions of the image options. */
export const IMAGE_OPTIONS = {
  pull: { type: "string" },
  "insecure-registry": { type: "string", multiple: true },
  "registry-auth": { type: "string" },
  "image-cache-group": { type: "string" },
  "image-cache-verify": { type: "boolean" },
} as const;

/** The image options' lines of a command's help text. */
export const IMAGE_OPTIONS_HELP =
  `  --pull missing|always|never  when to ask a registry for a docker:// image: missing (default) uses the
                               image the engine or the SIF cache already has; always resolves the tag again;
                               never fails (exit 2) when the image is absent
  --insecure-registry HOST[:PORT]
                               a registry spoken to over plain HTTP / without TLS checks (repeatable);
                               Docker itself decides for registries other than 127.0.0.0/8
  --registry-auth FILE         Docker config.json-style credentials ("auths") for registry images
  --image-cache-group GROUP    trust SIF cache entries of this group's members too (a name from /etc/group or
                               a number; default: only the user's own entries and root's)
  --image-cache-verify         re-hash a cached SIF against its record before using it (reads it whole)`;

/** The parsed image options. */
export interface ImageOptions {
  /** `--pull`. @default "missing" */
  pull: PullPolicy;
  /** `--insecure-registry` values, lowercase. @default [] */
  insecureRegistries: string[];
  /** `--registry-auth`, absolute, or "" for none. */
  registryAuth: string;
  /** `--image-cache-group`: the gid whose members' SIF cache entries are trusted; null when not given. */
  imageCacheGroup: number | null;
  /** `--image-cache-verify`. @default false */
  imageCacheVerify: boolean;
}

/**
 * Checks the image options' values.
 * @param command The command name for messages (`run`, `pull`).
 * @throws {UsageError} naming the option and what it expects.
 */
export function parseImageOptions(
  command: string,
  values: {
    pull?: string;
    "insecure-registry"?: string[];
    "registry-auth"?: string;
    "image-cache-group"?: string;
    "image-cache-verify"?: boolean;
  },
  cwd: string,
): ImageOptions {
  const pull = parseChoice(command, "pull", values.pull, PULL_POLICIES, DEFAULT_PULL_POLICY);
  const insecureRegistries = (values["insecure-registry"] ?? []).map((host) => {
    if (!isRegistryHost(host)) {
      throw new UsageError(
        `${command}: --insecure-registry must be a registry HOST or HOST:PORT (no scheme, no path), got ${
          JSON.stringify(host)
        }`,
      );
    }
    return host.toLowerCase();
  });
  const auth = values["registry-auth"];
  if (auth === "") throw new UsageError(`${command}: --registry-auth must not be empty`);
  const registryAuth = auth === undefined ? "" : isAbsolute(auth) ? resolve(auth) : resolve(cwd, auth);
  return {
    pull,
    insecureRegistries,
    registryAuth,
    imageCacheGroup: groupId(command, values["image-cache-group"]),
    imageCacheVerify: values["image-cache-verify"] ?? false,
  };
}

/** `--image-cache-group`: a gid, or a group name looked up in /etc/group; null when not given. */
function groupId(command: string, value: string | undefined): number | null {
  if (value === undefined) return null;
  if (/^\d{1,10}$/.test(value) && Number(value) < 2 ** 32) return Number(value);
  let text = "";
  try {
    text = Deno.readTextFileSync("/etc/group");
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
  }
  const line = text.split("\n").map((l) => l.split(":")).find((f) =>
    f[0] === value && /^\d+$/.test(f[2] ?? "")
  );
  if (!line) {
    throw new UsageError(
      `${command}: --image-cache-group must be a group id or a group name in /etc/group, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return Number(line[2]);
}
