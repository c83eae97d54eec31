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
