/**
 * The job description as berth uses it after parsing and validation.
 *
 * Field names are those of an Arvados container record (`container_image`, `output_path`,
 * `runtime_constraints`, …) so that a record fetched from Arvados can be run as it is, and so that the job as
 * logged (`container.json`) reads like the record it came from. Every optional field is filled in with its
 * default, so that the runner never has to ask whether something was given.
 *
 * @module
 */

import type { LosslessNumber } from "lossless-json";
import type { RegistryReference } from "../image/reference.ts";

/**
 * A JSON value as the job parser keeps it: every number from the file is a {@link LosslessNumber} holding the
 * number's exact text, so that `123456789123456789123` reaches the container exactly. Plain JS numbers appear
 * only in values berth builds itself (for example {@link redactJob}'s output).
 */
export type JsonValue =
  | null
  | boolean
  | number
  | string
  | LosslessNumber
  | JsonValue[]
  | { [key: string]: JsonValue };

/** A JSON object (see {@link JsonValue}). */
export type JsonObject = { [key: string]: JsonValue };

/**
 * Where the container image comes from (the job's `container_image`, one string).
 *
 * - `file`: an image file on the host; `path` is absolute (a relative `container_image` is resolved against the
 *   job file's directory). A docker-save tarball or a SIF file: the runner tells them apart by content.
 * - `keep`: a collection under the keep mount (`<keep>/by_id/<locator>/`) that holds exactly one `.tar`; the
 *   runner resolves it.
 * - `registry`: `docker://NAME[:TAG][@sha256:DIGEST]`, normalised as Docker does.
 */
export type ImageRef =
  | {
    /** An image file on the host (docker-save tarball or SIF). */
    kind: "file";
    /** Absolute path of the file. */
    path: string;
  }
  | {
    /** A collection under the keep mount. */
    kind: "keep";
    /** The portable data hash (`<md5>+<size>`) or collection uuid (`xxxxx-4zz18-xxxxxxxxxxxxxxx`). */
    locator: string;
    /** Which of the two `locator` is. */
    locatorType: "portable_data_hash" | "uuid";
  }
  | {
    /** A registry image. */
    kind: "registry";
    /** The value as the job file gives it (`docker://busybox`), for records. */
    text: string;
    /** The normalised reference. */
    reference: RegistryReference;
  };

/** A fresh, empty, writable scratch directory (mode 0777 + setgid). */
export interface TmpMount {
  /** Mount kind. */
  kind: "tmp";
  /** Requested size in bytes; 0 when not given. Accepted for compatibility, not enforced (as crunch-run). */
  capacity: number;
}

/**
 * A collection from the keep mount, or (with neither `portable_data_hash` nor `uuid`) an empty writable
 * directory whose contents become output.
 */
export interface CollectionMount {
  /** Mount kind. */
  kind: "collection";
  /** `<md5>+<size>`, or "" when not given. A `pdh/sub/dir` form has been split into this and `path`. */
  portable_data_hash: string;
  /** Collection uuid, or "" when not given. Never set together with `portable_data_hash`. */
  uuid: string;
  /** Path inside the collection, relative and normalized (`sub/dir`), "" for the whole collection. */
  path: string;
  /** True for a writable mount (only at or under `output_path`, see the validation rules). */
  writable: boolean;
}

/**
 * berth's own mount kind: a host path. `source` is absolute and normalized; whether it exists and lies under an
 * `--allow-bind` root is checked by the runner with {@link checkBindSource}.
 */
export interface HostBindMount {
  /** Mount kind. */
  kind: "bind";
  /** Absolute, normalized host path. */
  source: string;
  /** True to mount read-write. */
  writable: boolean;
}

/** A read-only file holding `content` serialized as JSON (see {@link serializeJsonContent}). */
export interface JsonMount {
  /** Mount kind. */
  kind: "json";
  /** The content, numbers kept exactly; `null` when not given. */
  content: JsonValue;
}

/** A read-only file holding `content` as UTF-8 text. */
export interface TextMount {
  /** Mount kind. */
  kind: "text";
  /** The file's text. */
  content: string;
}

/** Redirects `stdout` or `stderr` to a file under `output_path` (raw, without timestamps). */
export interface FileMount {
  /** Mount kind. */
  kind: "file";
  /** Absolute, normalized path inside the container, strictly under `output_path`. */
  path: string;
}

/** One entry of `mounts`, discriminated by `kind`. */
export type Mount = TmpMount | CollectionMount | HostBindMount | JsonMount | TextMount | FileMount;

/** One entry of `secret_mounts`: only `json` and `text` are permitted. Its content never reaches a log. */
export type SecretMount = JsonMount | TextMount;

/** GPU stack names; "" means none. */
export type GpuStackName = "" | "cuda" | "rocm";

/** The GPUs a job asks for, after merging the legacy `cuda` field into `gpu`. */
export interface GpuRequest {
  /** "cuda" or "rocm"; always set when `device_count > 0`; may be set with 0 devices. */
  stack: GpuStackName;
  /** Number of devices, 0 to 64. */
  device_count: number;
}

/** Resource limits and capabilities. */
export interface RuntimeConstraints {
  /** CPU cores (fractions allowed); 0 when not given, meaning no limit. */
  vcpus: number;
  /** Memory in bytes; 0 when not given, meaning no limit. */
  ram: number;
  /** Requested GPUs (from `gpu`, or from the legacy `cuda` field). */
  gpu: GpuRequest;
  /** True when the container may talk to the Arvados API (forces networking on). */
  API: boolean;
}

/** Scheduling parameters berth acts on. */
export interface SchedulingParameters {
  /**
   * Seconds after which the container is stopped; 0 for no limit. May exceed what one `setTimeout` can wait
   * (about 24.8 days), so the runner must split long waits.
   */
  max_run_time: number;
}

/** A validated job, every optional field filled with its default. */
export interface Job {
  /** The job's name: 1 to 255 of `[A-Za-z0-9._-]`, starting with a letter or digit. */
  uuid: string;
  /** The image to run. */
  container_image: ImageRef;
  /** argv of the process; non-empty, `command[0]` non-empty, no NUL anywhere. */
  command: string[];
  /** Working directory: an absolute path, or "." for the image's default. */
  cwd: string;
  /** The container's whole environment. */
  environment: Record<string, string>;
  /** Mounts keyed by absolute container path, or by `stdin`, `stdout`, `stderr`. */
  mounts: Record<string, Mount>;
  /** Absolute path inside the container whose contents are the job's output; a `tmp` or writable collection mount. */
  output_path: string;
  /** Resource limits. */
  runtime_constraints: RuntimeConstraints;
  /** Scheduling parameters. */
  scheduling_parameters: SchedulingParameters;
  /** Mounts whose content is secret; keys never collide with `mounts`. */
  secret_mounts: Record<string, SecretMount>;
  /**
   * Names in `environment` whose values are secret whatever the name looks like (berth's own field): sorted,
   * each once. Their values are redacted like those of secret-looking names.
   */
  secret_environment_keys: string[];
}

/** The result of parsing a job file. */
export interface ParsedJob {
  /** The job file's path as given (used in messages). */
  path: string;
  /** The validated job. */
  job: Job;
  /**
   * Arvados record fields that were present but that berth does not use, as field paths in the order validation met them
   * (for example `state`, `runtime_constraints.keep_cache_ram`). The runner logs them once.
   */
  ignoredFields: string[];
}
