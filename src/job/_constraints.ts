/**
 * Validation of `runtime_constraints` and `scheduling_parameters`.
 * @module
 */

import {
  CUDA_FIELDS,
  GPU_FIELDS,
  IGNORED_CUDA_FIELDS,
  IGNORED_GPU_FIELDS,
  IGNORED_RUNTIME_CONSTRAINT_FIELDS,
  IGNORED_SCHEDULING_FIELDS,
  RUNTIME_CONSTRAINT_FIELDS,
  SCHEDULING_FIELDS,
} from "./fields.ts";
import { get, type Reader } from "./_read.ts";
import { quote } from "./json.ts";
import type { GpuRequest, GpuStackName, RuntimeConstraints, SchedulingParameters } from "./types.ts";

/** The largest integer a JS number holds exactly: the bound for byte counts and seconds. */
const MAX_EXACT = 2n ** 53n;
/** More cores than any node has; larger values are mistakes (or attacks on arithmetic). */
export const MAX_VCPUS = 4096;
/** More devices than any node has. */
export const MAX_GPU_DEVICES = 64;

/** Validates `runtime_constraints` (absent: no limits, no GPU, no API). */
export function readRuntimeConstraints(r: Reader, value: unknown): RuntimeConstraints {
  const field = "runtime_constraints";
  const result: RuntimeConstraints = { vcpus: 0, ram: 0, gpu: { stack: "", device_count: 0 }, API: false };
  if (value === undefined) return result;
  const rc = r.object(value, field);
  r.keys(rc, field, RUNTIME_CONSTRAINT_FIELDS, IGNORED_RUNTIME_CONSTRAINT_FIELDS);
  const vcpus = get(rc, "vcpus");
  if (vcpus !== undefined) result.vcpus = r.positiveNumber(vcpus, `${field}.vcpus`, MAX_VCPUS);
  const ram = get(rc, "ram");
  if (ram !== undefined) result.ram = r.integer(ram, `${field}.ram`, 1n, MAX_EXACT);
  const gpu = get(rc, "gpu");
  if (gpu !== undefined) result.gpu = readGpu(r, gpu, `${field}.gpu`);
  const cuda = get(rc, "cuda");
  if (cuda !== undefined) {
    const c = r.object(cuda, `${field}.cuda`);
    r.keys(c, `${field}.cuda`, CUDA_FIELDS, IGNORED_CUDA_FIELDS);
    const countValue = get(c, "device_count");
    const count = countValue === undefined
      ? 0
      : r.integer(countValue, `${field}.cuda.device_count`, 0n, BigInt(MAX_GPU_DEVICES));
    if (count > 0) {
      // The legacy field asks for CUDA devices; it may repeat what `gpu` says, but not contradict it.
      const g = result.gpu;
      if (g.device_count > 0 && (g.stack !== "cuda" || g.device_count !== count)) {
        r.fail(
          `${field}.cuda`,
          `asks for device_count ${count}, which contradicts runtime_constraints.gpu (stack ${
            quote(g.stack)
          }, device_count ${g.device_count})`,
        );
      }
      result.gpu = { stack: "cuda", device_count: count };
    }
  }
  const api = get(rc, "API");
  if (api !== undefined) result.API = r.boolean(api, `${field}.API`);
  return result;
}

function readGpu(r: Reader, value: unknown, field: string): GpuRequest {
  const g = r.object(value, field);
  r.keys(g, field, GPU_FIELDS, IGNORED_GPU_FIELDS);
  const stackValue = get(g, "stack");
  const stack = stackValue === undefined ? "" : r.string(stackValue, `${field}.stack`);
  if (stack !== "" && stack !== "cuda" && stack !== "rocm") {
    r.fail(`${field}.stack`, `must be "cuda" or "rocm", got ${quote(stack)}`);
  }
  const countValue = get(g, "device_count");
  const count = countValue === undefined
    ? 0
    : r.integer(countValue, `${field}.device_count`, 0n, BigInt(MAX_GPU_DEVICES));
  if (count > 0 && stack === "") {
    r.fail(`${field}.stack`, 'must be "cuda" or "rocm" when device_count is above 0');
  }
  return { stack: stack as GpuStackName, device_count: count };
}

/** Validates `scheduling_parameters` (absent: no time limit). */
export function readSchedulingParameters(r: Reader, value: unknown): SchedulingParameters {
  const field = "scheduling_parameters";
  if (value === undefined) return { max_run_time: 0 };
  const sp = r.object(value, field);
  r.keys(sp, field, SCHEDULING_FIELDS, IGNORED_SCHEDULING_FIELDS);
  const max = get(sp, "max_run_time");
  return { max_run_time: max === undefined ? 0 : r.integer(max, `${field}.max_run_time`, 0n, MAX_EXACT) };
}
