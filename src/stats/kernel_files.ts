/**
 * Reading the kernel's small text files (`/proc`, `/sys/fs/cgroup`).
 *
 * Deno lets only `--allow-all` programs read `/proc`, `/sys` and `/dev` (its guard against escaping the sandbox
 * through kernel-magic paths), and berth does not run with `--allow-all`. So when a direct read is refused, the
 * files are read by one `grep -a -s -H -e '' -- FILE…` per batch (`--allow-run=grep`): every line comes back
 * prefixed with its file's name, so many files cost one process. A program run with `--allow-all` (tests,
 * `deno run -A`) reads them directly.
 *
 * `/proc/self` would name the helper process: callers use `/proc/<Deno.pid>` instead.
 *
 * @module
 */

let direct = true;

/** The text of each of `paths` (absolute), or null for a file that is missing, unreadable or empty. */
export async function readKernelFiles(paths: readonly string[]): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>();
  const unique = [...new Set(paths)];
  if (unique.length === 0) return out;
  if (direct) {
    try {
      for (const p of unique) out.set(p, await readDirect(p));
      return out;
    } catch (err) {
      if (!(err instanceof Deno.errors.NotCapable)) throw err;
      direct = false; // refused: use the helper from now on
      out.clear();
    }
  }
  return await readWithGrep(unique);
}

/** The text of one kernel file, or null; see {@link readKernelFiles}. */
export async function readKernelFile(path: string): Promise<string | null> {
  return (await readKernelFiles([path])).get(path) ?? null;
}

async function readDirect(path: string): Promise<string | null> {
  try {
    const text = await Deno.readTextFile(path);
    return text === "" ? null : text;
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    return null;
  }
}

async function readWithGrep(paths: string[]): Promise<Map<string, string | null>> {
  const out = new Map<string, string | null>(paths.map((p) => [p, null]));
  let stdout: Uint8Array;
  try {
    const res = await new Deno.Command("grep", {
      args: ["-a", "-s", "-H", "-e", "", "--", ...paths],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      env: { LC_ALL: "C" },
    }).output();
    stdout = res.stdout;
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable) throw err;
    return out; // no grep: nothing can be read
  }
  // Longest names first, so that a name that is a prefix of another is not matched by mistake.
  const byLength = [...paths].sort((a, b) => b.length - a.length);
  const lines = new Map<string, string[]>();
  const text = new TextDecoder().decode(stdout);
  for (const line of text.split("\n")) {
    const path = byLength.find((p) => line.startsWith(`${p}:`));
    if (path === undefined) continue;
    let list = lines.get(path);
    if (!list) lines.set(path, list = []);
    list.push(line.slice(path.length + 1));
  }
  for (const [path, list] of lines) out.set(path, list.join("\n") + "\n");
  return out;
}
