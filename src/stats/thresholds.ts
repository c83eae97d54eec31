/**
 * Memory warnings for `crunch-run.txt`: one message the first time the container's rss reaches each percentage
 * of its RAM limit. crunch-run logs its last threshold again on every sample once all are passed (a slice bug,
 * reference §4 item 4); here each threshold is logged exactly once.
 * @module
 */

/** The percentages of the RAM limit crunch-run warns at. */
export const DEFAULT_MEMORY_THRESHOLDS: readonly number[] = [90, 95, 99];

/** Tracks which memory thresholds have been passed. */
export class MemoryThresholds {
  readonly #limit: number;
  #pending: { percent: number; bytes: number }[];

  /** `limit` is the RAM limit in bytes (no warnings when it is 0); `percentages` ascending. */
  constructor(limit: number, percentages: readonly number[] = DEFAULT_MEMORY_THRESHOLDS) {
    this.#limit = limit;
    this.#pending = limit > 0
      ? [...percentages].sort((a, b) => a - b).map((percent) => ({
        percent,
        bytes: Math.floor((limit * percent) / 100),
      }))
      : [];
  }

  /** The messages for the thresholds that `rss` passes for the first time (possibly several, ascending). */
  check(rss: number): string[] {
    const out: string[] = [];
    while (this.#pending.length > 0 && rss >= this.#pending[0].bytes) {
      const t = this.#pending.shift()!;
      out.push(`Container using over ${t.percent}% of memory (rss ${rss}/${this.#limit} bytes)`);
    }
    return out;
  }
}
