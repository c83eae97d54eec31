/**
 * Reading a job file: bytes → text → lossless JSON → validated job.
 * @module
 */

import { JobFileError } from "../errors.ts";
import { parseJsonText } from "./json.ts";
import type { ParsedJob } from "./types.ts";
import { validateJob } from "./validate.ts";

/** Job files larger than this are refused before parsing (a job is kilobytes; this bounds memory). */
export const MAX_JOB_FILE_BYTES: number = 64 * 1024 * 1024;

/**
 * Parses and validates job file text.
 *
 * @param text The file's text.
 * @param path The file's path: for messages, and to resolve a relative `container_image`.
 * @returns The validated job and the Arvados fields it carries that berth ignores.
 * @throws {JobFileError} For the first problem (malformed JSON, unknown field, wrong type, broken rule).
 *
 * @example
 * ```ts
 * import { parseJob } from "./parse.ts";
 * const { job, ignoredFields } = parseJob(
 *   '{"uuid":"j1","state":"Locked","container_image":"busybox.tar","command":["true"],' +
 *     '"output_path":"/out","mounts":{"/out":{"kind":"tmp"}}}',
 *   "/jobs/j1.json",
 * );
 * console.assert(job.container_image.kind === "file" && ignoredFields[0] === "state");
 * ```
 */
export function parseJob(text: string, path: string): ParsedJob {
  return validateJob(parseJsonText(text, path), path);
}

/**
 * Decodes job file bytes as UTF-8 (strictly: invalid sequences are an error, a leading BOM is dropped) and
 * parses them with {@link parseJob}.
 *
 * @param bytes The file's contents.
 * @param path The file's path.
 * @returns The validated job.
 * @throws {JobFileError} When the bytes are not UTF-8 or the job is invalid.
 */
export function parseJobBytes(bytes: Uint8Array, path: string): ParsedJob {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (err) {
    throw new JobFileError(path, "", "is not valid UTF-8 text", { cause: err });
  }
  return parseJob(text, path);
}

/**
 * Reads, parses and validates a job file. At most {@link MAX_JOB_FILE_BYTES} are read, so a FIFO or
 * `/dev/zero` given by mistake fails instead of filling memory.
 *
 * @param path The job file's path as the user gave it.
 * @returns The validated job.
 * @throws {JobFileError} When the file is missing, unreadable, too large or invalid.
 * @throws {Deno.errors.NotCapable} When berth's permission profile forbids reading it (reported by the CLI).
 */
export async function readJobFile(path: string): Promise<ParsedJob> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path, { read: true });
  } catch (err) {
    throw openError(path, err);
  }
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    if ((await file.stat()).isDirectory) throw new JobFileError(path, "", "is a directory, not a file");
    const buf = new Uint8Array(64 * 1024);
    for (;;) {
      const n = await file.read(buf);
      if (n === null) break;
      size += n;
      if (size > MAX_JOB_FILE_BYTES) {
        throw new JobFileError(path, "", `is larger than ${MAX_JOB_FILE_BYTES / 1024 / 1024} MiB`);
      }
      chunks.push(buf.slice(0, n));
    }
  } catch (err) {
    if (err instanceof JobFileError) throw err;
    throw openError(path, err);
  } finally {
    file.close();
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  return parseJobBytes(bytes, path);
}

function openError(path: string, err: unknown): Error {
  if (err instanceof Deno.errors.NotCapable) return err;
  if (err instanceof Deno.errors.NotFound) {
    return new JobFileError(path, "", "does not exist", { cause: err });
  }
  if (err instanceof Deno.errors.PermissionDenied) {
    return new JobFileError(path, "", "is not readable: permission denied", { cause: err });
  }
  if (err instanceof Deno.errors.IsADirectory) {
    return new JobFileError(path, "", "is a directory, not a file", { cause: err });
  }
  const detail = err instanceof Error ? err.message : String(err);
  return new JobFileError(path, "", `cannot be read: ${detail}`, { cause: err });
}
