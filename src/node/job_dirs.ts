/**
 * Modes and owners of what berth creates for a job (the work dir, `logs/`, `output/`, tmp mounts, staged files):
 * owned by the user who ran berth and writable by nobody else, during and after the run (#13: a world-writable
 * `output/` let any user of the node add, replace or delete a job's outputs while it ran).
 *
 * The container must still be able to write its writable mounts. It runs as berth's own user, so owner access is
 * enough, on: Docker and Podman when berth is not root (the container runs as the invoking uid:gid, rootless
 * Podman with `keep-id`), and Singularity/Apptainer always. The one case where the container runs as someone
 * else is root's berth on Docker or Podman with an image whose `USER` is not root: then the writable dirs (and
 * staged files under `output/`) are given to that user's numeric uid:gid for the run, and nobody else gets
 * anything (berth gives everything back to its owner when it collects the output). A `USER` given by name is
 * not resolved (that needs the image's /etc/passwd): such dirs stay root's, and the README says to use a numeric
 * `USER` or run berth as that user.
 * @module
 */

/** Mode of every directory berth creates for a job. */
export const JOB_DIR_MODE = 0o755;
/** Mode of the text/json files berth stages under `output/`, and the least a copied writable file gets. */
export const STAGED_FILE_MODE = 0o644;

/** Whom a job's writable dirs are given to for the run. */
export interface WritableOwner {
  /** User id. */
  uid: number;
  /** Group id. */
  gid: number;
}

/**
 * Who besides berth's own user must write the job's writable dirs: for root's berth on Docker or Podman with an
 * image `USER` of the form `uid` or `uid:gid` (numbers, uid not 0), that uid and gid (gid 0 when not given);
 * else null (the container runs as berth's user, or as root, or the name cannot be resolved).
 */
export function writableOwnerFor(engine: string, berthUid: number, imageUser: string): WritableOwner | null {
  if (berthUid !== 0 || (engine !== "docker" && engine !== "podman")) return null;
  const m = /^(\d+)(?::(\d+))?$/.exec(imageUser.trim());
  if (!m || Number(m[1]) === 0) return null;
  return { uid: Number(m[1]), gid: m[2] === undefined ? 0 : Number(m[2]) };
}

/** Gives `path` (created by berth for the job) mode `mode`, and to `owner` when there is one. */
export async function settleJobPath(path: string, mode: number, owner: WritableOwner | null): Promise<void> {
  if (owner) await Deno.chown(path, owner.uid, owner.gid);
  await Deno.chmod(path, mode);
}
