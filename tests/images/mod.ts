/**
 * Test images for berth's tests: paths and IDs of the docker-save tarballs that `scripts/build-test-images`
 * writes into `tests/.images/`, and a builder for big images on demand.
 * @module
 */

import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { buildImage, type BuiltImage } from "./builder.ts";
import { bigImage as bigImageDefinition, type TestImageName } from "./catalog.ts";

export type { BuiltImage, TestImageName };

/** The directory holding the built test images. */
export const IMAGES_DIR: string = join(fileURLToPath(new URL(".", import.meta.url)), "..", ".images");

let index: Record<string, BuiltImage> | undefined;

/**
 * Path, ID and tag of a prebuilt test image.
 * @throws {Error} telling how to build the images when they are missing.
 */
export async function testImage(name: TestImageName): Promise<BuiltImage> {
  if (!index) {
    try {
      index = JSON.parse(await Deno.readTextFile(join(IMAGES_DIR, "index.json")));
    } catch {
      throw new Error(
        `Test images are missing in "${IMAGES_DIR}": run "bash scripts/build-test-images" first`,
      );
    }
  }
  const image = index![name];
  if (!image) throw new Error(`No test image "${name}" in "${IMAGES_DIR}/index.json"`);
  return image;
}

/** Builds (or reuses) a test image whose upper layer holds `sizeMiB` MiB of incompressible data. */
export async function bigTestImage(sizeMiB: number): Promise<BuiltImage> {
  const path = join(IMAGES_DIR, `big${sizeMiB}.tar`);
  const stampPath = `${path}.json`;
  try {
    const stamp = JSON.parse(await Deno.readTextFile(stampPath)) as BuiltImage;
    await Deno.stat(path);
    return stamp;
  } catch {
    await Deno.mkdir(IMAGES_DIR, { recursive: true });
    const built = await buildImage(await bigImageDefinition(sizeMiB), path);
    await Deno.writeTextFile(stampPath, JSON.stringify(built));
    return built;
  }
}
