/**
 * The name and labels of a job's container (Docker and Podman), unique per user and per run, so that two runs of
 * one uuid (by two users, or with two runtime dirs) never meet, and `berth gc` can tell whose a container is and
 * whether its run is still alive without knowing which runtime dir the run used:
 *
 * - name `berth-<uuid (first 64 characters)>-u<uid>-<run token>`;
 * - `org.berth.job=<uuid>` (the whole uuid), `org.berth.owner=<uid>`, `org.berth.run=<run token>`,
 *   `org.berth.lock=<path of the job's lock file>`; the executor adds `org.berth.managed=true`.
 *
 * A container is its run's while a live berth holds the lock at `org.berth.lock` with the same run token in its
 * record.
 * @module
 */

import { JOB_LABEL } from "../executor/docker/create_body.ts";

/** Label: the uid of the user whose berth created the container. */
export const OWNER_LABEL = "org.berth.owner";
/** Label: the run token (the job lock record's `run`). */
export const RUN_LABEL = "org.berth.run";
/** Label: the path of the job lock held by the run. */
export const LOCK_LABEL = "org.berth.lock";

/** What names one run's container. */
export interface RunIdentity {
  /** The job uuid. */
  uuid: string;
  /** The uid berth runs as. */
  uid: number;
  /** The run token from the job's lock record. */
  run: string;
  /** The job lock file's path. */
  lockPath: string;
}

/** A container's name and the labels berth puts on it (besides the executor's `org.berth.managed`). */
export interface ContainerIdentity {
  /** The container name. */
  name: string;
  /** The labels. */
  labels: Record<string, string>;
}

/** The name and labels of `run`'s container; see the module doc. */
export function containerIdentity(run: RunIdentity): ContainerIdentity {
  return {
    name: `berth-${run.uuid.slice(0, 64)}-u${run.uid}-${run.run}`,
    labels: {
      [JOB_LABEL]: run.uuid,
      [OWNER_LABEL]: String(run.uid),
      [RUN_LABEL]: run.run,
      [LOCK_LABEL]: run.lockPath,
    },
  };
}

/** What a container's labels say about its run; fields are null when the label is missing or malformed. */
export interface LabelledRun {
  /** `org.berth.job`. */
  uuid: string | null;
  /** `org.berth.owner`. */
  uid: number | null;
  /** `org.berth.run`. */
  run: string | null;
  /** `org.berth.lock`. */
  lockPath: string | null;
}

/** Reads {@link LabelledRun} from a container's labels. */
export function runOfLabels(labels: Record<string, string>): LabelledRun {
  const owner = labels[OWNER_LABEL] ?? "";
  const lock = labels[LOCK_LABEL] ?? "";
  return {
    uuid: labels[JOB_LABEL] || null,
    uid: /^\d+$/.test(owner) ? Number(owner) : null,
    run: /^[0-9a-f]{8}$/.test(labels[RUN_LABEL] ?? "") ? labels[RUN_LABEL] : null,
    lockPath: lock.startsWith("/") ? lock : null,
  };
}
