/**
 * berth's command-line entry: dispatches to a subcommand and turns every failure into one line on stderr and a
 * documented exit code. No stack trace ever reaches the user (set `BERTH_DEBUG=1` to see one).
 * @module
 */

import { BerthError, ExitCode, UsageError } from "../errors.ts";
import type { Command } from "./command.ts";
import { versionCommand } from "./version.ts";
import { runCommand } from "./run.ts";
import { pullCommand } from "./pull.ts";
import { listCommand } from "./list.ts";
import { killCommand } from "./kill.ts";
import { gcCommand } from "./gc.ts";
import { checkCommand } from "./check.ts";
import { reportCommand } from "./report.ts";
import { VERSION } from "../version.ts";
import { readEnv } from "../env.ts";

/** Every subcommand, in the order `berth --help` lists them. */
export const COMMANDS: Command[] = [
  runCommand,
  pullCommand,
  listCommand,
  killCommand,
  gcCommand,
  checkCommand,
  reportCommand,
  versionCommand,
];

/** The text of `berth --help`. */
export function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  return [
    `berth ${VERSION}: run one container job on an HPC node under Docker, Podman, Singularity or Apptainer`,
    "",
    "Usage: berth <command> [options]",
    "",
    "Commands:",
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    "",
    'Run "berth <command> --help" for a command\'s options. Exit codes are listed in the README.',
  ].join("\n");
}

/** The profile name berth runs under, for messages about refused permissions. */
function profileName(): string {
  return readEnv("BERTH_PROFILE") ?? "standard";
}

/** Formats any error as the single line the user sees, and picks the exit code. */
export function describeFailure(err: unknown): { line: string; code: number } {
  if (err instanceof BerthError) return { line: err.message, code: err.exitCode };
  if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
    const what = err.message.replace(/, run again with the --allow-\S+ flag$/, "").replace(
      /\s*\n[\s\S]*$/,
      "",
    );
    return {
      line: `permission refused by berth's Deno sandbox (profile "${profileName()}"): ${what}`,
      code: ExitCode.Failure,
    };
  }
  const text = err instanceof Error ? err.message : String(err);
  return { line: `internal error: ${text.split("\n")[0]}`, code: ExitCode.Failure };
}

/** Runs berth with `args`; resolves with the process exit code. */
export async function main(args: string[]): Promise<number> {
  try {
    const [name, ...rest] = args;
    if (name === undefined || name === "--help" || name === "-h" || name === "help") {
      if (name === undefined) {
        console.error(mainHelp());
        return ExitCode.Usage;
      }
      console.log(mainHelp());
      return 0;
    }
    if (name === "--version") return await versionCommand.run([]);
    const command = COMMANDS.find((c) => c.name === name);
    if (!command) throw new UsageError(`unknown command "${name}" (try "berth --help")`);
    return await command.run(rest);
  } catch (err) {
    const { line, code } = describeFailure(err);
    console.error(`berth: ${line}`);
    if (readEnv("BERTH_DEBUG") && err instanceof Error) console.error(err.stack);
    return code;
  }
}
