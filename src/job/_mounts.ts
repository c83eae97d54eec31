/**
 * Validation of `mounts` and `secret_mounts` entries: crunch-run's rules (`SetupMounts`), stated up front so
 * that a bad job fails before anything is created, plus berth's own (`bind`, normalized targets, no silently
 * ignored kinds).
 * @module
 */

import { IGNORED_MOUNT_FIELDS, MOUNT_KIND_FIELDS } from "./fields.ts";
import { isNormalizedAbsolute, isStrictlyUnder, normalizeCollectionPath } from "./_paths.ts";
import { COLLECTION_UUID_PATTERN, PDH_PATTERN } from "./image_ref.ts";
import { entry, get, member, type RawObject, type Reader } from "./_read.ts";
import { quote } from "./json.ts";
import type { JsonValue, Mount } from "./types.ts";

/** Keys of `mounts` that are not paths. */
export const SPECIAL_MOUNT_KEYS: ReadonlySet<string> = new Set(["stdin", "stdout", "stderr"]);

/** Mount kinds a `stdin` mount may have. */
const STDIN_KINDS = ["collection", "json", "text", "bind"];
/** Mount kinds allowed strictly below `output_path` (they are copied into the output before start). */
const UNDER_OUTPUT_KINDS = ["collection", "text", "json"];
/** Mount kinds a secret mount may have. */
const SECRET_KINDS = ["json", "text"];

/** Where a mount entry sits, for the rules that depend on it. */
export interface MountContext {
  /** `mounts` or `secret_mounts`. */
  map: "mounts" | "secret_mounts";
  /** The validated `output_path`. */
  outputPath: string;
}

/** Checks a mount key: `stdin`, `stdout`, `stderr`, or a normalized absolute path other than `/`. */
export function checkMountTarget(r: Reader, key: string, field: string): void {
  if (SPECIAL_MOUNT_KEYS.has(key)) return;
  if (key.includes("\0")) r.fail(field, "has a target with a NUL character");
  if (!key.startsWith("/")) {
    r.fail(
      field,
      'has a relative target: mount targets must be absolute paths, or "stdin", "stdout", "stderr"',
    );
  }
  if (key === "/") r.fail(field, 'mounts over "/", which is not allowed');
  if (!isNormalizedAbsolute(key)) {
    r.fail(
      field,
      'has a target that is not normalized: "//", "." and ".." segments and a trailing "/" are not allowed',
    );
  }
}

/** Validates one mount entry (its key already checked) and returns it with defaults filled in. */
export function readMount(r: Reader, key: string, value: unknown, ctx: MountContext): Mount {
  const field = entry(ctx.map, key);
  const m = r.object(value, field);
  const kindField = member(field, "kind");
  const kindValue = get(m, "kind");
  if (kindValue === undefined) r.fail(kindField, "is required");
  const kind = r.string(kindValue, kindField);
  const allowedKinds = ctx.map === "secret_mounts" ? SECRET_KINDS : Object.keys(MOUNT_KIND_FIELDS);
  if (!allowedKinds.includes(kind)) {
    r.fail(
      kindField,
      ctx.map === "secret_mounts"
        ? `is ${quote(kind)}, but only "json" and "text" are permitted for secret mounts`
        : `must be one of ${allowedKinds.map((k) => `"${k}"`).join(", ")}, got ${quote(kind)}`,
    );
  }
  checkKindForTarget(r, key, kind, kindField, ctx.outputPath);
  r.keys(m, field, MOUNT_KIND_FIELDS[kind], IGNORED_MOUNT_FIELDS);

  switch (kind) {
    case "tmp": {
      const capacity = get(m, "capacity");
      return {
        kind,
        capacity: capacity === undefined ? 0 : r.integer(capacity, member(field, "capacity"), 0n, 2n ** 53n),
      };
    }
    case "collection":
      return readCollection(r, key, m, field, ctx.outputPath);
    case "bind": {
      const sourceField = member(field, "source");
      const sourceValue = get(m, "source");
      if (sourceValue === undefined) r.fail(sourceField, "is required");
      const source = r.cleanString(sourceValue, sourceField);
      if (!isNormalizedAbsolute(source)) {
        r.fail(sourceField, `must be an absolute, normalized host path, got ${quote(source)}`);
      }
      const writable = readWritable(r, m, field);
      if (key === "stdin" && writable) r.fail(member(field, "writable"), "must be false for stdin");
      return { kind, source, writable };
    }
    case "json":
      return { kind, content: Object.hasOwn(m, "content") ? m.content as JsonValue : null };
    case "text": {
      const contentField = member(field, "content");
      const content = get(m, "content");
      if (content === undefined) r.fail(contentField, "is required");
      return { kind, content: r.string(content, contentField) };
    }
    default: { // "file": only stdout and stderr get here (checkKindForTarget)
      const pathField = member(field, "path");
      const pathValue = get(m, "path");
      if (pathValue === undefined) r.fail(pathField, "is required");
      const path = r.cleanString(pathValue, pathField);
      if (!isNormalizedAbsolute(path) || !isStrictlyUnder(path, ctx.outputPath)) {
        r.fail(
          pathField,
          `must be a normalized path under output_path ${quote(ctx.outputPath)}, got ${quote(path)}`,
        );
      }
      return { kind: "file", path };
    }
  }
}

/** The kind rules that depend on the key: stdin, stdout/stderr, `file` elsewhere, mounts below output_path. */
function checkKindForTarget(
  r: Reader,
  key: string,
  kind: string,
  kindField: string,
  outputPath: string,
): void {
  if (key === "stdin") {
    if (!STDIN_KINDS.includes(kind)) {
      r.fail(
        kindField,
        `is ${
          quote(kind)
        }, but only "collection", "json", "text" and "bind" (a host file) are supported for stdin`,
      );
    }
  } else if (key === "stdout" || key === "stderr") {
    if (kind !== "file") r.fail(kindField, `is ${quote(kind)}, but only "file" is supported for ${key}`);
  } else if (kind === "file") {
    r.fail(kindField, 'is "file", which is only supported for "stdout" and "stderr"');
  } else if (isStrictlyUnder(key, outputPath) && !UNDER_OUTPUT_KINDS.includes(kind)) {
    r.fail(
      kindField,
      `is ${quote(kind)}, but only "collection", "text" and "json" are supported underneath output_path ${
        quote(outputPath)
      }`,
    );
  }
}

function readWritable(r: Reader, m: RawObject, field: string): boolean {
  const w = get(m, "writable");
  return w === undefined ? false : r.boolean(w, member(field, "writable"));
}

function readCollection(r: Reader, key: string, m: RawObject, field: string, outputPath: string): Mount {
  const pdhField = member(field, "portable_data_hash");
  const uuidField = member(field, "uuid");
  const pathField = member(field, "path");
  const writableField = member(field, "writable");
  const pdhValue = get(m, "portable_data_hash");
  const uuidValue = get(m, "uuid");
  const pathValue = get(m, "path");
  let pdh = pdhValue === undefined ? "" : r.cleanString(pdhValue, pdhField);
  const uuid = uuidValue === undefined ? "" : r.cleanString(uuidValue, uuidField);
  const rawPath = pathValue === undefined ? "" : r.cleanString(pathValue, pathField);
  const writable = readWritable(r, m, field);

  if (pdh !== "" && uuid !== "") r.fail(field, 'must not set both "uuid" and "portable_data_hash"');
  let path: string | null;
  const slash = pdh.indexOf("/");
  if (slash >= 0) {
    // crunch-run accepts "<pdh>/sub/dir" and splits it; berth does too, but not together with "path".
    if (rawPath !== "") {
      r.fail(pdhField, 'includes a path inside the collection, so "path" must not be set as well');
    }
    path = normalizeCollectionPath(pdh.slice(slash + 1));
    pdh = pdh.slice(0, slash);
    if (path === null) r.fail(pdhField, `must not contain ".." segments, got ${quote(pdhValue as string)}`);
  } else {
    path = normalizeCollectionPath(rawPath);
    if (path === null) r.fail(pathField, `must not contain ".." segments, got ${quote(rawPath)}`);
  }
  if (pdh !== "" && !PDH_PATTERN.test(pdh)) {
    r.fail(pdhField, `must be a portable data hash (<md5>+<size>), got ${quote(pdh)}`);
  }
  if (uuid !== "" && !COLLECTION_UUID_PATTERN.test(uuid)) {
    r.fail(uuidField, `must be a collection uuid (xxxxx-4zz18-xxxxxxxxxxxxxxx), got ${quote(uuid)}`);
  }
  if (pdh === "" && uuid === "" && path !== "") {
    r.fail(pathField, 'needs "portable_data_hash" or "uuid" to name the collection it is in');
  }
  if (key === "stdin") {
    if (pdh === "" && uuid === "") {
      r.fail(field, 'must name a collection with "portable_data_hash" or "uuid"');
    }
    if (path === "") r.fail(pathField, "must name a file in the collection to read as stdin");
    if (writable) r.fail(writableField, "must be false for stdin");
  } else if (writable && uuid !== "") {
    r.fail(
      writableField,
      'must be false for a collection named by "uuid": writing to existing collections is not permitted',
    );
  } else if (writable && pdh !== "" && !isStrictlyUnder(key, outputPath)) {
    r.fail(
      writableField,
      'must be false: a collection named by "portable_data_hash" can never be written, except as a copy ' +
        `below output_path ${quote(outputPath)}`,
    );
  }
  return { kind: "collection", portable_data_hash: pdh, uuid, path, writable };
}
