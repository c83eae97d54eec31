/**
 * The definitions of berth's test images. `build.ts` writes them; `mod.ts` finds them for tests.
 * @module
 */

import { busyboxRootfs, IMAGE_PATH, type ImageDefinition } from "./builder.ts";

/** Names of the test images built by `scripts/build-test-images`. */
export type TestImageName = "busybox" | "multilayer" | "truncated" | "badlayer";

/** `busybox`: a static busybox with its applet links and `Env PATH=...`. */
export async function busyboxImage(): Promise<ImageDefinition> {
  return {
    repoTag: "berth-test/busybox:latest",
    layers: [await busyboxRootfs()],
    config: { Env: [IMAGE_PATH], Cmd: ["sh"] },
  };
}

/**
 * `multilayer`: busybox plus a file that the upper layer deletes with a whiteout (`/etc/berth-removed`), and image
 * defaults berth must honour: `WorkingDir /work`, an extra `Env`, and the non-root `User 1000:1000`.
 */
export async function multilayerImage(): Promise<ImageDefinition> {
  const lower = await busyboxRootfs();
  lower.push({ type: "file", path: "etc/berth-removed", data: "this file is deleted by the upper layer\n" });
  lower.push({ type: "file", path: "etc/berth-kept", data: "kept\n" });
  return {
    repoTag: "berth-test/multilayer:latest",
    layers: [lower, [
      { type: "dir", path: "etc" },
      { type: "file", path: "etc/.wh.berth-removed", data: "" },
      { type: "dir", path: "work", mode: 0o755, uid: 1000, gid: 1000 },
      { type: "file", path: "work/hello.txt", data: "hello from the upper layer\n", uid: 1000, gid: 1000 },
      {
        type: "file",
        path: "etc/passwd",
        data: "root:x:0:0:root:/root:/bin/sh\nberth:x:1000:1000:berth:/work:/bin/sh\n" +
          "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
      },
    ]],
    config: {
      Env: [IMAGE_PATH, "BERTH_IMAGE_VAR=from-image"],
      Cmd: ["sh"],
      WorkingDir: "/work",
      User: "1000:1000",
    },
  };
}

/** A one-layer image whose layer holds `sizeMiB` MiB of incompressible bytes, for load and memory tests. */
export async function bigImage(sizeMiB: number): Promise<ImageDefinition> {
  return {
    repoTag: `berth-test/big${sizeMiB}:latest`,
    layers: [await busyboxRootfs(), [{
      type: "bigfile",
      path: "data/blob",
      size: sizeMiB << 20,
      seed: sizeMiB,
    }]],
    config: { Env: [IMAGE_PATH], Cmd: ["sh"] },
  };
}

/**
 * `badlayer`: a well-formed docker-save archive (manifest, config, one layer entry) whose layer is not a tar
 * archive: only an engine (or a converter) unpacking the layer finds the damage.
 */
export function badLayerImage(): ImageDefinition {
  return {
    repoTag: "berth-test/badlayer:latest",
    layers: [new TextEncoder().encode("this is not a tar archive\n".repeat(200))],
    config: { Env: [IMAGE_PATH], Cmd: ["sh"] },
  };
}
