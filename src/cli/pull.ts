/**
 * `berth pull JOB.json [options]`: makes the job's image ready on this node now, without running anything: a
 * registry image is pulled into Docker/Podman or fetched and converted into the SIF cache, a tarball is loaded
 * or converted. For login nodes and Slurm/LSF prologs, so that a later `berth run --pull never` on the node (or
 * on every node sharing the SIF cache) needs no network. Prints what it prepared as one JSON object on stdout:
 * `{"engine", "image_id", "reference"?, "manifest_digest"?, "sif_sha256"?}`.
 *
 * Exit status: 0 when the image is ready; 2 for a usage or job-file error (or `--pull never` with the image
 * absent); 75 when the engine berth was told to use (or found) does not answer; 125 when the registry cannot be
 * reached or refuses (not the node's fault), or any other failure; 143/130 when interrupted.
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { BerthError, EngineError, ExitCode, UsageError } from "../errors.ts";
import { hostEnvSnapshot, readEnv } from "../env.ts";
import { ENGINE_CHOICES, type EngineChoice } from "../executor/types.ts";
import {
  credentialSecrets,
  credentialsFor,
  readRegistryAuth,
  type RegistryCredentials,
} from "../image/mod.ts";
import { readJobFile } from "../job/mod.ts";
import { createJobTmpDir } from "../node/tmp_dirs.ts";
import { resolveImageSource } from "../runner/image.ts";
import { REAL_FACTORIES, selectEngine } from "../runner/mod.ts";
import { secretFilter } from "../runner/secrets.ts";
import { type Command, parseChoice, parseCommandArgs } from "./command.ts";
import { IMAGE_OPTIONS, IMAGE_OPTIONS_HELP, parseImageOptions } from "./image_options.ts";

const HELP = `Usage: berth pull JOB.json [options]

Makes the image of the job described by JOB.json ready on this node without running it: pulls a docker://
image into Docker/Podman, or fetches and converts it into the SIF cache for Singularity/Apptainer; loads or
converts a tarball. Use it on a login node or in a prolog, then run the job with --pull never. Prints
{"engine", "image_id", "reference", "manifest_digest", "sif_sha256"} (those that apply) as one JSON line.

Options (as for berth run):
  --runtime-engine ENGINE      auto, docker, podman, singularity or apptainer (default auto)
  --image-cache DIR            shared SIF cache for Singularity/Apptainer (needed there: the SIF is kept in it)
  --docker-socket PATH         Docker/Podman API socket (default DOCKER_HOST / CONTAINER_HOST, else the
                               engine's standard socket)
  --singularity-binary PATH    Singularity/Apptainer program (default: apptainer or singularity on PATH)
  --keep-mount DIR             arv-mount-style root for keep:<pdh-or-uuid> images
  --tmp-dir DIR                node-local scratch for the engines' temp files (default $TMPDIR, else /tmp)
${IMAGE_OPTIONS_HELP}
  -h, --help                   show this help

Exit status: 0 when the image is ready; 2 for a usage or job-file error, or --pull never with the image
absent; 75 when the engine does not answer; 125 when the registry cannot be reached or refuses, or any other
failure; 130/143 when interrupted.`;

const OPTIONS = {
  "runtime-engine": { type: "string" },
  "image-cache": { type: "string" },
  "docker-socket": { type: "string" },
  "singularity-binary": { type: "string" },
  "keep-mount": { type: "string" },
  "tmp-dir": { type: "string" },
  ...IMAGE_OPTIONS,
} as const;

/** A failure whose message passed the credential filter; keeps the original's exit code. */
class PullFailure extends BerthError {
  override readonly exitCode: number;
  constructor(message: string, exitCode: number, cause: unknown) {
    super(message, { cause });
    this.exitCode = exitCode;
  }
}

function pathOption(name: string, value: string | undefined, cwd: string): string {
  if (value === undefined) return "";
  if (value === "") throw new UsageError(`pull: --${name} must not be empty`);
  return isAbsolute(value) ? resolve(value) : resolve(cwd, value);
}

/** The `pull` command. */
export const pullCommand: Command = {
  name: "pull",
  summary: "make a job's image ready on this node (for login nodes and prologs)",
  help: HELP,
  async run(args) {
    const { values, positionals } = parseCommandArgs("pull", args, OPTIONS);
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    if (positionals.length !== 1) {
      throw new UsageError(
        positionals.length === 0
          ? 'pull: missing the job file (try "berth pull --help")'
          : `pull: expected one job file, got ${positionals.length} arguments (try "berth pull --help")`,
      );
    }
    const cwd = Deno.cwd();
    const engine = parseChoice<EngineChoice>(
      "pull",
      "runtime-engine",
      values["runtime-engine"],
      ENGINE_CHOICES,
      "auto",
    );
    const image = parseImageOptions("pull", values, cwd);
    const imageCache = pathOption("image-cache", values["image-cache"], cwd);
    const keepMount = pathOption("keep-mount", values["keep-mount"], cwd);
    const tmpDir = pathOption("tmp-dir", values["tmp-dir"], cwd) || resolve(cwd, readEnv("TMPDIR") || "/tmp");
    const parsed = await readJobFile(positionals[0]);
    const source = await resolveImageSource(parsed.job.container_image, parsed.path, keepMount, engine);
    let credentials: RegistryCredentials | null = null;
    if (source.kind === "registry" && image.registryAuth !== "") {
      credentials = credentialsFor(await readRegistryAuth(image.registryAuth), source.reference.registry);
    }
    const filter = secretFilter(credentialSecrets(credentials));
    const log = (message: string) => console.error(filter(message));

    const abort = new AbortController();
    let interrupted: Deno.Signal | null = null;
    const handlers = (["SIGTERM", "SIGINT"] as const).map((signal) => {
      const handler = () => {
        interrupted ??= signal;
        abort.abort(new BerthError(`Interrupted by ${signal}`));
      };
      Deno.addSignalListener(signal, handler);
      return () => Deno.removeSignalListener(signal, handler);
    });
    // The engine's own temp files (a conversion's work dir) live in a job temp dir, as for `run`, so that
    // `berth gc` sees one live, locked entry and one owner removes everything.
    const jobTmp = await createJobTmpDir(tmpDir, parsed.job.uuid);
    try {
      const selected = await selectEngine({
        choice: engine,
        dockerSocket: pathOption("docker-socket", values["docker-socket"], cwd),
        singularityBinary: values["singularity-binary"] ?? "",
        imageCache,
        imageCacheGroup: image.imageCacheGroup,
        imageCacheVerify: image.imageCacheVerify,
        tmpDir: jobTmp.path,
        hostEnv: hostEnvSnapshot(),
        log,
        watchdogIntervalMs: 15_000,
        sifImage: source.kind === "sif",
      }, REAL_FACTORIES);
      const onSingularity = selected.engine === "singularity" || selected.engine === "apptainer";
      if (onSingularity && imageCache === "" && source.kind !== "sif") {
        await selected.executor.close();
        throw new UsageError(
          `pull: ${selected.engine} keeps converted images only in a SIF cache: give --image-cache DIR (the same ` +
            `as the later runs')`,
        );
      }
      let prepared;
      try {
        prepared = await selected.executor.prepareImage(source, {
          pull: image.pull,
          credentials,
          insecureRegistries: image.insecureRegistries,
          signal: abort.signal,
        });
      } finally {
        await selected.executor.close();
      }
      console.log(JSON.stringify({
        engine: selected.engine,
        image_id: prepared.id,
        ...(prepared.reference ? { reference: prepared.reference } : {}),
        ...(prepared.manifestDigest ? { manifest_digest: prepared.manifestDigest } : {}),
        ...(prepared.sifSha256 ? { sif_sha256: prepared.sifSha256 } : {}),
      }));
      return 0;
    } catch (err) {
      if (interrupted) {
        console.error(`berth: pull interrupted by ${interrupted}`);
        return interrupted === "SIGINT" ? ExitCode.Sigint : ExitCode.Sigterm;
      }
      if (err instanceof Deno.errors.NotCapable) throw err;
      const text = err instanceof Error ? err.message : String(err);
      const code = err instanceof EngineError && err.brokenNode
        ? ExitCode.Requeue
        : err instanceof BerthError
        ? err.exitCode
        : ExitCode.Failure;
      throw new PullFailure(filter(text), code, err);
    } finally {
      handlers.forEach((remove) => remove());
      const problem = await jobTmp.release();
      if (problem) console.error(`berth: cannot remove "${jobTmp.path}": ${problem}`);
    }
  },
};
