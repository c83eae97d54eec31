/**
 * Output collection after the container has exited: the secret mount points an engine leaves in `output/` are
 * removed, the output is handed to the person who ran berth ({@link fixOwnership}), and `output.json` is written
 * ({@link writeOutputManifest}). Both walks stop when their signal fires (a cancel, `max_run_time`, or berth's
 * exit budget running out) and say so in the log and in `output.json` (`"complete": false`) instead of holding
 * berth past the batch system's kill deadline.
 * @module
 */

import { join } from "node:path";
import type { LogFn } from "../executor/types.ts";
import { type ManifestTotals, writeOutputManifest } from "./output_manifest.ts";
import { fixOwnership, type Owner } from "./ownership.ts";

/** What {@link handOverOutput} needs. */
export interface HandOverOptions {
  /** The work dir's `output/`. */
  output: string;
  /** Secret mount points below `output/` (relative), whose empty leftovers are removed. */
  secretPaths: readonly string[];
  /** Who gets the output. */
  owner: Owner;
  /** Cuts the walk short. */
  signal: AbortSignal;
  /** The job log. */
  log: LogFn;
}

/** Removes empty secret mount points, then fixes ownership and modes of the output (logged). */
export async function handOverOutput(o: HandOverOptions): Promise<void> {
  o.log("Collecting output");
  for (const rel of o.secretPaths) {
    const path = join(o.output, rel);
    try {
      const info = await Deno.lstat(path);
      if ((info.isFile && info.size === 0) || info.isDirectory) await Deno.remove(path);
    } catch { /* not there, or not empty: the container put something there itself */ }
  }
  const fixed = await fixOwnership(o.output, o.owner, o.signal);
  if (fixed.changed > 0) {
    o.log(`Gave ${fixed.changed} output entries to uid ${o.owner.uid} gid ${o.owner.gid}`);
  }
  for (const path of fixed.removedDevices) o.log(`Removed device node ${path} from the output`);
  for (const path of fixed.skippedLinked) {
    o.log(`Left ${path} as it is: it has hard links outside the output`);
  }
  if (fixed.failed.length > 0) {
    o.log(`Cannot fix ownership of ${fixed.failed.length} output entries, first: ${fixed.failed[0]}`);
  }
  if (!fixed.complete) {
    o.log("Output ownership fix cut short: berth is stopping; some entries keep their owner");
  }
}

/** What {@link recordOutput} needs. */
export interface RecordOutputOptions {
  /** The work dir's `output/`. */
  output: string;
  /** Where `output.json` goes. */
  manifestPath: string;
  /** The job's uuid. */
  uuid: string;
  /** Cuts the walk short. */
  signal: AbortSignal;
  /** The job log. */
  log: LogFn;
}

/**
 * Writes `output.json` and logs the totals.
 * @throws the file system's error when the manifest cannot be written.
 */
export async function recordOutput(o: RecordOutputOptions): Promise<ManifestTotals> {
  const totals = await writeOutputManifest(o.output, o.manifestPath, o.uuid, o.signal);
  if (!totals.complete) {
    o.log(
      `output.json is incomplete: the walk was cut short after ${totals.entries} entries because berth is ` +
        `stopping ("complete": false)`,
    );
  }
  o.log(`Output: ${totals.files} files, ${totals.bytes} bytes (listed in output.json)`);
  return totals;
}
