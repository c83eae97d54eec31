/**
 * Whether `--cpus` and `--memory` will work: the engines apply them through cgroups, and fail the whole job when
 * the host's cgroup setup cannot (a non-root user without a systemd user session, a cgroup v2 tree without the
 * controllers delegated). The probe follows crunch-run's `checkCgroupSupport` step by step; limits it does not
 * vouch for are left out with a log line instead of failing the job.
 *
 * @module
 */

import type { LogFn } from "../types.ts";
import type { CgroupSupport } from "./exec_command.ts";

/**
 * What the probe reads from the host; the real host by default, a fake in unit tests of the decision logic.
 *
 * Deno refuses `/proc` and `/sys` to anything but `--allow-all`, so the real host falls back to `findmnt` for the
 * mount table, and a refused `/proc/self/cgroup` reads as null (the probe then counts the mounted cgroup v1
 * controllers instead).
 */
export interface CgroupProbeHost {
  /** Whether berth runs as root. */
  isRoot: boolean;
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
  /** True when `path` is a directory. */
  isDirectory(path: string): Promise<boolean>;
  /** The first line of `systemd-run --version`, or null when it cannot be run. */
  systemdVersion(): Promise<string | null>;
}

/** The result of a probe: the cgroup controllers found usable, and the log lines explaining what was not. */
export interface CgroupProbeResult {
  /** Controller names (`cpu`, `memory`, …). */
  controllers: Set<string>;
  /** Messages for the job log. */
  notes: string[];
}

/** A probe as the executor calls it: logs what it has to say and tells which limits work. */
export type CgroupProbe = (log: LogFn) => Promise<CgroupSupport>;

const MIN_SYSTEMD = 224;
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

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Finds the usable cgroup controllers, as crunch-run does: a non-root user needs XDG_RUNTIME_DIR and
 * DBUS_SESSION_BUS_ADDRESS, a systemd user directory and systemd ≥ 224; then the controllers of the process's
 * own cgroup v2 group are read from `cgroup.controllers`; as root, a host without a cgroup2 mount (or whose
 * cgroup2 group offers neither cpu nor memory, as in "hybrid" mode) has its cgroup v1 controllers counted.
 */
export async function probeCgroupControllers(host: CgroupProbeHost): Promise<CgroupProbeResult> {
  const controllers = new Set<string>();
  const notes: string[] = [];
  const done = (note?: string) => {
    if (note) notes.push(note);
    return { controllers, notes };
  };
  if (!host.isRoot) {
    if (host.xdgRuntimeDir === "" || host.dbusAddress === "") {
      return done(
        `Not running as root, and XDG_RUNTIME_DIR or DBUS_SESSION_BUS_ADDRESS is empty: ${NO_LIMITS}`,
      );
    }
    if (!(await host.isDirectory(`${host.xdgRuntimeDir}/systemd`))) {
      return done(
        `Not running as root, and "${host.xdgRuntimeDir}/systemd" is not a directory: ${NO_LIMITS}`,
      );
    }
    const version = /^systemd (\d+)/.exec((await host.systemdVersion()) ?? "");
    if (!version) return done(`Not running as root, and the systemd version is unknown: ${NO_LIMITS}`);
    if (Number(version[1]) < MIN_SYSTEMD) {
      return done(
        `Not running as root, and systemd version ${version[1]} is older than ${MIN_SYSTEMD}: ${NO_LIMITS}`,
      );
    }
  }
  let mounts: string[][];
  try {
    mounts = (await host.mounts()).split("\n").map((l) => l.split(" "));
  } catch (err) {
    return done(`Cannot read the mount table (${message(err)}): ${NO_LIMITS}`);
  }
  const selfCgroup = await host.selfCgroup();
  const cgroup2 = mounts.find((f) => f.length > 2 && (f[0] === "cgroup2" || f[2] === "cgroup2"));
  if (!cgroup2) {
    if (host.isRoot) cgroup1Controllers(selfCgroup, mounts, controllers);
    else notes.push(`No cgroup2 mount found: ${NO_LIMITS}`);
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
    const file = `${cgroup2[1].replace(/\/$/, "")}${own.slice(3)}/cgroup.controllers`.replace(/\/\/+/g, "/");
    try {
      for (const name of (await host.readFile(file)).trim().split(/\s+/)) {
        if (name !== "") controllers.add(name);
      }
    } catch (err) {
      v2Problems.push(`Cannot read "${file}" (${message(err)}): ${NO_LIMITS} through cgroup v2`);
    }
  }
  if (host.isRoot && !controllers.has("cpu") && !controllers.has("memory")) {
    cgroup1Controllers(selfCgroup, mounts, controllers);
  }
  if (!controllers.has("cpu") || !controllers.has("memory")) notes.push(...v2Problems);
  return done();
}

function refused(err: unknown): boolean {
  return err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied;
}

/** The real host, as seen by berth with its permission profile. */
export function realCgroupProbeHost(isRoot: boolean, hostEnv: Record<string, string>): CgroupProbeHost {
  return {
    isRoot,
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
        return await Deno.readTextFile("/proc/self/cgroup");
      } catch {
        return null;
      }
    },
    readFile: (path) => Deno.readTextFile(path),
    isDirectory: async (path) => {
      try {
        return (await Deno.stat(path)).isDirectory;
      } catch {
        return false;
      }
    },
    systemdVersion: async () => {
      try {
        const out = await new Deno.Command("systemd-run", {
          args: ["--version"],
          stdin: "null",
          stderr: "null",
        })
          .output();
        return out.success ? new TextDecoder().decode(out.stdout).split("\n")[0] : null;
      } catch {
        return null;
      }
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
    return { cpu: result.controllers.has("cpu"), memory: result.controllers.has("memory") };
  };
}
