/**
 * Other processes: whether one is alive (read from `/proc/<pid>/stat`, so no signal is needed, and a reused pid is
 * told apart by its start time), and sending one a signal.
 *
 * Deno's `Deno.kill` needs unrestricted `--allow-run`, which berth's profiles do not grant; signals are sent with
 * the `kill` program instead (`--allow-run=kill`).
 *
 * @module
 */

import { BerthError, errorLine } from "../errors.ts";
import { readKernelFile } from "../stats/kernel_files.ts";
import { parseProcStat } from "../stats/parse.ts";

/** The signals `berth kill` sends. */
export const KILL_SIGNALS = ["TERM", "INT", "QUIT", "KILL"] as const;
/** One of {@link KILL_SIGNALS}. */
export type KillSignal = typeof KILL_SIGNALS[number];

/** The start time (clock ticks after boot) of process `pid`, or null when there is no such live process. */
export async function processStartTime(pid: number): Promise<number | null> {
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const stat = parseProcStat((await readKernelFile(`/proc/${pid}/stat`)) ?? "");
  if (!stat || stat.state === "Z" || stat.state === "X") return null;
  return stat.startTime;
}

/**
 * True when process `pid` is running (a zombie counts as gone). With `startTime`, a different process that has
 * been given the same pid since also counts as gone.
 */
export async function processAlive(pid: number, startTime?: number): Promise<boolean> {
  const t = await processStartTime(pid);
  if (t === null) return false;
  return startTime === undefined || t === startTime;
}

/**
 * Sends `signal` to process `pid` with the `kill` program.
 * @throws {BerthError} when `kill` fails (other than for a process that is already gone, which is not an error).
 */
export async function sendSignal(pid: number, signal: KillSignal): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("kill", {
      args: ["-s", signal, String(pid)],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { LC_ALL: "C" },
    }).output();
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    throw new BerthError(`Cannot send SIG${signal} to process ${pid}: ${errorLine(err)}`, { cause: err });
  }
  if (out.success || !(await processAlive(pid))) return;
  const why = new TextDecoder().decode(out.stderr).trim() || `kill exited with code ${out.code}`;
  throw new BerthError(`Cannot send SIG${signal} to process ${pid}: ${why}`);
}
