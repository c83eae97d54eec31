/**
 * The job as it may be logged: secret mount content removed, secret-looking environment values replaced.
 * @module
 */

import type { ImageRef, Job, JsonObject, JsonValue } from "./types.ts";

/**
 * Fragments that mark a variable's value as secret wherever they appear in its name, in any case
 * (`DB_PASSWORD`, `authToken`, `AWS_SECRET_ACCESS_KEY`). Each is long enough not to occur in ordinary names.
 */
export const SECRET_NAME_FRAGMENTS: readonly string[] = [
  "TOKEN",
  "SECRET",
  "PASSWORD",
  "PASSWD",
  "PASSPHRASE",
  "CREDENTIAL",
  "PRIVATE",
  "CERTIFICATE",
  "AUTHORIZATION",
  "APIKEY",
  "ACCESSKEY",
];

/**
 * Words that mark a variable's value as secret when they are a whole word of its name: the name split at
 * every character that is not a letter and between a lower-case and an upper-case letter (`GITHUB_PAT`,
 * `githubPat`, `BASIC_AUTH`, `SMTP_PASS`). Whole words only, so `PATH`, `PATCH`, `AUTHOR`, `COMPASS` and
 * `CERTAINTY` stay readable. A word ending in `KEY` or `KEYS` (`SSHKEY`, `SIGNING_KEYS`) counts as well.
 */
export const SECRET_NAME_WORDS: readonly string[] = [
  "AUTH",
  "OAUTH",
  "PAT",
  "PASS",
  "PWD",
  "CERT",
  "CERTS",
  "CRED",
  "CREDS",
  "COOKIE",
  "KEY",
  "KEYS",
];

/** Names that match a rule above but are never secrets: the shell's working directory. */
export const NOT_SECRET_NAMES: readonly string[] = ["PWD"];

/** What a redacted value is replaced with. */
export const REDACTED = "<redacted>";

/** The words of a variable name, upper-cased: `githubPat_2` → `GITHUB`, `PAT`. */
function nameWords(name: string): string[] {
  return name.replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase().split(/[^A-Z]+/).filter((w) => w !== "");
}

/**
 * True when an environment variable's value is to be treated as a secret: the job marked the name (see
 * `secret_environment_keys`), or the name contains one of {@link SECRET_NAME_FRAGMENTS} or has one of
 * {@link SECRET_NAME_WORDS} as a word (`ARVADOS_API_TOKEN`, `AUTH_HEADER`, `GITHUB_PAT`, `DB_PWD`).
 *
 * @param name The variable's name.
 * @param marked Names the job marked secret.
 *
 * @example
 * ```ts
 * import { isSecretName } from "./redact.ts";
 * console.assert(isSecretName("GITHUB_PAT") && !isSecretName("PATH"));
 * console.assert(isSecretName("DATABASE_URL", ["DATABASE_URL"]));
 * ```
 */
export function isSecretName(name: string, marked: readonly string[] = []): boolean {
  if (marked.includes(name)) return true;
  if (NOT_SECRET_NAMES.includes(name)) return false;
  const upper = name.toUpperCase();
  if (SECRET_NAME_FRAGMENTS.some((f) => upper.includes(f))) return true;
  return nameWords(name).some((w) => SECRET_NAME_WORDS.includes(w) || /KEYS?$/.test(w));
}

/** The environment with the values of secret names (see {@link isSecretName}) replaced by {@link REDACTED}. */
export function redactEnvironment(
  env: Record<string, string>,
  marked: readonly string[] = [],
): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, isSecretName(k, marked) ? REDACTED : v]));
}

/**
 * The `container_image` text of an image reference, as it is logged: `keep:<locator>`, the `docker://` value as
 * given, or the absolute path.
 */
export function imageRefText(image: ImageRef): string {
  return image.kind === "keep"
    ? `keep:${image.locator}`
    : image.kind === "registry"
    ? image.text
    : image.path;
}

/**
 * The job as an Arvados-style record that is safe to log or to write to `container.json`: `secret_mounts`
 * keeps its keys and kinds but no content, and the values of environment variables that are secret (see
 * {@link isSecretName}: marked by the job, or named like a secret) are replaced by `"<redacted>"`. `json` mount content keeps its exact numbers;
 * write the record with {@link serializeJsonContent}.
 *
 * @param job A validated job.
 * @returns A new JSON object; `job` is not modified.
 *
 * @example
 * ```ts
 * import { parseJob, redactJob, serializeJsonContent } from "./mod.ts";
 * const { job } = parseJob(
 *   '{"uuid":"j1","container_image":"/i.tar","command":["true"],"output_path":"/out",' +
 *     '"environment":{"API_TOKEN":"s3cret"},"mounts":{"/out":{"kind":"tmp"}}}',
 *   "/jobs/j1.json",
 * );
 * console.assert(!serializeJsonContent(redactJob(job)).includes("s3cret"));
 * ```
 */
export function redactJob(job: Job): JsonObject {
  const mounts: JsonObject = Object.fromEntries(
    Object.entries(job.mounts).map(([key, m]) => [key, { ...m } as JsonObject]),
  );
  const secretMounts: JsonObject = Object.fromEntries(
    Object.entries(job.secret_mounts).map(([key, m]) => [key, { kind: m.kind }]),
  );
  const rc = job.runtime_constraints;
  return {
    uuid: job.uuid,
    container_image: imageRefText(job.container_image),
    command: [...job.command],
    cwd: job.cwd,
    environment: redactEnvironment(job.environment, job.secret_environment_keys),
    mounts,
    output_path: job.output_path,
    runtime_constraints: {
      vcpus: rc.vcpus,
      ram: rc.ram,
      gpu: { stack: rc.gpu.stack, device_count: rc.gpu.device_count },
      API: rc.API,
    },
    scheduling_parameters: { max_run_time: job.scheduling_parameters.max_run_time },
    secret_mounts: secretMounts,
    secret_environment_keys: [...job.secret_environment_keys],
  } satisfies Record<string, JsonValue>;
}
