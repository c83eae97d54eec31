/**
 * Whether resource limits can work on this host: the engines apply them through cgroups, and fail the whole job
 * when the host's cgroup setup cannot (a non-root user without a systemd user session, a cgroup v2 tree without
 * the controllers delegated). The probe follows crunch-run's `checkCgroupSupport`; limits it does not vouch for are
 * left out with a log line instead of failing the job.
 *
 * It runs no program that berth's permission profiles do not allow: crunch-run asks `systemd-run --version`; berth
 * looks at what the engine will really use instead. A non-root engine asks the user's systemd instance (over
 * DBUS_SESSION_BUS_ADDRESS) for a transient unit below `user@UID.service`, so that unit's `cgroup.controllers`
 * lists exactly the controllers delegated to the user; it only exists when the user's systemd instance runs,
 * which is what crunch-run's `$XDG_RUNTIME_DIR/systemd` and version checks stood for. (systemd older than 224
 * cannot delegate on cgroup v2 at all, so the cgroup v2 requirement covers the version check.)
 *
 * @module
 */

import type { LogFn } from "../types.ts";

/**
 * What the probe reads from the host; the real host by default, a fake in unit tests of the decision logic.
 *
 * Deno refuses `/proc` and `/sys` to anything but `--allow-all`, so the real host reads them through `findmnt`
 * (the mount table) and `grep` (small files), both allowed by every permission profile.
 */
export interface CgroupProbeHost {
  /** Whether berth runs as root. */
  isRoot: boolean;
  /** berth's user id (names the user's systemd unit `user@UID.service`). */
  uid: number;
  /** The host's XDG_RUNTIME_DIR ("" when unset). */
  xdgRuntimeDir: string;
  /** The host's DBUS_SESSION_BUS_ADDRESS ("" when unset). */
  dbusAddress: string;
  /** The mount table in `/proc/mounts` format; throws when it cannot be had. */
  mounts(): Promise<string>;
  /** `/proc/self/cgroup`, or null when it cannot be read. */
  selfCgroup(): Promise<string | null>;
  /** Reads a whole (small) text file; throws when it cannot. */
  readFile(path: string): Promise<string>;
  /** True when `path` exists. */
  exists(path: string): Promise<boolean>;
}

/** Which hierarchy the cpu and memory controllers were found in: `v1`, `v2` (unified), or none. */
export type CgroupHierarchy = "v1" | "v2" | "none";

/** The result of a probe: the cgroup controllers found usable, and the log lines explaining what was not. */
export interface CgroupProbeResult {
  /** Controller names (`cpu`, `memory`, …). */
  controllers: Set<string>;
  /** Where cpu/memory were found. */
  hierarchy: CgroupHierarchy;
  /** A memory limit can also bound swap (cgroup v1 with swap accounting, or cgroup v2). */
  swap: boolean;
  /** Messages for the job log. */
  notes: string[];
}

/** Which resource limits the host's cgroup setup lets the engine apply. */
export interface CgroupSupport {
  /** A CPU limit will work. */
  cpu: boolean;
  /** A memory limit will work. */
  memory: boolean;
  /** A memory limit can include swap (so that swap = memory holds). */
  swap: boolean;
  /** The hierarchy that holds the controllers. */
  hierarchy: CgroupHierarchy;
}

/** A probe as the executor calls it: logs what it has to say and tells which limits work. */
export type CgroupProbe = (log: LogFn) => Promise<CgroupSupport>;

const NO_LIMITS = "resource limits are not supported";

/** Names a cgroup v1 mount option can carry that are controllers (the rest are ordinary mount options). */
const V1_CONTROLLERS = new Set([
  "blkio",
  "cpu",
  "cpuacct",
  "cpuset",
  "devices",
  "freezer",
  "hugetlb",
  "memory",
  "misc",
  "net_cls",
  "net_prio",
  "perf_event",
  "pids",
  "rdma",
]);

/** Adds the cgroup v1 controllers: from `/proc/self/cgroup` when readable, else from the v1 mounts' options. */
function cgroup1Controllers(selfCgroup: string | null, mounts: string[][], into: Set<string>): void {
  if (selfCgroup !== null) {
    for (const line of selfCgroup.split("\n")) {
      const parts = line.split(":");
      if (parts.length < 3 || parts[1] === "") continue;
      for (const name of parts[1].split(",")) if (name !== "") into.add(name);
    }
    return;
  }
  for (const fields of mounts) {
    if (fields[2] !== "cgroup") continue;
    for (const opt of (fields[3] ?? "").split(",")) {
      if (V1_CONTROLLERS.has(opt) || opt.startsWith("name=")) into.add(opt);
    }
  }
}

/** The mount point of cgroup v1 controller `name`, or undefined. */
function cgroup1Mount(mounts: string[][], name: string): string | undefined {
  return mounts.find((f) => f[2] === "cgroup" && (f[3] ?? "").split(",").includes(name))?.[1];
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function joinPath(...parts: string[]): string {
  return parts.join("/").replace(/\/\/+/g, "/");
}

/**
 * Finds the usable cgroup controllers. A non-root user needs XDG_RUNTIME_DIR and DBUS_SESSION_BUS_ADDRESS and a
 * cgroup v2 tree, and gets the controllers delegated to `user@UID.service`. Root gets the controllers of its own
 * cgroup v2 group, or, on a host without a cgroup2 mount (or whose cgroup2 group offers neither cpu nor memory, as
 * in "hybrid" mode), the cgroup v1 controllers.
 */
export async function probeCgroupControllers(host: CgroupProbeHost): Promise<CgroupProbeResult> {
  const controllers = new Set<string>();
  const notes: string[] = [];
  let hierarchy: CgroupHierarchy = "none";
  let swap = false;
  const done = (note?: string): CgroupProbeResult => {
    if (note) notes.push(note);
    if (!controllers.has("cpu") && !controllers.has("memory")) hierarchy = "none";
    return { controllers, hierarchy, swap, notes };
  };
  if (!host.isRoot && (host.xdgRuntimeDir === "" || host.dbusAddress === "")) {
    return done(
      `Not running as root, and XDG_RUNTIME_DIR or DBUS_SESSION_BUS_ADDRESS is empty: ${NO_LIMITS}`,
    );
  }
  let mounts: string[][];
  try {
    mounts = (await host.mounts()).split("\n").map((l) => l.split(" "));
  } catch (err) {
    return done(`Cannot read the mount table (${message(err)}): ${NO_LIMITS}`);
  }
  const cgroup2 = mounts.find((f) => f.length > 2 && (f[0] === "cgroup2" || f[2] === "cgroup2"));
  if (!host.isRoot) {
    if (!cgroup2) return done(`Not running as root, and there is no cgroup2 mount: ${NO_LIMITS}`);
    const unit = `user.slice/user-${host.uid}.slice/user@${host.uid}.service`;
    const file = joinPath(cgroup2[1], unit, "cgroup.controllers");
    try {
      for (const name of (await host.readFile(file)).trim().split(/\s+/)) {
        if (name !== "") controllers.add(name);
      }
    } catch (err) {
      return done(
        `Not running as root, and "${file}" cannot be read (${
          message(err)
        }; is the user's systemd instance running?): ${NO_LIMITS}`,
      );
    }
    hierarchy = "v2";
    swap = true;
    if (!controllers.has("cpu") || !controllers.has("memory")) {
      notes.push(`The user's systemd instance delegates only "${[...controllers].join(" ")}" in "${file}"`);
    }
    return done();
  }
  const selfCgroup = await host.selfCgroup();
  const v1 = async () => {
    cgroup1Controllers(selfCgroup, mounts, controllers);
    hierarchy = "v1";
    const memory = cgroup1Mount(mounts, "memory");
    swap = memory !== undefined && await host.exists(joinPath(memory, "memory.memsw.limit_in_bytes"));
  };
  if (!cgroup2) {
    await v1();
    return done();
  }
  const v2Problems: string[] = [];
  const own = selfCgroup?.split("\n").find((l) => l.startsWith("0::"));
  if (own === undefined) {
    v2Problems.push(
      selfCgroup === null
        ? `Cannot read /proc/self/cgroup: ${NO_LIMITS} through cgroup v2`
        : `Cannot find this process's cgroup v2 group in /proc/self/cgroup: ${NO_LIMITS} through cgroup v2`,
    );
  } else {
    const file = joinPath(cgroup2[1], own.slice(3), "cgroup.controllers");
    try {
      for (const name of (await host.readFile(file)).trim().split(/\s+/)) {
        if (name !== "") controllers.add(name);
      }
      hierarchy = "v2";
      swap = true;
    } catch (err) {
      v2Problems.push(`Cannot read "${file}" (${message(err)}): ${NO_LIMITS} through cgroup v2`);
    }
  }
  if (!controllers.has("cpu") && !controllers.has("memory")) await v1();
  if (!controllers.has("cpu") || !controllers.has("memory")) notes.push(...v2Problems);
  return done();
}

function refused(err: unknown): boolean {
  return err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied;
}

/** `grep -h '' FILE`: the file's lines; null when grep cannot read it (status 2). */
async function grepFile(path: string): Promise<string | null> {
  const out = await new Deno.Command("grep", {
    args: ["-h", "", path],
    clearEnv: true,
    env: { LC_ALL: "C" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code === 0 || out.code === 1) return new TextDecoder().decode(out.stdout);
  return null;
}

/** Reads a small file with Deno, or through `grep` where Deno refuses the path (`/proc`, `/sys`). */
async function readSmallFile(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (!refused(err)) throw err;
  }
  const text = await grepFile(path);
  if (text === null) throw new Error(`cannot read "${path}"`);
  return text;
}

/** The real host, as seen by berth with its permission profile. */
export function realCgroupProbeHost(isRoot: boolean, hostEnv: Record<string, string>): CgroupProbeHost {
  return {
    isRoot,
    uid: Deno.uid() ?? 0,
    xdgRuntimeDir: hostEnv.XDG_RUNTIME_DIR ?? "",
    dbusAddress: hostEnv.DBUS_SESSION_BUS_ADDRESS ?? "",
    mounts: async () => {
      try {
        return await Deno.readTextFile("/proc/mounts");
      } catch (err) {
        if (!refused(err)) throw err;
      }
      // The same table, from util-linux (Deno refuses /proc without --allow-all).
      const out = await new Deno.Command("findmnt", {
        args: ["--raw", "--noheadings", "--output", "SOURCE,TARGET,FSTYPE,OPTIONS"],
        clearEnv: true,
        stdin: "null",
        stderr: "piped",
      }).output();
      if (!out.success) throw new Error(`findmnt failed: ${new TextDecoder().decode(out.stderr).trim()}`);
      return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l !== "").map((l) => `${l} 0 0`)
        .join("\n");
    },
    selfCgroup: async () => {
      try {
        return await readSmallFile("/proc/self/cgroup");
      } catch {
        return null;
      }
    },
    readFile: readSmallFile,
    exists: async (path) => {
      try {
        await Deno.stat(path);
        return true;
      } catch (err) {
        if (!refused(err)) return false;
      }
      return (await grepFile(path).catch(() => null)) !== null;
    },
  };
}

let memo: Promise<CgroupProbeResult> | undefined;

/**
 * The default probe: probes the real host once per process (the answer cannot change while berth runs) and
 * replays its log lines to every caller.
 */
export function defaultCgroupProbe(isRoot: boolean, hostEnv: Record<string, string>): CgroupProbe {
  return async (log) => {
    memo ??= probeCgroupControllers(realCgroupProbeHost(isRoot, hostEnv));
    const result = await memo;
    for (const note of result.notes) log(note);
    return supportOf(result);
  };
}

/** The limits a probe result allows. */
export function supportOf(result: CgroupProbeResult): CgroupSupport {
  return {
    cpu: result.controllers.has("cpu"),
    memory: result.controllers.has("memory"),
    swap: result.controllers.has("memory") && result.swap,
    hierarchy: result.hierarchy,
  };
}
