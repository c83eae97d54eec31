/**
 * The host side of a job's mounts, checked before anything is created: `bind` sources under an `--allow-bind`
 * root, and `collection` sources present under `--keep-mount`'s `by_id/`. A problem here is a job-file error
 * (exit 2): the job names something this node does not have or may not hand out.
 * @module
 */

import { join } from "node:path";
import { JobFileError } from "../errors.ts";
import { checkBindSource, type CollectionMount, type Job } from "../job/mod.ts";

/** Resolved host paths keyed by mount key (`bind` and named `collection` mounts only). */
export type MountSources = Map<string, string>;

function field(key: string): string {
  return `mounts[${JSON.stringify(key)}]`;
}

/** The path of a collection (and a path inside it) under the keep mount, as arv-mount lays it out. */
export function collectionPath(keepMount: string, m: CollectionMount): string {
  const locator = m.portable_data_hash !== "" ? m.portable_data_hash : m.uuid;
  return m.path === "" ? join(keepMount, "by_id", locator) : join(keepMount, "by_id", locator, m.path);
}

/** True when `p` is `root` or lies below it (both absolute and resolved). */
export function isWithin(p: string, root: string): boolean {
  return p === root || p.startsWith(root.endsWith("/") ? root : root + "/");
}

/**
 * Resolves and checks the host sources of a job's `bind` and named `collection` mounts.
 *
 * @param job The validated job.
 * @param jobPath The job file's path, for messages.
 * @param keepMount `--keep-mount`, or "" when not given.
 * @param allowBind `--allow-bind` roots.
 * @returns The resolved (symlink-free) host path of each such mount.
 * @throws {JobFileError} (exit 2) naming the first mount whose source is missing or not allowed.
 */
export async function resolveMountSources(
  job: Job,
  jobPath: string,
  keepMount: string,
  allowBind: readonly string[],
): Promise<MountSources> {
  const sources: MountSources = new Map();
  let keepReal: string | undefined;
  for (const key of Object.keys(job.mounts).sort()) {
    const m = job.mounts[key];
    if (m.kind === "bind") {
      const check = await checkBindSource(m.source, allowBind, { jobPath, target: key });
      if (!check.ok) throw check.error;
      if (key === "stdin" && !(await Deno.stat(check.realPath)).isFile) {
        throw new JobFileError(
          jobPath,
          `${field(key)}.source`,
          `is ${JSON.stringify(m.source)}, which is not a file`,
        );
      }
      sources.set(key, check.realPath);
    } else if (m.kind === "collection" && (m.portable_data_hash !== "" || m.uuid !== "")) {
      if (keepMount === "") {
        throw new JobFileError(jobPath, field(key), "is a collection mount, which needs --keep-mount DIR");
      }
      keepReal ??= await realPathOrFail(keepMount, jobPath, field(key), "the --keep-mount directory");
      const path = collectionPath(keepMount, m);
      const real = await realPathOrFail(path, jobPath, field(key), "its collection path");
      if (!isWithin(real, keepReal)) {
        throw new JobFileError(
          jobPath,
          field(key),
          `names ${JSON.stringify(path)}, which resolves to ${JSON.stringify(real)} outside --keep-mount`,
        );
      }
      const info = await Deno.stat(real);
      if (key === "stdin" && !info.isFile) {
        throw new JobFileError(jobPath, field(key), `names ${JSON.stringify(path)}, which is not a file`);
      }
      if (!info.isFile && !info.isDirectory) {
        throw new JobFileError(
          jobPath,
          field(key),
          `names ${JSON.stringify(path)}, which is neither a file nor a directory`,
        );
      }
      sources.set(key, real);
    }
  }
  return sources;
}

async function realPathOrFail(path: string, jobPath: string, f: string, what: string): Promise<string> {
  try {
    return await Deno.realPath(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    const why = err instanceof Deno.errors.NotFound ? "does not exist" : "cannot be resolved";
    throw new JobFileError(jobPath, f, `needs ${what} ${JSON.stringify(path)}, which ${why}`, { cause: err });
  }
}
