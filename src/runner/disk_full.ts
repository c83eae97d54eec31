/**
 * Whose disk is full. A full file system means different things depending on which one it is:
 *
 * - the **work dir** (often shared storage; `logs/`, `output/`, `state.json`): the job filled it or it was too
 *   small for the job. The job fails (exit 125) and the node is left alone, since requeueing it elsewhere would
 *   only fill the next node's share too;
 * - the node-local **tmp dir** (`--tmp-dir`): this node cannot run jobs until it is cleaned, a fault of the node
 *   (exit 75 and the broken-node marker).
 *
 * Deno names the path in the message of a path-based call (`… (os error 28): writefile '/x/y'`); a write to an
 * open file does not, and then the caller says where it was writing, or the two directories are probed.
 * @module
 */

import { isDiskFull } from "../errors.ts";
import { isWithin } from "./mount_sources.ts";

/** Which directory's file system is full. */
export type FullPlace = "work" | "tmp";

/** The run's directories that can fill up. */
export interface RunDirs {
  /** The work dir (absolute). */
  workDir: string;
  /** The node-local tmp dir (absolute). */
  tmpDir: string;
}

const PROBE_BYTES = 64 * 1024;

/** The directory a path lies in: the deeper of the two when both contain it (a work dir below the tmp dir). */
function placeOf(path: string, dirs: RunDirs): FullPlace | null {
  const inWork = isWithin(path, dirs.workDir);
  const inTmp = isWithin(path, dirs.tmpDir);
  if (inWork && inTmp) return dirs.workDir.length >= dirs.tmpDir.length ? "work" : "tmp";
  return inWork ? "work" : inTmp ? "tmp" : null;
}

/** True when `dir` cannot take {@link PROBE_BYTES} more bytes (a probe file is written and removed). */
export async function looksFull(dir: string): Promise<boolean> {
  let path: string | null = null;
  try {
    path = await Deno.makeTempFile({ dir, prefix: ".berth-space-probe-" });
    const data = new Uint8Array(PROBE_BYTES);
    crypto.getRandomValues(data.subarray(0, 65536));
    await Deno.writeFile(path, data);
    return false;
  } catch (err) {
    return isDiskFull(err);
  } finally {
    if (path !== null) await Deno.remove(path).catch(() => {});
  }
}

/**
 * Which directory a disk-full error is about, or null when `err` is not a disk-full error.
 * @param fallback Where the caller was writing when the message names no path; `"probe"` when it does not know.
 */
export async function whereFull(
  err: unknown,
  dirs: RunDirs,
  fallback: FullPlace | "probe",
): Promise<FullPlace | null> {
  if (!isDiskFull(err)) return null;
  const message = err instanceof Error ? err.message : String(err);
  const paths = [...message.matchAll(/'(\/[^']*)'/g)].map((m) => m[1]);
  // The last path is where it was written to (`copy 'src' -> 'dst'`).
  const named = paths.length > 0 ? placeOf(paths[paths.length - 1], dirs) : null;
  if (named !== null) return named;
  if (fallback !== "probe") return fallback;
  return (await looksFull(dirs.tmpDir)) ? "tmp" : "work";
}

/** The log line for a full directory. */
export function describeFull(place: FullPlace, dirs: RunDirs, err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return place === "work"
    ? `The work dir's file system is full ("${dirs.workDir}"): ${text}`
    : `The node's tmp dir is full ("${dirs.tmpDir}"): ${text}`;
}
