import { join } from "node:path";
import { assertEquals, assertMatch, assertNotMatch, assertRejects, assertThrows } from "../helpers/assert.ts";
import {
  credentialSecrets,
  credentialsFor,
  normaliseRegistryKey,
  parseRegistryAuth,
  readRegistryAuth,
  RegistryAuthError,
} from "../../src/image/mod.ts";
import { ExitCode } from "../../src/errors.ts";
import { startRegistry } from "../helpers/registry.ts";

const b64 = (s: string) => btoa(s);

Deno.test("normaliseRegistryKey() reads host names and URLs, and every name of Docker Hub", () => {
  assertEquals(normaliseRegistryKey("https://index.docker.io/v1/"), "docker.io");
  assertEquals(normaliseRegistryKey("registry-1.docker.io"), "docker.io");
  assertEquals(normaliseRegistryKey("docker.io"), "docker.io");
  assertEquals(normaliseRegistryKey("http://127.0.0.1:5000/v2/"), "127.0.0.1:5000");
  assertEquals(normaliseRegistryKey("GHCR.io"), "ghcr.io");
});

Deno.test("parseRegistryAuth() decodes auth, username/password and identity tokens", () => {
  const file = parseRegistryAuth(
    JSON.stringify({
      auths: {
        "127.0.0.1:5000": { auth: b64("alice:pa:ss") },
        "https://index.docker.io/v1/": { identitytoken: "tok-123456" },
        "old.example": { username: "bob", password: "hunter22" },
        "empty.example": {},
      },
    }),
    "/x/config.json",
  );
  assertEquals(credentialsFor(file, "127.0.0.1:5000"), {
    kind: "basic",
    username: "alice",
    password: "pa:ss",
  });
  assertEquals(credentialsFor(file, "docker.io"), {
    kind: "identity-token",
    username: "",
    identityToken: "tok-123456",
  });
  assertEquals(credentialsFor(file, "old.example"), { kind: "basic", username: "bob", password: "hunter22" });
  assertEquals(credentialsFor(file, "empty.example"), null);
  assertEquals(credentialsFor(file, "other.example"), null);
  assertEquals(credentialsFor(null, "docker.io"), null);
});

Deno.test("parseRegistryAuth() refuses bad files in one line naming the field, never quoting a value", () => {
  const secret = "s3cr3t-value";
  const cases: [string, RegExp][] = [
    ["{", /it is not valid JSON/],
    ["[]", /it is not a JSON object/],
    [JSON.stringify({ auths: [] }), /field "auths" must be an object/],
    [JSON.stringify({ auths: { h: "x" } }), /field "auths\["h"\]" must be an object/],
    [JSON.stringify({ auths: { h: { auth: b64(secret) } } }), /\.auth must be base64 of "user:password"/],
    [JSON.stringify({ auths: { h: { auth: "%%%" + secret } } }), /\.auth must be base64/],
    [JSON.stringify({ auths: { h: { password: 12 } } }), /\.password must be a string/],
    [JSON.stringify({ credsStore: 3 }), /field "credsStore" must be a string/],
  ];
  for (const [text, re] of cases) {
    const err = assertThrows(() => parseRegistryAuth(text, "/x/config.json"), RegistryAuthError);
    assertMatch(err.message, /^Cannot use registry auth file "\/x\/config.json": /);
    assertMatch(err.message, re);
    assertNotMatch(err.message, new RegExp(secret));
    assertEquals(err.exitCode, ExitCode.Usage);
  }
});

Deno.test("credentialsFor() refuses registries served by credential helpers berth does not run", () => {
  const file = parseRegistryAuth(
    JSON.stringify({
      auths: { "ghcr.io": { auth: b64("u:p") } },
      credHelpers: { "123.dkr.ecr.us-east-1.amazonaws.com": "ecr-login" },
      credsStore: "desktop",
    }),
    "/x/config.json",
  );
  assertEquals(credentialsFor(file, "ghcr.io"), { kind: "basic", username: "u", password: "p" });
  const helper = assertThrows(
    () => credentialsFor(file, "123.dkr.ecr.us-east-1.amazonaws.com"),
    RegistryAuthError,
  );
  assertMatch(helper.message, /credential helper "docker-credential-ecr-login" \("credHelpers"\)/);
  const store = assertThrows(() => credentialsFor(file, "docker.io"), RegistryAuthError);
  assertMatch(store.message, /store "docker-credential-desktop" \("credsStore"\).*"docker.io"/);
});

Deno.test("credentialSecrets() lists the password, the base64 pair and tokens", () => {
  assertEquals(credentialSecrets({ kind: "basic", username: "alice", password: "pw-1" }), [
    "pw-1",
    b64("alice:pw-1"),
  ]);
  assertEquals(credentialSecrets({ kind: "identity-token", username: "", identityToken: "t0k" }), ["t0k"]);
  assertEquals(credentialSecrets(null), []);
});

Deno.test("readRegistryAuth() names an unreadable file", async () => {
  const err = await assertRejects(
    () => readRegistryAuth("/nonexistent/berth/config.json"),
    RegistryAuthError,
  );
  assertMatch(err.message, /^Cannot read registry auth file "\/nonexistent\/berth\/config.json": /);
});

Deno.test("readRegistryAuth() reads the file `podman login` writes against a real htpasswd registry", async () => {
  const user = { username: "berth-user", password: "Pw-" + crypto.randomUUID() };
  const registry = await startRegistry({ user });
  const dir = await Deno.makeTempDir({ prefix: "berth-auth-test-" });
  try {
    const authfile = join(dir, "config.json");
    const login = await new Deno.Command("podman", {
      args: [
        "login",
        "--authfile",
        authfile,
        "--tls-verify=false",
        "-u",
        user.username,
        "--password-stdin",
        registry.host,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const w = login.stdin.getWriter();
    await w.write(new TextEncoder().encode(user.password));
    await w.close();
    const out = await login.output();
    assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
    const file = await readRegistryAuth(authfile);
    assertEquals(credentialsFor(file, registry.host), { kind: "basic", ...user });
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
});
