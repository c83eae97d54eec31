/** `berth gc`: remove what crashed or killed berths left behind on this node. @module */

import { ExitCode } from "../errors.ts";
import { readEnv } from "../env.ts";
import { apiEnginesFor, ENGINE_SELECTIONS } from "../node/engines.ts";
import { collectGarbage } from "../node/gc.ts";
import { checkJobUuid, runtimeDirsToSearch } from "../node/runtime_dir.ts";
import { type Command, parseChoice, parseCommandArgs, parseSeconds } from "./command.ts";

const HELP = `Usage: berth gc [UUID...] [options]

Removes what berths that are gone left behind on this node, and says what it removed:
  - containers carrying berth's label (org.berth.managed=true) whose run is over: no live berth holds the
    lock named in the container's org.berth.lock label with its org.berth.run token;
  - stale lock files in the runtime dirs;
  - job temp dirs (berth-run-<uuid>-<random>) in the tmp dir whose run is over (nobody holds the lock inside;
    one without that lock file only once it is older than --min-age).
An ordinary user's gc touches only their own leftovers (containers labelled org.berth.owner=<their uid>, their
runtime dirs, temp dirs they own); root's touches everybody's. With UUIDs, only those jobs' leftovers are
considered. Containers of a user's rootless Podman are on that user's own service: the user's gc cleans them.

Options:
  --runtime-dir DIR        clean only this runtime dir, when it is the caller's (root: anyone's); default:
                           the caller's runtime dirs, for root every user's
  --tmp-dir DIR            the runs' tmp dir (default $TMPDIR or /tmp)
  --runtime-engine ENGINE  auto (Docker and Podman), docker, podman; singularity/apptainer have no containers
                           to clean (default auto)
  --docker-socket PATH     clean only the engine on this socket
  --min-age SECONDS        leave unlocked temp dirs changed more recently than this (default 60)
  --timeout SECONDS        how long to wait for each engine request (default 10)
  -h, --help               show this help

Exit status: 0 when everything found was removed (or there was nothing); 125 when something could not be
removed or a named engine could not be reached; 2 for a usage error.`;

/** The `gc` command. */
export const gcCommand: Command = {
  name: "gc",
  summary: "remove containers, locks and temp dirs left by berths that are gone",
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandArgs("gc", args, {
      "runtime-dir": { type: "string" },
      "tmp-dir": { type: "string" },
      "runtime-engine": { type: "string" },
      "docker-socket": { type: "string" },
      "min-age": { type: "string" },
      timeout: { type: "string" },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const only = positionals.map((u) => checkJobUuid("gc", u));
    const engine = parseChoice("gc", "runtime-engine", values["runtime-engine"], ENGINE_SELECTIONS, "auto");
    const minAge = parseSeconds("gc", "min-age", values["min-age"], { fallback: 60 });
    const timeout = parseSeconds("gc", "timeout", values.timeout, { fallback: 10, exclusiveMin: true });
    const report = await collectGarbage({
      runtimeDirs: await runtimeDirsToSearch(values["runtime-dir"]),
      tmpDir: values["tmp-dir"] || readEnv("TMPDIR") || "/tmp",
      engines: apiEnginesFor(engine, values["docker-socket"] ?? ""),
      only,
      tmpMinAgeMs: minAge * 1000,
      timeoutMs: timeout * 1000,
    });
    for (const line of report.removed) console.log(line);
    if (report.removed.length === 0 && report.failures.length === 0) console.log("nothing to remove");
    for (const line of report.notes) console.error(`berth: gc: ${line}`);
    for (const line of report.failures) console.error(`berth: gc: ${line}`);
    return report.failures.length > 0 ? ExitCode.Failure : 0;
  },
};
