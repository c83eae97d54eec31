/**
 * `berth run JOB.json [options]`: runs one job to its final state. Parses the options, reads the job file,
 * and hands both to the runner; all the work is in `src/runner/`.
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { UsageError } from "../errors.ts";
import { hostEnvSnapshot, readEnv } from "../env.ts";
import { readJobFile } from "../job/mod.ts";
import { chooseRuntimeDir } from "../node/runtime_dir.ts";
import { detachRun } from "../node/detach.ts";
import {
  Cancellation,
  ENGINE_CHOICES,
  type EngineChoice,
  installSignalHandlers,
  planRun,
  REAL_FACTORIES,
  runJob,
  type RunOptions,
} from "../runner/mod.ts";
import { type Command, parseChoice, parseCommandArgs, parseSeconds } from "./command.ts";
import { IMAGE_OPTIONS, IMAGE_OPTIONS_HELP, parseImageOptions } from "./image_options.ts";

const HELP = `Usage: berth run JOB.json [options]

Runs the container job described by JOB.json (an Arvados-style container record) to its final state, and
exits with a status a batch system can act on.

Options:
  --runtime-engine ENGINE      auto, docker, podman, singularity or apptainer (default auto: a Docker socket
                               that answers, else a Podman socket, else apptainer, else singularity)
  --work-dir DIR               the job's record: logs/, output/, output.json, state.json (default ./<uuid>);
                               must not exist yet or be empty
  --tmp-dir DIR                node-local scratch for tmp mounts and the engines' temp files
                               (default $TMPDIR, else /tmp)
  --keep-mount DIR             arv-mount-style root: collection mounts and keep:<pdh-or-uuid> images are
                               read from DIR/by_id/<pdh-or-uuid>/
  --allow-bind DIR             a root that bind mount sources may lie under, after resolving symlinks
                               (repeatable; none by default, so bind mounts are refused)
  --image-cache DIR            shared SIF cache for Singularity/Apptainer (default: convert per run)
  --docker-socket PATH         Docker/Podman API socket (default DOCKER_HOST / CONTAINER_HOST, else
                               /var/run/docker.sock or /run/podman/podman.sock)
  --singularity-binary PATH    Singularity/Apptainer program (default: apptainer or singularity on PATH)
  --container-enable-networking default|always
                               always: give every container networking; default: only when
                               runtime_constraints.API is true (default default)
  --container-network-mode MODE
                               network mode when networking is on: default, host, or an engine network name
                               (default default)
  --enable-memory-limit true|false
                               pass runtime_constraints.ram to the engine as a limit (default true)
  --cgroup-parent NAME         parent cgroup for the container (Docker/Podman CgroupParent; default none)
  --crunchstat-interval SECONDS
                               seconds between resource statistics in logs/crunchstat.txt and hoststat.txt;
                               0 disables them (default 10)
  --broken-node-hook CMD       program run (without arguments) when this node is at fault; its output goes
                               to logs/crunch-run.txt (default $BERTH_BROKEN_NODE_HOOK, which must name it
                               for the permission profile to allow it; else write RUNTIME-DIR/berth-broken)
  --runtime-dir DIR            the user's own dir for the job's lock file and the broken-node marker
                               (default /var/lock/berth-UID, else $XDG_RUNTIME_DIR/berth, else /tmp/berth-UID)
  --detach                     check the job, start the run in the background, print {"uuid": …, "pid": …}
                               and return at once (the run's record is in its work dir)
  --watchdog-interval SECONDS  Docker/Podman: how often the running container is inspected; 5 failures in a
                               row mean the engine is unresponsive (default 15)
${IMAGE_OPTIONS_HELP}
  -h, --help                   show this help

Exit status: the container's exit code when it ran to its exit (state Complete), except that an exit code
berth reserves for itself (2, 75, 124, 125, 130, 131, 143) becomes 1, the real code staying in state.json;
2 for a usage or job-file error, or a socket, program or hook named that cannot be used (nothing was
created); 124 when max_run_time stopped it; 143, 130, 131 when cancelled by SIGTERM, SIGINT, SIGQUIT
(berth exits within 25 s); 75 for a fault of this node: its engine unreachable or unresponsive, its tmp dir
full (state Queued: requeue the job elsewhere); 125 for any other failure, a full work dir included.
SIGUSR1 and SIGUSR2 are ignored.`;

const OPTIONS = {
  "runtime-engine": { type: "string" },
  "work-dir": { type: "string" },
  "tmp-dir": { type: "string" },
  "keep-mount": { type: "string" },
  "allow-bind": { type: "string", multiple: true },
  "image-cache": { type: "string" },
  "docker-socket": { type: "string" },
  "singularity-binary": { type: "string" },
  "container-enable-networking": { type: "string" },
  "container-network-mode": { type: "string" },
  "enable-memory-limit": { type: "string" },
  "cgroup-parent": { type: "string" },
  "crunchstat-interval": { type: "string" },
  "broken-node-hook": { type: "string" },
  "runtime-dir": { type: "string" },
  "watchdog-interval": { type: "string" },
  detach: { type: "boolean" },
  ...IMAGE_OPTIONS,
} as const;

/** The options of `berth run` before the job is known (the work dir default needs the uuid). */
export type ParsedRunArgs = Omit<RunOptions, "workDir" | "runtimeDir"> & {
  /** The job file's path. */
  jobPath: string;
  /** `--work-dir`, absolute, or "" for `./<uuid>`. */
  workDir: string;
  /** `--runtime-dir`, absolute, or "" for the default. */
  runtimeDir: string;
  /** `--detach`: start the run in the background and return at once. */
  detach: boolean;
};

function path(name: string, value: string | undefined, cwd: string): string {
  if (value === undefined) return "";
  if (value === "") throw new UsageError(`run: --${name} must not be empty`);
  return isAbsolute(value) ? resolve(value) : resolve(cwd, value);
}

/**
 * Parses `berth run`'s arguments.
 * @returns null when `--help` was given, else the options.
 * @throws {UsageError} for an unknown option, a bad value, or not exactly one job file.
 */
export function parseRunArgs(args: string[], cwd: string = Deno.cwd()): ParsedRunArgs | null {
  const { values, positionals } = parseCommandArgs("run", args, OPTIONS);
  if (values.help) return null;
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? 'run: missing the job file (try "berth run --help")'
        : `run: expected one job file, got ${positionals.length} arguments (try "berth run --help")`,
    );
  }
  const memoryLimit = parseChoice("run", "enable-memory-limit", values["enable-memory-limit"], [
    "true",
    "false",
  ], "true");
  const tmpDefault = readEnv("TMPDIR") || "/tmp";
  return {
    jobPath: positionals[0],
    engine: parseChoice<EngineChoice>(
      "run",
      "runtime-engine",
      values["runtime-engine"],
      ENGINE_CHOICES,
      "auto",
    ),
    workDir: path("work-dir", values["work-dir"], cwd),
    tmpDir: path("tmp-dir", values["tmp-dir"], cwd) || resolve(cwd, tmpDefault),
    keepMount: path("keep-mount", values["keep-mount"], cwd),
    allowBind: (values["allow-bind"] ?? []).map((d) => path("allow-bind", d, cwd)),
    imageCache: path("image-cache", values["image-cache"], cwd),
    dockerSocket: path("docker-socket", values["docker-socket"], cwd),
    singularityBinary: values["singularity-binary"] ?? "",
    enableNetworking: parseChoice(
      "run",
      "container-enable-networking",
      values["container-enable-networking"],
      ["default", "always"],
      "default",
    ),
    networkMode: nonEmpty("container-network-mode", values["container-network-mode"]) ?? "default",
    enableMemoryLimit: memoryLimit === "true",
    cgroupParent: values["cgroup-parent"] ?? "",
    crunchstatInterval: parseSeconds("run", "crunchstat-interval", values["crunchstat-interval"], {
      fallback: 10,
    }),
    brokenNodeHook: nonEmpty("broken-node-hook", values["broken-node-hook"]) ??
      readEnv("BERTH_BROKEN_NODE_HOOK") ?? "",
    runtimeDir: path("runtime-dir", values["runtime-dir"], cwd),
    watchdogInterval: parseSeconds("run", "watchdog-interval", values["watchdog-interval"], {
      fallback: 15,
      min: 0.1,
    }),
    detach: values.detach ?? false,
    ...parseImageOptions("run", values, cwd),
  };
}

function nonEmpty(name: string, value: string | undefined): string | undefined {
  if (value === "") throw new UsageError(`run: --${name} must not be empty`);
  return value;
}

/** The `run` command. */
export const runCommand: Command = {
  name: "run",
  summary: "run one container job to its final state",
  help: HELP,
  async run(args) {
    // Handlers first: a scancel during start-up is honoured, and SIGUSR1/SIGUSR2 never kill berth.
    const cancellation = new Cancellation();
    const removeHandlers = installSignalHandlers(cancellation);
    try {
      const parsed = parseRunArgs(args);
      if (parsed === null) {
        console.log(HELP);
        return 0;
      }
      const cwd = Deno.cwd();
      const job = await readJobFile(parsed.jobPath);
      const options: RunOptions = {
        ...parsed,
        workDir: parsed.workDir || resolve(cwd, job.job.uuid),
        runtimeDir: await chooseRuntimeDir(parsed.runtimeDir),
      };
      const hostEnv = hostEnvSnapshot();
      const plan = await planRun(job, options, hostEnv);
      if (parsed.detach) {
        // Checked above like any run (a bad job exits 2 here); the background berth does the work.
        const detached = await detachRun({
          args: ["run", ...args],
          uuid: job.job.uuid,
          runtimeDir: options.runtimeDir,
        });
        console.log(JSON.stringify({ uuid: detached.uuid, pid: detached.pid }));
        return 0;
      }
      return await runJob(plan, {
        factories: REAL_FACTORIES,
        cancellation,
        hostEnv,
        stderr: Deno.stderr,
        stderrIsTerminal: Deno.stderr.isTerminal(),
      });
    } finally {
      removeHandlers();
    }
  },
};
