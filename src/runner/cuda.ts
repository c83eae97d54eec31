/**
 * Before a CUDA job, crunch-run runs `nvidia-smi -L` and `nvidia-modprobe` so that the device nodes exist
 * (they are created lazily on some systems, and a container cannot create them). Failures are only logged:
 * the engine will report a missing GPU more precisely. Each command has a time limit (a wedged driver makes
 * `nvidia-smi` hang).
 * @module
 */

import type { LogFn } from "../executor/types.ts";
import { BUDGET } from "./budget.ts";
import { describeFailure, runBounded } from "./subprocess.ts";

const COMMANDS: ReadonlyArray<readonly [string, ...string[]]> = [
  ["nvidia-smi", "-L"],
  ["nvidia-modprobe", "-c0", "-m"],
  ["nvidia-modprobe", "-c0", "-l"],
  ["nvidia-modprobe", "-c0", "-u"],
  ["nvidia-modprobe", "-c0", "-s"],
];

/** Runs the NVIDIA preparation commands, their output and failures going to `log`. */
export async function prepareCuda(log: LogFn, limitMs: number = BUDGET.subprocessMs): Promise<void> {
  for (const [cmd, ...args] of COMMANDS) {
    const result = await runBounded(cmd, args, limitMs);
    const text = result.text.trim();
    if (text !== "") log(text);
    const failure = describeFailure(result, limitMs);
    if (failure !== null) log(`Warning [${cmd} ${args.join(" ")}]: ${failure}`);
  }
}
