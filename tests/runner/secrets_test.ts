import { assertEquals } from "../helpers/assert.ts";
import { parseJob } from "../../src/job/mod.ts";
import { collectSecrets, secretFilter } from "../../src/runner/secrets.ts";

const JOB = JSON.stringify({
  uuid: "s1",
  container_image: "/i.tar",
  command: ["true"],
  output_path: "/out",
  environment: { API_TOKEN: "tok-123456", PATH: "/bin", SHORT_KEY: "abc" },
  mounts: { "/out": { kind: "tmp" } },
  secret_mounts: {
    "/etc/pw": { kind: "text", content: "line-one-secret\nline-two-secret\n" },
    "/etc/c.json": { kind: "json", content: { user: "someone", pin: "PIN" } },
  },
}).replace('"PIN"', "98765432109876543210"); // JSON.stringify would round the number

Deno.test("collectSecrets() finds secret mount content, its lines and JSON leaves, and secret env values", () => {
  const secrets = collectSecrets(parseJob(JOB, "/j.json").job);
  for (
    const s of [
      "tok-123456",
      "line-one-secret",
      "line-two-secret",
      "someone",
      "98765432109876543210",
      '{"pin":98765432109876543210,"user":"someone"}',
    ]
  ) {
    assertEquals(secrets.includes(s), true, `missing ${s}`);
  }
  assertEquals(secrets.includes("/bin"), false);
  assertEquals(secrets.includes("abc"), false, "values shorter than 4 characters are not searched for");
  const lengths = secrets.map((s) => s.length);
  assertEquals(lengths, [...lengths].sort((a, b) => b - a));
});

Deno.test("secretFilter() replaces every occurrence with <redacted>", () => {
  const filter = secretFilter(collectSecrets(parseJob(JOB, "/j.json").job));
  assertEquals(
    filter("token tok-123456 and tok-123456, user someone; plain text"),
    "token <redacted> and <redacted>, user <redacted>; plain text",
  );
  assertEquals(secretFilter([])("unchanged"), "unchanged");
});
