/**
 * What the Singularity-family program berth drives can do: its flavour, its version, and the `exec` flags it has.
 *
 * Real clusters run many generations: SingularityCE 3.x before 3.10 has no `--cpus`/`--memory` (limits go through
 * `--apply-cgroups FILE`, root only), Apptainer 1.0 has none either while Apptainer ≥ 1.1 has them, `--rocm`
 * appeared in 3.5, `--env` in 3.6, `--mount`/`--nvccli` in 3.9, `--no-eval` in 3.10. berth builds its argument
 * vector from what the program says it has, never from assumptions.
 *
 * How: the flags come from parsing `<program> exec --help`, not from a table of versions. The help lists exactly
 * the flags this build accepts, so a vendor's backport, a site's patched build, a fork, or a release newer than
 * berth all read correctly, and nothing has to be kept up to date per release; a version table would be wrong for
 * each of those. It costs one short process per program and version (both queries run together, and the answer
 * is cached for the life of the berth process). The version line still names the flavour and the version for the
 * log, and decides the few behaviours the help cannot show (see `limits.ts`).
 *
 * @module
 */

import { EngineError, errorLine } from "../../errors.ts";
import type { FactCacheOptions } from "../../node/fact_cache.ts";

/** The three families of the Singularity command line. */
export type SingularityFlavour = "Apptainer" | "SingularityCE" | "Singularity";

/** A parsed version line. */
export interface RuntimeVersion {
  /** Apptainer, SingularityCE, or the Sylabs/HPCng Singularity before the fork (`singularity version 3.x`). */
  flavour: SingularityFlavour;
  /** Major, minor and patch numbers (patch 0 when absent). */
  numbers: [number, number, number];
  /** The version as printed, without the program name (`3.4.2`, `1.2.5-1.el8`). */
  text: string;
}

/** Everything berth knows about one program. */
export interface RuntimeCapabilities {
  /** Absolute path of the program. */
  path: string;
  /** The trimmed first line of `--version`. */
  versionLine: string;
  /** Flavour and version parsed from {@link versionLine}. */
  version: RuntimeVersion;
  /** Long names of every flag `exec --help` lists (without the leading `--`). */
  execFlags: ReadonlySet<string>;
}

/**
 * Parses a `--version` line: `apptainer version 1.2.5`, `singularity-ce version 3.11.4`, `singularity version
 * 3.4.2` (also with a distribution suffix such as `-1.el8`, and with anything after the version).
 * @returns null when the line is not one of those forms.
 */
export function parseVersionLine(line: string): RuntimeVersion | null {
  const m =
    /^\s*(apptainer|singularity-ce|singularityce|singularity)\s+version\s+v?((\d+)\.(\d+)(?:\.(\d+))?\S*)/i
      .exec(line);
  if (!m) return null;
  const name = m[1].toLowerCase();
  const flavour: SingularityFlavour = name === "apptainer"
    ? "Apptainer"
    : name === "singularity"
    ? "Singularity"
    : "SingularityCE";
  return { flavour, numbers: [Number(m[3]), Number(m[4]), Number(m[5] ?? 0)], text: m[2] };
}

/**
 * The long flag names in a cobra help text (`  -B, --bind strings   …`, `      --apply-cgroups string   …`): the
 * first `--name` of every line that starts with a flag, in the Options and Global Options sections alike.
 */
export function parseHelpFlags(help: string): Set<string> {
  const flags = new Set<string>();
  for (const m of help.matchAll(/^[ \t]+(?:-[A-Za-z0-9], )?--([a-z0-9][a-z0-9-]*)/gm)) flags.add(m[1]);
  return flags;
}

/** How long one query of the program may take before it counts as unresponsive. */
export const QUERY_TIMEOUT_MS = 20_000;

/**
 * Runs `path args` and returns its output; killed after {@link QUERY_TIMEOUT_MS}, or as soon as `cancel` fires
 * (the executor was closed: berth is stopping, and must not leave a hung query behind).
 */
async function query(path: string, args: string[], cwd: string, cancel?: AbortSignal): Promise<string> {
  const what = `"${path} ${args.join(" ")}"`;
  const timeout = new AbortController();
  const timer = setTimeout(() => timeout.abort(), QUERY_TIMEOUT_MS);
  let out: Deno.CommandOutput;
  try {
    if (cancel?.aborted) throw new Error("berth is stopping");
    out = await new Deno.Command(path, {
      args,
      clearEnv: true,
      env: {},
      cwd,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: cancel ? AbortSignal.any([timeout.signal, cancel]) : timeout.signal,
    }).output();
  } catch (err) {
    throw new EngineError(`Cannot run ${what}: ${errorLine(err)}`, { cause: err, brokenNode: false });
  } finally {
    clearTimeout(timer);
  }
  if (cancel?.aborted) {
    throw new EngineError(`${what} was stopped: berth is stopping`, { brokenNode: false });
  }
  if (timeout.signal.aborted) {
    throw new EngineError(`${what} did not answer within ${QUERY_TIMEOUT_MS / 1000} s: engine unresponsive`, {
      brokenNode: true,
    });
  }
  const stdout = new TextDecoder().decode(out.stdout);
  const stderr = new TextDecoder().decode(out.stderr);
  if (!out.success) {
    const why = errorLine(stderr.trim().split("\n").filter((l) => l.trim() !== "").pop() ?? "");
    throw new EngineError(`${what} exited with status ${out.code}${why ? `: ${why}` : ""}`, {
      brokenNode: false,
    });
  }
  return stdout.trim() !== "" ? stdout : stderr;
}

/**
 * The first line of `<path> --version`, trimmed; `cancel` kills the query.
 * @throws {EngineError} when it cannot be had.
 */
export async function queryVersionLine(path: string, cwd: string, cancel?: AbortSignal): Promise<string> {
  const text = (await query(path, ["--version"], cwd, cancel)).trim().split("\n")[0].trim();
  if (text === "") throw new EngineError(`"${path} --version" printed nothing`, { brokenNode: false });
  return text;
}

const cache = new Map<string, Promise<RuntimeCapabilities>>();

/**
 * The capabilities of the program at `path` whose `--version` printed `versionLine`: `exec --help` is run once per
 * (path, version) for the life of the process; every later call gets the same answer.
 * @throws {EngineError} when the version line is not one of a Singularity-family program, or the help cannot be
 * had (the failed query is not cached).
 */
export function detectCapabilities(
  path: string,
  versionLine: string,
  cwd: string,
  cancel?: AbortSignal,
): Promise<RuntimeCapabilities> {
  const key = `${path}\0${versionLine}`;
  let found = cache.get(key);
  if (found === undefined) {
    found = (async () => {
      const version = parseVersionLine(versionLine);
      if (version === null) {
        throw new EngineError(
          `Cannot tell which Singularity or Apptainer "${path}" is: its --version printed ${
            JSON.stringify(versionLine)
          }`,
          { brokenNode: false },
        );
      }
      const execFlags = parseHelpFlags(await query(path, ["exec", "--help"], cwd, cancel));
      if (!execFlags.has("bind")) {
        throw new EngineError(
          `Cannot read the exec flags of "${path}": its "exec --help" lists no --bind flag`,
          {
            brokenNode: false,
          },
        );
      }
      return { path, versionLine, version, execFlags };
    })();
    cache.set(key, found);
    found.catch(() => cache.delete(key));
  }
  return found;
}

/** How long a program's answers are kept on the node (see {@link programCacheKey}). */
export const PROGRAM_CACHE_TTL_MS = 10 * 60_000;

/** What the node's cache keeps of a program: its version line and its `exec` flags. */
export interface ProgramAnswers {
  /** The trimmed first line of `--version`. */
  versionLine: string;
  /** The long `exec` flags (without `--`). */
  execFlags: string[];
}

/**
 * The key of a program's entry in the node's cache: its path, and the identity of the file it resolves to
 * (device, inode, size, modification and change times). A new build or a package upgrade replaces or rewrites
 * the file, which changes the key; a module system that puts another program first on PATH gives another path.
 * The time to live ({@link PROGRAM_CACHE_TTL_MS}) covers what the file's identity cannot show (a wrapper script
 * whose target changed).
 * @returns null when the program cannot be looked at (the cache is not used then).
 */
export async function programCacheKey(path: string): Promise<string | null> {
  try {
    const real = await Deno.realPath(path);
    const s = await Deno.stat(real);
    return JSON.stringify([
      path,
      real,
      s.dev,
      s.ino,
      s.size,
      s.mtime?.getTime() ?? null,
      s.ctime?.getTime() ?? null,
    ]);
  } catch {
    return null;
  }
}

/** The node cache's options for the program at `path` (to be completed with `key`, `ask` or nothing). */
export function programCacheOptions(
  dir: string,
  path: string,
  key: string,
): Omit<FactCacheOptions<ProgramAnswers>, "ask"> {
  return {
    dir,
    prefix: "singularity",
    subject: path,
    key,
    ttlMs: PROGRAM_CACHE_TTL_MS,
    accept: (value) => {
      const v = value as Partial<ProgramAnswers> | null;
      return typeof v?.versionLine === "string" && Array.isArray(v.execFlags) &&
          v.execFlags.every((f) => typeof f === "string")
        ? { versionLine: v.versionLine, execFlags: v.execFlags }
        : null;
    },
  };
}

/**
 * The capabilities the node's cache recorded for the program at `path` (its help is not asked again).
 * @throws {EngineError} as {@link detectCapabilities} when the recorded version line is not a known one.
 */
export function capabilitiesFromAnswers(path: string, answers: ProgramAnswers): RuntimeCapabilities {
  const version = parseVersionLine(answers.versionLine);
  if (version === null || !answers.execFlags.includes("bind")) {
    throw new EngineError(`The node's cache holds no usable answers of "${path}"`, { brokenNode: false });
  }
  return { path, versionLine: answers.versionLine, version, execFlags: new Set(answers.execFlags) };
}

/** `Apptainer 1.2.5`, `SingularityCE 3.11.4`, `Singularity 3.4.2`. */
export function describeRuntime(caps: RuntimeCapabilities): string {
  return `${caps.version.flavour} ${caps.version.text}`;
}
