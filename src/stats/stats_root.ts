/**
 * Reading the kernel's small text files below a filesystem root, so that tests can point the statistics code at
 * a captured tree instead of the live host. On the live host ("/"), reads go through {@link readKernelFiles}.
 * @module
 */

import { readKernelFiles } from "./kernel_files.ts";

/** Where the statistics code finds `/proc` and `/sys`: "/" on a live host, a fixture directory in tests. */
export class StatsRoot {
  /** The root directory, without a trailing slash ("" for the real root). */
  readonly #root: string;

  constructor(root = "/") {
    this.#root = root.replace(/\/+$/, "");
  }

  /** The text of each logical absolute path (e.g. `/proc/1/cgroup`); null when missing or empty. */
  async readMany(paths: readonly string[]): Promise<Map<string, string | null>> {
    if (this.#root === "") return await readKernelFiles(paths);
    const out = new Map<string, string | null>();
    for (const p of paths) {
      try {
        const text = await Deno.readTextFile(this.#root + p);
        out.set(p, text === "" ? null : text);
      } catch {
        out.set(p, null);
      }
    }
    return out;
  }

  /** The text of one logical path, or null. */
  async read(path: string): Promise<string | null> {
    return (await this.readMany([path])).get(path) ?? null;
  }
}

/** Joins a cgroup mount point and a cgroup path (`/sys/fs/cgroup/memory` + `/docker/abc`). */
export function joinCgroup(mount: string, path: string): string {
  const tail = path.replace(/^\/+/, "").replace(/\/+$/, "");
  return tail === "" ? mount : `${mount.replace(/\/+$/, "")}/${tail}`;
}
