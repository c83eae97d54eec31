/**
 * Pulls through the Engine API from a real local registry (docker-registry on loopback), on Docker and on
 * Podman: by tag, by digest, a wrong digest, an unreachable registry, and an htpasswd registry with and without
 * credentials. The images were pushed into the registry by Docker (tests/helpers/registry.ts).
 */
import { assert, assertEquals, assertMatch, assertNotMatch, assertRejects } from "../helpers/assert.ts";
import { ENGINE_SOCKETS, engineRequest } from "../helpers/engine_api.ts";
import { freePort, removeRegistryTags, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { EngineTransport } from "../../src/executor/docker/transport.ts";
import { negotiateApiVersion } from "../../src/executor/docker/version.ts";
import {
  findPulledImage,
  prepareRegistryImage,
  pullImage,
  registryAuthHeader,
  repoDigestFor,
} from "../../src/executor/docker/image_pull.ts";
import type { ImageProgress } from "../../src/executor/types.ts";
import {
  ImageAbsentError,
  isInsecureRegistry,
  isLoopbackRegistry,
  parseRegistryReference,
  type PullPolicy,
  type RegistryCredentials,
  RegistryError,
  type RegistryReference,
} from "../../src/image/mod.ts";

type Engine = "docker" | "podman";

async function connect(engine: Engine): Promise<EngineTransport> {
  const api = new EngineTransport(ENGINE_SOCKETS[engine], engine);
  api.apiVersion = negotiateApiVersion(await api.json("GET", "/version", { versioned: false }), engine);
  return api;
}

/** The engine's image names that point into the registry at `host`. */
async function registryTags(engine: Engine, host: string): Promise<string[]> {
  const { json } = await engineRequest(ENGINE_SOCKETS[engine], "GET", "/images/json");
  return (json as { RepoTags?: string[] | null; RepoDigests?: string[] | null }[])
    .flatMap((i) => [...(i.RepoTags ?? []), ...(i.RepoDigests ?? [])])
    .filter((r) => r.includes(`${host}/`));
}

function ref(text: string): RegistryReference {
  const r = parseRegistryReference(text);
  if (!r.ok) throw new Error(r.problem);
  return r.reference;
}

async function pull(
  engine: Engine,
  text: string,
  extra: { credentials?: RegistryCredentials | null; log?: string[]; progress?: ImageProgress[] } = {},
) {
  const api = await connect(engine);
  try {
    return await pullImage(api, {
      engine,
      reference: ref(text),
      credentials: extra.credentials ?? null,
      insecure: true,
      log: (m) => extra.log?.push(m),
      onProgress: (p) => extra.progress?.push(p),
    });
  } finally {
    api.close();
  }
}

Deno.test("registryAuthHeader() encodes the auth config both engines decode", () => {
  const header = registryAuthHeader({ kind: "basic", username: "u", password: "p?>" }, "h:1");
  assertNotMatch(header, /[+/]/);
  const json = JSON.parse(atob(header.replaceAll("-", "+").replaceAll("_", "/")));
  assertEquals(json, { username: "u", password: "p?>", serveraddress: "h:1" });
});

Deno.test("repoDigestFor() finds the digest of the reference's repository in both engines' spellings", () => {
  const d1 = "sha256:" + "1".repeat(64);
  const d2 = "sha256:" + "2".repeat(64);
  assertEquals(repoDigestFor([`busybox@${d1}`], ref("docker://docker.io/library/busybox:1")), d1);
  assertEquals(repoDigestFor([`docker.io/library/busybox@${d1}`], ref("docker://busybox")), d1);
  assertEquals(
    repoDigestFor([`other/x@${d1}`, `127.0.0.1:5/a/b@${d2}`], ref("docker://127.0.0.1:5/a/b")),
    d2,
  );
  assertEquals(repoDigestFor([`a/b@${d1}`, `a/b@${d2}`], ref(`docker://a/b@${d2}`)), d2);
  assertEquals(repoDigestFor([], ref("docker://a/b")), "");
});

for (const engine of ["docker", "podman"] as const) {
  Deno.test({
    name: `pullImage() on ${engine}: by tag, by digest, wrong digest, unreachable registry`,
    sanitizeResources: false,
    async fn() {
      let registry: TestRegistry | null = null;
      try {
        registry = await startRegistry();
        const pushed = await registry.push("busybox", "t1");
        const log: string[] = [];
        const progress: ImageProgress[] = [];
        const byTag = await pull(engine, `docker://${pushed.reference}`, { log, progress });
        assertEquals(byTag.id, pushed.id);
        assertEquals(byTag.manifestDigest, pushed.digest);
        assertEquals(byTag.config.config?.Cmd, ["sh"]);
        assert(log.some((l) => l.startsWith(`Pulling image "${pushed.reference}"`)), log.join("\n"));
        assert(log.some((l) => l.includes(`manifest digest ${pushed.digest}`)), log.join("\n"));

        const byDigest = await pull(
          engine,
          `docker://${registry.host}/${pushed.repository}@${pushed.digest}`,
        );
        assertEquals(byDigest.id, pushed.id);
        assertEquals(byDigest.manifestDigest, pushed.digest);

        const api = await connect(engine);
        try {
          const found = await findPulledImage(api, ref(`docker://${pushed.reference}`));
          assertEquals(found?.manifestDigest, pushed.digest);
          assertEquals(
            await findPulledImage(api, ref(`docker://${registry.host}/${pushed.repository}:nope`)),
            null,
          );
        } finally {
          api.close();
        }

        const wrong = "sha256:" + "0".repeat(64);
        const err = await assertRejects(
          () => pull(engine, `docker://${registry!.host}/${pushed.repository}@${wrong}`),
          RegistryError,
        );
        assertMatch(
          err.message,
          new RegExp(`^Cannot pull image "${registry.host}/${pushed.repository}@${wrong}": `),
        );
        assertEquals(err.unreachable, false);
        assertEquals(err.message.includes("\n"), false);

        if (engine === "docker") {
          // Podman retries a failed pull three times with growing delays (about 14 s); one such case is enough.
          const missingTag = await assertRejects(
            () => pull(engine, `docker://${registry!.host}/${pushed.repository}:absent`),
            RegistryError,
          );
          assertMatch(missingTag.message, /manifest unknown|not found/i);
        }

        const down = await assertRejects(
          () => pull(engine, `docker://127.0.0.1:${freePort()}/berth/nothing:1`),
          RegistryError,
        );
        assertEquals(down.unreachable, true, down.message);
        assertMatch(down.message, /connection refused/);
      } finally {
        if (registry) {
          await removeRegistryTags(ENGINE_SOCKETS[engine], registry.host);
          await registry.close();
          assertEquals(await registryTags(engine, registry.host), []);
        }
      }
    },
  });

  Deno.test({
    name: `pullImage() on ${engine}: an htpasswd registry wants the credentials, which no message shows`,
    sanitizeResources: false,
    async fn() {
      const user = { username: "berth-puller", password: "Pw-" + crypto.randomUUID() };
      let registry: TestRegistry | null = null;
      try {
        registry = await startRegistry({ user });
        const pushed = await registry.push("busybox", "secret");
        const anonymous = await assertRejects(
          () => pull(engine, `docker://${pushed.reference}`),
          RegistryError,
        );
        assertMatch(anonymous.message, /unauthorized|authentication required|no basic auth/i);
        const wrongUser = { kind: "basic" as const, username: user.username, password: "wrong-password-1" };
        const refused = await assertRejects(
          () => pull(engine, `docker://${pushed.reference}`, { credentials: wrongUser }),
          RegistryError,
        );
        assertNotMatch(refused.message, /wrong-password-1/);
        const log: string[] = [];
        const pulled = await pull(engine, `docker://${pushed.reference}`, {
          credentials: { kind: "basic", ...user },
          log,
        });
        assertEquals(pulled.id, pushed.id);
        assertEquals(pulled.manifestDigest, pushed.digest);
        const all = [anonymous.message, refused.message, ...log].join("\n");
        assertNotMatch(all, new RegExp(user.password));
        assertNotMatch(all, new RegExp(btoa(`${user.username}:${user.password}`)));
      } finally {
        if (registry) {
          await removeRegistryTags(ENGINE_SOCKETS[engine], registry.host);
          await registry.close();
          assertEquals(await registryTags(engine, registry.host), []);
        }
      }
    },
  });
}

Deno.test("isLoopbackRegistry() and isInsecureRegistry() know the registries spoken to over plain HTTP", () => {
  for (const r of ["127.0.0.1:5000", "127.1.2.3", "localhost", "localhost:5000", "[::1]:5000"]) {
    assertEquals(isLoopbackRegistry(r), true, r);
  }
  for (const r of ["10.0.0.1:5000", "ghcr.io", "localhost.example", "docker.io"]) {
    assertEquals(isLoopbackRegistry(r), false, r);
  }
  assertEquals(isInsecureRegistry("127.0.0.1:5000", []), true);
  assertEquals(isInsecureRegistry("Registry.Example:5000", ["registry.example:5000"]), true);
  assertEquals(isInsecureRegistry("registry.example", ["registry.example:5000"]), false);
});

for (const engine of ["docker", "podman"] as const) {
  Deno.test({
    name:
      `prepareRegistryImage() on ${engine}: --pull never refuses, missing pulls once, then needs no registry`,
    sanitizeResources: false,
    async fn() {
      const registry = await startRegistry();
      let closed = false;
      const prepare = async (text: string, policy: PullPolicy, log: string[] = []) => {
        const api = await connect(engine);
        try {
          return await prepareRegistryImage(api, {
            engine,
            reference: ref(text),
            credentials: null,
            insecure: true,
            policy,
            log: (m) => log.push(m),
          });
        } finally {
          api.close();
        }
      };
      try {
        const pushed = await registry.push("busybox", "policy");
        const text = `docker://${pushed.reference}`;
        const never = await assertRejects(() => prepare(text, "never"), ImageAbsentError);
        assertEquals(never.exitCode, 2);
        assertMatch(never.message, /--pull never forbids fetching it: run "berth pull"/);
        const first: string[] = [];
        assertEquals((await prepare(text, "missing", first)).manifestDigest, pushed.digest);
        assert(first.some((l) => l.startsWith("Pulling image")), first.join("\n"));
        await registry.close();
        closed = true;
        for (
          const [t, policy] of [
            [text, "missing"],
            [text, "never"],
            [`docker://${registry.host}/${pushed.repository}@${pushed.digest}`, "never"],
          ] as const
        ) {
          const log: string[] = [];
          const found = await prepare(t, policy, log);
          assertEquals(found.id, pushed.id);
          assertEquals(found.manifestDigest, pushed.digest);
          assert(
            log.some((l) => /is already in the engine.*not contacting the registry/.test(l)),
            log.join("\n"),
          );
          assert(!log.some((l) => l.startsWith("Pulling image")), log.join("\n"));
        }
        if (engine === "docker") {
          // The policy logic is engine-neutral; Podman's unreachable pull (14 s of retries) is tested above.
          const always = await assertRejects(() => prepare(text, "always"), RegistryError);
          assertEquals(always.unreachable, true, always.message);
        }
      } finally {
        await removeRegistryTags(ENGINE_SOCKETS[engine], registry.host);
        if (!closed) await registry.close();
        assertEquals(await registryTags(engine, registry.host), []);
      }
    },
  });
}
