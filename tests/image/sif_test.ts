import { join } from "node:path";
import { assertEquals } from "../helpers/assert.ts";
import { hasSifMagic, isSifFile, sha256File, sha256Of, SIF_MAGIC } from "../../src/image/mod.ts";
import { testImage } from "../images/mod.ts";

/**
 * The first bytes of a SIF global header as github.com/sylabs/sif writes them (pkg/sif/create.go): the
 * launch line padded to 32 bytes, "SIF_MAGIC\0", the version "01\0" and the architecture "02\0".
 */
function sifHeader(): Uint8Array {
  const head = new Uint8Array(4096);
  head.set(new TextEncoder().encode("#!/usr/bin/env run-singularity\n"), 0);
  head.set(SIF_MAGIC, 32);
  head.set(new TextEncoder().encode("01\0" + "02\0"), 42);
  return head;
}

Deno.test("hasSifMagic() looks at the magic's place, not at the launch line", () => {
  assertEquals(hasSifMagic(sifHeader()), true);
  const noLaunch = sifHeader();
  noLaunch.fill(0, 0, 32);
  assertEquals(hasSifMagic(noLaunch), true);
  const shifted = new Uint8Array(4096);
  shifted.set(SIF_MAGIC, 33);
  assertEquals(hasSifMagic(shifted), false);
  const noNul = sifHeader();
  noNul[41] = 0x20;
  assertEquals(hasSifMagic(noNul), false);
  assertEquals(hasSifMagic(sifHeader().subarray(0, 41)), false);
});

Deno.test("isSifFile() decides by content whatever the file is called", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-sif-test-" });
  try {
    const sifNamedTar = join(dir, "image.tar");
    await Deno.writeFile(sifNamedTar, sifHeader());
    assertEquals(await isSifFile(sifNamedTar), true);
    const tarNamedSif = join(dir, "image.sif");
    await Deno.copyFile((await testImage("busybox")).path, tarNamedSif);
    assertEquals(await isSifFile(tarNamedSif), false);
    const short = join(dir, "short.sif");
    await Deno.writeFile(short, new TextEncoder().encode("#!/usr/bin/env run-singularity\n"));
    assertEquals(await isSifFile(short), false);
    const empty = join(dir, "empty.sif");
    await Deno.writeFile(empty, new Uint8Array());
    assertEquals(await isSifFile(empty), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sha256File() streams the file and matches a one-shot digest", async () => {
  const image = await testImage("busybox");
  const whole = await Deno.readFile(image.path);
  assertEquals(await sha256File(image.path), sha256Of(whole));
  assertEquals(
    sha256Of(new Uint8Array()),
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  );
});
