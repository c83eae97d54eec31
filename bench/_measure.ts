/**
 * The benchmark's measuring tools: one timed command (wall time and peak RSS by GNU time), medians, and what a
 * `berth run` left in its work dir (phase timings from `state.json`, the start-up before the first log line).
 * @module
 */

import { join } from "node:path";

/** One timed run: wall seconds and peak RSS (KiB) of the command's largest process, as GNU time reports them. */
export interface Sample {
  wall: number;
  rssKiB: number;
}

/** Runs a bash command line under GNU time in `dir` (for its temp file); throws when it fails. */
export async function timed(dir: string, cmd: string): Promise<Sample> {
  const tf = await Deno.makeTempFile({ dir, prefix: "time-" });
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%e %M", "-o", tf, "bash", "-c", cmd],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const [wall, rss] = (await Deno.readTextFile(tf)).trim().split("\n").pop()!.split(" ").map(Number);
  await Deno.remove(tf);
  if (!out.success) {
    throw new Error(
      `command failed (${out.code}): ${cmd}\n${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
  }
  return { wall, rssKiB: rss };
}

/** Runs a bash command, returning stdout; throws when it fails. */
export async function sh(cmd: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-c", cmd], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`command failed (${out.code}): ${cmd}\n${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

/** The median of `xs` (NaN for none). */
export function median(xs: number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The phase timings of one finished `berth run`, in seconds. */
export type RunPhases = Record<string, number>;

/** Parses a `crunch-run.txt` timestamp (nanoseconds) to epoch milliseconds. */
function logTime(line: string): number {
  return Date.parse(line.slice(0, line.indexOf(" ")).replace(/\.(\d{3})\d*Z$/, ".$1Z"));
}

/**
 * What a `berth run` recorded: `state.json` `phases`, plus `startup` (from `spawnedAt`, when the harness started
 * the command, to the first line of `crunch-run.txt`: bash, the profile, Deno's start-up, loading the modules,
 * reading the job, the lock) and `logged` (first to last log line). Null when the run left no record.
 */
export async function runPhases(workDir: string, spawnedAt: number): Promise<RunPhases | null> {
  try {
    const state = JSON.parse(await Deno.readTextFile(join(workDir, "state.json")));
    const lines = (await Deno.readTextFile(join(workDir, "logs", "crunch-run.txt"))).trimEnd().split("\n");
    const out: RunPhases = {};
    for (const [k, ms] of Object.entries(state.phases ?? {})) out[k] = (ms as number) / 1000;
    out.startup = (logTime(lines[0]) - spawnedAt) / 1000;
    out.logged = (logTime(lines.at(-1)!) - logTime(lines[0])) / 1000;
    return out;
  } catch {
    return null;
  }
}

/** The median of each phase over `runs` (a phase missing from a run counts as 0 there). */
export function medianPhases(runs: RunPhases[]): RunPhases {
  const names = new Set(runs.flatMap((r) => Object.keys(r)));
  const out: RunPhases = {};
  for (const n of names) out[n] = median(runs.map((r) => r[n] ?? 0));
  return out;
}
