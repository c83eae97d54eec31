/**
 * The image options `berth run` and `berth pull` share: `--pull`, `--insecure-registry`, `--registry-auth`.
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
} as const;

/** The image options' lines of a command's help text. */
export const IMAGE_OPTIONS_HELP =
  `  --pull missing|always|never  when to ask a registry for a docker:// image: missing (default) uses the
                               image the engine or the SIF cache already has; always resolves the tag again;
                               never fails (exit 2) when the image is absent
  --insecure-registry HOST[:PORT]
                               a registry spoken to over plain HTTP / without TLS checks (repeatable);
                               Docker itself decides for registries other than 127.0.0.0/8
  --registry-auth FILE         Docker config.json-style credentials ("auths") for registry images`;

/** The parsed image options. */
export interface ImageOptions {
  /** `--pull`. @default "missing" */
  pull: PullPolicy;
  /** `--insecure-registry` values, lowercase. @default [] */
  insecureRegistries: string[];
  /** `--registry-auth`, absolute, or "" for none. */
  registryAuth: string;
}

/**
 * Checks the image options' values.
 * @param command The command name for messages (`run`, `pull`).
 * @throws {UsageError} naming the option and what it expects.
 */
export function parseImageOptions(
  command: string,
  values: { pull?: string; "insecure-registry"?: string[]; "registry-auth"?: string },
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
  return { pull, insecureRegistries, registryAuth };
}
