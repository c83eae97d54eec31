/** redactJob(): what may be logged of a job. */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { isSecretName, readJobFile, REDACTED, redactJob, serializeJsonContent } from "../../src/job/mod.ts";

const full = fileURLToPath(new URL("./corpus/valid/full.json", import.meta.url));

Deno.test("isSecretName() matches names that look like tokens, passwords, keys and credentials", () => {
  for (
    const name of [
      "ARVADOS_API_TOKEN",
      "AWS_SECRET_ACCESS_KEY",
      "db_password",
      "PASSWD",
      "GOOGLE_CREDENTIALS",
    ]
  ) {
    ok(isSecretName(name), name);
  }
  for (const name of ["PATH", "HOME", "LANG", "THREADS", "TMPDIR"]) ok(!isSecretName(name), name);
});

Deno.test("redactJob() removes secret mount content and secret-looking environment values", async () => {
  const { job } = await readJobFile(full);
  const text = serializeJsonContent(redactJob(job), { indent: 4 });
  for (const secret of ["not-a-real-token", "not-a-real-key", "not-a-real-secret", "not-a-real-password"]) {
    ok(!text.includes(secret), `${secret} leaked into ${text}`);
  }
  const record = redactJob(job) as Record<string, Record<string, unknown>>;
  deepStrictEqual(record.environment, {
    LANG: "C.UTF-8",
    THREADS: "2",
    ARVADOS_API_TOKEN: REDACTED,
    AWS_SECRET_ACCESS_KEY: REDACTED,
  });
  deepStrictEqual(record.secret_mounts, {
    "/secrets/config.json": { kind: "json" },
    "/secrets/token.txt": { kind: "text" },
  });
});

Deno.test("redactJob() keeps everything else, json content numbers exact, and does not modify the job", async () => {
  const { job } = await readJobFile(full);
  const before = serializeJsonContent(structuredClone(job.environment));
  const record = redactJob(job) as Record<string, unknown>;
  strictEqual(serializeJsonContent(job.environment), before);
  strictEqual(job.environment.ARVADOS_API_TOKEN, "v2/zzzzz-gj3su-000000000000000/not-a-real-token");
  strictEqual(record.container_image, job.container_image.kind === "tarball" ? job.container_image.path : "");
  strictEqual(record.uuid, "zzzzz-dz642-fulljobexample1");
  const text = serializeJsonContent(redactJob(job));
  ok(
    text.includes(
      '"/out/params.json":{"content":{"ratio":0.25,"seed":123456789123456789123,"tags":["a","b"]}',
    ),
  );
  ok(
    text.includes(
      '"runtime_constraints":{"API":false,"gpu":{"device_count":1,"stack":"cuda"},"ram":2147483648',
    ),
  );
  ok(text.includes('"scheduling_parameters":{"max_run_time":3600}'));
});

Deno.test("redactJob() writes a keep image as keep:<locator>", async () => {
  const { job } = await readJobFile(
    fileURLToPath(new URL("./corpus/valid/arvados-record.json", import.meta.url)),
  );
  strictEqual(redactJob(job).container_image, "keep:d41d8cd98f00b204e9800998ecf8427e+0");
});
