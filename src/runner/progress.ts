/**
 * Progress of an image load: on a terminal, one line rewritten in place with bytes done and total; in batch
 * logs (stderr not a terminal), a log line at most every 10 seconds, so a slow load shows it is alive without
 * flooding the log.
 * @module
 */

import type { ImageProgress, LogFn } from "../executor/types.ts";
import { formatBytes } from "../report/mod.ts";

/** How often a batch log gets a progress line, at most. */
export const BATCH_INTERVAL_MS = 10_000;
/** How often the terminal line is redrawn, at most. */
export const TTY_INTERVAL_MS = 200;

/** Options for {@link createProgressReporter}. */
export interface ProgressOptions {
  /** The terminal to draw on, or null in batch mode. */
  tty: { writeSync(data: Uint8Array): number } | null;
  /** The job log (batch mode lines). */
  log: LogFn;
  /** Clock in milliseconds; injectable for tests. @default Date.now */
  now?: () => number;
  /** Minimum time between batch lines. @default {@link BATCH_INTERVAL_MS} */
  batchIntervalMs?: number;
}

/** Receives progress updates and shows them. */
export interface ProgressReporter {
  /** Reports the bytes done so far. */
  update(p: ImageProgress): void;
  /** Ends the display (a terminal line gets its newline). */
  finish(): void;
}

/** `Loading image: 12.3 MiB of 45.6 MiB (27%)`. */
export function progressText(p: ImageProgress): string {
  const pct = p.total > 0 ? Math.floor((p.done / p.total) * 100) : 0;
  return `Loading image: ${formatBytes(p.done)} of ${formatBytes(p.total)} (${pct}%)`;
}

/** Creates a reporter for one image load. */
export function createProgressReporter(options: ProgressOptions): ProgressReporter {
  const now = options.now ?? Date.now;
  const encoder = new TextEncoder();
  let last = -Infinity;
  let drawn = false;
  let latest: ImageProgress | null = null;
  const draw = (p: ImageProgress) => {
    try {
      options.tty!.writeSync(encoder.encode(`\r\x1b[K${progressText(p)}`));
      drawn = true;
    } catch { /* terminal gone */ }
  };
  return {
    update(p) {
      latest = p;
      const t = now();
      const interval = options.tty ? TTY_INTERVAL_MS : options.batchIntervalMs ?? BATCH_INTERVAL_MS;
      if (t - last < interval && p.done < p.total) return;
      if (t - last < interval && !options.tty) return;
      last = t;
      if (options.tty) draw(p);
      else options.log(progressText(p));
    },
    finish() {
      if (options.tty && latest) draw(latest);
      if (drawn) {
        try {
          options.tty!.writeSync(encoder.encode("\n"));
        } catch { /* terminal gone */ }
      }
    },
  };
}
