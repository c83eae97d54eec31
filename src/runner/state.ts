/**
 * `state.json`: the job's state record, written when the run starts (`Running`) and when it ends, each time
 * replaced atomically so that a dispatcher polling it never reads half a record.
 * @module
 */

import type { PreparedImage } from "../image/mod.ts";
import { VERSION } from "../version.ts";
import { writeFileAtomic } from "../atomic_write.ts";
import type { PhaseTimings } from "./steps.ts";

/**
 * The states of a job, as in an Arvados container record.
 *
 * - `Running`: berth is running the job (written at start).
 * - `Complete`: the container ran to its exit, whatever its exit code.
 * - `Cancelled`: the container was stopped (signal, `max_run_time`), or setup or the engine failed.
 * - `Queued`: the node looks broken (engine unreachable, disk full); the job should run elsewhere.
 */
export type JobState = "Running" | "Complete" | "Cancelled" | "Queued";

/**
 * What ran (`state.json` `image`): the image ID (config digest; for a SIF file its own sha256) always; for a
 * registry image also the reference and the manifest digest it resolved to; for a SIF file its sha256.
 */
export interface ImageProvenance {
  /** `sha256:<hex>`. */
  id: string;
  /** The canonical registry reference (`docker.io/library/busybox:1.36`). */
  reference?: string;
  /** The manifest digest the reference resolved to. */
  manifest_digest?: string;
  /** The SIF file's sha256. */
  sif_sha256?: string;
}

/** The provenance record of a prepared image. */
export function imageProvenance(prepared: PreparedImage): ImageProvenance {
  return {
    id: prepared.id,
    ...(prepared.reference ? { reference: prepared.reference } : {}),
    ...(prepared.manifestDigest ? { manifest_digest: prepared.manifestDigest } : {}),
    ...(prepared.sifSha256 ? { sif_sha256: prepared.sifSha256 } : {}),
  };
}

/** The content of `state.json`. */
export interface StateRecord {
  /** The job's uuid. */
  uuid: string;
  /** The state. */
  state: JobState;
  /** The container's exit code, or null when it did not run to an exit that berth saw. */
  exit_code: number | null;
  /** berth's own exit status for this outcome (the container's code when `Complete`); null while running. */
  exit_status: number | null;
  /** The engine and its version (`docker Engine 20.10.24, …`), or "" before it is known. */
  runtime: string;
  /** When berth started the run (RFC 3339, UTC). */
  started_at: string;
  /** When the run ended, or null while running. */
  finished_at: string | null;
  /** One line saying what went wrong, or null. Never holds a secret (it passes berth's log filter). */
  error: string | null;
  /** berth's version. */
  berth_version: string;
  /** The image that ran, once the image step made it usable; null before. */
  image: ImageProvenance | null;
  /**
   * Milliseconds spent in each phase that ran (`engine`, `mounts`, `image`, `create`, `start`, `first_output`,
   * `wait`, `stop`, `output`, `manifest`, …; see `steps.ts`), filled in by the final record.
   */
  phases: PhaseTimings;
}

/** A record for a run that starts now. */
export function initialState(uuid: string, startedAt: Date): StateRecord {
  return {
    uuid,
    state: "Running",
    exit_code: null,
    exit_status: null,
    runtime: "",
    started_at: startedAt.toISOString(),
    finished_at: null,
    error: null,
    berth_version: VERSION,
    image: null,
    phases: {},
  };
}

/** Writes the record to `path` atomically (temp file + rename), as indented JSON with a final newline. */
export async function writeState(path: string, record: StateRecord): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(record, null, 2) + "\n");
}

/**
 * Bytes held back in the work dir while the job runs: enough for the final `state.json` (written atomically, so
 * twice its size for a moment) and the last lines of `crunch-run.txt`, with room to spare.
 */
export const RESERVE_BYTES = 256 * 1024;

/**
 * Holds {@link RESERVE_BYTES} of the work dir's file system in a file at `path`, so that a job that fills the
 * disk cannot keep berth from writing its final record. The bytes are random, so that a compressing file system
 * really allocates them.
 * @throws the file system's error when the space is not there.
 */
export async function reserveSpace(path: string): Promise<void> {
  const data = new Uint8Array(RESERVE_BYTES);
  for (let off = 0; off < data.length; off += 65536) crypto.getRandomValues(data.subarray(off, off + 65536));
  try {
    await Deno.writeFile(path, data, { createNew: true, mode: 0o600 });
  } catch (err) {
    await Deno.remove(path).catch(() => {});
    throw err;
  }
}

/** Gives the reserved space back (removes the file); never throws. */
export async function releaseSpace(path: string): Promise<void> {
  await Deno.remove(path).catch(() => {});
}
