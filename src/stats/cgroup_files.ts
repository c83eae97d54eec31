/**
 * Finding a process's statistics files, as crunch-run does: the cgroup mounts from `/proc/mounts`, the
 * process's groups from `/proc/<pid>/cgroup`, then for each statistic the first non-empty candidate file,
 * walking up from the process's group towards the mount root. Works for cgroup v1, v2, and the hybrid layout
 * (v1 controllers plus a controller-less v2 tree), and for any engine: Docker (`/docker/<id>`), Podman
 * (`/libpod_parent/libpod-<id>`, `machine.slice`), Singularity (wherever the contained process lives).
 *
 * @module
 */

import { joinCgroup, type StatsRoot } from "./stats_root.ts";

/** The statistics files found for one process; each is a logical absolute path, or undefined when missing. */
export interface CgroupFiles {
  /** v2 `cpu.max` (`<quota|max> <period>`). */
  cpuMax?: string;
  /** v1 `cpu.cfs_quota_us` (with `cfsPeriod`): a CFS CPU limit, which is how engines apply `--cpus` on v1. */
  cfsQuota?: string;
  /** v1 `cpu.cfs_period_us`. */
  cfsPeriod?: string;
  /** The cpuset list (`cpuset.cpus.effective`, `cpuset.effective_cpus` or `cpuset.cpus`). */
  cpuset?: string;
  /** v1 `cpuacct.stat` (user and system time in clock ticks). */
  cpuacctStat?: string;
  /** v2 `cpu.stat` (`user_usec`, `system_usec`). */
  cpuStat?: string;
  /** v1 `blkio.throttle.io_service_bytes` or `blkio.io_service_bytes`. */
  blkio?: string;
  /** v2 `io.stat`. */
  ioStat?: string;
  /** `memory.stat` (v2 first, then v1). */
  memoryStat?: string;
  /** v2 `memory.current` (reported as rss). */
  memoryCurrent?: string;
  /** v2 `memory.swap.current` (reported as swap). */
  memorySwapCurrent?: string;
  /** `/proc/<pid>/net/dev` of the process (its network namespace). */
  netDev?: string;
}

/** The cgroup mount points found in `/proc/mounts`. */
export interface CgroupMounts {
  /** The cgroup2 mount point, if any. */
  unified?: string;
  /** v1 mount point per controller (`memory`, `cpu`, `cpuacct`, `cpuset`, `blkio`). */
  v1: Record<string, string>;
}

const V1_CONTROLLERS = new Set(["blkio", "cpu", "cpuacct", "cpuset", "memory"]);

/** Parses `/proc/mounts` text into the cgroup mount points berth reads statistics from. */
export function parseCgroupMounts(text: string): CgroupMounts {
  const mounts: CgroupMounts = { v1: {} };
  for (const line of text.split("\n")) {
    const f = line.split(" ");
    if (f.length < 4) continue;
    const mountpoint = unescapeMount(f[1]);
    if (f[2] === "cgroup2") {
      mounts.unified ??= mountpoint;
    } else if (f[2] === "cgroup") {
      for (const opt of f[3].split(",")) {
        if (V1_CONTROLLERS.has(opt)) mounts.v1[opt] ??= mountpoint;
      }
    }
  }
  return mounts;
}

/** `/proc/mounts` writes spaces, tabs, newlines and backslashes as octal escapes. */
function unescapeMount(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct) => String.fromCharCode(parseInt(oct, 8)));
}

/** A process's groups from `/proc/<pid>/cgroup`: the v2 path and the v1 path per controller. */
export interface ProcessCgroups {
  /** The path of the `0::` line, if any. */
  unified?: string;
  /** v1 path per controller name. */
  v1: Record<string, string>;
}

/** Parses `/proc/<pid>/cgroup` text. */
export function parseProcessCgroups(text: string): ProcessCgroups {
  const out: ProcessCgroups = { v1: {} };
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    if (m[1] === "0" && m[2] === "") {
      out.unified = m[3];
      continue;
    }
    for (const ctrl of m[2].split(",")) if (ctrl !== "") out.v1[ctrl] = m[3];
  }
  return out;
}

/** One place to look for a statistic: a file name, the group dir to start in, and the mount root to stop at. */
interface Candidate {
  name: string;
  dir?: string;
  mount?: string;
}

/**
 * Finds the statistics files of process `pid` under `root`. Calls `log` once per file found
 * (`notice: reading stats from <path>`) and once per statistic that cannot be found. Reads everything in two
 * batches (the process's groups, then every candidate file).
 */
export async function findCgroupFiles(
  root: StatsRoot,
  pid: number,
  log: (line: string) => void,
): Promise<CgroupFiles> {
  const netDev = `/proc/${pid}/net/dev`;
  const first = await root.readMany(["/proc/mounts", `/proc/${pid}/cgroup`, `/proc/${pid}/cpuset`, netDev]);
  const mounts = parseCgroupMounts(first.get("/proc/mounts") ?? "");
  const groups = parseProcessCgroups(first.get(`/proc/${pid}/cgroup`) ?? "");
  const v2 = mounts.unified !== undefined && groups.unified !== undefined
    ? { mount: mounts.unified, dir: joinCgroup(mounts.unified, groups.unified) }
    : undefined;
  const v1 = (ctrl: string) =>
    mounts.v1[ctrl] !== undefined && groups.v1[ctrl] !== undefined
      ? { mount: mounts.v1[ctrl], dir: joinCgroup(mounts.v1[ctrl], groups.v1[ctrl]) }
      : undefined;
  // In v2, the cpuset group is named by /proc/<pid>/cpuset (as crunch-run reads it).
  let v2cpuset = v2;
  const cpusetPath = first.get(`/proc/${pid}/cpuset`)?.trim();
  if (v2 && cpusetPath) v2cpuset = { mount: v2.mount, dir: joinCgroup(v2.mount, cpusetPath) };
  const at = (where: { mount: string; dir: string } | undefined, ...names: string[]): Candidate[] =>
    names.map((name) => ({ name, dir: where?.dir, mount: where?.mount }));

  const wanted: [keyof CgroupFiles, Candidate[], boolean][] = [
    ["cpuMax", at(v2, "cpu.max"), true],
    ["cfsQuota", at(v1("cpu"), "cpu.cfs_quota_us"), true],
    ["cpuset", [
      ...at(v2cpuset, "cpuset.cpus.effective", "cpuset.cpus"),
      ...at(v1("cpuset"), "cpuset.effective_cpus", "cpuset.cpus"),
    ], true],
    ["cpuacctStat", at(v1("cpuacct"), "cpuacct.stat"), true],
    ["cpuStat", at(v2, "cpu.stat"), false],
    ["blkio", at(v1("blkio"), "blkio.throttle.io_service_bytes", "blkio.io_service_bytes"), true],
    ["ioStat", at(v2, "io.stat"), true],
    ["memoryStat", [...at(v2, "memory.stat"), ...at(v1("memory"), "memory.stat")], false],
    ["memoryCurrent", at(v2, "memory.current"), true],
    ["memorySwapCurrent", at(v2, "memory.swap.current"), true],
  ];
  const texts = await root.readMany(wanted.flatMap(([, cands]) => cands.flatMap(walkUp)));
  const found = (cands: Candidate[]) => cands.flatMap(walkUp).find((p) => (texts.get(p) ?? "").trim() !== "");

  const files: CgroupFiles = {};
  const skip = new Set<keyof CgroupFiles>();
  for (const [key, cands, quiet] of wanted) {
    if (skip.has(key)) continue;
    const path = found(cands);
    if (path !== undefined) {
      files[key] = path;
      log(`notice: reading stats from ${path}`);
      // The v2 file is only a fallback for the v1 one, and cpu.max makes the v1 quota irrelevant.
      if (key === "cpuMax") skip.add("cfsQuota");
      if (key === "cpuacctStat") skip.add("cpuStat");
      if (key === "blkio") skip.add("ioStat");
    } else if (!quiet) {
      log(
        `notice: stats not available: ${
          [...new Set(cands.map((c) => c.name))].join(" or ")
        } for process ${pid}`,
      );
    }
  }
  if (files.cfsQuota) files.cfsPeriod = files.cfsQuota.replace(/cpu\.cfs_quota_us$/, "cpu.cfs_period_us");

  if ((first.get(netDev) ?? "").trim() !== "") {
    files.netDev = netDev;
    log(`using ${netDev}`);
  }
  return files;
}

/**
 * The paths to try for a candidate, in order: its file in the group dir, then in each parent dir up to and
 * including the mount root.
 */
function walkUp(c: Candidate): string[] {
  if (c.dir === undefined || c.mount === undefined || !c.dir.startsWith(c.mount)) return [];
  const out: string[] = [];
  let dir = c.dir;
  for (;;) {
    out.push(`${dir}/${c.name}`);
    if (dir.length <= c.mount.length) break;
    const parent = dir.slice(0, dir.lastIndexOf("/"));
    if (parent.length < c.mount.length) break;
    dir = parent;
  }
  return out;
}
