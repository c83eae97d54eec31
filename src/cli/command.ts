/**
 * The shape of a berth subcommand, and the helpers every subcommand uses to parse its arguments.
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";
import { UsageError } from "../errors.ts";

/** A subcommand: `berth <name> ...`. */
export interface Command {
  /** The word after `berth`. */
  name: string;
  /** One line for `berth --help`. */
  summary: string;
  /** The full help text for `berth <name> --help`. */
  help: string;
  /** Runs the command with the arguments after its name; resolves with the process exit code. */
  run(args: string[]): Promise<number>;
}

/**
 * `node:util` parseArgs with berth's conventions: unknown options and bad values become a {@link UsageError}
 * naming the command, `--help` is always accepted.
 */
export function parseCommandArgs<T extends NonNullable<ParseArgsConfig["options"]>>(
  command: string,
  args: string[],
  options: T,
) {
  try {
    return parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    // node:util's messages may run over several lines of advice; the first line says what is wrong.
    const msg = err instanceof Error
      ? err.message.replace(/\. To specify a positional argument.*$/s, "").split("\n")[0].replace(/\.$/, "")
      : String(err);
    throw new UsageError(`${command}: ${msg} (try "berth ${command} --help")`);
  }
}

/**
 * Reads an option that takes one of a few words.
 * @returns `value`, or `fallback` when the option was not given.
 * @throws {UsageError} naming the command, the option and the words allowed.
 */
export function parseChoice<T extends string>(
  command: string,
  name: string,
  value: string | undefined,
  allowed: readonly T[],
  fallback: T,
): T {
  if (value === undefined) return fallback;
  if (!(allowed as readonly string[]).includes(value)) {
    throw new UsageError(
      `${command}: --${name} must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${
        JSON.stringify(value)
      }`,
    );
  }
  return value as T;
}

/** Bounds for {@link parseSeconds}. */
export interface SecondsOptions {
  /** The value when the option was not given. */
  fallback: number;
  /** The smallest value allowed. @default 0 */
  min?: number;
  /** True: the value must be greater than `min`, not equal to it. @default false */
  exclusiveMin?: boolean;
}

/** The largest number of seconds any option takes (a year). */
export const MAX_SECONDS = 365 * 86400;

/**
 * Reads an option that takes a number of seconds (fractions allowed): the one parser every command uses.
 * @throws {UsageError} for text that is not a number, or a number out of range.
 */
export function parseSeconds(
  command: string,
  name: string,
  value: string | undefined,
  o: SecondsOptions,
): number {
  if (value === undefined) return o.fallback;
  const min = o.min ?? 0;
  const n = Number(value);
  const tooSmall = o.exclusiveMin ? n <= min : n < min;
  if (value.trim() === "" || !Number.isFinite(n) || tooSmall || n > MAX_SECONDS) {
    const range = o.exclusiveMin ? (min === 0 ? "positive " : `more than ${min} `) : "";
    const atLeast = !o.exclusiveMin && min > 0 ? ` of at least ${min}` : "";
    throw new UsageError(
      `${command}: --${name} must be a ${range}number of seconds${atLeast}, got ${JSON.stringify(value)}`,
    );
  }
  return n;
}
