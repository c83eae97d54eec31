/**
 * UTC timestamps with exactly nine fractional digits, as crunch-run writes them:
 * `2026-11-23T11:09:07.123456789Z`.
 *
 * `Date` has millisecond resolution; the sub-millisecond digits come from `performance.now()` relative to the
 * same origin, so timestamps taken in order never go backwards within one process.
 *
 * @module
 */

const originMs = performance.timeOrigin;

/** Formats an epoch time in nanoseconds (a bigint) as `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`. */
export function formatTimestamp(epochNs: bigint): string {
  const ms = epochNs / 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const frac = (epochNs % 1_000_000_000n).toString().padStart(9, "0");
  return `${iso.slice(0, 19)}.${frac}Z`;
}

/** The current time in nanoseconds since the epoch, with sub-millisecond precision where the platform has it. */
export function nowNs(): bigint {
  const ms = originMs + performance.now();
  const whole = Math.floor(ms);
  const fracNs = Math.floor((ms - whole) * 1_000_000);
  return BigInt(whole) * 1_000_000n + BigInt(fracNs);
}

/** The current UTC time, formatted by {@link formatTimestamp}. */
export function timestamp(): string {
  return formatTimestamp(nowNs());
}
