/**
 * Pure checks on POSIX path strings from job files (no file system access).
 * @module
 */

/**
 * True when `p` is absolute and already normalized: no empty (`//`), `.` or `..` segments and no trailing `/`
 * (except `/` itself). Requiring the normalized form (rather than normalizing) means two spellings of one
 * path can never name two different mounts, and what the log shows is what the engine gets.
 */
export function isNormalizedAbsolute(p: string): boolean {
  if (!p.startsWith("/")) return false;
  if (p === "/") return true;
  return p.slice(1).split("/").every((seg) => seg !== "" && seg !== "." && seg !== "..");
}

/** True when `p` lies strictly below the directory `dir` (both normalized absolute paths). */
export function isStrictlyUnder(p: string, dir: string): boolean {
  return dir === "/" ? p !== "/" : p.startsWith(dir + "/");
}

/**
 * Normalizes a path inside a collection to the relative form `a/b` ("" for the root): leading `/` and `./`,
 * empty and `.` segments are dropped. Returns null when a `..` segment would climb (the path must never reach
 * outside the collection, whatever follows it).
 */
export function normalizeCollectionPath(p: string): string | null {
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") return null;
    out.push(seg);
  }
  return out.join("/");
}
