/**
 * Making the output usable by the person who ran berth: an engine running as root leaves root-owned files with
 * mode 0600 and directories with mode 0500 that the user could neither read nor delete.
 *
 * The walk never follows a symlink: every entry is looked at with `lstat`, a symlink is left exactly as it is
 * (a link the container planted towards `/etc/shadow` stays a link and its target is never touched), and only
 * directories found by `lstat` are descended into. The container has exited when this runs, so nothing
 * changes the tree underneath the walk. Further:
 *
 * - block and character device nodes are removed (handing the user a device node would hand them the device);
 * - setuid and setgid bits are cleared on files;
 * - a file with hard links outside the tree (more links than the walk found) is left alone, so that a link to
 *   a file elsewhere cannot be used to change that file.
 *
 * @module
 */

import { join } from "node:path";
import { errorLine } from "../errors.ts";

/** The owner the output is given. */
export interface Owner {
  /** User id. */
  uid: number;
  /** Group id. */
  gid: number;
}

/** What the fix did, for the log. */
export interface OwnershipReport {
  /** Entries whose owner or mode was changed. */
  changed: number;
  /** Entries that could not be changed (for example, not permitted), with the reason. */
  failed: string[];
  /** Device nodes removed. */
  removedDevices: string[];
  /** Files left alone because they have hard links outside the tree. */
  skippedLinked: string[];
  /** False when the walk was cut short by its signal (the entries not reached were left as they were). */
  complete: boolean;
}

/**
 * Gives every file and directory below `root` (and `root` itself) to `owner`, and adds owner read/write
 * (files) or read/write/search (directories) permission. Stops early, with `complete: false`, when `signal`
 * fires.
 */
export async function fixOwnership(
  root: string,
  owner: Owner,
  signal?: AbortSignal,
): Promise<OwnershipReport> {
  const report: OwnershipReport = {
    changed: 0,
    failed: [],
    removedDevices: [],
    skippedLinked: [],
    complete: true,
  };
  const linked = new Map<string, { path: string; info: Deno.FileInfo; seen: number }>();
  const rootInfo = await Deno.lstat(root);
  if (!rootInfo.isDirectory) return report;
  await fixEntry(root, rootInfo, owner, report);
  const dirs = [root];
  while (dirs.length > 0) {
    if (signal?.aborted) {
      report.complete = false;
      return report;
    }
    const dir = dirs.pop()!;
    let names: string[];
    try {
      names = [];
      for await (const e of Deno.readDir(dir)) names.push(e.name);
    } catch (err) {
      report.failed.push(`${dir}: ${errorLine(err)}`);
      continue;
    }
    for (const name of names) {
      if (signal?.aborted) {
        report.complete = false;
        return report;
      }
      const path = join(dir, name);
      let info: Deno.FileInfo;
      try {
        info = await Deno.lstat(path);
      } catch (err) {
        report.failed.push(`${path}: ${errorLine(err)}`);
        continue;
      }
      if (info.isSymlink) continue;
      if (info.isBlockDevice || info.isCharDevice) {
        try {
          await Deno.remove(path);
          report.removedDevices.push(path);
        } catch (err) {
          report.failed.push(`${path}: ${errorLine(err)}`);
        }
        continue;
      }
      if (info.isDirectory) {
        await fixEntry(path, info, owner, report);
        dirs.push(path);
      } else if (info.isFile && (info.nlink ?? 1) > 1) {
        const key = `${info.dev}:${info.ino}`;
        const seen = linked.get(key);
        if (seen) seen.seen++;
        else linked.set(key, { path, info, seen: 1 });
      } else {
        await fixEntry(path, info, owner, report);
      }
    }
  }
  for (const { path, info, seen } of linked.values()) {
    if (seen === info.nlink) await fixEntry(path, info, owner, report);
    else report.skippedLinked.push(path);
  }
  return report;
}

async function fixEntry(path: string, info: Deno.FileInfo, owner: Owner, report: OwnershipReport) {
  const mode = info.mode ?? 0;
  const want = info.isDirectory ? mode | 0o700 : info.isFile ? (mode | 0o600) & ~0o6000 : mode | 0o600;
  let changed = false;
  try {
    if (info.uid !== owner.uid || info.gid !== owner.gid) {
      await Deno.chown(path, owner.uid, owner.gid);
      changed = true;
    }
    if ((want & 0o7777) !== (mode & 0o7777)) {
      await Deno.chmod(path, want & 0o7777);
      changed = true;
    }
  } catch (err) {
    report.failed.push(`${path}: ${errorLine(err)}`);
  }
  if (changed) report.changed++;
}
