/**
 * The work dir: the job's whole record. Its layout is fixed so that dispatchers, `berth report` and people find
 * things in the same place every time:
 *
 * ```
 * <work dir>/
 *   logs/crunch-run.txt   berth's own timestamped log; the final state word is its last line
 *   logs/stdout.txt       container stdout, timestamped per line (unless a `stdout` file mount redirects it)
 *   logs/stderr.txt       container stderr, likewise
 *   logs/container.json   the job as run, secrets removed
 *   logs/node-info.txt    host facts
 *   output/               the host directory behind `output_path`
 *   output.json           manifest of output/ (path, size, sha256, mode), written after the container exits
 *   state.json            the state record, replaced atomically
 *   .berth-reserve        space held back while the job runs, so the final record fits on a full disk
 * ```
 *
 * A work dir is written once: berth refuses one that exists and is not empty, so the records of two runs are
 * never mixed (a dispatcher that retries a job gives each attempt its own work dir).
 *
 * @module
 */

import { join } from "node:path";
import { UsageError } from "../errors.ts";
import { JOB_DIR_MODE } from "../node/job_dirs.ts";

/** The paths inside a work dir. */
export interface WorkDirLayout {
  /** The work dir itself (absolute). */
  root: string;
  /** `logs/`. */
  logs: string;
  /** `logs/crunch-run.txt`. */
  crunchLog: string;
  /** `logs/stdout.txt`. */
  stdoutLog: string;
  /** `logs/stderr.txt`. */
  stderrLog: string;
  /** `logs/container.json`. */
  containerJson: string;
  /** `logs/node-info.txt`. */
  nodeInfo: string;
  /** `output/`. */
  output: string;
  /** `output.json`. */
  outputManifest: string;
  /** `state.json`. */
  state: string;
  /** `.berth-reserve`: space held back for the final record (removed before it is written). */
  reserve: string;
}

/** The layout of the work dir at `root` (an absolute path). Touches nothing. */
export function workDirLayout(root: string): WorkDirLayout {
  const logs = join(root, "logs");
  return {
    root,
    logs,
    crunchLog: join(logs, "crunch-run.txt"),
    stdoutLog: join(logs, "stdout.txt"),
    stderrLog: join(logs, "stderr.txt"),
    containerJson: join(logs, "container.json"),
    nodeInfo: join(logs, "node-info.txt"),
    output: join(root, "output"),
    outputManifest: join(root, "output.json"),
    state: join(root, "state.json"),
    reserve: join(root, ".berth-reserve"),
  };
}

/**
 * Checks that a work dir can be used: it does not exist yet, or is an empty directory. Creates nothing.
 * @throws {UsageError} (exit 2) when it exists and is not an empty directory.
 */
export async function checkWorkDir(root: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(root);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return;
    throw err;
  }
  if (!info.isDirectory) {
    throw new UsageError(`Cannot use work dir "${root}": it exists and is not a directory`);
  }
  for await (const _ of Deno.readDir(root)) {
    throw new UsageError(
      `Cannot use work dir "${root}": it is not empty (each run needs a fresh work dir; ` +
        `remove it or pass another --work-dir)`,
    );
  }
}

/**
 * Creates the work dir with `logs/` and `output/`, each mode 0755 whatever the umask: owned by berth's user and
 * writable by nobody else (`src/node/job_dirs.ts`; a work dir the caller made beforehand keeps its mode).
 * `prepareMounts` gives `output/` to the container's user when that is someone else.
 */
export async function createWorkDir(layout: WorkDirLayout): Promise<void> {
  const existed = await Deno.lstat(layout.root).then(() => true, () => false);
  await Deno.mkdir(layout.root, { recursive: true });
  if (!existed) await Deno.chmod(layout.root, JOB_DIR_MODE);
  for (const dir of [layout.logs, layout.output]) {
    await Deno.mkdir(dir);
    await Deno.chmod(dir, JOB_DIR_MODE);
  }
}
