/**
 * The launch script: how berth tells the runtime's own failures from the container's exit, and how the container
 * gets exactly the spec's environment and working directory on every generation of the command line.
 *
 * Every Singularity/Apptainer `exec` runs the image's action script, which sources `/.singularity.d/env/*.sh` in
 * order and then `exec`s the command (3.4 with the image's `/bin/sh`, ≥ 3.6 with the interpreter built into the
 * runtime). berth binds one more file there, sorting last: {@link LAUNCH_SCRIPT_PATH}. Sourced just before the
 * command runs, it
 *
 * 1. exports the spec's environment with literal values (single-quoted: no evaluation on any generation, whatever
 *    `SINGULARITY_NO_EVAL` support the program has, and the image's `${VAR:-default}` lines lose to them);
 * 2. changes to the working directory (3.4 silently falls back to `$HOME` or `/` when `--pwd` does not exist), and
 *    checks that every bind is mounted (3.4 skips a bind it cannot make with a mere warning);
 * 3. looks the command up on the spec's `PATH` as `exec` will;
 * 4. writes one verdict line `<token> <verdict>` to stderr, and exits when the directory, a bind or the command
 *    is missing.
 *
 * The rule (also in the README): **the container ran** when the verdict `started` came; everything the runtime
 * printed before it is the runtime's (it goes to the job log, not to stderr.txt) and everything after it is the
 * container's. No verdict, or `not-found` / `no-workdir` / `no-bind`, means the runtime failed before the command started: an
 * unknown flag, a `FATAL` of the starter, an image or a bind it refused, a command or directory missing in the
 * image. Then `start()` rejects with {@link EngineError} carrying the runtime's own error line, and the exit status
 * means nothing. The token is random per container, so no output of an image can fake a verdict by accident. What
 * the check cannot see: a command that exists and is executable but whose `exec` fails (a missing `#!`
 * interpreter) is reported, as the runtime's shell reports it, as the container's exit 126 or 127.
 *
 * @module
 */

/** Where the launch script is bound in the container: last in the order the action script sources. */
export const LAUNCH_SCRIPT_PATH = "/.singularity.d/env/99-zzzzz-berth-launch.sh";

/** The verdict words of the launch script. */
export type LaunchVerdict = "started" | "not-found" | "no-workdir" | "no-bind";

/** The verdict words, for parsing. */
export const LAUNCH_VERDICTS: readonly LaunchVerdict[] = ["started", "not-found", "no-workdir", "no-bind"];

/** A variable name the shell can `export`. */
const SHELL_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `value` in single quotes for a POSIX shell: literal, whatever it holds. */
export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

/** A path as `/proc/self/mountinfo` writes it: space, tab, newline and backslash as octal escapes. */
export function mountinfoPath(path: string): string {
  return path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, "0")}`);
}

/** A fresh random token for one container's verdict line. */
export function launchToken(): string {
  return `berth-launch-${crypto.randomUUID()}`;
}

/** Everything {@link launchScript} depends on. */
export interface LaunchScriptInput {
  /** The container's whole environment. */
  env: Record<string, string>;
  /** The working directory (absolute). */
  workingDir: string;
  /** Container paths that must be mount points (every bind, and `--home`'s target). */
  bindTargets: string[];
  /** The verdict token. */
  token: string;
}

/** The script text, and the variables it had to leave out. */
export interface LaunchScript {
  /** The script. */
  text: string;
  /** Names that are not shell variable names (`A-B`, `1X`), which no Singularity shell can export. */
  skipped: string[];
}

/**
 * Builds the launch script; see the module doc. Only POSIX shell and builtins (`cd`, `read`, `[`, `printf`), so
 * that it runs the same in an image's `/bin/sh` and in the runtimes' built-in interpreter.
 */
export function launchScript(input: LaunchScriptInput): LaunchScript {
  const verdict = (word: string, detail = "") =>
    `printf '%s\\n' ${shellQuote(`${input.token} ${word}${detail ? ` ${detail}` : ""}`)} >&2`;
  const skipped: string[] = [];
  const lines = [
    "# Written by berth for one container; sourced by the runtime's action script right before the command.",
    `if ! cd ${shellQuote(input.workingDir)} 2>/dev/null; then ${verdict("no-workdir")}; exit 126; fi`,
    "unset OLDPWD",
  ];
  if (input.bindTargets.length > 0) {
    // Singularity 3.x before 3.6 skips a bind it cannot make with a mere warning; every bind must be there.
    lines.push(
      "__berth_bound() {",
      "  [ -r /proc/self/mountinfo ] || return 0",
      "  while read -r __berth_a __berth_b __berth_c __berth_d __berth_m __berth_rest; do",
      '    [ "$__berth_m" = "$1" ] && return 0',
      "  done < /proc/self/mountinfo",
      "  # A path through a symlink of the image is mounted at the link's target: not checked.",
      "  __berth_p=",
      "  __berth_rest=${2#/}",
      '  while [ -n "$__berth_rest" ]; do',
      '    __berth_p="$__berth_p/${__berth_rest%%/*}"',
      '    case "$__berth_rest" in */*) __berth_rest=${__berth_rest#*/} ;; *) __berth_rest= ;; esac',
      '    [ -L "$__berth_p" ] && return 0',
      "  done",
      "  return 1",
      "}",
    );
    for (const target of input.bindTargets) {
      lines.push(
        `if ! __berth_bound ${shellQuote(mountinfoPath(target))} ${shellQuote(target)}; then ` +
          `${verdict("no-bind", target)}; exit 125; fi`,
      );
    }
    lines.push("unset __berth_a __berth_b __berth_c __berth_d __berth_m __berth_rest __berth_p");
  }
  for (const [name, value] of Object.entries(input.env)) {
    if (SHELL_NAME.test(name)) lines.push(`export ${name}=${shellQuote(value)}`);
    else skipped.push(name);
  }
  lines.push(
    "__berth_found=",
    'case "$1" in',
    '*/*) if [ -f "$1" ] && [ -x "$1" ]; then __berth_found=1; fi ;;',
    "*)",
    "  __berth_ifs=$IFS",
    "  IFS=:",
    "  for __berth_dir in $PATH; do",
    '    if [ -f "${__berth_dir:-.}/$1" ] && [ -x "${__berth_dir:-.}/$1" ]; then __berth_found=1; break; fi',
    "  done",
    "  IFS=$__berth_ifs",
    "  ;;",
    "esac",
    `if [ -z "$__berth_found" ]; then ${verdict("not-found")}; exit 127; fi`,
    "unset __berth_found __berth_ifs __berth_dir",
    verdict("started"),
    "",
  );
  return { text: lines.join("\n"), skipped };
}
