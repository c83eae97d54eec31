/**
 * `berth run --detach`: starts the same `berth run` again as a background process in its own session, waits until
 * that process holds the job's lock (so the job is really running, and `berth list` and `berth kill` see it),
 * prints nothing itself, and returns the child's pid. The child's stdio is /dev/null: everything it has to say
 * goes to the job's work dir (`logs/crunch-run.txt`, `state.json`).
 *
 * Deno cannot hand a locked file descriptor to a child, so the child takes the lock itself; the parent checks
 * beforehand that nobody holds it, and a second detach racing the first is refused by the child's own lock.
 *
 * The child is berth itself: the compiled binary (`Deno.execPath()`), or, when berth runs from source,
 * `deno run <the profile's flags> src/main.ts`. Either must be allowed by `--allow-run` (a site that installs
 * the compiled binary adds its path with `BERTH_EXTRA_RUN=/path/to/berth deno task compile`).
 *
 * @module
 */

import { fileURLToPath } from "node:url";
import { BerthError, errorLine } from "../errors.ts";
import { readEnv } from "../env.ts";
import { expandProfile } from "../permissions.ts";
import { inspectLock, JobLockedError } from "./lock.ts";
import { lockPath } from "./runtime_dir.ts";

/** Options for {@link detachRun}. */
export interface DetachOptions {
  /** berth's own arguments, from the subcommand on (`["run", "job.json", "--detach", …]`). */
  args: string[];
  /** The job uuid (for the lock). */
  uuid: string;
  /** The runtime dir the run will lock in. */
  runtimeDir: string;
  /** How long to wait for the child to take its lock, milliseconds. @default 60000 */
  timeoutMs?: number;
}

/** The background berth. */
export interface Detached {
  /** The job uuid. */
  uuid: string;
  /** The pid of the background berth (its lock record says the same). */
  pid: number;
}

/** A detached berth that ended before taking its lock; carries its exit code. */
export class DetachError extends BerthError {
  override readonly exitCode: number;
  constructor(message: string, exitCode: number) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** `args` without the `--detach` option (before a `--` end-of-options marker). */
export function withoutDetach(args: string[]): string[] {
  const end = args.indexOf("--");
  const head = end < 0 ? args : args.slice(0, end);
  const tail = end < 0 ? [] : args.slice(end);
  return [...head.filter((a) => a !== "--detach" && a !== "--detach=true"), ...tail];
}

/**
 * The program and arguments that run berth again with `args`: the compiled binary itself, or `deno run` with the
 * permission profile's flags (`BERTH_PROFILE`, default `standard`) and berth's `src/main.ts` (found next to this
 * module, so it works whatever the calling program's main module is).
 */
export async function selfCommand(args: string[]): Promise<{ program: string; args: string[] }> {
  if (Deno.build.standalone) return { program: Deno.execPath(), args };
  const here = new URL(import.meta.url);
  if (here.protocol !== "file:") {
    throw new BerthError(
      `Cannot start berth in the background: it was not loaded from files ("${here.href}")`,
    );
  }
  const main = fileURLToPath(new URL("../main.ts", here));
  const profile = readEnv("BERTH_PROFILE") || "standard";
  const profileFile = fileURLToPath(new URL(`../../scripts/profiles/${profile}.flags`, here));
  let text: string;
  try {
    text = await Deno.readTextFile(profileFile);
  } catch (err) {
    throw new BerthError(
      `Cannot start berth in the background: cannot read its permission profile "${profileFile}": ${
        errorLine(err)
      }`,
      { cause: err },
    );
  }
  const flags = profileFlags(text, (name) => readEnv(name) ?? "");
  return {
    program: Deno.execPath(),
    args: ["run", "--no-prompt", "--quiet", "--cached-only", ...flags, main, ...args],
  };
}

/** The Deno flags of a profile file's text, with `${VAR}` expanded by `lookup` (see {@link expandProfile}). */
export const profileFlags: (text: string, lookup: (name: string) => string) => string[] = expandProfile;

/**
 * Starts the run in the background and resolves once it holds the job lock; see the module doc.
 * @throws {JobLockedError} when the job is already running on this node.
 * @throws {DetachError} when the background berth exits before taking its lock (with its exit code).
 * @throws {BerthError} when it does not take its lock within `timeoutMs` (it is then stopped).
 */
export async function detachRun(o: DetachOptions): Promise<Detached> {
  const path = lockPath(o.runtimeDir, o.uuid);
  const before = await inspectLock(path);
  if (before?.running) throw new JobLockedError(o.uuid, before.record?.pid ?? 0, path);

  const cmd = await selfCommand(withoutDetach(o.args));
  const child = new Deno.Command(cmd.program, {
    args: cmd.args,
    detached: true,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  let exited: Deno.CommandStatus | null = null;
  child.status.then((s) => (exited = s));

  const deadline = performance.now() + (o.timeoutMs ?? 60_000);
  for (;;) {
    const status = await inspectLock(path);
    if (status?.running && status.record?.pid === child.pid) {
      child.unref();
      return { uuid: o.uuid, pid: child.pid };
    }
    const ended = exited as Deno.CommandStatus | null;
    if (ended) {
      const how = ended.signal ? `was killed by ${ended.signal}` : `exited with code ${ended.code}`;
      throw new DetachError(
        `The background berth (pid ${child.pid}) ${how} before starting job "${o.uuid}": ` +
          `see its work dir, or run it without --detach to see why`,
        ended.signal ? 125 : ended.code,
      );
    }
    if (performance.now() > deadline) {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      throw new BerthError(
        `The background berth (pid ${child.pid}) did not take the lock of job "${o.uuid}" within ` +
          `${((o.timeoutMs ?? 60_000) / 1000).toFixed(0)} s; it was stopped`,
      );
    }
    await new Promise((res) => setTimeout(res, 50));
  }
}
