/**
 * Tiny file systems for the fault suite: a tmpfs of a few MiB mounted on a directory of the test's own tree,
 * so that berth's work dir or tmp dir fills up for real (ENOSPC from the kernel, not a fake). Tests run as root;
 * `mount` and `umount` are test-only programs of `scripts/test`. Every mount is undone by {@link withTmpfs} on
 * every path, lazily (`umount -l`) when something still holds it.
 * @module
 */

import { assert } from "../helpers/assert.ts";

async function run(program: string, args: string[]): Promise<void> {
  const out = await new Deno.Command(program, { args, stdin: "null", stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stderr).trim();
  assert(out.success, `${program} ${args.join(" ")} failed: ${text}`);
}

/** Mounts a tmpfs of `sizeKiB` KiB on the existing, empty directory `dir` (mode 0755). */
export async function mountTmpfs(dir: string, sizeKiB: number): Promise<void> {
  await run("mount", ["-t", "tmpfs", "-o", `size=${sizeKiB}k,mode=0755`, "tmpfs", dir]);
}

/** Unmounts `dir`; lazily when it is still busy, so the test tree can always be removed. */
export async function unmountTmpfs(dir: string): Promise<void> {
  try {
    await run("umount", [dir]);
  } catch {
    await run("umount", ["-l", dir]);
  }
}

/** Runs `fn` with a tmpfs of `sizeKiB` KiB on each of `dirs`, unmounting them afterwards whatever happens. */
export async function withTmpfs<T>(dirs: string[], sizeKiB: number, fn: () => Promise<T>): Promise<T> {
  const mounted: string[] = [];
  try {
    for (const dir of dirs) {
      await Deno.mkdir(dir, { recursive: true });
      await mountTmpfs(dir, sizeKiB);
      mounted.push(dir);
    }
    return await fn();
  } finally {
    for (const dir of mounted.reverse()) await unmountTmpfs(dir);
  }
}
