/**
 * Finding the image tarball a job names: a path on the host, or `keep:<pdh-or-uuid>`, a collection under
 * `--keep-mount`'s `by_id/` that holds exactly one `.tar` (as arv-keepdocker stores images). The tarball's
 * content is read later, by the load step.
 * @module
 */

import { join } from "node:path";
import { JobFileError } from "../errors.ts";
import type { ImageRef } from "../job/mod.ts";

/**
 * The host path of the image tarball.
 *
 * @param image The job's `container_image`.
 * @param jobPath The job file's path, for messages.
 * @param keepMount `--keep-mount`, or "".
 * @returns The tarball's path.
 * @throws {JobFileError} (exit 2) when the tarball or collection is missing, or the collection holds no
 *   `.tar` or several.
 */
export async function resolveImageTarball(
  image: ImageRef,
  jobPath: string,
  keepMount: string,
): Promise<string> {
  const fail = (problem: string, cause?: unknown) =>
    new JobFileError(jobPath, "container_image", problem, { cause });
  if (image.kind === "tarball") {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(image.path);
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable) throw err;
      if (err instanceof Deno.errors.NotFound) throw fail(`names "${image.path}", which does not exist`, err);
      throw fail(`names "${image.path}", which cannot be read: ${(err as Error).message}`, err);
    }
    if (!info.isFile) throw fail(`names "${image.path}", which is not a file`);
    return image.path;
  }
  const text = `keep:${image.locator}`;
  if (keepMount === "") throw fail(`is ${JSON.stringify(text)}, which needs --keep-mount DIR`);
  const dir = join(keepMount, "by_id", image.locator);
  const tars: string[] = [];
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.name.endsWith(".tar") && !e.isDirectory) tars.push(e.name);
    }
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    throw fail(`is ${JSON.stringify(text)}, but "${dir}" cannot be listed: ${(err as Error).message}`, err);
  }
  tars.sort();
  if (tars.length === 0) {
    throw fail(`is ${JSON.stringify(text)}, but the collection "${dir}" does not include a .tar image file`);
  }
  if (tars.length > 1) {
    throw fail(
      `is ${JSON.stringify(text)}, but the collection "${dir}" holds several .tar files (${
        tars.map((t) => JSON.stringify(t)).join(", ")
      }); cannot choose one`,
    );
  }
  return join(dir, tars[0]);
}
