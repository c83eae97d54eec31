/** `berth list`: the jobs running on this node, from the lock files in the runtime dir. @module */

import { formatJobLine, listNodeJobs } from "../node/jobs.ts";
import { runtimeDirsToSearch } from "../node/runtime_dir.ts";
import { UsageError } from "../errors.ts";
import { type Command, parseCommandArgs } from "./command.ts";

const HELP = `Usage: berth list [--runtime-dir DIR] [--json]

Lists the jobs berth is running on this node, one line each:

  <uuid> <pid> <state> <engine> <started> <user>

An ordinary user sees their own jobs; root sees every user's. "stale" in place of the state means the job's
lock file was left behind by a berth that is gone (berth gc removes it). A line "broken" means a broken-node
marker exists (berth check tells more).

Options:
  --runtime-dir DIR   look only in DIR (default: the caller's runtime dirs, /var/lock/berth-UID, else
                      $XDG_RUNTIME_DIR/berth, else /tmp/berth-UID; for root, every user's)
  --json              print {"broken": …, "jobs": [{uuid, pid, state, engine, started, stale, uid}, …]}
                      instead
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
    const listing = await listNodeJobs(await runtimeDirsToSearch(values["runtime-dir"]));
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
          ...(j.uid !== undefined ? { uid: j.uid } : {}),
        })),
      }));
      return 0;
    }
    for (const job of listing.jobs) console.log(await formatJobLine(job));
    if (listing.broken) console.log("broken");
    return 0;
  },
};
