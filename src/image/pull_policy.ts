/**
 * `--pull missing|always|never`: when berth asks a registry for an image.
 *
 * - `missing` (the default): an image the engine (or the SIF cache) already has, by digest for a pinned reference
 *   or by tag otherwise, is used without contacting the registry, so a pre-fetched node never needs the network;
 * - `always`: the registry is asked every time (a tag is resolved again; unchanged layers are not fetched again);
 * - `never`: the registry is never asked; an absent image is an {@link ImageAbsentError} (exit 2).
 *
 * Tarballs and SIF files are not affected: they are on the node already.
 *
 * @module
 */

/** When berth asks a registry for an image; see the module doc. */
export type PullPolicy = "missing" | "always" | "never";

/** Every policy, in the order the help lists them. */
export const PULL_POLICIES: readonly PullPolicy[] = ["missing", "always", "never"];

/** The default policy. */
export const DEFAULT_PULL_POLICY: PullPolicy = "missing";
