/**
 * A SIF file as `container_image`, end to end, on every generation of the Singularity/Apptainer CLI fixture (whose
 * `build` writes SIF-shaped files: the real global header, the squashfs partition at offset 32768) and on the
 * real programs named by `BERTH_SINGULARITY_BINARIES`, each running a SIF it built itself: the file is run as it
 * is (no conversion, no copy into the cache), its sha256 is the recorded image ID, and the image's environment
 * applies.
 */
import { dirname, join } from "node:path";
import { assertEquals } from "../helpers/assert.ts";
import { assertFinalState, runBerthE2e, withWorkspace } from "../e2e/_harness.ts";
import { singularityE2eTargets } from "../fixtures/singularity/mod.ts";
import { buildSif } from "./_sif.ts";
import { isSifFile, sha256File } from "../../src/image/mod.ts";

for (const target of singularityE2eTargets()) {
  const binary = target.binary;
  Deno.test({
    name: `berth run of a SIF file on ${target.label}`,
    sanitizeResources: false,
    async fn() {
      await withWorkspace(null, "sif-file", async (ws) => {
        const sif = await buildSif(binary, "multilayer", join(ws.root, "multilayer.img"));
        assertEquals(await isSifFile(sif), true);
        const sha = await sha256File(sif);
        await ws.writeJob({
          container_image: sif,
          command: ["sh", "-c", "cat /etc/berth-kept; echo $BERTH_IMAGE_VAR"],
          mounts: { "/out": { kind: "tmp" } },
        });
        const r = await runBerthE2e(
          ws.args([
            "--runtime-engine",
            target.engine,
            "--singularity-binary",
            binary,
            "--image-cache",
            ws.tmp,
          ]),
          {
            BERTH_EXTRA_RUN: [Deno.env.get("BERTH_EXTRA_RUN"), binary].filter(Boolean).join(","),
            BERTH_EXTRA_READ: dirname(binary),
          },
        );
        assertEquals(r.code, 0, r.stderr.slice(-1500));
        await assertFinalState(ws, "Complete", 0);
        assertEquals((await ws.state()).image, { id: sha, sif_sha256: sha });
        assertEquals((await ws.read("logs/stdout.txt")).replace(/^\S+ /gm, ""), "kept\nfrom-image\n");
        // Run as it is: nothing was converted or copied into the cache (the tmp dir doubles as the cache here).
        assertEquals([...Deno.readDirSync(ws.tmp)], []);
        assertEquals(await sha256File(sif), sha);
      });
    },
  });
}
