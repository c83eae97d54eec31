/**
 * berth's command-line entry: dispatches to a subcommand and turns every failure into one line on stderr and a
 * documented exit code. No stack trace ever reaches the user (set `BERTH_DEBUG=1` to see one).
 *
 * Each subcommand's module is imported only when that command runs (a static specifier, so `deno compile` still
 * bundles it): `berth version` or `berth list` do not load the runner, the executors and the image code, which
 * is most of what Deno would otherwise read and compile at every start.
 * @module
 */

import { BerthError, ExitCode, UsageError } from "../errors.ts";
import type { Command } from "./command.ts";
import { VERSION } from "../version.ts";
import { readEnv } from "../env.ts";

/** Every subcommand by name, in the order `berth --help` lists them: each loads its own module. */
export const COMMANDS: ReadonlyArray<readonly [name: string, load: () => Promise<Command>]> = [
  ["run", async () => (await import("./run.ts")).runCommand],
  ["pull", async () => (await import("./pull.ts")).pullCommand],
  ["list", async () => (await import("./list.ts")).listCommand],
  ["kill", async () => (await import("./kill.ts")).killCommand],
  ["gc", async () => (await import("./gc.ts")).gcCommand],
  ["check", async () => (await import("./check.ts")).checkCommand],
  ["report", async () => (await import("./report.ts")).reportCommand],
  ["version", async () => (await import("./version.ts")).versionCommand],
];

/** The subcommand called `name`, loaded; undefined when there is none. */
export async function loadCommand(name: string): Promise<Command | undefined> {
  return await COMMANDS.find(([n]) => n === name)?.[1]();
}

/** The text of `berth --help` (it loads every command, for its summary). */
export async function mainHelp(): Promise<string> {
  const commands = await Promise.all(COMMANDS.map(([, load]) => load()));
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    `berth ${VERSION}: run one container job on an HPC node under Docker, Podman, Singularity or Apptainer`,
    "",
    "Usage: berth <command> [options]",
    "",
    "Commands:",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
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
        console.error(await mainHelp());
        return ExitCode.Usage;
      }
      console.log(await mainHelp());
      return 0;
    }
    if (name === "--version") return await (await loadCommand("version"))!.run([]);
    const command = await loadCommand(name);
    if (!command) throw new UsageError(`unknown command "${name}" (try "berth --help")`);
    return await command.run(rest);
  } catch (err) {
    const { line, code } = describeFailure(err);
    console.error(`berth: ${line}`);
    if (readEnv("BERTH_DEBUG") && err instanceof Error) console.error(err.stack);
    return code;
  }
}
