/** redactJob(): what may be logged of a job. */

import { deepStrictEqual, ok, strictEqual } from "node:assert/strict";
import { fileURLToPath } from "node:url";
import {
  isSecretName,
  readJobFile,
  REDACTED,
  redactEnvironment,
  redactJob,
  serializeJsonContent,
} from "../../src/job/mod.ts";
import { collectSecrets } from "../../src/runner/secrets.ts";

const full = fileURLToPath(new URL("./corpus/valid/full.json", import.meta.url));

Deno.test("isSecretName() matches names that look like tokens, passwords, keys and credentials", () => {
  for (
    const name of [
      "ARVADOS_API_TOKEN",
      "AWS_SECRET_ACCESS_KEY",
      "db_password",
      "PASSWD",
      "GOOGLE_CREDENTIALS",
      "AUTH_HEADER",
      "BASIC_AUTH",
      "GITLAB_OAUTH",
      "HTTP_AUTHORIZATION",
      "GITHUB_PAT",
      "githubPat",
      "SMTP_PASS",
      "DB_PWD",
      "PASSPHRASE",
      "SSH_PRIVATE",
      "TLS_CLIENT_CERT",
      "CA_CERTIFICATE",
      "apiKey",
      "SSHKEY",
      "SIGNING_KEYS",
      "DOCKER_CREDS",
      "SESSION_COOKIE",
    ]
  ) {
    ok(isSecretName(name), name);
  }
  for (
    const name of [
      "PATH",
      "LD_LIBRARY_PATH",
      "PATCH_LEVEL",
      "HOME",
      "LANG",
      "THREADS",
      "TMPDIR",
      "PWD",
      "OLDPWD",
      "AUTHOR",
      "AUTHOR_NAME",
      "COMPASS_DIR",
      "PASSTHROUGH_MODE",
      "KEYBOARD_LAYOUT",
      "CERTAINTY",
      "DBUS_SESSION_BUS_ADDRESS",
    ]
  ) {
    ok(!isSecretName(name), name);
  }
});

Deno.test("isSecretName() also matches names a job marks secret, whatever they look like", () => {
  ok(isSecretName("DATABASE_URL", ["DATABASE_URL"]));
  ok(!isSecretName("DATABASE_URL", ["OTHER"]));
  ok(!isSecretName("DATABASE_URL"));
});

Deno.test("redactEnvironment() redacts the marked names and the secret-looking ones only", () => {
  deepStrictEqual(
    redactEnvironment({ DATABASE_URL: "postgres://u:pw@h/d", AUTH_X: "a", PATH: "/bin" }, ["DATABASE_URL"]),
    { DATABASE_URL: REDACTED, AUTH_X: REDACTED, PATH: "/bin" },
  );
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
  strictEqual(record.container_image, job.container_image.kind === "file" ? job.container_image.path : "");
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

Deno.test("redactJob() and collectSecrets() treat the names in secret_environment_keys as secrets", async () => {
  const { job } = await readJobFile(
    fileURLToPath(new URL("./corpus/valid/secret-environment-keys.json", import.meta.url)),
  );
  const record = redactJob(job) as Record<string, unknown>;
  deepStrictEqual(record.environment, { DATABASE_URL: REDACTED, SESSION_ID: REDACTED, LANG: "C" });
  deepStrictEqual(record.secret_environment_keys, ["DATABASE_URL", "SESSION_ID"]);
  const secrets = collectSecrets(job);
  ok(secrets.includes("postgres://u:pw@db/app"));
  ok(!secrets.includes("s-1"), "values shorter than MIN_SECRET_LENGTH are not searched for");
  ok(!secrets.includes("C"));
});
