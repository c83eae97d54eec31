/** parseJob(), readJobFile() and parseImageRef(): behaviour beyond the corpus. */

import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import { JobFileError } from "../../src/errors.ts";
import { MAX_JOB_FILE_BYTES, parseImageRef, parseJob, readJobFile } from "../../src/job/mod.ts";

const BASE = {
  uuid: "j1",
  container_image: "/images/busybox.tar",
  command: ["true"],
  output_path: "/out",
  mounts: { "/out": { kind: "tmp" } } as Record<string, unknown>,
};

function parse(extra: Record<string, unknown>, path = "/jobs/j1.json") {
  return parseJob(JSON.stringify({ ...BASE, ...extra }), path);
}

function failure(fn: () => unknown): JobFileError {
  try {
    fn();
  } catch (err) {
    if (err instanceof JobFileError) return err;
    throw err;
  }
  throw new Error("expected a JobFileError");
}

Deno.test("parseJob() resolves a relative container_image against the job file's directory", () => {
  const { job } = parse({ container_image: "../images/./busybox.tar" }, "/srv/jobs/j1.json");
  deepStrictEqual(job.container_image, { kind: "file", path: "/srv/images/busybox.tar" });
});

Deno.test("parseJob() resolves a relative job path against the working directory first", () => {
  const { job } = parse({ container_image: "busybox.tar" }, "sub/j1.json");
  deepStrictEqual(job.container_image, { kind: "file", path: `${Deno.cwd()}/sub/busybox.tar` });
});

Deno.test("parseImageRef() tells a keep pdh from a keep uuid", () => {
  deepStrictEqual(parseImageRef("keep:d41d8cd98f00b204e9800998ecf8427e+0", "/j.json"), {
    ok: true,
    image: { kind: "keep", locator: "d41d8cd98f00b204e9800998ecf8427e+0", locatorType: "portable_data_hash" },
  });
  deepStrictEqual(parseImageRef("keep:zzzzz-4zz18-0123456789abcde", "/j.json"), {
    ok: true,
    image: { kind: "keep", locator: "zzzzz-4zz18-0123456789abcde", locatorType: "uuid" },
  });
  strictEqual(parseImageRef("keep:d41d8cd98f00b204e9800998ecf8427e+0/x.tar", "/j.json").ok, false);
});

Deno.test("parseJob() lists Arvados fields it ignores, and refuses fields it does not know", () => {
  const { ignoredFields } = parse({ state: "Locked", priority: 1, output_storage_classes: ["default"] });
  deepStrictEqual(ignoredFields, ["state", "priority", "output_storage_classes"]);
  const err = failure(() => parse({ statee: "Locked" }));
  strictEqual(err.message, 'Cannot read job file "/jobs/j1.json": field "statee" is not a known field');
  strictEqual(err.field, "statee");
});

Deno.test("parseJob() lists ignored mount fields of the Arvados record", () => {
  const { ignoredFields } = parse({ mounts: { "/out": { kind: "tmp", exclude_from_output: false } } });
  deepStrictEqual(ignoredFields, ['mounts["/out"].exclude_from_output']);
});

Deno.test("parseJob() reports unknown fields before bad values in the same object", () => {
  const err = failure(() => parse({ uuid: "bad uuid", zzz: 1 }));
  strictEqual(err.field, "zzz");
});

Deno.test("parseJob() checks mounts in sorted key order, whatever the file's order", () => {
  const a = failure(() =>
    parse({ mounts: { "/out": { kind: "tmp" }, "/z": { kind: "nope" }, "/a": { kind: 1 } } })
  );
  const b = failure(() =>
    parse({ mounts: { "/a": { kind: 1 }, "/z": { kind: "nope" }, "/out": { kind: "tmp" } } })
  );
  strictEqual(a.message, b.message);
  strictEqual(a.field, 'mounts["/a"].kind');
});

Deno.test("parseJob() maps the legacy cuda field to gpu stack cuda", () => {
  const { job } = parse({ runtime_constraints: { cuda: { device_count: 3 } } });
  deepStrictEqual(job.runtime_constraints.gpu, { stack: "cuda", device_count: 3 });
  const same = parse({
    runtime_constraints: { gpu: { stack: "cuda", device_count: 3 }, cuda: { device_count: 3 } },
  });
  deepStrictEqual(same.job.runtime_constraints.gpu, { stack: "cuda", device_count: 3 });
});

Deno.test("parseJob() accepts a gpu stack with zero devices", () => {
  const { job } = parse({ runtime_constraints: { gpu: { stack: "cuda", device_count: 0 } } });
  deepStrictEqual(job.runtime_constraints.gpu, { stack: "cuda", device_count: 0 });
});

Deno.test("parseJob() accepts integers written with exponents or a zero fraction, exactly", () => {
  const { job } = parse({}, "/j.json");
  strictEqual(job.runtime_constraints.ram, 0);
  const text = JSON.stringify({ ...BASE }).replace(
    /}$/,
    ',"runtime_constraints":{"ram":9007199254740992,' +
      '"vcpus":0.25},"scheduling_parameters":{"max_run_time":1.2e3}}',
  );
  const parsed = parseJob(text, "/j.json").job;
  strictEqual(parsed.runtime_constraints.ram, 2 ** 53);
  strictEqual(parsed.runtime_constraints.vcpus, 0.25);
  strictEqual(parsed.scheduling_parameters.max_run_time, 1200);
});

Deno.test("parseJob() accepts a writable pdh collection copied in below output_path", () => {
  const { job } = parse({
    mounts: {
      "/out": { kind: "tmp" },
      "/out/ref": {
        kind: "collection",
        portable_data_hash: "d41d8cd98f00b204e9800998ecf8427e+0",
        writable: true,
      },
    },
  });
  strictEqual(job.mounts["/out/ref"].kind, "collection");
});

Deno.test("parseJob() allows output_path at the root of a deeper tree and mounts beside it", () => {
  const { job } = parse({
    output_path: "/a/b",
    mounts: { "/a/b": { kind: "tmp" }, "/a": { kind: "tmp" }, "/a/bc": { kind: "tmp" } },
  });
  deepStrictEqual(Object.keys(job.mounts).sort(), ["/a", "/a/b", "/a/bc"]);
});

Deno.test("parseJob() never quotes environment values or secret content in its messages", () => {
  const err = failure(() =>
    parse({ environment: { API_TOKEN: "s3cret-token\u0000" }, secret_mounts: { "/s": { kind: "text" } } })
  );
  ok(!err.message.includes("s3cret"), err.message);
  const err2 = failure(() => parse({ secret_mounts: { "/s": { kind: "tmp", content: "s3cret" } } }));
  ok(!err2.message.includes("s3cret"), err2.message);
});

Deno.test("parseJob() keeps an environment variable named __proto__ as an ordinary entry", () => {
  const { job } = parseJob(
    JSON.stringify(BASE).replace(/}$/, ',"environment":{"__proto__":"x","A":"b"}}'),
    "/j.json",
  );
  deepStrictEqual(Object.entries(job.environment), [["__proto__", "x"], ["A", "b"]]);
  strictEqual(Object.getPrototypeOf(job.environment), Object.prototype);
});

Deno.test("readJobFile() reports a missing file, a directory and an oversized stream as JobFileError", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-job-test-" });
  try {
    await rejects(readJobFile(`${dir}/missing.json`), (err: unknown) => {
      strictEqual((err as Error).message, `Cannot read job file "${dir}/missing.json": does not exist`);
      strictEqual((err as JobFileError).exitCode, 2);
      return err instanceof JobFileError;
    });
    await rejects(readJobFile(dir), (err: unknown) => {
      strictEqual((err as Error).message, `Cannot read job file "${dir}": is a directory, not a file`);
      return err instanceof JobFileError;
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await rejects(readJobFile("/dev/zero"), (err: unknown) => {
    strictEqual(
      (err as Error).message,
      `Cannot read job file "/dev/zero": is larger than ${MAX_JOB_FILE_BYTES / 1024 / 1024} MiB`,
    );
    return err instanceof JobFileError;
  });
});

Deno.test("readJobFile() drops a UTF-8 byte order mark", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-job-test-" });
  try {
    const body = new TextEncoder().encode(JSON.stringify(BASE));
    await Deno.writeFile(`${dir}/bom.json`, new Uint8Array([0xef, 0xbb, 0xbf, ...body]));
    strictEqual((await readJobFile(`${dir}/bom.json`)).job.uuid, "j1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseJob() error messages stay one line and bounded for huge hostile values", () => {
  const huge = "x/".repeat(500_000);
  for (
    const extra of [
      { cwd: huge },
      { container_image: `keep:${huge}` },
      { mounts: { "/out": { kind: "tmp" }, [`/${huge}/`]: { kind: "tmp" } } },
      { environment: { [huge + "="]: "v" } },
    ]
  ) {
    const err = failure(() => parse(extra));
    ok(err.message.length < 600, `message of ${err.message.length} characters`);
    ok(!err.message.includes("\n"));
  }
});
