/**
 * Finding the image a job names, before anything is created: an image file on the host (a docker-save tarball
 * or a SIF, told apart by content), `keep:<pdh-or-uuid>` (a collection under `--keep-mount`'s `by_id/` that holds
 * exactly one `.tar`, as arv-keepdocker stores images), or a registry reference (`docker://…`, fetched later by
 * the executor as the pull policy allows).
 * @module
 */

import { join } from "node:path";
import { ImageError, JobFileError } from "../errors.ts";
import type { EngineChoice } from "../executor/types.ts";
import { identifyImageFile, type ImageSource } from "../image/mod.ts";
import type { ImageRef } from "../job/mod.ts";

/**
 * The host path of the image file (`file` and `keep:` images).
 *
 * @param image The job's `container_image`.
 * @param jobPath The job file's path, for messages.
 * @param keepMount `--keep-mount`, or "".
 * @returns The file's path.
 * @throws {JobFileError} (exit 2) when the file or collection is missing, the collection holds no `.tar` or
 *   several, or the image is a registry image (which has no file).
 */
export async function resolveImageTarball(
  image: ImageRef,
  jobPath: string,
  keepMount: string,
): Promise<string> {
  const fail = (problem: string, cause?: unknown) =>
    new JobFileError(jobPath, "container_image", problem, { cause });
  if (image.kind === "registry") {
    throw fail(`is the registry image ${JSON.stringify(image.text)}, not a file`);
  }
  if (image.kind === "file") {
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

/**
 * The image a job names, checked as far as the node can without an engine: a file is read (only its first bytes,
 * and for a tarball its headers, `manifest.json` and config); a SIF file with Docker or Podman named as the
 * engine is refused, since neither can run it.
 *
 * @param engine `--runtime-engine` (with `auto`, the engine selection takes the image's form into account).
 * @throws {JobFileError} (exit 2) for a missing, unreadable or unusable image, or a SIF for Docker/Podman.
 */
export async function resolveImageSource(
  image: ImageRef,
  jobPath: string,
  keepMount: string,
  engine: EngineChoice,
): Promise<ImageSource> {
  if (image.kind === "registry") return { kind: "registry", reference: image.reference };
  const path = await resolveImageTarball(image, jobPath, keepMount);
  let source: ImageSource;
  try {
    source = await identifyImageFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    const why = err instanceof ImageError ? err.message : `cannot be read: ${(err as Error).message}`;
    throw new JobFileError(jobPath, "container_image", `names an unusable image: ${why}`, { cause: err });
  }
  if (source.kind === "sif" && (engine === "docker" || engine === "podman")) {
    throw new JobFileError(
      jobPath,
      "container_image",
      `names the SIF file "${path}", which ${engine} cannot run: SIF images need --runtime-engine singularity or ` +
        `apptainer`,
    );
  }
  return source;
}
