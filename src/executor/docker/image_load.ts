/**
 * Loads a docker-save tarball into a Docker-API engine, unless the engine already has the image.
 *
 * The tarball is streamed from disk as the request body (never read into memory), the reply is read to its end,
 * and the image ID is checked afterwards: an engine that answers 200 but did not load the image is a failure.
 *
 * @module
 */

import { EngineError, ImageError, looksLikeBrokenNode } from "../../errors.ts";
import type { ImageProgress, LogFn } from "../types.ts";
import { readLoadReply, simplifyLoadError } from "./load_reply.ts";
import { discardBody, EngineApiError, type EngineTransport } from "./transport.ts";

/** True when the engine has an image with this ID. */
export async function imagePresent(api: EngineTransport, imageId: string): Promise<boolean> {
  if (imageId === "") return false;
  const res = await api.request("GET", `/images/${encodeURIComponent(imageId)}/json`, {
    accept: [404],
    context: `Cannot inspect image "${imageId}"`,
  });
  await discardBody(res);
  return res.status !== 404;
}

/** A load failure: an {@link EngineError} when it says the node is broken (disk full), else an {@link ImageError}. */
function loadFailure(message: string, cause?: unknown): Error {
  const text = `Image load failed: ${simplifyLoadError(message)}`;
  return looksLikeBrokenNode(text) ? new EngineError(text, { cause }) : new ImageError(text, { cause });
}

const READ_SIZE = 64 * 1024;

/** The tarball as a byte stream read on demand; reports progress and remembers a read error. */
function tarballBody(
  file: Deno.FsFile,
  total: number,
  onProgress: ((p: ImageProgress) => void) | undefined,
  state: { readError?: unknown },
): ReadableStream<Uint8Array> {
  let done = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buf = new Uint8Array(READ_SIZE);
      let n: number | null;
      try {
        n = await file.read(buf);
      } catch (err) {
        state.readError = err;
        controller.error(err);
        return;
      }
      if (n === null) {
        controller.close();
        return;
      }
      done += n;
      controller.enqueue(buf.subarray(0, n));
      onProgress?.({ done, total });
    },
  });
}

/**
 * Makes image `imageId` present in the engine: nothing happens when it is already there, otherwise the tarball
 * is loaded and the ID checked afterwards.
 * @throws {ImageError} when the tarball cannot be read or the engine rejects it.
 * @throws {EngineError} when the engine fails (broken node when it cannot be reached or the disk is full).
 */
export async function loadImage(
  api: EngineTransport,
  imageId: string,
  tarballPath: string,
  log: LogFn,
  onProgress?: (p: ImageProgress) => void,
): Promise<void> {
  if (await imagePresent(api, imageId)) {
    log(`Image ${imageId} is already present in the engine; not loading "${tarballPath}"`);
    return;
  }
  let file: Deno.FsFile;
  let total: number;
  try {
    file = await Deno.open(tarballPath, { read: true });
    total = (await file.stat()).size;
  } catch (err) {
    throw new ImageError(
      `Cannot read image tarball "${tarballPath}": ${err instanceof Error ? err.message : err}`,
      {
        cause: err,
      },
    );
  }
  log(`Loading image ${imageId} from "${tarballPath}" (${total} bytes)`);
  const state: { readError?: unknown } = {};
  let reply;
  try {
    const res = await api.request("POST", "/images/load", {
      query: { quiet: 1 },
      headers: { "Content-Type": "application/x-tar" },
      body: tarballBody(file, total, onProgress, state),
      context: "Image load failed",
    });
    reply = await readLoadReply(res.body ?? new ReadableStream());
  } catch (err) {
    if (state.readError !== undefined) {
      const detail = state.readError instanceof Error ? state.readError.message : String(state.readError);
      throw new ImageError(`Cannot read image tarball "${tarballPath}": ${detail}`, {
        cause: state.readError,
      });
    }
    // Podman reports a bad tarball as HTTP 500 (Docker as 200 with an error in the reply).
    if (err instanceof EngineApiError) throw loadFailure(err.engineMessage, err);
    if (err instanceof EngineError) throw err;
    throw api.connectionError(err, "Image load failed while reading the engine's reply");
  } finally {
    try {
      file.close();
    } catch {
      // Already closed.
    }
  }
  for (const message of reply.messages) log(message);
  if (reply.error !== null) throw loadFailure(reply.error);
  if (!(await imagePresent(api, imageId))) {
    throw new ImageError(
      `Image load failed: the engine loaded "${tarballPath}" but has no image ${imageId} (does the tarball hold ` +
        `another image?)`,
    );
  }
}
