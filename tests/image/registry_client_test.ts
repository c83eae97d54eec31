/**
 * berth's own registry reader against a real docker-registry on loopback: resolving tags, digests and
 * multi-platform indexes, Basic auth (htpasswd), verification of every byte, and the docker-save archive it writes
 * (which must read back as the very image that was pushed: same image ID, same layer diff IDs).
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertNotMatch, assertRejects } from "../helpers/assert.ts";
import { freePort, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import { testImage } from "../images/mod.ts";
import {
  parseRegistryReference,
  readImageManifest,
  type RegistryCredentials,
  RegistryError,
  type RegistryReference,
  sha256Of,
} from "../../src/image/mod.ts";
import { parseChallenge, RegistryClient } from "../../src/image/registry_client.ts";
import { tarFileHeader, writeRegistryArchive } from "../../src/image/registry_archive.ts";

function ref(text: string): RegistryReference {
  const r = parseRegistryReference(text);
  if (!r.ok) throw new Error(r.problem);
  return r.reference;
}

function client(
  text: string,
  credentials: RegistryCredentials | null = null,
  insecure = true,
): RegistryClient {
  return new RegistryClient(ref(text), { credentials, insecure });
}

async function withRegistry(
  fn: (r: TestRegistry, dir: string) => Promise<void>,
  user?: { username: string; password: string },
): Promise<void> {
  const registry = await startRegistry({ user });
  const dir = await Deno.makeTempDir({ prefix: "berth-registry-client-" });
  try {
    await fn(registry, dir);
  } finally {
    await registry.close();
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("parseChallenge() reads Bearer and Basic challenges", () => {
  assertEquals(
    parseChallenge(
      'Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull"',
    ),
    {
      scheme: "bearer",
      params: {
        realm: "https://auth.example/token",
        service: "registry.example",
        scope: "repository:a/b:pull",
      },
    },
  );
  assertEquals(parseChallenge('Basic realm="berth-test"'), {
    scheme: "basic",
    params: { realm: "berth-test" },
  });
  assertEquals(parseChallenge(""), { scheme: "", params: {} });
});

Deno.test("tarFileHeader() writes ustar sizes in octal and huge sizes in base-256", () => {
  const small = tarFileHeader("a/layer.tar", 1234);
  assertEquals(new TextDecoder().decode(small.subarray(124, 135)), (1234).toString(8).padStart(11, "0"));
  assertEquals(new TextDecoder().decode(small.subarray(257, 263)), "ustar\0");
  const big = tarFileHeader("a/layer.tar", 2 ** 40);
  assertEquals(big[124], 0x80);
  assertEquals(big[130], 1); // 2^40 = 0x01 followed by five zero bytes, in the last 11 bytes of the field
});

Deno.test({
  name: "RegistryClient resolves by tag and digest and writes an archive that is the pushed image",
  sanitizeResources: false,
  async fn() {
    await withRegistry(async (registry, dir) => {
      const image = await testImage("multilayer");
      const pushed = await registry.push("multilayer", "t1");
      const byTag = await client(`docker://${pushed.reference}`).resolve();
      assertEquals(byTag.manifestDigest, pushed.digest);
      assertEquals(byTag.id, image.id);
      assertEquals(byTag.config.config?.WorkingDir, "/work");
      assertEquals(byTag.manifest.layers.length, 2);
      const byDigestClient = client(`docker://${registry.host}/${pushed.repository}@${pushed.digest}`);
      const byDigest = await byDigestClient.resolve();
      assertEquals(byDigest.id, image.id);
      assertEquals(byDigest.manifestDigest, pushed.digest);

      const archive = join(dir, "image.tar");
      const progress: number[] = [];
      await writeRegistryArchive({
        image: byDigest,
        client: byDigestClient,
        dst: archive,
        onProgress: (p) => progress.push(p.done / p.total),
      });
      const written = await readImageManifest(archive);
      const original = await readImageManifest(image.path);
      assertEquals(written.id, original.id);
      assertEquals(written.config.rootfs?.diff_ids, original.config.rootfs?.diff_ids);
      assertEquals(written.layers.length, 2);
      assertEquals(progress[progress.length - 1], 1);

      const wrong = "sha256:" + "0".repeat(64);
      const missing = await assertRejects(
        () => client(`docker://${registry.host}/${pushed.repository}@${wrong}`).resolve(),
        RegistryError,
      );
      assertMatch(missing.message, /HTTP 404 MANIFEST_UNKNOWN/);
      assertEquals(missing.unreachable, false);
    });
  },
});

Deno.test({
  name: "RegistryClient picks this platform's manifest from an index and records the index digest",
  sanitizeResources: false,
  async fn() {
    await withRegistry(async (registry) => {
      const pushed = await registry.push("busybox", "single");
      const platform = await client(`docker://${pushed.reference}`).resolve();
      const index = {
        schemaVersion: 2,
        mediaType: "application/vnd.oci.image.index.v1+json",
        manifests: [
          {
            mediaType: platform.manifest.mediaType,
            digest: pushed.digest,
            size: 1,
            platform: { os: "linux", architecture: "s390x" },
          },
          {
            mediaType: platform.manifest.mediaType,
            digest: pushed.digest,
            size: 1,
            platform: { os: "linux", architecture: "amd64" },
          },
        ],
      };
      const body = new TextEncoder().encode(JSON.stringify(index));
      const put = await fetch(`http://${registry.host}/v2/${pushed.repository}/manifests/multi`, {
        method: "PUT",
        body,
        headers: { "Content-Type": index.mediaType },
      });
      await put.body?.cancel();
      assertEquals(put.status, 201);
      const resolved = await new RegistryClient(ref(`docker://${registry.host}/${pushed.repository}:multi`), {
        credentials: null,
        insecure: true,
        platform: { os: "linux", architecture: "amd64" },
      }).resolve();
      assertEquals(resolved.manifestDigest, sha256Of(body));
      assertEquals(resolved.id, pushed.id);
      const none = await assertRejects(
        () =>
          new RegistryClient(ref(`docker://${registry.host}/${pushed.repository}:multi`), {
            credentials: null,
            insecure: true,
            platform: { os: "linux", architecture: "riscv64" },
          }).resolve(),
        RegistryError,
      );
      assertMatch(none.message, /no manifest for linux\/riscv64 \(it has: linux\/s390x, linux\/amd64\)/);
    });
  },
});

Deno.test({
  name: "RegistryClient refuses a layer whose bytes do not match its digest, and leaves no archive",
  sanitizeResources: false,
  async fn() {
    await withRegistry(async (registry, dir) => {
      const pushed = await registry.push("busybox", "tamper");
      const c = client(`docker://${pushed.reference}`);
      const resolved = await c.resolve();
      const layer = resolved.manifest.layers[0].digest.slice("sha256:".length);
      const data = join(
        registry.dir,
        "data/docker/registry/v2/blobs/sha256",
        layer.slice(0, 2),
        layer,
        "data",
      );
      const bytes = await Deno.readFile(data);
      bytes[bytes.length - 100] ^= 0xff;
      await Deno.writeFile(data, bytes);
      const archive = join(dir, "image.tar");
      const err = await assertRejects(
        () => writeRegistryArchive({ image: resolved, client: c, dst: archive }),
        Error,
      );
      assert(err instanceof RegistryError, `${err.constructor.name}: ${err.message}`);
      assertMatch(err.message, /digest is sha256:[0-9a-f]{64}, not sha256:|not valid gzip/);
      await assertRejects(() => Deno.stat(archive), Deno.errors.NotFound);
    });
  },
});

Deno.test({
  name: "RegistryClient: an unreachable registry and an htpasswd registry without and with credentials",
  sanitizeResources: false,
  async fn() {
    const down = await assertRejects(
      () => client(`docker://127.0.0.1:${freePort()}/berth/none:1`).resolve(),
      RegistryError,
    );
    assertEquals(down.unreachable, true);
    assertMatch(down.message, /cannot reach 127\.0\.0\.1:\d+/);
    const user = { username: "reader", password: "Pw-" + crypto.randomUUID() };
    await withRegistry(async (registry) => {
      const pushed = await registry.push("busybox", "private");
      const anonymous = await assertRejects(
        () => client(`docker://${pushed.reference}`).resolve(),
        RegistryError,
      );
      assertMatch(anonymous.message, /wants basic authentication and no --registry-auth entry names it/);
      const bad = await assertRejects(
        () =>
          client(`docker://${pushed.reference}`, { kind: "basic", username: "reader", password: "nope-1" })
            .resolve(),
        RegistryError,
      );
      assertMatch(bad.message, /HTTP 401.*\(the credentials were refused\)/);
      const ok = await client(`docker://${pushed.reference}`, { kind: "basic", ...user }).resolve();
      assertEquals(ok.manifestDigest, pushed.digest);
      for (const m of [anonymous.message, bad.message]) {
        assertNotMatch(m, new RegExp(user.password));
        assertNotMatch(m, /nope-1/);
      }
    }, user);
  },
});
