/**
 * The job as it may be logged: secret mount content removed, secret-looking environment values replaced.
 * @module
 */

import type { ImageRef, Job, JsonObject, JsonValue } from "./types.ts";

/** Environment variable names whose values are treated as secrets in logs. */
export const SECRET_NAME_PATTERN: RegExp = /(TOKEN|PASSWORD|PASSWD|SECRET|KEY|CREDENTIAL)/i;

/** What a redacted value is replaced with. */
export const REDACTED = "<redacted>";

/**
 * True when an environment variable's name suggests its value is a secret (`ARVADOS_API_TOKEN`,
 * `AWS_SECRET_ACCESS_KEY`, `DB_PASSWORD`).
 *
 * @example
 * ```ts
 * import { isSecretName } from "./redact.ts";
 * console.assert(isSecretName("ARVADOS_API_TOKEN") && !isSecretName("PATH"));
 * ```
 */
export function isSecretName(name: string): boolean {
  return SECRET_NAME_PATTERN.test(name);
}

/** The environment with the values of secret-looking names replaced by {@link REDACTED}. */
export function redactEnvironment(env: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, isSecretName(k) ? REDACTED : v]));
}

/** The `container_image` text of an image reference, as it is logged: `keep:<locator>` or the absolute path. */
export function imageRefText(image: ImageRef): string {
  return image.kind === "keep" ? `keep:${image.locator}` : image.path;
}

/**
 * The job as an Arvados-style record that is safe to log or to write to `container.json`: `secret_mounts`
 * keeps its keys and kinds but no content, and environment values whose names look like secrets (see
 * {@link SECRET_NAME_PATTERN}) are replaced by `"<redacted>"`. `json` mount content keeps its exact numbers;
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
    environment: redactEnvironment(job.environment),
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
  } satisfies Record<string, JsonValue>;
}
