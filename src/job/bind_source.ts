/**
 * The host-side check of a `bind` mount: the source exists and, after every symlink is resolved, lies under
 * one of the `--allow-bind` roots.
 *
 * The engine would follow the symlinks itself, as root, so the check must be on the resolved path: a link
 * `/data/x → /etc` under an allowed `/data` must not hand `/etc` to the container. The runner then mounts
 * {@link BindSourceCheck}'s `realPath`, not the source as written, so that the path checked is the path
 * mounted (a link swapped in later is not followed again by berth; directories inside an allowed root remain
 * the responsibility of whoever may write there).
 *
 * @module
 */

import { JobFileError } from "../errors.ts";
import { quote } from "./json.ts";
import { isNormalizedAbsolute, isStrictlyUnder } from "./_paths.ts";
import { entry, member } from "./_read.ts";

/** Where the bind mount comes from, for the error message. */
export interface BindSourceContext {
  /** The job file's path. */
  jobPath: string;
  /** The mount's target (its key in `mounts`). */
  target: string;
}

/** The outcome of {@link checkBindSource}. */
export type BindSourceCheck =
  | {
    /** The source may be mounted. */
    ok: true;
    /** The source with every symlink resolved: the path to hand to the engine. */
    realPath: string;
  }
  | {
    /** The source must not be mounted. */
    ok: false;
    /** Why, naming the field `mounts["<target>"].source` (exit code 2). */
    error: JobFileError;
  };

/**
 * Checks a `bind` mount's source against the allowed roots: the path as written must lie under a root, and
 * so must the path with every symlink resolved (in both, and in the roots).
 *
 * @param source The mount's `source` (absolute and normalized after validation).
 * @param allowRoots The `--allow-bind` directories; roots that do not exist are skipped.
 * @param where The job file and mount target, for the error.
 * @returns The resolved path, or the error to report.
 * @throws {Deno.errors.NotCapable} When berth's permission profile forbids looking at a path (reported by the
 *   CLI with the profile's name, like every permission refusal).
 *
 * @example
 * ```ts
 * import { checkBindSource } from "./bind_source.ts";
 * const dir = await Deno.makeTempDir();
 * const check = await checkBindSource("/etc", [dir], { jobPath: "job.json", target: "/data" });
 * console.assert(!check.ok);
 * await Deno.remove(dir);
 * ```
 */
export async function checkBindSource(
  source: string,
  allowRoots: readonly string[],
  where: BindSourceContext,
): Promise<BindSourceCheck> {
  const field = member(entry("mounts", where.target), "source");
  const refuse = (problem: string, cause?: unknown): BindSourceCheck => ({
    ok: false,
    error: new JobFileError(where.jobPath, field, problem, { cause }),
  });
  if (!isNormalizedAbsolute(source) || source.includes("\0")) {
    return refuse(`must be an absolute, normalized host path, got ${quote(source)}`);
  }
  if (allowRoots.length === 0) {
    return refuse(`is ${quote(source)}, but bind mounts are not allowed: no --allow-bind root was given`);
  }
  const realRoots: string[] = [];
  for (const root of allowRoots) {
    try {
      realRoots.push(await Deno.realPath(root));
    } catch (err) {
      if (err instanceof Deno.errors.NotCapable) throw err;
      // A root that does not exist (or cannot be resolved) allows nothing.
    }
  }
  const outside = () =>
    refuse(
      `is ${quote(source)} outside every --allow-bind root (${allowRoots.map((r) => quote(r)).join(", ")})`,
    );
  // The path as written must already lie under a root: a source elsewhere is refused without being looked at
  // (under a hardened profile berth may not even read it).
  if (![...allowRoots, ...realRoots].some((root) => source === root || isStrictlyUnder(source, root))) {
    return outside();
  }
  let realPath: string;
  try {
    realPath = await Deno.realPath(source);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    if (err instanceof Deno.errors.NotFound) return refuse(`is ${quote(source)}, which does not exist`, err);
    const detail = err instanceof Error ? err.message : String(err);
    return refuse(`is ${quote(source)}, which cannot be resolved: ${detail}`, err);
  }
  if (realRoots.some((root) => realPath === root || isStrictlyUnder(realPath, root))) {
    return { ok: true, realPath };
  }
  const resolved = realPath === source ? "" : `, which resolves to ${quote(realPath)},`;
  return refuse(
    `is ${quote(source)}${resolved} outside every --allow-bind root (${
      allowRoots.map((r) => quote(r)).join(", ")
    })`,
  );
}
