/**
 * SIF files for the tests that need one, built by a real Singularity/Apptainer program or by the CLI fixture
 * (which writes SIF-shaped files: the real global header, then the squashfs partition). @module
 */

import { assertEquals } from "../helpers/assert.ts";
import { testImage, type TestImageName } from "../images/mod.ts";

/** Builds `dst` from a test image with the program `binary` (`build DST docker-archive://TARBALL`). */
export async function buildSif(binary: string, image: TestImageName, dst: string): Promise<string> {
  const out = await new Deno.Command(binary, {
    args: ["build", dst, `docker-archive://${(await testImage(image)).path}`],
    stdout: "null",
    stderr: "piped",
  }).output();
  assertEquals(out.code, 0, new TextDecoder().decode(out.stderr));
  return dst;
}
