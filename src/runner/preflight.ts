/**
 * Checks of what the user named on the command line or in the environment, before anything is created: a mistake
 * here is the user's (exit 2, nothing left behind), never a fault of the node. Only what the user named
 * explicitly is checked; an engine found by default that does not answer is the node's business (exit 75),
 * decided later.
 *
 * - `DOCKER_HOST`/`CONTAINER_HOST` must name a unix socket (`unix:///path`), and a socket named by
 *   `--docker-socket` or those variables must exist and be a socket;
 * - a `--singularity-binary` given as a path must be an executable file;
 * - a `--broken-node-hook` must be an executable file that berth's permission profile lets it run, so that a
 *   broken node is never left unmarked because the hook is refused at the worst moment.
 * @module
 */

import { errorLine, UsageError } from "../errors.ts";
import { resolveSocket } from "../executor/docker/socket.ts";
import type { RunOptions } from "./options.ts";

/** The socket path the user named for `engine`, or null when berth would use the engine's default. */
function namedSocket(engine: "docker" | "podman", socket: string, hostEnv: Record<string, string>) {
  const variable = engine === "docker" ? "DOCKER_HOST" : "CONTAINER_HOST";
  if (socket === "" && !hostEnv[variable]) return null;
  // Throws UsageError for a variable that is not an absolute unix:// path.
  const path = resolveSocket({ engine, socket, hostEnv, uid: 0 });
  return { path, by: socket !== "" ? "--docker-socket" : variable };
}

async function lstatOrNull(path: string): Promise<Deno.FileInfo | null | "unknown"> {
  try {
    return await Deno.lstat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    return "unknown"; // not permitted to look, or another problem: the engine step will tell
  }
}

async function checkExecutable(option: string, path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) throw new UsageError(`run: ${option} "${path}" does not exist`);
    if (err instanceof Deno.errors.NotCapable) return;
    throw new UsageError(`run: ${option} "${path}" cannot be used: ${errorLine(err)}`, { cause: err });
  }
  if (!info.isFile || ((info.mode ?? 0o111) & 0o111) === 0) {
    throw new UsageError(`run: ${option} "${path}" is not an executable file`);
  }
}

/**
 * Checks the engine the user named (socket or program) and the broken-node hook; see the module doc.
 * @throws {UsageError} (exit 2) for the first problem found.
 */
export async function checkNamedTargets(options: RunOptions, hostEnv: Record<string, string>): Promise<void> {
  // As selectEngine uses them: `auto` gives --docker-socket to Docker only; Podman then reads CONTAINER_HOST.
  const apiEngines: Array<["docker" | "podman", string]> = options.engine === "auto"
    ? [["docker", options.dockerSocket], ["podman", ""]]
    : options.engine === "docker" || options.engine === "podman"
    ? [[options.engine, options.dockerSocket]]
    : [];
  for (const [engine, socket] of apiEngines) {
    const named = namedSocket(engine, socket, hostEnv);
    if (named === null) continue;
    const info = await lstatOrNull(named.path);
    if (info === null) throw new UsageError(`run: ${named.by} names "${named.path}", which does not exist`);
    if (info !== "unknown" && !info.isSocket) {
      throw new UsageError(`run: ${named.by} names "${named.path}", which is not a unix socket`);
    }
  }
  const usesSingularity = ["auto", "singularity", "apptainer"].includes(options.engine);
  if (usesSingularity && options.singularityBinary.includes("/")) {
    await checkExecutable("--singularity-binary", options.singularityBinary);
  }
  const hook = options.brokenNodeHook;
  if (hook !== "") {
    if (hook.includes("/")) await checkExecutable("--broken-node-hook", hook);
    const state = Deno.permissions.querySync({ name: "run", command: hook }).state;
    if (state !== "granted") {
      throw new UsageError(
        `run: --broken-node-hook "${hook}" is not allowed by berth's permission profile: set ` +
          `BERTH_BROKEN_NODE_HOOK to the same program when starting berth (see the README's permission profiles)`,
      );
    }
  }
}
