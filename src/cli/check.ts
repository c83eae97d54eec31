/** `berth check`: is this node fit to run jobs? @module */

import { UsageError } from "../errors.ts";
import { readEnv } from "../env.ts";
import { formatCheck, runChecks } from "../node/check.ts";
import { ENGINE_SELECTIONS } from "../node/engines.ts";
import { plannedRuntimeDir, runtimeDirsToSearch } from "../node/runtime_dir.ts";
import { type Command, parseChoice, parseCommandArgs, parseSeconds } from "./command.ts";

const HELP = `Usage: berth check [options]

Checks that this node can run berth jobs, one line per check ("ok", "FAIL", or "skip" for what does not apply):
  engine         the Docker/Podman API answers (engine and API version), or Singularity/Apptainer is found
  cgroups        the engine can apply memory and CPU limits
  runtime dir    the caller's own (not writable by others) and writable, or creatable (lock files)
  broken marker  absent (berth writes it when a job finds the node unable to run containers); root checks
                 every user's runtime dir, an ordinary user their own
  tmp dir        writable, with free space
  image cache    writable, with free space (when --image-cache is given)

Options:
  --runtime-engine ENGINE    auto (default: any engine that works), docker, podman, singularity, apptainer
  --docker-socket PATH       the Docker/Podman API socket to check
  --singularity-binary PATH  the Singularity/Apptainer program to check
  --runtime-dir DIR          default /var/lock/berth-UID, else $XDG_RUNTIME_DIR/berth, else /tmp/berth-UID
  --tmp-dir DIR              default $TMPDIR or /tmp
  --image-cache DIR          the SIF image cache jobs will use
  --min-free SIZE            free space the tmp dir and cache need: bytes, or with K, M, G, T (default 1G)
  --timeout SECONDS          how long to wait for the engine to answer (default 10)
  -h, --help                 show this help

Exit status: 0 when no check fails; 1 when one fails; 2 for a usage error.`;

/** Parses a size such as `512M`, `10G`, `1.5T` or `1048576` into bytes (binary units). */
export function parseSize(option: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)(i?B)?$/i.exec(value.trim());
  if (!m) throw new UsageError(`check: ${option} must be a size such as 500M or 10G, got "${value}"`);
  const exp = { "": 0, K: 1, M: 2, G: 3, T: 4 }[m[2].toUpperCase() as "" | "K" | "M" | "G" | "T"];
  return Math.round(Number(m[1]) * 1024 ** exp);
}

/** The `check` command. */
export const checkCommand: Command = {
  name: "check",
  summary: "check that this node can run jobs (engine, limits, disk, broken marker)",
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandArgs("check", args, {
      "runtime-engine": { type: "string" },
      "docker-socket": { type: "string" },
      "singularity-binary": { type: "string" },
      "runtime-dir": { type: "string" },
      "tmp-dir": { type: "string" },
      "image-cache": { type: "string" },
      "min-free": { type: "string" },
      timeout: { type: "string" },
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length > 0) {
      throw new UsageError(`check: unexpected argument "${positionals[0]}" (try "berth check --help")`);
    }
    const engine = parseChoice(
      "check",
      "runtime-engine",
      values["runtime-engine"],
      ENGINE_SELECTIONS,
      "auto",
    );
    const timeout = parseSeconds("check", "timeout", values.timeout, { fallback: 10, exclusiveMin: true });
    const results = await runChecks({
      engine,
      dockerSocket: values["docker-socket"] ?? "",
      singularityBinary: values["singularity-binary"] ?? "",
      runtimeDir: await plannedRuntimeDir(values["runtime-dir"]),
      markerDirs: (await runtimeDirsToSearch(values["runtime-dir"])).map((d) => d.path),
      tmpDir: values["tmp-dir"] || readEnv("TMPDIR") || "/tmp",
      imageCache: values["image-cache"] ?? "",
      minFreeBytes: values["min-free"] === undefined ? 2 ** 30 : parseSize("--min-free", values["min-free"]),
      timeoutMs: timeout * 1000,
    });
    for (const r of results) console.log(formatCheck(r));
    return results.some((r) => r.status === "fail") ? 1 : 0;
  },
};
