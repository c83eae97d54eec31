/**
 * Disk space of the filesystem holding a directory. Deno has no `statfs`, so this asks `df -P -k` (POSIX output,
 * which GNU, BSD and busybox `df` all write): its columns are exactly statfs's `blocks`, `blocks - bfree` and
 * `bavail`, in KiB.
 * @module
 */

/** Space on one filesystem, in bytes. */
export interface DiskSpace {
  /** Bytes available to unprivileged users (`f_bavail`). */
  available: number;
  /** Bytes in use (`f_blocks - f_bfree`). */
  used: number;
  /** Size of the filesystem (`f_blocks`). */
  total: number;
}

/** Parses `df -P -k` output (a header line and one line for the filesystem). */
export function parseDfOutput(text: string): DiskSpace | null {
  const lines = text.split("\n").filter((l) => l.trim() !== "");
  if (lines.length < 2) return null;
  const m = /\s(\d+)\s+(\d+)\s+(\d+)\s+\d+%\s+\S/.exec(lines[lines.length - 1]);
  if (!m) return null;
  return { total: Number(m[1]) * 1024, used: Number(m[2]) * 1024, available: Number(m[3]) * 1024 };
}

/** The disk space of the filesystem holding `dir`, or null when `df` cannot tell (missing dir, no `df`). */
export async function diskSpace(dir: string): Promise<DiskSpace | null> {
  try {
    const out = await new Deno.Command("df", {
      args: ["-P", "-k", "--", dir],
      stdin: "null",
      stdout: "piped",
      stderr: "null",
      env: { LC_ALL: "C" },
    }).output();
    if (!out.success) return null;
    return parseDfOutput(new TextDecoder().decode(out.stdout));
  } catch {
    return null;
  }
}
