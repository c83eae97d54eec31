/**
 * Which Singularity-family program berth drives, and where it is.
 *
 * SingularityCE and Apptainer share a command line but not their variable names: Apptainer reads
 * `APPTAINERENV_*` and `APPTAINER_NO_EVAL` and prints a deprecation warning into the job's stderr for every
 * `SINGULARITYENV_*` it forwards, so the prefix follows the program actually run.
 *
 * @module
 */

import { basename, isAbsolute, join, resolve } from "node:path";
import { EngineError } from "../../errors.ts";

/** The two programs of the Singularity family. */
export type SingularityEngine = "singularity" | "apptainer";

/** The engine asked for: one of the two, or "auto" (Apptainer when both are installed). */
export type SingularityEngineChoice = SingularityEngine | "auto";

/** The variable prefix of an engine: `SINGULARITY` or `APPTAINER` (as in `APPTAINERENV_FOO`, `APPTAINER_NO_EVAL`). */
export function envPrefix(engine: SingularityEngine): "SINGULARITY" | "APPTAINER" {
  return engine === "apptainer" ? "APPTAINER" : "SINGULARITY";
}

/** A resolved engine: which program, at which absolute path. */
export interface ResolvedEngine {
  /** The engine family, deciding the variable prefix. */
  engine: SingularityEngine;
  /** Absolute path of the program (the child process gets no PATH to search). */
  path: string;
}

async function isExecutableFile(path: string): Promise<boolean> {
  try {
    const info = await Deno.stat(path);
    return info.isFile && ((info.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

async function searchPath(name: string, pathVar: string, cwd: string): Promise<string | null> {
  for (const dir of pathVar.split(":")) {
    const candidate = resolve(cwd, dir === "" ? "." : dir, name);
    if (await isExecutableFile(candidate)) return candidate;
  }
  return null;
}

/**
 * Finds the program to run: `binary` when given (a path, or a name looked up on `pathVar`), else `apptainer` or
 * `singularity` on `pathVar` (auto mode tries `apptainer` first). In auto mode with an explicit binary, the
 * engine is `apptainer` when the program's file name contains "apptainer", else `singularity`.
 *
 * @param choice The engine asked for.
 * @param binary `--singularity-binary`, or undefined.
 * @param pathVar The host's PATH (from the executor's host environment); "" or undefined searches nothing.
 * @param cwd Directory that relative paths are resolved against.
 * @returns The engine and the absolute path of its program.
 * @throws {EngineError} when no such program exists or it is not executable.
 */
export async function resolveEngine(
  choice: SingularityEngineChoice,
  binary: string | undefined,
  pathVar: string | undefined,
  cwd: string = Deno.cwd(),
): Promise<ResolvedEngine> {
  if (binary !== undefined && binary !== "") {
    let path: string | null;
    if (binary.includes("/")) {
      path = isAbsolute(binary) ? binary : resolve(cwd, binary);
      if (!(await isExecutableFile(path))) {
        throw new EngineError(
          `Cannot run ${choice === "auto" ? "singularity" : choice} binary "${path}": not an executable file`,
        );
      }
    } else {
      path = pathVar ? await searchPath(binary, pathVar, cwd) : null;
      if (path === null) throw new EngineError(`Cannot find "${binary}" on PATH "${pathVar ?? ""}"`);
    }
    const engine: SingularityEngine = choice !== "auto"
      ? choice
      : basename(path).includes("apptainer")
      ? "apptainer"
      : "singularity";
    return { engine, path };
  }
  const names: SingularityEngine[] = choice === "auto" ? ["apptainer", "singularity"] : [choice];
  for (const name of names) {
    const path = pathVar ? await searchPath(name, pathVar, cwd) : null;
    if (path !== null) return { engine: name, path: isAbsolute(path) ? path : join(cwd, path) };
  }
  throw new EngineError(`Cannot find ${names.map((n) => `"${n}"`).join(" or ")} on PATH "${pathVar ?? ""}"`);
}
