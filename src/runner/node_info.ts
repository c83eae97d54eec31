/**
 * `logs/node-info.txt`: facts about the host the job ran on, in crunch-run's layout (a label line, the
 * command's output, an empty line). A fact that cannot be gathered is noted in the file and does not fail
 * the run (crunch-run re-queues the job when `df` is missing; berth does not).
 *
 * Deno's sandbox refuses every read below `/proc` unless all permissions are granted, so the CPU and memory
 * sections come from Deno's system APIs (`node:os` `cpus()`, `Deno.systemMemoryInfo()`) rather than from
 * `/proc/cpuinfo` and `/proc/meminfo`. `uname` and `df` each have a time limit (a hung NFS mount makes `df`
 * hang).
 * @module
 */

import { cpus } from "node:os";
import { errorLine } from "../errors.ts";
import { BUDGET } from "./budget.ts";
import { describeFailure, runBounded } from "./subprocess.ts";

async function command(cmd: string, args: string[]): Promise<string> {
  const result = await runBounded(cmd, args, BUDGET.subprocessMs);
  const failure = describeFailure(result, BUDGET.subprocessMs);
  return failure === null
    ? result.text
    : `${result.text}While running command ${JSON.stringify([cmd, ...args].join(" "))}: ${failure}\n`;
}

function cpuText(): Promise<string> {
  try {
    const list = cpus();
    const lines = list.map((c, i) => `processor ${i}: ${c.model} (${c.speed} MHz)`);
    return Promise.resolve(`${list.length} CPUs\n${lines.join("\n")}\n`);
  } catch (err) {
    return Promise.resolve(`While reading the CPU list: ${errorLine(err)}\n`);
  }
}

function memoryText(): Promise<string> {
  try {
    const m = Deno.systemMemoryInfo();
    const kb = (n: number) => `${Math.floor(n / 1024)} kB`;
    return Promise.resolve(
      [
        `MemTotal: ${kb(m.total)}`,
        `MemFree: ${kb(m.free)}`,
        `MemAvailable: ${kb(m.available)}`,
        `Buffers: ${kb(m.buffers)}`,
        `Cached: ${kb(m.cached)}`,
        `SwapTotal: ${kb(m.swapTotal)}`,
        `SwapFree: ${kb(m.swapFree)}`,
      ].join("\n") + "\n",
    );
  } catch (err) {
    return Promise.resolve(`While reading the memory information: ${errorLine(err)}\n`);
  }
}

/**
 * The text of `node-info.txt`.
 * @param dirs Directories whose file systems are reported by `df` (besides `/`): the tmp and work dirs.
 */
export async function nodeInfoText(dirs: readonly string[]): Promise<string> {
  const paths = ["/", ...new Set(dirs)];
  const sections: Array<[string, Promise<string>]> = [
    ["Host Information", command("uname", ["-a"])],
    ["CPU Information", cpuText()],
    ["Memory Information", memoryText()],
    ["Disk Space", command("df", ["-m", ...paths])],
    ["Disk INodes", command("df", ["-i", ...paths])],
  ];
  let text = "";
  for (const [label, content] of sections) {
    const body = await content;
    text += `${label}\n${body}${body.endsWith("\n") || body === "" ? "" : "\n"}\n`;
  }
  return text;
}

/** Writes `node-info.txt`. */
export async function writeNodeInfo(path: string, dirs: readonly string[]): Promise<void> {
  await Deno.writeTextFile(path, await nodeInfoText(dirs));
}
