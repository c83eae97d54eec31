/**
 * Writes docker-save tarballs directly, without a Docker daemon: berth's test images.
 *
 * Layer tarballs are written to temp files while their sha256 (the diff ID) is computed, then packed into the
 * outer archive with the classic `docker save` layout (`manifest.json`, `<config digest>.json`,
 * `<layer id>/layer.tar`, `<layer id>/VERSION`, `<layer id>/json`, `repositories`). The image ID is the sha256 of
 * the config bytes, as Docker computes it. Every mtime is fixed, so a rebuild from the same inputs gives the same
 * IDs.
 *
 * @module
 */

// @ts-types="@types/tar-stream"
import tar from "tar-stream";
import { createReadStream, createWriteStream } from "node:fs";
import { createHash } from "node:crypto";
import { pipeline } from "node:stream/promises";
import { Writable } from "node:stream";
import { join } from "node:path";

/** A file system entry to put into a layer. */
export type LayerEntry =
  | { type: "dir"; path: string; mode?: number; uid?: number; gid?: number }
  | { type: "file"; path: string; mode?: number; uid?: number; gid?: number; data: Uint8Array | string }
  | { type: "bigfile"; path: string; mode?: number; size: number; seed: number }
  | { type: "hostfile"; path: string; mode?: number; source: string }
  | { type: "symlink"; path: string; target: string };

/** An image to build: layers bottom first, and the config's `config` section. */
export interface ImageDefinition {
  /** Tag recorded in manifest.json, e.g. `berth-test/busybox:latest`. */
  repoTag: string;
  /** Layers, bottom first: entries to pack, or raw bytes used as the layer file as they are. */
  layers: (LayerEntry[] | Uint8Array)[];
  /** The image's runtime defaults (`Env`, `Entrypoint`, `Cmd`, `WorkingDir`, `User`). */
  config: { Env?: string[]; Entrypoint?: string[]; Cmd?: string[]; WorkingDir?: string; User?: string };
}

/** A built image: where it is and the ID Docker will report for it. */
export interface BuiltImage {
  /** Absolute path of the tarball. */
  path: string;
  /** `sha256:<hex>` of the config. */
  id: string;
  /** The tag recorded in the archive. */
  repoTag: string;
}

const MTIME = new Date("2026-01-01T00:00:00Z");

/** Deterministic pseudo-random bytes (xorshift32), so big test layers do not compress and need no entropy. */
function* pseudoRandomChunks(size: number, seed: number): Generator<Uint8Array> {
  let x = seed >>> 0 || 1;
  const chunk = 1 << 20;
  for (let done = 0; done < size; done += chunk) {
    const n = Math.min(chunk, size - done);
    const buf = new Uint8Array(n + ((4 - (n % 4)) % 4));
    const words = new Uint32Array(buf.buffer);
    for (let i = 0; i < words.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      words[i] = x >>> 0;
    }
    yield buf.subarray(0, n);
  }
}

function entryHeader(e: LayerEntry, size: number): tar.Headers {
  const base = { name: e.path.replace(/^\/+/, ""), mtime: MTIME, uname: "", gname: "" };
  switch (e.type) {
    case "dir":
      return { ...base, type: "directory", mode: e.mode ?? 0o755, uid: e.uid ?? 0, gid: e.gid ?? 0 };
    case "symlink":
      return { ...base, type: "symlink", linkname: e.target, mode: 0o777, uid: 0, gid: 0 };
    case "file":
      return { ...base, type: "file", size, mode: e.mode ?? 0o644, uid: e.uid ?? 0, gid: e.gid ?? 0 };
    default:
      return { ...base, type: "file", size, mode: e.mode ?? 0o644, uid: 0, gid: 0 };
  }
}

/** Writes one entry whose data comes from an async iterable of chunks, honouring backpressure. */
async function writeStreamEntry(
  pack: tar.Pack,
  header: tar.Headers,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
) {
  await new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    (async () => {
      for await (const c of chunks) {
        if (!sink.write(c)) await new Promise((r) => sink.once("drain", r));
      }
      sink.end();
    })().catch(reject);
  });
}

/** Writes a pack to `file` while computing its sha256; resolves with the hex digest once the file is closed. */
function packToFile(pack: tar.Pack, file: string): Promise<string> {
  const hash = createHash("sha256");
  const out = createWriteStream(file);
  const tee = new Writable({
    write(chunk, _enc, cb) {
      hash.update(chunk);
      if (out.write(chunk)) cb();
      else out.once("drain", () => cb());
    },
    final(cb) {
      out.end(cb);
    },
  });
  return pipeline(pack, tee).then(() => hash.digest("hex"));
}

async function writeLayer(entries: LayerEntry[], file: string): Promise<string> {
  const pack = tar.pack();
  const done = packToFile(pack, file);
  for (const e of entries) {
    if (e.type === "file") {
      const data = typeof e.data === "string" ? new TextEncoder().encode(e.data) : e.data;
      await writeStreamEntry(pack, entryHeader(e, data.length), [data]);
    } else if (e.type === "bigfile") {
      await writeStreamEntry(pack, entryHeader(e, e.size), pseudoRandomChunks(e.size, e.seed));
    } else if (e.type === "hostfile") {
      const size = (await Deno.stat(e.source)).size;
      await writeStreamEntry(pack, entryHeader(e, size), createReadStream(e.source));
    } else {
      await new Promise<void>((res, rej) => pack.entry(entryHeader(e, 0), (err) => (err ? rej(err) : res())));
    }
  }
  pack.finalize();
  return await done;
}

/**
 * Builds a docker-save tarball at `outPath` from `def`.
 * @returns the image's path, ID and tag.
 */
export async function buildImage(def: ImageDefinition, outPath: string): Promise<BuiltImage> {
  const work = await Deno.makeTempDir({ prefix: "berth-image-build-" });
  try {
    const layerFiles: { file: string; diffId: string; id: string }[] = [];
    let parent = "";
    for (const [i, entries] of def.layers.entries()) {
      const file = join(work, `layer${i}.tar`);
      let diffId: string;
      if (entries instanceof Uint8Array) {
        await Deno.writeFile(file, entries);
        diffId = createHash("sha256").update(entries).digest("hex");
      } else {
        diffId = await writeLayer(entries, file);
      }
      // Classic docker-save layer directory names: a chain ID-like digest of parent + diff ID.
      const id = createHash("sha256").update(`${parent}\n${diffId}`).digest("hex");
      layerFiles.push({ file, diffId, id });
      parent = id;
    }
    const configBytes = new TextEncoder().encode(JSON.stringify({
      architecture: "amd64",
      os: "linux",
      created: MTIME.toISOString(),
      config: def.config,
      rootfs: { type: "layers", diff_ids: layerFiles.map((l) => `sha256:${l.diffId}`) },
      history: layerFiles.map((_, i) => ({
        created: MTIME.toISOString(),
        created_by: `berth test layer ${i}`,
      })),
    }));
    const configHex = createHash("sha256").update(configBytes).digest("hex");
    const [repo, tag] = def.repoTag.split(":");
    const manifest = [{
      Config: `${configHex}.json`,
      RepoTags: [def.repoTag],
      Layers: layerFiles.map((l) => `${l.id}/layer.tar`),
    }];

    const pack = tar.pack();
    const tmpOut = `${outPath}.tmp-${Deno.pid}`;
    const done = packToFile(pack, tmpOut);
    const small = (name: string, data: Uint8Array | string) =>
      writeStreamEntry(pack, {
        name,
        mtime: MTIME,
        mode: 0o644,
        size: typeof data === "string" ? new TextEncoder().encode(data).length : data.length,
      }, [typeof data === "string" ? new TextEncoder().encode(data) : data]);
    for (const [i, l] of layerFiles.entries()) {
      await new Promise<void>((res, rej) =>
        pack.entry(
          { name: `${l.id}/`, type: "directory", mode: 0o755, mtime: MTIME },
          (e) => (e ? rej(e) : res()),
        )
      );
      await small(`${l.id}/VERSION`, "1.0");
      await small(
        `${l.id}/json`,
        JSON.stringify({ id: l.id, ...(i > 0 ? { parent: layerFiles[i - 1].id } : {}) }),
      );
      const size = (await Deno.stat(l.file)).size;
      await writeStreamEntry(
        pack,
        { name: `${l.id}/layer.tar`, mtime: MTIME, mode: 0o644, size },
        createReadStream(l.file),
      );
    }
    await small(`${configHex}.json`, configBytes);
    await small("manifest.json", JSON.stringify(manifest));
    await small("repositories", JSON.stringify({ [repo]: { [tag]: layerFiles[layerFiles.length - 1].id } }));
    pack.finalize();
    await done;
    await Deno.rename(tmpOut, outPath);
    return { path: outPath, id: `sha256:${configHex}`, repoTag: def.repoTag };
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

/** Root file system entries of a minimal static-busybox system: applet links, /etc/passwd, /tmp, … */
export async function busyboxRootfs(busybox = "/bin/busybox"): Promise<LayerEntry[]> {
  const out = await new Deno.Command(busybox, { args: ["--list-full"], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) throw new Error(`"${busybox} --list-full" failed: is Debian's busybox-static installed?`);
  const applets = new TextDecoder().decode(out.stdout).split("\n").filter((l) =>
    l !== "" && l !== "bin/busybox"
  );
  const dirs = [
    "bin",
    "sbin",
    "usr",
    "usr/bin",
    "usr/sbin",
    "etc",
    "dev",
    "proc",
    "sys",
    "home",
    "var",
    "run",
    "mnt",
  ];
  return [
    ...dirs.map((path): LayerEntry => ({ type: "dir", path })),
    { type: "dir", path: "tmp", mode: 0o1777 },
    { type: "dir", path: "root", mode: 0o700 },
    { type: "hostfile", path: "bin/busybox", mode: 0o755, source: busybox },
    ...applets.map((path): LayerEntry => ({ type: "symlink", path, target: "/bin/busybox" })),
    {
      type: "file",
      path: "etc/passwd",
      data: "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    },
    { type: "file", path: "etc/group", data: "root:x:0:\nnogroup:x:65534:\n" },
  ];
}

/** The PATH every test image sets. */
export const IMAGE_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
