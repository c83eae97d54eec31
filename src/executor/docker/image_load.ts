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
import { describeMs, ENGINE_BOUNDS } from "./bounds.ts";
import { readLoadReply, simplifyLoadError } from "./load_reply.ts";
import { EngineApiError, EngineTimeoutError, type EngineTransport } from "./transport.ts";
import { FileReadError, uploadFile } from "./upload.ts";

/** True when the engine has an image with this ID; bounded by {@link ENGINE_BOUNDS.inspectMs}. */
export async function imagePresent(api: EngineTransport, imageId: string): Promise<boolean> {
  if (imageId === "") return false;
  const status = await api.send("GET", `/images/${encodeURIComponent(imageId)}/json`, {
    accept: [404],
    timeoutMs: ENGINE_BOUNDS.inspectMs,
    context: `Cannot inspect image "${imageId}"`,
  });
  return status !== 404;
}

/** Options of {@link loadImage}. */
export interface LoadOptions {
  /** Called as the tarball is sent. */
  onProgress?: (p: ImageProgress) => void;
  /** Aborts the load (its reason is thrown). */
  signal?: AbortSignal;
  /**
   * The load fails when the engine takes no byte of the tarball for this long.
   * @default ENGINE_BOUNDS.loadStallMs
   */
  stallMs?: number;
  /**
   * The load fails when it has not finished after this long.
   * @default ENGINE_BOUNDS.loadOverallMs
   */
  overallMs?: number;
}

/** The load's own time limits: an abort signal that fires on a stall or the overall bound. */
function loadLimits(api: EngineTransport, stallMs: number, overallMs: number) {
  const controller = new AbortController();
  const expire = (what: string, ms: number) =>
    controller.abort(
      new EngineTimeoutError(
        `Image load failed: the ${api.label} at unix://${api.socket} ${what} ${describeMs(ms)} ` +
          `(engine unresponsive)`,
        ms,
      ),
    );
  let stall = setTimeout(() => expire("took no byte of the image for", stallMs), stallMs);
  const overall = setTimeout(() => expire("did not finish the load within", overallMs), overallMs);
  return {
    signal: controller.signal,
    /** The engine took bytes: restart the stall clock. */
    progressed() {
      clearTimeout(stall);
      stall = setTimeout(() => expire("took no byte of the image for", stallMs), stallMs);
    },
    /** The whole tarball was sent: only the overall bound remains. */
    sent() {
      clearTimeout(stall);
    },
    clear() {
      clearTimeout(stall);
      clearTimeout(overall);
    },
  };
}

/** A load failure: an {@link EngineError} when it says the node is broken (disk full), else an {@link ImageError}. */
function loadFailure(message: string, cause?: unknown): Error {
  const text = `Image load failed: ${simplifyLoadError(message)}`;
  return looksLikeBrokenNode(text) ? new EngineError(text, { cause }) : new ImageError(text, { cause });
}

/**
 * Makes image `imageId` present in the engine: nothing happens when it is already there, otherwise the tarball
 * is loaded and the ID checked afterwards.
 * @throws {ImageError} when the tarball cannot be read or the engine rejects it.
 * @throws {EngineTimeoutError} when the engine stalls or the load outlives its bound.
 * @throws {EngineError} when the engine fails (broken node when it cannot be reached or the disk is full).
 */
export async function loadImage(
  api: EngineTransport,
  imageId: string,
  tarballPath: string,
  log: LogFn,
  options: LoadOptions = {},
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
  const limits = loadLimits(
    api,
    options.stallMs ?? ENGINE_BOUNDS.loadStallMs,
    options.overallMs ?? ENGINE_BOUNDS.loadOverallMs,
  );
  const signal = options.signal ? AbortSignal.any([limits.signal, options.signal]) : limits.signal;
  const progress = (done: number) => {
    if (done >= total) limits.sent();
    else limits.progressed();
    options.onProgress?.({ done, total });
  };
  let reply;
  try {
    const res = await uploadFile(api, "/images/load", file, total, {
      query: { quiet: 1 },
      contentType: "application/x-tar",
      onSent: progress,
      signal,
      context: "Image load failed",
    });
    reply = await readLoadReply(res.body ?? new ReadableStream());
  } catch (err) {
    if (signal.aborted) throw signal.reason;
    if (err instanceof FileReadError) {
      throw new ImageError(`Cannot read image tarball "${tarballPath}": ${err.message}`, {
        cause: err.cause,
      });
    }
    // Podman reports a bad tarball as HTTP 500 (Docker as 200 with an error in the reply).
    if (err instanceof EngineApiError) throw loadFailure(err.engineMessage, err);
    if (err instanceof EngineError) throw err;
    throw api.connectionError(err, "Image load failed while reading the engine's reply");
  } finally {
    limits.clear();
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
