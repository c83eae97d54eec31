/**
 * The error of a registry image that could not be had: the registry is unreachable, refuses the credentials,
 * does not know the name, tag or digest, or sent something that does not verify.
 *
 * None of these is the node's fault (a registry being down must not take nodes out of service) and none is a
 * container exit: the run ends Cancelled with exit 125, and `berth pull` exits 125 too. A registry's answer is
 * kept in the message, after berth's own words on what it was doing.
 *
 * @module
 */

import { ImageError, UsageError } from "../errors.ts";

/** Why a registry image could not be had; see the module doc. Exit code 125, never a broken node. */
export class RegistryError extends ImageError {
  /** True when the registry could not be reached at all (connection refused, DNS, TLS). */
  readonly unreachable: boolean;
  constructor(message: string, options?: { cause?: unknown; unreachable?: boolean }) {
    super(message, options);
    this.unreachable = options?.unreachable ?? false;
  }
}

/**
 * `--pull never` and the image is not on this node (not in the engine, not in the SIF cache). A usage error
 * (exit 2): the node is fine and the registry was not asked; fetch the image first (`berth pull`) or allow pulls.
 */
export class ImageAbsentError extends UsageError {}
