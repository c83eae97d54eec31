/**
 * The valid job corpus: each file under `corpus/valid/` parses to exactly the job written out here by hand,
 * defaults filled in, numbers in json content kept as their original text.
 */

import { deepStrictEqual, ok } from "node:assert/strict";
import { fileURLToPath as fromFileUrl } from "node:url";
import { LosslessNumber } from "lossless-json";
import { type Job, readJobFile } from "../../src/job/mod.ts";

const dir = fromFileUrl(new URL("./corpus/valid/", import.meta.url));
const n = (text: string) => new LosslessNumber(text);
const noGpu = { stack: "", device_count: 0 } as const;

const cases: Record<string, { job: Job; ignoredFields: string[] }> = {
  "full.json": {
    job: {
      uuid: "zzzzz-dz642-fulljobexample1",
      container_image: { kind: "file", path: `${dir}images/busybox.tar` },
      command: ["sh", "-c", "cat /out/params.json; wc -c < /keep/input/reads.fastq"],
      cwd: "/out",
      environment: {
        LANG: "C.UTF-8",
        THREADS: "2",
        ARVADOS_API_TOKEN: "v2/zzzzz-gj3su-000000000000000/not-a-real-token",
        AWS_SECRET_ACCESS_KEY: "not-a-real-key",
      },
      mounts: {
        "/data": { kind: "bind", source: "/srv/shared/data", writable: false },
        "/keep/input": {
          kind: "collection",
          portable_data_hash: "d41d8cd98f00b204e9800998ecf8427e+0",
          uuid: "",
          path: "sample1",
          writable: false,
        },
        "/keep/project": {
          kind: "collection",
          portable_data_hash: "",
          uuid: "zzzzz-4zz18-0123456789abcde",
          path: "",
          writable: false,
        },
        "/out": { kind: "tmp", capacity: 1073741824 },
        "/out/README.txt": { kind: "text", content: "Produced by berth.\n" },
        "/out/params.json": {
          kind: "json",
          content: { seed: n("123456789123456789123"), ratio: n("0.25"), tags: ["a", "b"] },
        },
        "/out/reference": {
          kind: "collection",
          portable_data_hash: "99999999999999999999999999999999+99",
          uuid: "",
          path: "genome",
          writable: true,
        },
        "/scratch": { kind: "tmp", capacity: 0 },
        stderr: { kind: "file", path: "/out/logs/stderr.txt" },
        stdin: { kind: "json", content: [n("1"), n("2"), n("3")] },
        stdout: { kind: "file", path: "/out/stdout.txt" },
      },
      output_path: "/out",
      runtime_constraints: { vcpus: 2, ram: 2147483648, gpu: { stack: "cuda", device_count: 1 }, API: false },
      scheduling_parameters: { max_run_time: 3600 },
      secret_mounts: {
        "/secrets/config.json": { kind: "json", content: { password: "not-a-real-password" } },
        "/secrets/token.txt": { kind: "text", content: "not-a-real-secret" },
      },
      secret_environment_keys: [],
    },
    ignoredFields: [
      "runtime_constraints.keep_cache_ram",
      "runtime_constraints.keep_cache_disk",
      "runtime_constraints.gpu.driver_version",
      "runtime_constraints.gpu.hardware_target",
      "runtime_constraints.gpu.vram",
      "runtime_constraints.cuda.driver_version",
      "runtime_constraints.cuda.hardware_capability",
      "scheduling_parameters.partitions",
      "scheduling_parameters.preemptible",
      "scheduling_parameters.supervisor",
    ],
  },
  "minimal.json": {
    job: {
      uuid: "job1",
      container_image: { kind: "file", path: "/var/lib/images/busybox.tar" },
      command: ["true"],
      cwd: ".",
      environment: {},
      mounts: { "/out": { kind: "tmp", capacity: 0 } },
      output_path: "/out",
      runtime_constraints: { vcpus: 0, ram: 0, gpu: noGpu, API: false },
      scheduling_parameters: { max_run_time: 0 },
      secret_mounts: {},
      secret_environment_keys: [],
    },
    ignoredFields: [],
  },
  "registry-image.json": {
    job: {
      uuid: "registry-job",
      container_image: {
        kind: "registry",
        text: "docker://busybox@sha256:2910d90f546068760bffec02568f3f16df46a966ec3c74a28f829df4c7d68b94",
        reference: {
          registry: "docker.io",
          repository: "library/busybox",
          tag: "",
          digest: "sha256:2910d90f546068760bffec02568f3f16df46a966ec3c74a28f829df4c7d68b94",
        },
      },
      command: ["true"],
      cwd: ".",
      environment: {},
      mounts: { "/out": { kind: "tmp", capacity: 0 } },
      output_path: "/out",
      runtime_constraints: { vcpus: 0, ram: 0, gpu: noGpu, API: false },
      scheduling_parameters: { max_run_time: 0 },
      secret_mounts: {},
      secret_environment_keys: [],
    },
    ignoredFields: [],
  },
  "arvados-record.json": {
    job: {
      uuid: "zzzzz-dz642-queuedcontainer",
      container_image: {
        kind: "keep",
        locator: "d41d8cd98f00b204e9800998ecf8427e+0",
        locatorType: "portable_data_hash",
      },
      command: ["python3", "-c", "print(1)"],
      cwd: "/var/spool/cwl",
      environment: { HOME: "/var/spool/cwl", TMPDIR: "/tmp" },
      mounts: {
        "/tmp": { kind: "tmp", capacity: 1073741824 },
        "/var/lib/cwl/cwl.input.json": { kind: "json", content: { n: n("9007199254740993") } },
        "/var/spool/cwl": { kind: "collection", portable_data_hash: "", uuid: "", path: "", writable: true },
        stdout: { kind: "file", path: "/var/spool/cwl/cwl.output.json" },
      },
      output_path: "/var/spool/cwl",
      runtime_constraints: { vcpus: 1, ram: 1342177280, gpu: noGpu, API: true },
      scheduling_parameters: { max_run_time: 0 },
      secret_mounts: {},
      secret_environment_keys: [],
    },
    ignoredFields: [
      "kind",
      "etag",
      "href",
      "owner_uuid",
      "created_at",
      "modified_at",
      "modified_by_user_uuid",
      "state",
      "started_at",
      "finished_at",
      "log",
      "output",
      "progress",
      "priority",
      "exit_code",
      "auth_uuid",
      "locked_by_uuid",
      "runtime_status",
      "runtime_user_uuid",
      "runtime_auth_scopes",
      "lock_count",
      "gateway_address",
      "interactive_session_started",
      "output_storage_classes",
      "output_properties",
      "cost",
      "subrequests_cost",
      "output_glob",
      "service",
      "published_ports",
      "runtime_constraints.keep_cache_disk",
      "runtime_constraints.keep_cache_ram",
      "runtime_constraints.gpu.driver_version",
      "runtime_constraints.gpu.hardware_target",
      "runtime_constraints.gpu.vram",
      "runtime_constraints.cuda.driver_version",
      "runtime_constraints.cuda.hardware_capability",
      "scheduling_parameters.partitions",
      "scheduling_parameters.preemptible",
      "scheduling_parameters.supervisor",
    ],
  },
  "stdin-collection.json": {
    job: {
      uuid: "stdin.collection-1",
      container_image: { kind: "keep", locator: "zzzzz-4zz18-imagecollection", locatorType: "uuid" },
      command: ["md5sum"],
      cwd: ".",
      environment: {},
      mounts: {
        "/var/out": { kind: "collection", portable_data_hash: "", uuid: "", path: "", writable: true },
        "/var/out/in": {
          kind: "collection",
          portable_data_hash: "",
          uuid: "zzzzz-4zz18-0123456789abcde",
          path: "dir/sub",
          writable: false,
        },
        stdin: {
          kind: "collection",
          portable_data_hash: "d41d8cd98f00b204e9800998ecf8427e+0",
          uuid: "",
          path: "reads/sample.fastq",
          writable: false,
        },
      },
      output_path: "/var/out",
      runtime_constraints: { vcpus: 0.5, ram: 1000000000, gpu: noGpu, API: false },
      scheduling_parameters: { max_run_time: 0 },
      secret_mounts: {},
      secret_environment_keys: [],
    },
    ignoredFields: [],
  },
  "gpu-legacy-cuda.json": {
    job: {
      uuid: "gpu-legacy",
      container_image: {
        kind: "file",
        path: fromFileUrl(new URL("./corpus/images/cuda.tar", import.meta.url)),
      },
      command: ["nvidia-smi"],
      cwd: ".",
      environment: {},
      mounts: { "/out": { kind: "tmp", capacity: 0 } },
      output_path: "/out",
      runtime_constraints: { vcpus: 4, ram: 4294967296, gpu: { stack: "cuda", device_count: 2 }, API: false },
      scheduling_parameters: { max_run_time: 0 },
      secret_mounts: {},
      secret_environment_keys: [],
    },
    ignoredFields: [],
  },
  "gpu-rocm.json": {
    job: {
      uuid: "gpu-rocm",
      container_image: { kind: "file", path: `${dir}rocm.tar` },
      command: ["rocminfo"],
      cwd: ".",
      environment: {},
      mounts: { "/out": { kind: "tmp", capacity: 0 } },
      output_path: "/out",
      runtime_constraints: { vcpus: 0, ram: 0, gpu: { stack: "rocm", device_count: 64 }, API: false },
      scheduling_parameters: { max_run_time: 0 },
      secret_mounts: {},
      secret_environment_keys: [],
    },
    ignoredFields: [],
  },
  "nulls-as-absent.json": {
    job: {
      uuid: "nulls",
      container_image: { kind: "file", path: `${dir}busybox.tar` },
      command: ["true"],
      cwd: ".",
      environment: {},
      mounts: { "/j": { kind: "json", content: null }, "/out": { kind: "tmp", capacity: 0 } },
      output_path: "/out",
      runtime_constraints: { vcpus: 0, ram: 0, gpu: noGpu, API: false },
      scheduling_parameters: { max_run_time: 0 },
      secret_mounts: {},
      secret_environment_keys: [],
    },
    ignoredFields: [],
  },
  "unicode-and-escapes.json": {
    job: {
      uuid: "unicode_job.2",
      container_image: { kind: "file", path: `${dir}busybox.tar` },
      command: ["printf", "%s\n", "héllo wörld 🚢", "tab\there"],
      cwd: ".",
      environment: { GREETING: "こんにちは", EMPTY: "" },
      mounts: {
        "/données/été.txt": { kind: "text", content: "line1\nline2\0with NUL is fine in file content" },
        "/etc/app.json": {
          kind: "json",
          content: {
            html: "<b>&amp;</b>",
            sep: "\u2028\u2029",
            lone: "\ud800",
            z: n("1"),
            a: n("-0"),
            exp: n("1E+2"),
          },
        },
        "/out": { kind: "tmp", capacity: 0 },
      },
      output_path: "/out",
      runtime_constraints: { vcpus: 0, ram: 1024000, gpu: noGpu, API: false },
      scheduling_parameters: { max_run_time: 0 },
      secret_mounts: {},
      secret_environment_keys: [],
    },
    ignoredFields: [],
  },
  "secret-environment-keys.json": {
    job: {
      uuid: "secret-env",
      container_image: { kind: "file", path: `${dir}busybox.tar` },
      command: ["true"],
      cwd: ".",
      environment: { DATABASE_URL: "postgres://u:pw@db/app", SESSION_ID: "s-1", LANG: "C" },
      mounts: { "/out": { kind: "tmp", capacity: 0 } },
      output_path: "/out",
      runtime_constraints: { vcpus: 0, ram: 0, gpu: noGpu, API: false },
      scheduling_parameters: { max_run_time: 0 },
      secret_mounts: {},
      secret_environment_keys: ["DATABASE_URL", "SESSION_ID"],
    },
    ignoredFields: [],
  },
};
Deno.test("valid corpus: every file has an expected job", () => {
  const files = [...Deno.readDirSync(dir)].filter((e) => e.isFile).map((e) => e.name).sort();
  deepStrictEqual(files, Object.keys(cases).sort());
});

for (const [name, expected] of Object.entries(cases)) {
  Deno.test(`readJobFile() parses corpus/valid/${name} to the expected job`, async () => {
    const parsed = await readJobFile(dir + name);
    deepStrictEqual(parsed.job, expected.job);
    deepStrictEqual(parsed.ignoredFields, expected.ignoredFields);
    ok(parsed.path === dir + name);
  });
}
