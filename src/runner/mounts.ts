/**
 * Preparing a job's mounts on the host, as crunch-run's `SetupMounts` does, with the work dir's `output/` as
 * the host directory behind `output_path`:
 *
 * - `tmp`: a fresh directory (mode 0755, see below) in the job's temp dir, bound read-write; at `output_path` it
 *   is `output/` itself.
 * - `collection`: bound read-only from `<keep>/by_id/…`; an unnamed writable one is an empty directory (at
 *   `output_path`, `output/` itself).
 * - `text`, `json`: a read-only file (mode 0444) in the job's temp dir, bound read-only.
 * - below `output_path`: `text`, `json` and `collection` mounts are copied into `output/` before the start (the
 *   container may change or delete them, and the output shows the result); a read-only collection is also bound
 *   read-only over its copy.
 * - `secret_mounts`: never copied into `output/`, always bound read-only from the temp dir; the empty mount point
 *   an engine leaves behind in `output/` is removed after the run.
 * - `bind`: the resolved source, read-only unless `writable`.
 * - `stdin` (`json`, `text`, a `collection` file or a `bind` host file), `stdout`, `stderr`: described for the
 *   runner, which opens them.
 *
 * Everything berth creates here is writable by its owner only (`src/node/job_dirs.ts`): the container runs as
 * berth's user, or, for root's berth with a numeric non-root image `USER`, the writable dirs and staged files are
 * given to that user for the run (`writableOwner`).
 *
 * @module
 */

import { dirname, join, relative } from "node:path";
import type { BindMount } from "../executor/types.ts";
import { type Job, type JsonValue, serializeJsonContent } from "../job/mod.ts";
import { JOB_DIR_MODE, settleJobPath, STAGED_FILE_MODE, type WritableOwner } from "../node/job_dirs.ts";
import { assertRealDirectory } from "./host_paths.ts";
import type { MountSources } from "./mount_sources.ts";

/** Where the container's stdin comes from. */
export type StdinSource =
  | {
    /** No stdin mount: the container sees EOF at once. */
    kind: "none";
  }
  | {
    /** A `json` or `text` mount: its content. */
    kind: "bytes";
    /** The bytes. */
    data: Uint8Array;
  }
  | {
    /** A `collection` mount naming a file, or a `bind` mount of a host file. */
    kind: "file";
    /** Host path of the file. */
    path: string;
  };

/** The host side of every mount, ready for a container spec. */
export interface PreparedMounts {
  /** Bind mounts keyed by container path, parents before children. */
  binds: Record<string, BindMount>;
  /** The container's stdin. */
  stdin: StdinSource;
  /** Host file for raw stdout (a `file` mount under `output/`), or null for `logs/stdout.txt`. */
  stdoutFile: string | null;
  /** Host file for raw stderr, or null for `logs/stderr.txt`. */
  stderrFile: string | null;
  /** Paths relative to `output/` where secret mounts sit: their mount points are removed after the run. */
  secretPaths: string[];
}

/** What {@link prepareMounts} needs besides the job. */
export interface PrepareMountsContext {
  /** Resolved sources of bind and named collection mounts (from `resolveMountSources`). */
  sources: MountSources;
  /** The work dir's `output/` (exists, empty). */
  outputDir: string;
  /** The job's private temp dir (exists, empty); removed by the caller after the run. */
  tmpDir: string;
  /** Logs one step. */
  log: (message: string) => void;
  /** Whom the writable dirs are given to besides berth's user (see the module doc). @default null */
  writableOwner?: WritableOwner | null;
  /** Candidate CA bundles for `API` jobs, first existing wins. @default {@link CA_BUNDLES} */
  caBundles?: readonly string[];
  /** Stops the collection copies between files (the run was cancelled). */
  signal?: AbortSignal;
}

/** Where `API` jobs get their CA certificates from, in order (as crunch-run). */
export const CA_BUNDLES: readonly string[] = [
  "/etc/ssl/certs/ca-certificates.crt",
  "/etc/pki/tls/certs/ca-bundle.crt",
  "/etc/ssl/ca-bundle.pem",
  "/etc/pki/tls/cacert.pem",
  "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
  "/etc/ssl/cert.pem",
];

/** The container path of the CA bundle of `API` jobs. */
export const CA_MOUNT = "/etc/arvados/ca-certificates.crt";

const encoder = new TextEncoder();

/** Serialized content of a `json` or `text` mount. */
function mountContent(
  m: { kind: "json"; content: JsonValue } | { kind: "text"; content: string },
): Uint8Array {
  return encoder.encode(m.kind === "json" ? serializeJsonContent(m.content) : m.content);
}

/**
 * Creates the host side of every mount of `job`.
 * @throws {Error} from the file system (the runner reports it as a setup failure: state Cancelled).
 */
export async function prepareMounts(job: Job, ctx: PrepareMountsContext): Promise<PreparedMounts> {
  const out = job.output_path;
  const owner = ctx.writableOwner ?? null;
  if (owner) await settleJobPath(ctx.outputDir, JOB_DIR_MODE, owner);
  const binds: Record<string, BindMount> = {};
  const prepared: PreparedMounts = {
    binds,
    stdin: { kind: "none" },
    stdoutFile: null,
    stderrFile: null,
    secretPaths: [],
  };
  let counter = 0;
  const scratch = async (kind: string) => {
    const dir = join(ctx.tmpDir, `${kind}${counter++}`);
    await Deno.mkdir(dir);
    return dir;
  };
  const hostUnderOutput = (key: string) => join(ctx.outputDir, relative(out, key));

  const all: Array<[string, Job["mounts"][string], boolean]> = [
    ...Object.entries(job.mounts).map(([k, m]) => [k, m, false] as [string, Job["mounts"][string], boolean]),
    ...Object.entries(job.secret_mounts).map(([k, m]) =>
      [k, m, true] as [string, Job["mounts"][string], boolean]
    ),
  ];
  all.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

  for (const [key, m, secret] of all) {
    const under = key.startsWith(out + "/");
    if (key === "stdin") {
      if (m.kind === "json" || m.kind === "text") prepared.stdin = { kind: "bytes", data: mountContent(m) };
      else prepared.stdin = { kind: "file", path: ctx.sources.get(key)! };
      continue;
    }
    if (key === "stdout" || key === "stderr") {
      if (m.kind !== "file") continue; // validation guarantees "file"
      const host = hostUnderOutput(m.path);
      await mkdirsUnder(ctx.outputDir, dirname(host), owner);
      if (key === "stdout") prepared.stdoutFile = host;
      else prepared.stderrFile = host;
      continue;
    }
    if (key === out) {
      // A tmp mount or an unnamed writable collection (validation allows nothing else here).
      binds[key] = { hostPath: ctx.outputDir, readOnly: false };
      continue;
    }
    if (secret && (m.kind === "json" || m.kind === "text")) {
      const file = join(await scratch(m.kind), `mountdata.${m.kind}`);
      await writeReadOnly(file, mountContent(m));
      binds[key] = { hostPath: file, readOnly: true };
      if (under) prepared.secretPaths.push(relative(out, key));
      continue;
    }
    if (under) {
      const host = hostUnderOutput(key);
      await mkdirsUnder(ctx.outputDir, dirname(host), owner);
      if (m.kind === "json" || m.kind === "text") {
        await Deno.writeFile(host, mountContent(m), { createNew: true, mode: STAGED_FILE_MODE });
        await settleJobPath(host, STAGED_FILE_MODE, owner);
      } else if (m.kind === "collection") {
        const source = ctx.sources.get(key);
        if (source === undefined) {
          await Deno.mkdir(host);
          await settleJobPath(host, JOB_DIR_MODE, owner);
        } else {
          ctx.log(`Copying collection ${describeCollection(m)} to ${key}`);
          await copyTree(source, host, ctx.signal, m.writable ? owner : null);
          if (!m.writable) binds[key] = { hostPath: source, readOnly: true };
        }
      }
      continue;
    }
    switch (m.kind) {
      case "tmp": {
        const dir = await scratch("tmp");
        await settleJobPath(dir, JOB_DIR_MODE, owner);
        binds[key] = { hostPath: dir, readOnly: false };
        break;
      }
      case "collection": {
        const source = ctx.sources.get(key);
        if (source !== undefined) binds[key] = { hostPath: source, readOnly: !m.writable };
        else {
          const dir = await scratch("collection");
          await settleJobPath(dir, JOB_DIR_MODE, m.writable ? owner : null);
          binds[key] = { hostPath: dir, readOnly: !m.writable };
        }
        break;
      }
      case "bind":
        binds[key] = { hostPath: ctx.sources.get(key)!, readOnly: !m.writable };
        break;
      case "json":
      case "text": {
        const file = join(await scratch(m.kind), `mountdata.${m.kind}`);
        await writeReadOnly(file, mountContent(m));
        binds[key] = { hostPath: file, readOnly: true };
        break;
      }
    }
  }

  if (job.runtime_constraints.API && !(CA_MOUNT in binds)) {
    for (const candidate of ctx.caBundles ?? CA_BUNDLES) {
      try {
        if ((await Deno.stat(candidate)).isFile) {
          // Resolved, like every host path the engine gets (a CA path may be a link on some distributions).
          binds[CA_MOUNT] = { hostPath: await Deno.realPath(candidate), readOnly: true };
          break;
        }
      } catch { /* try the next one */ }
    }
  }

  const ordered: Record<string, BindMount> = {};
  for (const key of Object.keys(binds).sort()) ordered[key] = binds[key];
  prepared.binds = ordered;
  return prepared;
}

function describeCollection(m: Job["mounts"][string]): string {
  if (m.kind !== "collection") return "";
  const loc = m.portable_data_hash !== "" ? m.portable_data_hash : m.uuid;
  return JSON.stringify(m.path === "" ? loc : `${loc}/${m.path}`);
}

async function writeReadOnly(path: string, data: Uint8Array): Promise<void> {
  await Deno.writeFile(path, data, { createNew: true, mode: 0o444 });
  await Deno.chmod(path, 0o444);
}

/** Creates `dir` (below `base`) and its missing parents, each mode 0755 and given to `owner` when there is one. */
async function mkdirsUnder(base: string, dir: string, owner: WritableOwner | null): Promise<void> {
  const rel = relative(base, dir);
  if (rel === "") return;
  let at = base;
  for (const part of rel.split("/")) {
    at = join(at, part);
    try {
      await Deno.mkdir(at);
      await settleJobPath(at, JOB_DIR_MODE, owner);
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
      // Made by berth for an earlier mount (or there before): never followed when it is a symlink now.
      await assertRealDirectory(at);
    }
  }
}

/**
 * Copies a file or directory tree from `src` to `dst` without following symlinks (a link is copied as a link):
 * directories get mode 0755, files their mode plus owner read/write, never group or other write; everything is
 * given to `owner` when there is one (a writable copy the container's user must change).
 * `dst` may exist as an empty directory (the output directory itself).
 * @throws the signal's reason when `signal` fires (checked before each entry).
 */
export async function copyTree(
  src: string,
  dst: string,
  signal?: AbortSignal,
  owner: WritableOwner | null = null,
): Promise<void> {
  signal?.throwIfAborted();
  const info = await Deno.lstat(src);
  if (info.isSymlink) {
    await Deno.symlink(await Deno.readLink(src), dst);
  } else if (info.isFile) {
    await Deno.copyFile(src, dst);
    await settleJobPath(dst, (((info.mode ?? 0o644) & 0o777) | STAGED_FILE_MODE) & ~0o022, owner);
  } else if (info.isDirectory) {
    try {
      await Deno.mkdir(dst);
    } catch (err) {
      if (!(err instanceof Deno.errors.AlreadyExists)) throw err;
    }
    await settleJobPath(dst, JOB_DIR_MODE, owner);
    for await (const e of Deno.readDir(src)) {
      await copyTree(join(src, e.name), join(dst, e.name), signal, owner);
    }
  } else {
    throw new Error(`Cannot copy "${src}": not a regular file, directory or symlink`);
  }
}
