/**
 * One `singularity build DST docker-archive://SRC` run: a docker-save tarball becomes a SIF file.
 *
 * Each conversion gets a private work directory holding its own `<P>_CACHEDIR` and `<P>_TMPDIR` (so concurrent
 * conversions never share the engine's layer cache, a known source of corrupt caches). A tarball whose path
 * has a ":" (the engines read `docker-archive://a:b` as path `a`, tag `b`) is reached through a link without
 * one. The build's
 * output goes line by line into the job log. The work directory is removed afterwards, whatever happens.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { EngineError, errorLine, looksLikeBrokenNode } from "../../errors.ts";
import type { LogFn } from "../types.ts";
import { envPrefix, type ResolvedEngine } from "./engine.ts";

/** What {@link convertImage} needs. */
export interface ConvertOptions {
  /** The program to run. */
  engine: ResolvedEngine;
  /** The docker-save tarball. */
  tarball: string;
  /** Where the SIF is written; must not exist yet. Removed again when the build fails. */
  dst: string;
  /** A directory the private work directory is made in (the executor's temp dir). */
  workParent: string;
  /** The host environment the build runs with (plus the private cache and temp dirs). */
  hostEnv: Record<string, string>;
  /** The job log. */
  log: LogFn;
  /** Aborting kills the build (SIGKILL). */
  signal?: AbortSignal;
}

const TAIL_LINES = 20;

/**
 * A build output line as it should be logged: terminal colour codes removed (SingularityCE 3.4 colours its
 * messages even when stderr is not a terminal), and of a progress line redrawn with "\r" only its final state.
 */
export function plainBuildLine(line: string): string {
  const drawn = line.split("\r").filter((part) => part.trim() !== "");
  // deno-lint-ignore no-control-regex
  return (drawn.at(-1) ?? "").replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
}

async function logLines(stream: ReadableStream<Uint8Array>, log: LogFn, tail: string[]): Promise<void> {
  let rest = "";
  const emit = (raw: string) => {
    const line = plainBuildLine(raw);
    if (line === "") return;
    log(line);
    tail.push(line);
    if (tail.length > TAIL_LINES) tail.shift();
  };
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (rest + chunk).split("\n");
    rest = lines.pop()!;
    for (const line of lines) emit(line);
  }
  if (rest !== "") emit(rest);
}

/**
 * A path for `tarball` that `docker-archive://` can express: the path itself when it has no ":", else a link to
 * it in `work`: a hard link where the file system allows (Deno refuses symlinks to programs with path-scoped
 * permissions, as under the hardened profile), else a symlink.
 */
async function archivePath(tarball: string, work: string): Promise<string> {
  if (!tarball.includes(":")) return tarball;
  const link = join(work, "image.tar");
  if (link.includes(":")) {
    throw new EngineError(
      `Cannot convert image: the temporary path "${link}" contains ":", which docker-archive:// cannot express`,
    );
  }
  try {
    await Deno.link(tarball, link);
  } catch {
    await Deno.symlink(tarball, link);
  }
  return link;
}

/**
 * Converts `tarball` into the SIF file `dst`.
 * @throws {EngineError} when the build fails or is killed (`brokenNode` when its output says the node is broken,
 * for example a full disk); `dst` does not exist afterwards then.
 */
export async function convertImage(opts: ConvertOptions): Promise<void> {
  const { engine, log } = opts;
  const prefix = envPrefix(engine.engine);
  const work = await Deno.makeTempDir({ dir: opts.workParent, prefix: "convert-" });
  try {
    const source = await archivePath(resolve(opts.tarball), work);
    await Deno.mkdir(join(work, "cache"), { mode: 0o700 });
    await Deno.mkdir(join(work, "tmp"), { mode: 0o700 });
    const args = ["build", opts.dst, `docker-archive://${source}`];
    log(`Building ${engine.engine} image "${opts.dst}" from "${opts.tarball}"`);
    log(`Running ${JSON.stringify([engine.path, ...args])}`);
    // Cancelled before it could start (the lock wait or the cache lookup outlasted the run): no build at all.
    if (opts.signal?.aborted) throw new EngineError(`Image conversion was cancelled`, { brokenNode: false });
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(engine.path, {
        args,
        cwd: work,
        clearEnv: true,
        env: {
          ...opts.hostEnv,
          [`${prefix}_CACHEDIR`]: join(work, "cache"),
          [`${prefix}_TMPDIR`]: join(work, "tmp"),
        },
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
    } catch (err) {
      throw new EngineError(`Cannot run "${engine.path}": ${errorLine(err)}`, { cause: err });
    }
    const kill = () => {
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
    };
    opts.signal?.addEventListener("abort", kill, { once: true });
    if (opts.signal?.aborted) kill(); // aborted between the spawn and the listener
    const tail: string[] = [];
    const [status] = await Promise.all([
      child.status,
      logLines(child.stdout, log, tail),
      logLines(child.stderr, log, tail),
    ]);
    opts.signal?.removeEventListener("abort", kill);
    if (!status.success) {
      await Deno.remove(opts.dst).catch(() => {});
      if (opts.signal?.aborted) {
        throw new EngineError(`Image conversion was cancelled`, { brokenNode: false });
      }
      const how = status.signal ? `was killed by ${status.signal}` : `exited with status ${status.code}`;
      const why = tail.filter((l) => /FATAL|ERROR|error/i.test(l)).pop() ?? tail[tail.length - 1] ?? "";
      const message = `Image conversion "${engine.engine} build" ${how}${why ? `: ${why.trim()}` : ""}`;
      throw new EngineError(message, { brokenNode: looksLikeBrokenNode(tail.join("\n")) });
    }
    log(`Converted image in "${opts.dst}"`);
  } finally {
    await Deno.remove(work, { recursive: true }).catch((err) => {
      log(`Cannot remove conversion work directory "${work}": ${errorLine(err)}`);
    });
  }
}
