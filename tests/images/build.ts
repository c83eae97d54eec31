/**
 * Builds berth's test images into a directory (default `tests/.images`) and writes `index.json` there with each
 * image's path, ID and tag. Run by `scripts/build-test-images`; skips the work when the index is newer than the
 * builder's sources and busybox.
 *
 * Usage: deno run <flags> tests/images/build.ts [OUT_DIR] [--big MiB]...
 * @module
 */

import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { buildImage, type BuiltImage } from "./builder.ts";
import { badLayerImage, bigImage, busyboxImage, multilayerImage } from "./catalog.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { big: { type: "string", multiple: true } },
  allowPositionals: true,
});
const outDir = resolve(positionals[0] ?? "tests/.images");
await Deno.mkdir(outDir, { recursive: true });

const index: Record<string, BuiltImage & { size: number }> = {};
async function add(name: string, built: BuiltImage) {
  index[name] = { ...built, size: (await Deno.stat(built.path)).size };
  console.log(`built ${name}: ${built.path} ${built.id}`);
}

const busybox = await buildImage(await busyboxImage(), join(outDir, "busybox.tar"));
await add("busybox", busybox);
await add("multilayer", await buildImage(await multilayerImage(), join(outDir, "multilayer.tar")));

await add("badlayer", await buildImage(badLayerImage(), join(outDir, "badlayer.tar")));

// truncated: the busybox tarball cut in the middle of a layer.
const truncatedPath = join(outDir, "truncated.tar");
{
  const whole = await Deno.readFile(busybox.path);
  await Deno.writeFile(truncatedPath, whole.subarray(0, Math.floor(whole.length * 0.6)));
}
await add("truncated", { path: truncatedPath, id: busybox.id, repoTag: "berth-test/truncated:latest" });

for (const mib of values.big ?? []) {
  const n = Number(mib);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--big needs a positive integer of MiB, not "${mib}"`);
  await add(`big${n}`, await buildImage(await bigImage(n), join(outDir, `big${n}.tar`)));
}

await Deno.writeTextFile(join(outDir, "index.json"), JSON.stringify(index, null, 2) + "\n");
