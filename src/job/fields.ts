/**
 * Which fields a job file may hold: those berth uses, and those of the Arvados container record that berth
 * accepts without using (so a record fetched from Arvados runs as it is; the runner logs their names once).
 * Anything else is an error that names the field.
 * @module
 */

/** Top-level fields berth uses. */
export const JOB_FIELDS: ReadonlySet<string> = new Set([
  "uuid",
  "container_image",
  "command",
  "cwd",
  "environment",
  "mounts",
  "output_path",
  "runtime_constraints",
  "scheduling_parameters",
  "secret_mounts",
  "secret_environment_keys",
]);

/**
 * Top-level fields of an Arvados container record (and the API envelope around it) that berth accepts and
 * ignores: bookkeeping of the API server, results of a previous run, and features berth does not have.
 */
export const IGNORED_RECORD_FIELDS: ReadonlySet<string> = new Set([
  "auth_uuid",
  "container_count",
  "cost",
  "created_at",
  "etag",
  "exit_code",
  "finished_at",
  "gateway_address",
  "href",
  "interactive_session_started",
  "kind",
  "lock_count",
  "locked_by_uuid",
  "log",
  "modified_at",
  "modified_by_client_uuid",
  "modified_by_user_uuid",
  "output",
  "output_glob",
  "output_properties",
  "output_storage_classes",
  "owner_uuid",
  "priority",
  "progress",
  "published_ports",
  "runtime_auth_scopes",
  "runtime_status",
  "runtime_user_uuid",
  "scheduling_parameters_md5",
  "secret_mounts_md5",
  "service",
  "started_at",
  "state",
  "subrequests_cost",
]);

/** `runtime_constraints` fields berth uses. */
export const RUNTIME_CONSTRAINT_FIELDS: ReadonlySet<string> = new Set(["vcpus", "ram", "gpu", "cuda", "API"]);
/** `runtime_constraints` fields accepted and ignored (Keep cache sizes: berth has no Keep client). */
export const IGNORED_RUNTIME_CONSTRAINT_FIELDS: ReadonlySet<string> = new Set([
  "keep_cache_ram",
  "keep_cache_disk",
]);

/** `runtime_constraints.gpu` fields berth uses. */
export const GPU_FIELDS: ReadonlySet<string> = new Set(["stack", "device_count"]);
/** `runtime_constraints.gpu` fields accepted and ignored (node selection is the dispatcher's business). */
export const IGNORED_GPU_FIELDS: ReadonlySet<string> = new Set(["driver_version", "hardware_target", "vram"]);

/** Legacy `runtime_constraints.cuda` fields berth uses. */
export const CUDA_FIELDS: ReadonlySet<string> = new Set(["device_count"]);
/** Legacy `runtime_constraints.cuda` fields accepted and ignored. */
export const IGNORED_CUDA_FIELDS: ReadonlySet<string> = new Set(["driver_version", "hardware_capability"]);

/** `scheduling_parameters` fields berth uses. */
export const SCHEDULING_FIELDS: ReadonlySet<string> = new Set(["max_run_time"]);
/** `scheduling_parameters` fields accepted and ignored (they steer the dispatcher, not the run). */
export const IGNORED_SCHEDULING_FIELDS: ReadonlySet<string> = new Set([
  "partitions",
  "preemptible",
  "supervisor",
]);

/** Mount kinds berth supports, and the fields each may carry besides `kind`. */
export const MOUNT_KIND_FIELDS: Readonly<Record<string, ReadonlySet<string>>> = {
  tmp: new Set(["kind", "capacity"]),
  collection: new Set(["kind", "portable_data_hash", "uuid", "path", "writable"]),
  bind: new Set(["kind", "source", "writable"]),
  json: new Set(["kind", "content"]),
  text: new Set(["kind", "content"]),
  file: new Set(["kind", "path"]),
};

/** Mount fields of the Arvados record accepted and ignored on every kind. */
export const IGNORED_MOUNT_FIELDS: ReadonlySet<string> = new Set(["exclude_from_output"]);
