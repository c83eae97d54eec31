/**
 * Helper programs the runner starts itself (`nvidia-smi`, `nvidia-modprobe`, `uname`, `df`, the broken-node hook),
 * each with a time limit: a program that hangs is killed (SIGKILL) when its time is up, and its output so far is
 * kept. A program whose own children hold its pipes open cannot hold berth either: after the kill, berth waits at
 * most {@link KILL_GRACE_MS} more.
 * @module
 */

import { errorLine } from "../errors.ts";

/** How long a killed program's output may take to end after the kill. */
export const KILL_GRACE_MS = 1_000;

/** What a bounded program did. */
export interface BoundedResult {
  /** Its exit code; null when it could not be started or did not end. */
  code: number | null;
  /** The signal that ended it, if any. */
  signal: Deno.Signal | null;
  /** Its stdout and stderr, in that order (what arrived before it ended). */
  text: string;
  /** True when it was killed for running past its limit. */
  timedOut: boolean;
  /** Why it could not be started (not found, not permitted), or null. */
  startError: unknown;
}

function decodeAll(chunks: Uint8Array[]): string {
  const decoder = new TextDecoder();
  return chunks.map((c) => decoder.decode(c, { stream: true })).join("") + decoder.decode();
}

async function drain(stream: ReadableStream<Uint8Array>, into: Uint8Array[]): Promise<void> {
  for await (const chunk of stream) into.push(chunk);
}

/**
 * Runs `program` with `args` (stdin empty, output captured), killing it after `ms` milliseconds.
 * Never throws: a program that cannot be started is reported in `startError`.
 */
export async function runBounded(program: string, args: string[], ms: number): Promise<BoundedResult> {
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(program, { args, stdin: "null", stdout: "piped", stderr: "piped" }).spawn();
  } catch (err) {
    return { code: null, signal: null, text: "", timedOut: false, startError: err };
  }
  const out: Uint8Array[] = [];
  const err: Uint8Array[] = [];
  const streams = Promise.allSettled([drain(child.stdout, out), drain(child.stderr, err)]);
  let timedOut = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<"expired">((resolve) => timer = setTimeout(() => resolve("expired"), ms));
  let status: Deno.CommandStatus | null = null;
  const first = await Promise.race([child.status, expired]);
  clearTimeout(timer);
  if (first === "expired") {
    timedOut = true;
    try {
      child.kill("SIGKILL");
    } catch { /* it ended meanwhile */ }
  } else {
    status = first;
  }
  let grace: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    Promise.all([streams, child.status.then((s) => status ??= s)]),
    new Promise((resolve) => grace = setTimeout(resolve, KILL_GRACE_MS)),
  ]);
  clearTimeout(grace);
  const finished = status as Deno.CommandStatus | null;
  const text = decodeAll(out) + decodeAll(err);
  return {
    code: finished && !timedOut ? finished.code : null,
    signal: finished?.signal ?? null,
    text,
    timedOut,
    startError: null,
  };
}

/** One line describing how a bounded program ended badly, or null when it exited 0. */
export function describeFailure(result: BoundedResult, ms: number): string | null {
  if (result.startError !== null) return errorLine(result.startError);
  if (result.timedOut) return `killed after ${ms / 1000} s`;
  if (result.code === 0) return null;
  if (result.code === null) return "did not end";
  return `exit status ${result.code}${result.signal ? ` (${result.signal})` : ""}`;
}
