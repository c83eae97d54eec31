/**
 * A registry image on Singularity/Apptainer (driven through the CLI fixture): fetched by berth from a real
 * docker-registry on loopback, converted once into the SIF cache under its config digest, shared with the same
 * image from a tarball, and found again offline under the pull policy.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { startRegistry } from "../helpers/registry.ts";
import { testImage } from "../images/mod.ts";
import {
  buildLogLines,
  FIXTURE_BIN,
  fixtureExecutor,
  recordingLog,
  singularityTargets,
  testHostEnv,
} from "../fixtures/singularity/mod.ts";
import { convertImage } from "../../src/executor/singularity/convert.ts";
import { obtainRegistrySif } from "../../src/executor/singularity/registry_sif.ts";
import {
  ImageAbsentError,
  isSifFile,
  parseRegistryReference,
  type PullPolicy,
  type RegistryReference,
} from "../../src/image/mod.ts";

function ref(text: string): RegistryReference {
  const r = parseRegistryReference(text);
  if (!r.ok) throw new Error(r.problem);
  return r.reference;
}

Deno.test({
  name:
    "obtainRegistrySif() converts a registry image once, shares it with its tarball, and finds it offline",
  sanitizeResources: false,
  async fn() {
    const registry = await startRegistry();
    let registryUp = true;
    const root = await Deno.makeTempDir({ prefix: "berth-registry-sif-" });
    const cacheDir = join(root, "cache");
    const buildLog = join(root, "builds.log");
    const hostEnv = testHostEnv({ BERTH_FIXTURE_BUILD_LOG: buildLog });
    const obtain = (text: string, policy: PullPolicy, log: (m: string) => void) =>
      obtainRegistrySif({
        reference: ref(text),
        policy,
        credentials: null,
        insecure: true,
        cacheDir,
        localDir: root,
        log,
        convert: (tarball, dst) =>
          convertImage({
            engine: { engine: "singularity", path: FIXTURE_BIN.singularity },
            tarball,
            dst,
            workParent: root,
            hostEnv,
            log,
          }),
      });
    try {
      const image = await testImage("multilayer");
      const pushed = await registry.push("multilayer", "sif");
      const first = recordingLog();
      const got = await obtain(`docker://${pushed.reference}`, "missing", first.log);
      assertEquals(got.id, image.id);
      assertEquals(got.manifestDigest, pushed.digest);
      assertEquals(got.config.config?.WorkingDir, "/work");
      assertEquals(got.sif, join(cacheDir, `sha256-${image.id.slice(7)}.sif`));
      assert((await Deno.stat(got.sif)).isFile);
      assertEquals((await buildLogLines(buildLog)).length, 1);
      assert(first.lines.some((l) => l.startsWith("Fetching 2 layers")), first.lines.join("\n"));

      // The same image from its tarball: a cache hit, no second conversion.
      const tarballLog = recordingLog();
      const executor = await fixtureExecutor("singularity", root, {
        imageCache: cacheDir,
        hostEnv,
        log: tarballLog.log,
      });
      try {
        await executor.loadImage(image.id, image.path);
      } finally {
        await executor.close();
      }
      assertEquals((await buildLogLines(buildLog)).length, 1, tarballLog.lines.join("\n"));
      assert(tarballLog.lines.some((l) => l.startsWith("Using cached image")), tarballLog.lines.join("\n"));

      // Offline: the registry is gone; the tag and the digest are still found, another tag is not.
      await registry.close();
      registryUp = false;
      for (
        const [text, policy] of [
          [`docker://${pushed.reference}`, "missing"],
          [`docker://${pushed.reference}`, "never"],
          [`docker://${registry.host}/${pushed.repository}@${pushed.digest}`, "never"],
        ] as const
      ) {
        const offline = recordingLog();
        const again = await obtain(text, policy, offline.log);
        assertEquals(again.sif, got.sif);
        assertEquals(again.manifestDigest, pushed.digest);
        assertEquals(again.config, got.config);
        assert(offline.lines.some((l) => /not contacting the registry/.test(l)), offline.lines.join("\n"));
      }
      // A record anyone could have written is not believed (sec's trust rules for the cache).
      for (const e of Deno.readDirSync(join(cacheDir, "refs"))) {
        await Deno.chmod(join(cacheDir, "refs", e.name), 0o666);
      }
      await assertRejects(() => obtain(`docker://${pushed.reference}`, "never", () => {}), ImageAbsentError);
      const absent = await assertRejects(
        () => obtain(`docker://${registry.host}/${pushed.repository}:other`, "never", () => {}),
        ImageAbsentError,
      );
      assertMatch(absent.message, /is not in the image cache ".*" and --pull never forbids fetching it/);
      assertEquals((await buildLogLines(buildLog)).length, 1);
      // Nothing of the conversion is left beside the cache.
      const left = [...Deno.readDirSync(root)].map((e) => e.name).sort();
      assertEquals(left, ["builds.log", "cache"]);
    } finally {
      if (registryUp) await registry.close();
      await Deno.remove(root, { recursive: true });
    }
  },
});

// The real programs (BERTH_SINGULARITY_BINARIES, or on PATH): the archive berth writes is what they convert, and
// what they build is a SIF by content (the fixture's squashfs is not).
for (const target of (await singularityTargets()).filter((t) => !t.label.endsWith("(fixture)"))) {
  Deno.test({
    name: `obtainRegistrySif() with ${target.label}: the registry image converts and runs, whiteouts applied`,
    ignore: target.binary === null,
    sanitizeResources: false,
    async fn() {
      const registry = await startRegistry();
      const root = await Deno.makeTempDir({ prefix: "berth-registry-sif-real-" });
      try {
        const pushed = await registry.push("multilayer", "real");
        const log = recordingLog();
        const got = await obtainRegistrySif({
          reference: ref(`docker://${pushed.reference}`),
          policy: "missing",
          credentials: null,
          insecure: true,
          cacheDir: undefined,
          localDir: root,
          log: log.log,
          convert: (tarball, dst) =>
            convertImage({
              engine: { engine: target.engine, path: target.binary! },
              tarball,
              dst,
              workParent: root,
              hostEnv: testHostEnv(),
              log: log.log,
            }),
        });
        assertEquals(await isSifFile(got.sif), true);
        const out = await new Deno.Command(target.binary!, {
          args: [
            "exec",
            "--containall",
            "--cleanenv",
            "--pwd",
            "/",
            got.sif,
            "sh",
            "-c",
            "cat /work/hello.txt; ls /etc",
          ],
          clearEnv: true,
          env: testHostEnv(),
          stdout: "piped",
          stderr: "piped",
        }).output();
        const text = new TextDecoder().decode(out.stdout);
        assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
        assertMatch(text, /^hello from the upper layer\n/);
        assertEquals(/berth-removed/.test(text), false);
        assertMatch(text, /berth-kept/);
      } finally {
        await registry.close();
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
