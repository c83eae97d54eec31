/**
 * Helpers for the runner's unit tests: job files written from objects, and temp dirs removed afterwards.
 * @module
 */

import { type ParsedJob, parseJob } from "../../src/job/mod.ts";

/** A job from a plain object; `BIG` in a string is replaced by the bare number text (to keep it exact). */
export function jobFrom(fields: Record<string, unknown>, path = "/jobs/job.json"): ParsedJob {
  const text = JSON.stringify({
    uuid: "unit-job",
    container_image: "/images/busybox.tar",
    command: ["true"],
    output_path: "/out",
    ...fields,
  }).replace(/"BIG:(\d+)"/g, "$1");
  return parseJob(text, path);
}

export { withTempDir } from "../helpers/temp_dir.ts";

/** Permission bits (and setuid/setgid/sticky) of `path`, without following a symlink. */
export async function modeOf(path: string): Promise<number> {
  return (await Deno.lstat(path)).mode! & 0o7777;
}
