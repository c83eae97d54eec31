/**
 * The check-then-mount window. berth checks a host path (a `bind` source under `--allow-bind`, a collection
 * under `--keep-mount`, the work dir's `output/`, the job's temp dirs and mount-data files) long before the
 * engine mounts it: the image load alone takes seconds to minutes. Whoever may rename a component of such a
 * path (the job's own user, under the roots it controls) could meanwhile swap it for a symlink, and the engine
 * (root, for Docker and rootful Podman) would follow it and mount whatever it points to.
 *
 * So every host path handed to an engine is a claim that is checked again at the last moment:
 * - {@link claimHostPaths} takes the prepared binds, each host path already resolved (no symlink anywhere in
 *   it: the path checked is the path mounted), and records what each is (directory or file, device and inode).
 *   A path that does not resolve to itself is refused at once.
 * - {@link HostPathClaims.verify} re-resolves and re-`lstat`s each one; it runs immediately before the engine
 *   is asked to create the container and again immediately before it starts it. A component swapped for a
 *   symlink (the path now resolves elsewhere), a path removed, or a directory replaced by another (a different
 *   inode) fails the run with {@link HostPathChangedError}, and the container is removed unstarted.
 *
 * What remains is the time between the last check and the engine's own mount at start (milliseconds): see the
 * README's security model.
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import { BerthError } from "../errors.ts";
import type { BindMount } from "../executor/types.ts";
import { isStrictlyUnder } from "../job/mod.ts";

/** A host path changed between berth's check and the engine's mount. Exit 125: the job fails, not the node. */
export class HostPathChangedError extends BerthError {}

/** What one bind's host path was when berth claimed it. */
export interface HostPathClaim {
  /** The container path, for messages. */
  target: string;
  /** The host path handed to the engine: resolved, absolute. */
  hostPath: string;
  /** True for a directory, false for a file. */
  isDirectory: boolean;
  /** Device and inode when claimed. */
  dev: number;
  /** See `dev`. */
  ino: number;
}

function describe(c: Pick<HostPathClaim, "target" | "hostPath">): string {
  return `The host path ${JSON.stringify(c.hostPath)} of the mount at ${JSON.stringify(c.target)}`;
}

async function resolve(c: Pick<HostPathClaim, "target" | "hostPath">, when: string): Promise<void> {
  let real: string;
  try {
    real = await Deno.realPath(c.hostPath);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    const why = err instanceof Deno.errors.NotFound ? "no longer exists" : "cannot be resolved";
    throw new HostPathChangedError(`${describe(c)} ${why} ${when}`, { cause: err });
  }
  if (real !== c.hostPath) {
    throw new HostPathChangedError(
      `${describe(c)} now resolves to ${JSON.stringify(real)}: a component was replaced by a symlink ${when}`,
    );
  }
}

/** The recorded host paths of one run's binds; see the module doc. */
export class HostPathClaims {
  /** One claim per bind, in target order. */
  readonly claims: readonly HostPathClaim[];

  constructor(claims: readonly HostPathClaim[]) {
    this.claims = claims;
  }

  /**
   * Checks that every claimed path is still what it was: resolves to itself, same type, same device and inode.
   * @throws {HostPathChangedError} naming the first mount whose host path changed.
   */
  async verify(): Promise<void> {
    const when = "since berth checked it";
    for (const c of this.claims) {
      await resolve(c, when);
      let info: Deno.FileInfo;
      try {
        info = await Deno.lstat(c.hostPath);
      } catch (err) {
        if (err instanceof Deno.errors.NotCapable) throw err;
        throw new HostPathChangedError(`${describe(c)} no longer exists ${when}`, { cause: err });
      }
      if (info.isDirectory !== c.isDirectory || info.dev !== c.dev || info.ino !== c.ino) {
        throw new HostPathChangedError(`${describe(c)} was replaced by another file or directory ${when}`);
      }
    }
  }
}

/**
 * Claims the host path of every bind (see the module doc).
 * @param binds The prepared binds, keyed by container path; every host path resolved already.
 * @throws {HostPathChangedError} for a host path that does not resolve to itself, is missing, or is neither a
 *   file nor a directory.
 */
export async function claimHostPaths(binds: Record<string, BindMount>): Promise<HostPathClaims> {
  const claims: HostPathClaim[] = [];
  for (const target of Object.keys(binds).sort()) {
    const hostPath = binds[target].hostPath;
    const at = { target, hostPath };
    await resolve(at, "after berth checked it");
    const info = await Deno.lstat(hostPath);
    if (!info.isDirectory && !info.isFile) {
      throw new HostPathChangedError(`${describe(at)} is neither a file nor a directory`);
    }
    claims.push({ target, hostPath, isDirectory: info.isDirectory, dev: info.dev, ino: info.ino ?? 0 });
  }
  return new HostPathClaims(claims);
}

/**
 * Refuses a directory berth created itself (the work dir's `logs/` and `output/`, the job's temp dir) when it
 * is not what berth made: a symlink, not a directory, or (with `uid`) owned by another user. Parents are not
 * checked: a work dir below a symlinked `/scratch` is fine; only the parts berth creates must be real.
 * @throws {HostPathChangedError} when `path` is a symlink, not a directory, or not owned by `uid`.
 */
export async function assertRealDirectory(path: string, uid?: number): Promise<void> {
  const info = await Deno.lstat(path);
  if (info.isSymlink || !info.isDirectory) {
    throw new HostPathChangedError(
      `${JSON.stringify(path)}, which berth created, is ${
        info.isSymlink ? "a symlink" : "not a directory"
      } now`,
    );
  }
  if (uid !== undefined && info.uid !== uid) {
    throw new HostPathChangedError(
      `${
        JSON.stringify(path)
      }, which berth created, is owned by uid ${info.uid}, not by berth's user (${uid})`,
    );
  }
}

/**
 * Refuses to let berth write `file` (a stdout/stderr file mount inside `base`, the job's `output/`) through a
 * symlink: every directory from `base` down to the file's parent must be a real directory, and the file, when it
 * exists, a regular file. Checked right before berth opens it, so a root berth never truncates a file a link
 * points at.
 * @throws {HostPathChangedError} naming the first part that is not what berth made.
 */
export async function assertNoLinkUnder(base: string, file: string): Promise<void> {
  if (!isStrictlyUnder(file, base)) {
    throw new HostPathChangedError(`${JSON.stringify(file)} is not inside ${JSON.stringify(base)}`);
  }
  await assertRealDirectory(base);
  let at = base;
  for (const part of relative(base, dirname(file)).split("/").filter((p) => p !== "")) {
    at = join(at, part);
    await assertRealDirectory(at);
  }
  try {
    const info = await Deno.lstat(file);
    if (!info.isFile) {
      throw new HostPathChangedError(
        `${JSON.stringify(file)}, which berth writes, is ${info.isSymlink ? "a symlink" : "not a file"} now`,
      );
    }
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) throw err;
  }
}
