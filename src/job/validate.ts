/**
 * Validation of a parsed job file: every rule, one error.
 *
 * A job file with several problems reports only the first, in this fixed order, so that the message a user
 * sees (and a test expects) never depends on object key order or chance:
 *
 * 1. the top level is an object; its unknown fields (document order);
 * 2. `uuid`, `container_image`, `command`, `cwd`, `environment`, `secret_environment_keys`, `output_path`;
 * 3. `runtime_constraints`, `scheduling_parameters`;
 * 4. `mounts`, entries in sorted key order, each: target, kind, kind-for-target, unknown fields, field values,
 *    crunch-run's collection rules;
 * 5. `secret_mounts`, likewise, plus conflicts with `mounts`;
 * 6. `output_path` is exactly a `tmp` mount or a writable `collection` mount.
 *
 * Within any object, unknown fields are reported before bad values.
 *
 * @module
 */

import { compareCodePoints, quote } from "./json.ts";
import { IGNORED_RECORD_FIELDS, JOB_FIELDS } from "./fields.ts";
import { checkMountTarget, readMount } from "./_mounts.ts";
import { readRuntimeConstraints, readSchedulingParameters } from "./_constraints.ts";
import { isNormalizedAbsolute } from "./_paths.ts";
import { parseImageRef } from "./image_ref.ts";
import { describe, entry, get, isPlainObject, type RawObject, Reader } from "./_read.ts";
import type { ImageRef, Job, JsonValue, Mount, ParsedJob, SecretMount } from "./types.ts";

/** What a job uuid may look like: it becomes a container name and a directory name. */
export const JOB_UUID_PATTERN: RegExp = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
/** The longest job uuid accepted (a file name component is at most 255 bytes). */
export const MAX_JOB_UUID_LENGTH = 255;

/**
 * Validates a parsed job file and fills in defaults.
 *
 * @param value The parsed JSON (numbers as `LosslessNumber`).
 * @param path The job file's path: for messages, and to resolve a relative `container_image`.
 * @returns The job and the ignored fields.
 * @throws {JobFileError} For the first problem found (see the module doc for the order).
 *
 * @example
 * ```ts
 * import { parse } from "lossless-json";
 * import { validateJob } from "./validate.ts";
 * const { job } = validateJob(
 *   parse('{"uuid":"j1","container_image":"/i.tar","command":["true"],"output_path":"/out",' +
 *     '"mounts":{"/out":{"kind":"tmp"}}}') as never,
 *   "/jobs/j1.json",
 * );
 * console.assert(job.cwd === "." && job.runtime_constraints.ram === 0);
 * ```
 */
export function validateJob(value: JsonValue, path: string): ParsedJob {
  const r = new Reader(path);
  if (!isPlainObject(value)) r.fail("", `must hold a JSON object at the top level, got ${describe(value)}`);
  const top = value as RawObject;
  r.keys(top, "", JOB_FIELDS, IGNORED_RECORD_FIELDS);

  const uuid = readUuid(r, required(r, top, "uuid"));
  const container_image = readImage(r, required(r, top, "container_image"), path);
  const command = readCommand(r, required(r, top, "command"));
  const cwd = readCwd(r, get(top, "cwd"));
  const environment = readEnvironment(r, get(top, "environment"));
  const secret_environment_keys = readSecretEnvironmentKeys(
    r,
    get(top, "secret_environment_keys"),
    environment,
  );
  const output_path = readOutputPath(r, required(r, top, "output_path"));
  const runtime_constraints = readRuntimeConstraints(r, get(top, "runtime_constraints"));
  const scheduling_parameters = readSchedulingParameters(r, get(top, "scheduling_parameters"));

  const mountsRaw = r.object(required(r, top, "mounts"), "mounts");
  const mounts: Array<[string, Mount]> = [];
  for (const key of Object.keys(mountsRaw).sort(compareCodePoints)) {
    checkMountTarget(r, key, entry("mounts", key));
    mounts.push([key, readMount(r, key, mountsRaw[key], { map: "mounts", outputPath: output_path })]);
  }

  const secretValue = get(top, "secret_mounts");
  const secretRaw = secretValue === undefined ? {} : r.object(secretValue, "secret_mounts");
  const secret_mounts: Array<[string, SecretMount]> = [];
  for (const key of Object.keys(secretRaw).sort(compareCodePoints)) {
    const field = entry("secret_mounts", key);
    checkMountTarget(r, key, field);
    if (Object.hasOwn(mountsRaw, key)) {
      r.fail(field, `conflicts with ${entry("mounts", key)}: a target is mounted once`);
    }
    const m = readMount(r, key, secretRaw[key], { map: "secret_mounts", outputPath: output_path });
    secret_mounts.push([key, m as SecretMount]);
  }

  const outputMount = mounts.find(([key]) => key === output_path)?.[1];
  if (!(outputMount?.kind === "tmp" || (outputMount?.kind === "collection" && outputMount.writable))) {
    const found = outputMount === undefined
      ? `there is no mount at ${quote(output_path)}`
      : `${entry("mounts", output_path)} is a ${outputMount.kind === "collection" ? "read-only " : ""}${
        quote(outputMount.kind)
      } mount`;
    r.fail(
      "output_path",
      `must be the target of a "tmp" mount or a writable "collection" mount, but ${found}`,
    );
  }

  const job: Job = {
    uuid,
    container_image,
    command,
    cwd,
    environment,
    mounts: Object.fromEntries(mounts),
    output_path,
    runtime_constraints,
    scheduling_parameters,
    secret_mounts: Object.fromEntries(secret_mounts),
    secret_environment_keys,
  };
  return { path, job, ignoredFields: r.ignored };
}

function required(r: Reader, obj: RawObject, key: string): unknown {
  const v = get(obj, key);
  if (v === undefined) r.fail(key, "is required");
  return v;
}

function readUuid(r: Reader, value: unknown): string {
  const uuid = r.string(value, "uuid");
  if (uuid === "") r.fail("uuid", "must not be empty");
  if (uuid.length > MAX_JOB_UUID_LENGTH) {
    r.fail("uuid", `must be at most ${MAX_JOB_UUID_LENGTH} characters long, got ${uuid.length}`);
  }
  if (!JOB_UUID_PATTERN.test(uuid)) {
    r.fail(
      "uuid",
      `must start with a letter or digit and contain only letters, digits, ".", "_" and "-", got ${
        quote(uuid)
      }`,
    );
  }
  return uuid;
}

function readImage(r: Reader, value: unknown, path: string): ImageRef {
  const text = r.cleanString(value, "container_image");
  const result = parseImageRef(text, path);
  if (!result.ok) r.fail("container_image", result.problem);
  return result.image;
}

function readCommand(r: Reader, value: unknown): string[] {
  if (!Array.isArray(value) || value.length === 0) {
    r.fail("command", `must be a non-empty array of strings, got ${describe(value)}`);
  }
  const command = value.map((item, i) => r.cleanString(item, `command[${i}]`));
  if (command[0] === "") r.fail("command[0]", "must not be empty: it names the program to run");
  return command;
}

function readCwd(r: Reader, value: unknown): string {
  if (value === undefined) return ".";
  const cwd = r.cleanString(value, "cwd");
  if (cwd !== "." && !isNormalizedAbsolute(cwd)) {
    r.fail("cwd", `must be "." or a normalized absolute path, got ${quote(cwd)}`);
  }
  return cwd;
}

function readEnvironment(r: Reader, value: unknown): Record<string, string> {
  if (value === undefined) return {};
  const env = r.object(value, "environment");
  const out: Array<[string, string]> = [];
  for (const name of Object.keys(env)) {
    const field = entry("environment", name);
    if (name === "" || name.includes("=") || name.includes("\0")) {
      r.fail(field, 'is not a valid variable name: it must be non-empty, without "=" or NUL');
    }
    // The value is never quoted in a message: it may be a secret.
    out.push([name, r.cleanString(env[name], field)]);
  }
  return Object.fromEntries(out);
}

function readSecretEnvironmentKeys(r: Reader, value: unknown, env: Record<string, string>): string[] {
  if (value === undefined) return [];
  const names = r.stringArray(value, "secret_environment_keys");
  names.forEach((name, i) => {
    if (!Object.hasOwn(env, name)) {
      r.fail(`secret_environment_keys[${i}]`, `is ${quote(name)}, which is not a name in "environment"`);
    }
  });
  return [...new Set(names)].sort(compareCodePoints);
}

function readOutputPath(r: Reader, value: unknown): string {
  const p = r.cleanString(value, "output_path");
  if (!p.startsWith("/")) r.fail("output_path", `must be an absolute path, got ${quote(p)}`);
  if (p === "/") r.fail("output_path", 'must not be "/"');
  if (!isNormalizedAbsolute(p)) {
    r.fail(
      "output_path",
      `must be normalized (no "//", "." or ".." segments, no trailing "/"), got ${quote(p)}`,
    );
  }
  return p;
}
