/**
 * Before a CUDA job, crunch-run runs `nvidia-smi -L` and `nvidia-modprobe` so that the device nodes exist
 * (they are created lazily on some systems, and a container cannot create them). Failures are only logged:
 * the engine will report a missing GPU more precisely.
 * @module
 */

import { errorLine } from "../errors.ts";
import type { LogFn } from "../executor/types.ts";

const COMMANDS: ReadonlyArray<readonly [string, ...string[]]> = [
  ["nvidia-smi", "-L"],
  ["nvidia-modprobe", "-c0", "-m"],
  ["nvidia-modprobe", "-c0", "-l"],
  ["nvidia-modprobe", "-c0", "-u"],
  ["nvidia-modprobe", "-c0", "-s"],
];

/** Runs the NVIDIA preparation commands, their output and failures going to `log`. */
export async function prepareCuda(log: LogFn): Promise<void> {
  for (const [cmd, ...args] of COMMANDS) {
    try {
      const out = await new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
        .output();
      const text = (new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr)).trim();
      if (text !== "") log(text);
      if (!out.success) log(`Warning [${cmd} ${args.join(" ")}]: exit status ${out.code}`);
    } catch (err) {
      log(`Warning [${cmd} ${args.join(" ")}]: ${errorLine(err)}`);
    }
  }
}
