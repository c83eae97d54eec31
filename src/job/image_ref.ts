/**
 * The `container_image` field: an image file on the host (docker-save tarball or SIF), `keep:<pdh-or-uuid>`, or
 * `docker://NAME[:TAG][@sha256:DIGEST]`.
 * @module
 */

import { dirname, resolve } from "node:path";
import { DOCKER_SCHEME, parseRegistryReference } from "../image/reference.ts";
import type { ImageRef } from "./types.ts";

/** `<md5 hex>+<size>`: an Arvados portable data hash without hints. */
export const PDH_PATTERN: RegExp = /^[0-9a-f]{32}\+[0-9]+$/;

/** An Arvados collection uuid: `<cluster>-4zz18-<15 chars>`. */
export const COLLECTION_UUID_PATTERN: RegExp = /^[0-9a-z]{5}-4zz18-[0-9a-z]{15}$/;

/** The result of {@link parseImageRef}: the reference, or the problem with the text. */
export type ImageRefResult = { ok: true; image: ImageRef } | { ok: false; problem: string };

/**
 * Interprets a `container_image` value.
 *
 * A value starting with `keep:` names a collection by portable data hash or uuid; one starting with `docker://`
 * a registry image (read with Docker's normalisation rules, see `src/image/reference.ts`); anything else is the
 * path of an image file, resolved against the directory of the job file (itself resolved against the working
 * directory). Whether that file is a docker-save tarball or a SIF is decided by its content when the run is
 * planned.
 *
 * @param text The field's value (a string without NUL, already checked).
 * @param jobPath The job file's path.
 * @returns The reference, or a problem phrase ("must be ...") for the caller's error.
 *
 * @example
 * ```ts
 * import { parseImageRef } from "./image_ref.ts";
 * const r = parseImageRef("img/busybox.tar", "/jobs/hello.json");
 * console.assert(r.ok && r.image.kind === "file" && r.image.path === "/jobs/img/busybox.tar");
 * ```
 */
export function parseImageRef(text: string, jobPath: string): ImageRefResult {
  if (text === "") return { ok: false, problem: "must not be empty" };
  if (text.startsWith("keep:")) {
    const locator = text.slice("keep:".length);
    if (PDH_PATTERN.test(locator)) {
      return { ok: true, image: { kind: "keep", locator, locatorType: "portable_data_hash" } };
    }
    if (COLLECTION_UUID_PATTERN.test(locator)) {
      return { ok: true, image: { kind: "keep", locator, locatorType: "uuid" } };
    }
    return {
      ok: false,
      problem: `must be "keep:" followed by a portable data hash (<md5>+<size>) or a collection uuid, got ${
        JSON.stringify(text.length > 80 ? text.slice(0, 80) + "…" : text)
      }`,
    };
  }
  if (text.startsWith(DOCKER_SCHEME)) {
    const parsed = parseRegistryReference(text);
    if (!parsed.ok) return { ok: false, problem: parsed.problem };
    return { ok: true, image: { kind: "registry", text, reference: parsed.reference } };
  }
  return { ok: true, image: { kind: "file", path: resolve(dirname(resolve(jobPath)), text) } };
}
