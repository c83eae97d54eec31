/**
 * The job temp dirs the runner makes in `--tmp-dir`: `berth-<uuid (first 64 characters)>-<random hex>`, made with
 * `Deno.makeTempDir({ prefix: jobTmpDirPrefix(uuid) })`. `berth gc` removes those whose job is not running.
 * @module
 */

import { JOB_UUID_PATTERN } from "./runtime_dir.ts";

/** The temp dir name prefix of job `uuid`. */
export function jobTmpDirPrefix(uuid: string): string {
  return `berth-${uuid.slice(0, 64)}-`;
}

/** The (possibly shortened) job uuid of a job temp dir name, or null when `name` is not one. */
export function jobOfTmpDir(name: string): string | null {
  const m = /^berth-(.+)-[0-9a-f]{6,}$/.exec(name);
  return m && JOB_UUID_PATTERN.test(m[1]) ? m[1] : null;
}

/** True when temp dir `name` belongs to job `uuid`. */
export function tmpDirBelongsTo(name: string, uuid: string): boolean {
  return jobOfTmpDir(name) === uuid.slice(0, 64);
}
