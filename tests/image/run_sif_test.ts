/**
 * A SIF file as `container_image`, end to end, on the real Singularity/Apptainer programs named by
 * `BERTH_SINGULARITY_BINARIES` (ignored, by name, when none is): the file is run as it is (no conversion, no copy
 * into the cache), its sha256 is the recorded image ID, and the image's environment applies.
 */
import { dirname, join } from "node:path";
import { assertEquals } from "../helpers/assert.ts";
import { assertFinalState, runBerthE2e, withWorkspace } from "../e2e/_harness.ts";
import { namedRealBinaries } from "../fixtures/singularity/mod.ts";
import { buildRealSif } from "./_real_sif.ts";
import { isSifFile, sha256File } from "../../src/image/mod.ts";

const real = namedRealBinaries();

Deno.test({
  name: `berth run of a SIF file on a real Singularity/Apptainer (${real.join(", ") || "none named"})`,
  ignore: real.length === 0,
  sanitizeResources: false,
  async fn() {
    for (const binary of real) {
      await withWorkspace(null, "sif-real", async (ws) => {
        const sif = await buildRealSif(binary, "multilayer", join(ws.root, "multilayer.img"));
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
            "singularity",
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
    }
  },
});
