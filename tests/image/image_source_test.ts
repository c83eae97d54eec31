import { join } from "node:path";
import { assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { testImage } from "../images/mod.ts";
import { JobFileError } from "../../src/errors.ts";
import { SIF_MAGIC } from "../../src/image/mod.ts";
import { parseImageRef } from "../../src/job/mod.ts";
import { resolveImageSource } from "../../src/runner/image.ts";

function imageRef(text: string, jobPath = "/jobs/j.json") {
  const r = parseImageRef(text, jobPath);
  if (!r.ok) throw new Error(r.problem);
  return r.image;
}

Deno.test("resolveImageSource() tells a SIF from a tarball by content and refuses a SIF for Docker/Podman", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-image-source-" });
  try {
    const busybox = await testImage("busybox");
    const tarNamedSif = join(dir, "busybox.sif");
    await Deno.copyFile(busybox.path, tarNamedSif);
    const tar = await resolveImageSource(imageRef(tarNamedSif), "/jobs/j.json", "", "docker");
    assertEquals(tar.kind, "tarball");
    if (tar.kind === "tarball") assertEquals(tar.manifest.id, busybox.id);

    const sif = join(dir, "image.tar");
    const head = new Uint8Array(4096);
    head.set(new TextEncoder().encode("#!/usr/bin/env run-singularity\n"));
    head.set(SIF_MAGIC, 32);
    await Deno.writeFile(sif, head);
    for (const engine of ["singularity", "apptainer", "auto"] as const) {
      assertEquals(await resolveImageSource(imageRef(sif), "/jobs/j.json", "", engine), {
        kind: "sif",
        path: sif,
      });
    }
    for (const engine of ["docker", "podman"] as const) {
      const err = await assertRejects(
        () => resolveImageSource(imageRef(sif), "/jobs/j.json", "", engine),
        JobFileError,
      );
      assertEquals(err.exitCode, 2);
      assertEquals(err.field, "container_image");
      assertMatch(err.message, new RegExp(`names the SIF file ".*image\\.tar", which ${engine} cannot run`));
    }

    const junk = join(dir, "junk.img");
    await Deno.writeTextFile(junk, "neither a tarball nor a SIF\n");
    const bad = await assertRejects(
      () => resolveImageSource(imageRef(junk), "/jobs/j.json", "", "auto"),
      JobFileError,
    );
    assertMatch(bad.message, /field "container_image" names an unusable image: /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolveImageSource() passes a registry reference on without touching the network", async () => {
  const source = await resolveImageSource(
    imageRef("docker://127.0.0.1:9/x/y:t"),
    "/jobs/j.json",
    "",
    "docker",
  );
  assertEquals(source, {
    kind: "registry",
    reference: { registry: "127.0.0.1:9", repository: "x/y", tag: "t", digest: "" },
  });
});
