/**
 * A planted SIF in the shared image cache, through `berth run` under the hardened profile (the Singularity CLI
 * fixture converts real images): a file named after busybox's image ID that really holds another image
 * (`multilayer`, whose `/etc/berth-kept` busybox lacks). berth must never run the planted image: it ignores an
 * entry without a trustworthy record and converts busybox again in its place, and it does not use at all a
 * cache directory others may write.
 */

import { join } from "node:path";
import { assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { testImage } from "../images/mod.ts";
import { sifBaseName } from "../../src/executor/singularity/sif_cache.ts";
import { assertFinalState, assertTimestamped, ENGINES, runBerthE2e, withWorkspace } from "../e2e/_harness.ts";

const busybox = await testImage("busybox");
const multilayer = await testImage("multilayer");
const singularity = ENGINES.find((e) => e.name === "singularity")!;

/** Which image the container really ran: multilayer has /etc/berth-kept, busybox does not. */
const WHICH = "if [ -e /etc/berth-kept ]; then echo PLANTED; else echo busybox; fi";

interface PlantCase {
  name: string;
  /** Prepares `cache` (holding `planted`, a multilayer SIF named as busybox's entry); returns berth's cache dir. */
  prepare(cache: string, planted: string): Promise<void>;
  /** The log line that says why the entry or the cache was not used. */
  line: string;
}

const CASES: PlantCase[] = [
  {
    name: "an entry without a record of the image it was built from",
    prepare: () => Promise.resolve(),
    line: "there is no record of the image it was built from; converting it again",
  },
  {
    name: "an entry whose record was copied from another image's",
    prepare: async (cache, planted) => {
      const record = JSON.parse(
        await Deno.readTextFile(join(cache, `${sifBaseName(multilayer.id)}.sif.json`)),
      );
      // The forged record claims busybox and matches the planted file's size and time...
      const info = await Deno.lstat(planted);
      await Deno.writeTextFile(
        `${planted}.json`,
        JSON.stringify({ ...record, image_id: busybox.id, size: info.size, mtime_ms: info.mtime!.getTime() }),
      );
      // ...written by a stranger.
      await Deno.chown(planted, 1500, 1500);
      await Deno.chown(`${planted}.json`, 1500, 1500);
    },
    line: "is owned by uid 1500, neither this user (0), root, nor the cache group; converting it again",
  },
  {
    name: "a cache directory anyone may write",
    prepare: async (cache, planted) => {
      await Deno.chown(planted, 1500, 1500);
      await Deno.chmod(cache, 0o1777);
    },
    line: "it may be written by others (mode 1777); converting into the job's temp dir instead",
  },
];

for (const c of CASES) {
  Deno.test({
    name: `hostile: a planted SIF is not run on ${singularity.label}: ${c.name}`,
    ignore: !singularity.available,
    fn: async () => {
      await withWorkspace(singularity, "planted-sif", async (ws) => {
        const cache = join(ws.root, "cache");
        await Deno.mkdir(cache, { mode: 0o755 });
        await Deno.chmod(cache, 0o755);
        // A genuine conversion of multilayer, then its SIF copied under busybox's name.
        await ws.writeJob({
          container_image: multilayer.path,
          command: ["sh", "-c", WHICH],
          mounts: {
            "/out": { kind: "tmp" },
          },
        });
        const first = await runBerthE2e([
          ...ws.args(["--image-cache", cache]),
          "--work-dir",
          join(ws.root, "w0"),
        ]);
        assertEquals(first.code, 0, first.stderr);
        const planted = join(cache, `${sifBaseName(busybox.id)}.sif`);
        await Deno.copyFile(join(cache, `${sifBaseName(multilayer.id)}.sif`), planted);
        await c.prepare(cache, planted);

        await ws.writeJob({
          container_image: busybox.path,
          command: ["sh", "-c", WHICH],
          mounts: {
            "/out": { kind: "tmp" },
          },
        });
        const r = await runBerthE2e(ws.args(["--image-cache", cache]));
        assertEquals(r.code, 0, r.stderr);
        const log = (await assertFinalState(ws, "Complete", 0)).join("\n");
        assertStringIncludes(log, c.line);
        assertEquals(assertTimestamped(await ws.read("logs/stdout.txt"), "stdout.txt"), ["busybox"]);
        await ws.assertNoLeftovers();
      });
    },
  });
}
