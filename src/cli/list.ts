/** `berth list`: the jobs running on this node, from the lock files in the runtime dir. @module */

import { formatJobLine, listJobs } from "../node/jobs.ts";
import { chooseRuntimeDir } from "../node/runtime_dir.ts";
import { UsageError } from "../errors.ts";
import { type Command, parseCommandArgs } from "./command.ts";

const HELP = `Usage: berth list [--runtime-dir DIR] [--json]

Lists the jobs berth is running on this node, one line each:

  <uuid> <pid> <state> <engine> <started>

"stale" in place of the state means the job's lock file was left behind by a berth that is gone (berth gc
removes it). A line "broken" means the broken-node marker exists (berth check tells more).

Options:
  --runtime-dir DIR   where the lock files are (default /var/lock when writable, else $XDG_RUNTIME_DIR/berth)
  --json              print {"broken": …, "jobs": [{uuid, pid, state, engine, started, stale}, …]} instead
  -h, --help          show this help

Exit status: 0, or 2 for a usage error.`;

/** The `list` command. */
export const listCommand: Command = {
  name: "list",
  summary: "list the jobs running on this node",
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandArgs("list", args, {
      "runtime-dir": { type: "string" },
      json: { type: "boolean" },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length > 0) {
      throw new UsageError(`list: unexpected argument "${positionals[0]}" (try "berth list --help")`);
    }
    const listing = await listJobs(await chooseRuntimeDir(values["runtime-dir"]));
    if (values.json) {
      console.log(JSON.stringify({
        broken: listing.broken,
        jobs: listing.jobs.map((j) => ({
          uuid: j.uuid,
          pid: j.pid,
          state: j.state,
          engine: j.engine,
          started: j.started,
          stale: j.stale,
          ...(j.workDir ? { work_dir: j.workDir } : {}),
        })),
      }));
      return 0;
    }
    for (const job of listing.jobs) console.log(formatJobLine(job));
    if (listing.broken) console.log("broken");
    return 0;
  },
};
