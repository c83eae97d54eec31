/**
 * Opens a statistics log file (`crunchstat.txt`, `hoststat.txt`) as a timestamping {@link Logger}.
 * @module
 */

import { Logger } from "../logs/logger.ts";

/** A logger appending timestamped lines to `path` (created 0644 when missing). */
export async function openStatsFile(path: string, clock?: () => string): Promise<Logger> {
  const file = await Deno.open(path, { create: true, append: true, mode: 0o644 });
  return new Logger(file, { clock });
}
