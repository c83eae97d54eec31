/**
 * The job file: types, lossless parsing, validation (crunch-run's rules and berth's own), the bind-source
 * check, and the redacted form that may be logged.
 *
 * Data flows one way: the CLI calls {@link readJobFile}, the runner turns the {@link Job} into mounts and a
 * container spec; nothing below the runner sees the job file.
 *
 * @example
 * ```ts
 * import { parseJob, serializeJsonContent } from "./mod.ts";
 * const { job } = parseJob(
 *   '{"uuid":"j1","container_image":"/i.tar","command":["cat","/in.json"],"output_path":"/out",' +
 *     '"mounts":{"/out":{"kind":"tmp"},"/in.json":{"kind":"json","content":{"n":123456789123456789123}}}}',
 *   "/jobs/j1.json",
 * );
 * const m = job.mounts["/in.json"];
 * console.assert(m.kind === "json" && serializeJsonContent(m.content) === '{"n":123456789123456789123}');
 * ```
 *
 * @module
 */

export type {
  CollectionMount,
  FileMount,
  GpuRequest,
  GpuStackName,
  HostBindMount,
  ImageRef,
  Job,
  JsonMount,
  JsonObject,
  JsonValue,
  Mount,
  ParsedJob,
  RuntimeConstraints,
  SchedulingParameters,
  SecretMount,
  TextMount,
  TmpMount,
} from "./types.ts";
export { MAX_JOB_FILE_BYTES, parseJob, parseJobBytes, readJobFile } from "./parse.ts";
export { MAX_JSON_DEPTH, parseJsonText, serializeJsonContent, type SerializeOptions } from "./json.ts";
export { JOB_UUID_PATTERN, MAX_JOB_UUID_LENGTH, validateJob } from "./validate.ts";
export { COLLECTION_UUID_PATTERN, parseImageRef, PDH_PATTERN } from "./image_ref.ts";
export { type BindSourceCheck, type BindSourceContext, checkBindSource } from "./bind_source.ts";
export {
  imageRefText,
  isSecretName,
  REDACTED,
  redactEnvironment,
  redactJob,
  SECRET_NAME_FRAGMENTS,
  SECRET_NAME_WORDS,
} from "./redact.ts";
export { IGNORED_RECORD_FIELDS, JOB_FIELDS } from "./fields.ts";
export { isStrictlyUnder } from "./_paths.ts";
