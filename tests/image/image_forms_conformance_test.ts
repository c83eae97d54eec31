/**
 * The image forms against every executor, in the conformance suite's manner (one behavioural case, the same for
 * each implementation, through the executor interface only): the same image as a tarball, as a registry image by
 * tag and by digest (a real docker-registry on loopback), and as a SIF file where the engine runs SIF files,
 * gives the same image ID and config and the same job result; Docker and Podman refuse a SIF file without
 * creating anything.
 */
import { join } from "node:path";
import { assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { plainSpec, TEST_PATH } from "../helpers/container_spec.ts";
import { ENGINE_SOCKETS } from "../helpers/engine_api.ts";
import { removeRegistryTags, startRegistry } from "../helpers/registry.ts";
import { FIXTURE_BIN, fixtureExecutor, namedRealBinaries } from "../fixtures/singularity/mod.ts";
import { testImage } from "../images/mod.ts";
import { buildSif } from "./_sif.ts";
import { createDockerExecutor } from "../../src/executor/docker/mod.ts";
import { createSingularityExecutor } from "../../src/executor/singularity/mod.ts";
import type { ContainerExecutor, LogFn } from "../../src/executor/types.ts";
import { ImageError } from "../../src/errors.ts";
import {
  type ImageSource,
  parseRegistryReference,
  type PrepareImageOptions,
  readImageManifest,
  SIF_MAGIC,
} from "../../src/image/mod.ts";
import { imageDefaults } from "../../src/runner/container_spec.ts";

interface Target {
  label: string;
  socket: string | null;
  make(log: LogFn, tmp: string): Promise<ContainerExecutor>;
  /** A SIF file this engine can run, built from the test image, or null when it runs none. */
  sif(tmp: string): Promise<string | null>;
}

const realSingularity = namedRealBinaries();
const TARGETS: Target[] = [
  ...(["docker", "podman"] as const).map((engine): Target => ({
    label: engine,
    socket: ENGINE_SOCKETS[engine],
    make: (log) =>
      Promise.resolve(createDockerExecutor({ engine, socket: ENGINE_SOCKETS[engine], hostEnv: {}, log })),
    sif: () => Promise.resolve(null),
  })),
  {
    label: "singularity (fixture)",
    socket: null,
    make: (log, tmp) => fixtureExecutor("singularity", tmp, { log, imageCache: join(tmp, "cache") }),
    // The fixture's build writes SIF-shaped files (the real global header, then the squashfs partition).
    sif: (tmp) => buildSif(FIXTURE_BIN.singularity, "multilayer", join(tmp, "multilayer.sif")),
  },
  ...realSingularity.map((binary): Target => ({
    label: `singularity (${binary})`,
    socket: null,
    make: (log, tmp) =>
      createSingularityExecutor({
        engine: "singularity",
        binary,
        tmpDir: tmp,
        imageCache: join(tmp, "cache"),
        hostEnv: { PATH: "/usr/local/bin:/usr/bin:/bin" },
        log,
      }),
    sif: (tmp) => buildSif(binary, "multilayer", join(tmp, "multilayer.sif")),
  })),
];

/** Runs the probe job on a prepared image, the runner's way (SEAMS 3: the image's defaults resolved into the spec). */
async function runJob(ex: ContainerExecutor, id: string, config: Parameters<typeof imageDefaults>[0]) {
  const image = imageDefaults(config);
  const chunks: Uint8Array[] = [];
  await ex.create(plainSpec({
    name: `berth-forms-${crypto.randomUUID().slice(0, 8)}`,
    image: id,
    command: [
      ...image.entrypoint,
      "sh",
      "-c",
      "cat /etc/berth-kept; ls /etc | grep -c berth-removed; pwd; echo $X",
    ],
    workingDir: image.workingDir || "/",
    env: { PATH: TEST_PATH, ...image.env, X: "job" },
    stdout: new WritableStream({ write: (c) => void chunks.push(c.slice()) }),
    stderr: new WritableStream(),
  }));
  await ex.start();
  const code = await ex.wait();
  return { code, out: new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))) };
}

for (const target of TARGETS) {
  Deno.test({
    name: `[${target.label}] every image form gives the tarball's image and result`,
    sanitizeResources: false,
    async fn() {
      const registry = await startRegistry();
      const tmp = await Deno.makeTempDir({ prefix: "berth-forms-" });
      try {
        const tarball = await testImage("multilayer");
        const pushed = await registry.push("multilayer", "forms");
        const ref = (text: string) => {
          const r = parseRegistryReference(text);
          if (!r.ok) throw new Error(r.problem);
          return r.reference;
        };
        const forms: [string, ImageSource][] = [
          ["tarball", {
            kind: "tarball",
            path: tarball.path,
            manifest: await readImageManifest(tarball.path),
          }],
          ["registry tag", { kind: "registry", reference: ref(`docker://${pushed.reference}`) }],
          [
            "registry digest",
            {
              kind: "registry",
              reference: ref(`docker://${registry.host}/${pushed.repository}@${pushed.digest}`),
            },
          ],
        ];
        const options: PrepareImageOptions = {
          pull: "always",
          credentials: null,
          insecureRegistries: [registry.host],
        };
        const results: string[] = [];
        for (const [label, source] of forms) {
          const ex = await target.make(() => {}, tmp);
          try {
            const prepared = await ex.prepareImage(source, options);
            assertEquals(prepared.id, tarball.id, label);
            if (source.kind === "registry") assertEquals(prepared.manifestDigest, pushed.digest, label);
            const { code, out } = await runJob(ex, prepared.id, prepared.config);
            assertEquals(code, 0, `${label}: ${out}`);
            results.push(out);
          } finally {
            await ex.close();
          }
        }
        assertEquals(results[0], "kept\n0\n/work\njob\n");
        assertEquals(results, [results[0], results[0], results[0]]);

        const sif = await target.sif(tmp);
        const ex = await target.make(() => {}, tmp);
        try {
          const path = sif ?? join(tmp, "not-run.sif");
          if (sif === null && target.socket !== null) {
            const head = new Uint8Array(64);
            head.set(SIF_MAGIC, 32);
            await Deno.writeFile(path, head);
            const err = await assertRejects(
              () => ex.prepareImage({ kind: "sif", path }, options),
              ImageError,
            );
            assertMatch(err.message, /cannot run the SIF file/);
          } else if (sif !== null) {
            const prepared = await ex.prepareImage({ kind: "sif", path: sif }, options);
            assertEquals(prepared.sifSha256, prepared.id);
            // A SIF carries its own environment but no Docker config: the job's cwd decides, here "/".
            const { code, out } = await runJob(ex, prepared.id, prepared.config);
            assertEquals([code, out], [0, "kept\n0\n/\njob\n"]);
          }
        } finally {
          await ex.close();
        }
      } finally {
        await registry.close();
        if (target.socket) await removeRegistryTags(target.socket, registry.host);
        await Deno.remove(tmp, { recursive: true });
      }
    },
  });
}
