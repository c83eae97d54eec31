/**
 * Who berth runs as, and so who a job's container runs as (SEAMS decision 3): a non-root berth on Docker or
 * Podman runs the container as its own uid and gid with its supplementary groups, as cwltool does, so that
 * everything the container writes is the user's (rootless Podman adds the `keep-id` user namespace, so the same
 * ids mean the same user inside and out). Root keeps the image's user and gives the output to its owner
 * afterwards. Singularity and Apptainer always run the container as the calling user.
 * @module
 */

import type { ContainerUser } from "../executor/types.ts";
import { readKernelFile } from "../stats/kernel_files.ts";
import { currentUid } from "./runtime_dir.ts";

/** The supplementary groups of a `/proc/<pid>/status` text (its `Groups:` line), without `gid`, ascending. */
export function parseStatusGroups(status: string, gid: number): number[] {
  const line = /^Groups:[ \t]*(.*)$/m.exec(status)?.[1] ?? "";
  const ids = line.split(/\s+/).filter((s) => /^\d+$/.test(s)).map(Number).filter((g) => g !== gid);
  return [...new Set(ids)].sort((a, b) => a - b);
}

export type { ContainerUser };

/** berth's own uid, gid and supplementary groups (ascending, without the primary group) (groups from `/proc/<pid>/status`; none when unreadable). */
export async function invokingUser(): Promise<ContainerUser> {
  const uid = currentUid();
  let gid = 0;
  try {
    gid = Deno.gid() ?? 0;
  } catch { /* not permitted: root's */ }
  const status = await readKernelFile(`/proc/${Deno.pid}/status`);
  return { uid, gid, groups: status === null ? [] : parseStatusGroups(status, gid) };
}

/**
 * The user a job's container runs as on `engine`: `invoking` for a non-root berth on Docker or Podman, else null
 * (the image's user; Singularity/Apptainer run as the caller anyway).
 */
export function containerUserFor(engine: string, invoking: ContainerUser): ContainerUser | null {
  return (engine === "docker" || engine === "podman") && invoking.uid !== 0 ? invoking : null;
}
