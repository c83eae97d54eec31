/** `berth kill`: stop the berth running a job on this node. @module */

import { UsageError } from "../errors.ts";
import { killJob } from "../node/kill.ts";
import { KILL_SIGNALS, type KillSignal } from "../node/process.ts";
import { checkJobUuid, runtimeDirsToSearch } from "../node/runtime_dir.ts";
import { type Command, parseCommandArgs, parseSeconds } from "./command.ts";

const HELP = `Usage: berth kill UUID [--signal TERM|INT|QUIT|KILL] [--wait SECONDS] [--runtime-dir DIR]

Sends a signal to the berth running job UUID on this node and waits for it to exit. On TERM (the default), INT
and QUIT berth stops the container, writes the final state (Cancelled) and cleans up before it exits; KILL ends
berth at once and leaves its container and temp dir for "berth gc". An ordinary user can stop their own jobs;
root can stop anybody's.

Options:
  --signal NAME       TERM, INT, QUIT or KILL (default TERM; "SIGTERM" and "15" are accepted too)
  --wait SECONDS      how long to wait for berth to exit (default 10)
  --runtime-dir DIR   look only in DIR (default: the caller's runtime dirs; for root, every user's; see
                      "berth list --help")
  -h, --help          show this help

Exit status: 0 when the job's berth has exited or the job is not running here; 125 when it is still running
after the wait; 2 for a usage error, or when two users run jobs with this uuid (name the runtime dir).`;

const NUMBERS: Record<string, KillSignal> = { "15": "TERM", "2": "INT", "3": "QUIT", "9": "KILL" };

/** Parses a `--signal` value. */
export function parseKillSignal(value: string): KillSignal {
  const name = NUMBERS[value] ?? value.toUpperCase().replace(/^SIG/, "");
  if (!(KILL_SIGNALS as readonly string[]).includes(name)) {
    throw new UsageError(`kill: --signal must be one of ${KILL_SIGNALS.join(", ")}, got "${value}"`);
  }
  return name as KillSignal;
}

/** The `kill` command. */
export const killCommand: Command = {
  name: "kill",
  summary: "stop the berth running a job on this node",
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandArgs("kill", args, {
      signal: { type: "string" },
      wait: { type: "string" },
      "runtime-dir": { type: "string" },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(`kill: expected one job uuid (try "berth kill --help")`);
    }
    const uuid = checkJobUuid("kill", positionals[0]);
    const signal = parseKillSignal(values.signal ?? "TERM");
    const wait = parseSeconds("kill", "wait", values.wait, { fallback: 10 });
    const outcome = await killJob(await runtimeDirsToSearch(values["runtime-dir"]), uuid, {
      signal,
      waitMs: wait * 1000,
    });
    switch (outcome.kind) {
      case "absent":
        console.log(`${uuid}: not running on this node`);
        break;
      case "stale":
        console.log(`${uuid}: not running (berth pid ${outcome.pid || "?"} is gone); removed its stale lock`);
        break;
      case "stopped":
        console.log(
          `${uuid}: berth pid ${outcome.pid} exited ${
            (outcome.waitedMs / 1000).toFixed(1)
          } s after SIG${signal}`,
        );
        break;
    }
    return 0;
  },
};
