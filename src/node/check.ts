/**
 * `berth check`: the health checks a dispatcher runs before placing work on a node. Each check gives one line;
 * the node is fit only when none fails. Checks: the container engine answers (version and API), or
 * Singularity/Apptainer is found (version); the engine can apply memory and CPU limits; the runtime dir, the
 * tmp dir and the image cache are writable and have free space; the broken-node marker is absent.
 * @module
 */

import { dirname } from "node:path";
import { errorLine } from "../errors.ts";
import { StatsRoot } from "../stats/stats_root.ts";
import { parseCgroupMounts } from "../stats/cgroup_files.ts";
import { diskSpace } from "../stats/statfs.ts";
import { formatBytes } from "../report/format.ts";
import { apiEnginesFor, connectEngine, type EngineConnection, type EngineSelection } from "./engines.ts";
import { brokenMarkerPath, currentUid, unusableReason, writableDir } from "./runtime_dir.ts";

/** The outcome of one check: `ok`, `fail`, or `skip` (not applicable here; does not fail the node). */
export type CheckStatus = "ok" | "fail" | "skip";

/** One check's result. */
export interface CheckResult {
  /** The outcome. */
  status: CheckStatus;
  /** What was checked: `engine`, `cgroups`, `runtime dir`, `broken marker`, `tmp dir`, `image cache`. */
  name: string;
  /** What was found, in words. */
  detail: string;
}

/** Options for {@link runChecks}. */
export interface CheckOptions {
  /** The engine the node is meant to run jobs with. */
  engine: EngineSelection;
  /** `--docker-socket`; "" for the engine's default. @default "" */
  dockerSocket?: string;
  /** `--singularity-binary`; "" to look for `apptainer` and `singularity` in PATH. @default "" */
  singularityBinary?: string;
  /** The runtime dir this user's runs use. */
  runtimeDir: string;
  /**
   * The runtime dirs whose broken-node markers count (root: every user's, see `runtimeDirsToSearch`).
   * @default [runtimeDir]
   */
  markerDirs?: string[];
  /** The tmp dir jobs will use. */
  tmpDir: string;
  /** The SIF image cache; "" when none is used. @default "" */
  imageCache?: string;
  /** Free space the tmp dir and the image cache need, bytes. @default 1 GiB */
  minFreeBytes?: number;
  /** Timeout for each engine request, milliseconds. @default 10000 */
  timeoutMs?: number;
  /** Where `/proc` and `/sys` are (for the host cgroup check). @default "/" */
  root?: string;
}

/** One line of `berth check` output: `ok   engine: …`, `FAIL engine: …`, `skip engine: …`. */
export function formatCheck(r: CheckResult): string {
  const word = r.status === "fail" ? "FAIL" : r.status;
  return `${word.padEnd(4)} ${r.name}: ${r.detail}`;
}

/** Runs every check, in a fixed order. Never throws: a check that cannot run fails. */
export async function runChecks(o: CheckOptions): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  const timeoutMs = o.timeoutMs ?? 10_000;
  let connected: EngineConnection | null = null;
  let sifFound = false;

  for (const engine of apiEnginesFor(o.engine, o.dockerSocket ?? "")) {
    const c = await connectEngine(engine, timeoutMs);
    if (c.ok) {
      const v = c.conn.version;
      results.push({
        status: "ok",
        name: "engine",
        detail: `${c.conn.runtime} (API ${
          v.ApiVersion ?? "?"
        }, using ${c.conn.transport.apiVersion}) on unix://${engine.socket}`,
      });
      if (connected) c.conn.transport.close();
      else connected = c.conn;
    } else {
      results.push({
        status: engine.explicit ? "fail" : "skip",
        name: "engine",
        detail: `${engine.engine} not reachable: ${c.reason}`,
      });
    }
  }

  for (const program of sifProgramsFor(o.engine, o.dockerSocket ?? "", o.singularityBinary ?? "")) {
    const found = await sifVersion(program.name);
    if (found.ok) {
      sifFound = true;
      results.push({ status: "ok", name: "engine", detail: found.version });
    } else {
      results.push({ status: program.explicit ? "fail" : "skip", name: "engine", detail: found.reason });
    }
  }

  if (o.engine === "auto" && !connected && !sifFound && !results.some((r) => r.status === "fail")) {
    results.push({
      status: "fail",
      name: "engine",
      detail: "no container engine found (Docker, Podman, Apptainer, Singularity)",
    });
  }

  if (connected) {
    results.push(await engineCgroups(connected, timeoutMs));
    connected.transport.close();
  } else if (sifFound) {
    results.push(await hostCgroups(o.root ?? "/"));
  }

  results.push(await dirCheck("runtime dir", o.runtimeDir, 0, true, true));
  const markerDirs = [...new Set([o.runtimeDir, ...(o.markerDirs ?? [])])];
  for (const dir of markerDirs) results.push(await markerCheck(dir));
  results.push(await dirCheck("tmp dir", o.tmpDir, o.minFreeBytes ?? 2 ** 30, false));
  if (o.imageCache) {
    results.push(await dirCheck("image cache", o.imageCache, o.minFreeBytes ?? 2 ** 30, true));
  } else results.push({ status: "skip", name: "image cache", detail: "none configured (--image-cache)" });
  return results;
}

function sifProgramsFor(
  engine: EngineSelection,
  dockerSocket: string,
  binary: string,
): { name: string; explicit: boolean }[] {
  if (engine === "singularity" || engine === "apptainer") return [{ name: binary || engine, explicit: true }];
  if (engine !== "auto" || dockerSocket !== "") return [];
  if (binary) return [{ name: binary, explicit: true }];
  return [{ name: "apptainer", explicit: false }, { name: "singularity", explicit: false }];
}

async function sifVersion(
  program: string,
): Promise<{ ok: true; version: string } | { ok: false; reason: string }> {
  try {
    const out = await new Deno.Command(program, {
      args: ["--version"],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(30_000),
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim().split("\n")[0];
    if (!out.success || text === "") {
      const err = new TextDecoder().decode(out.stderr).trim().split("\n")[0];
      return {
        ok: false,
        reason: `"${program} --version" failed (exit ${out.code})${err ? `: ${err}` : ""}`,
      };
    }
    return { ok: true, version: text };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return { ok: false, reason: `${program} not found in PATH` };
    return { ok: false, reason: `cannot run "${program}": ${errorLine(err)}` };
  }
}

interface EngineInfo {
  MemoryLimit?: boolean;
  CpuCfsQuota?: boolean;
  CgroupVersion?: string;
  CgroupDriver?: string;
}

async function engineCgroups(conn: EngineConnection, timeoutMs: number): Promise<CheckResult> {
  try {
    const info = await conn.transport.json<EngineInfo>("GET", "/info", {
      signal: AbortSignal.timeout(timeoutMs),
    });
    const missing = [info.MemoryLimit ? "" : "memory", info.CpuCfsQuota ? "" : "CPU quota"].filter((s) => s);
    const where = `cgroup v${info.CgroupVersion ?? "?"}, driver ${info.CgroupDriver ?? "?"}`;
    if (conn.family === "podman" && info.CgroupVersion === "1" && await podmanRootless(conn, timeoutMs)) {
      // The compatible /info says MemoryLimit true, but rootless Podman on cgroup v1 drops every limit silently.
      return {
        status: "fail",
        name: "cgroups",
        detail:
          `rootless podman cannot apply memory and CPU limits on cgroup v1 (${where}): limits are ignored`,
      };
    }
    if (missing.length > 0) {
      return {
        status: "fail",
        name: "cgroups",
        detail: `${conn.family} cannot apply ${missing.join(" and ")} limits (${where})`,
      };
    }
    return {
      status: "ok",
      name: "cgroups",
      detail: `${conn.family} applies memory and CPU limits (${where})`,
    };
  } catch (err) {
    return {
      status: "fail",
      name: "cgroups",
      detail: `cannot ask ${conn.family} about limits: ${errorLine(err)}`,
    };
  }
}

/** True when the Podman service behind `conn` runs rootless (its libpod `/info` says so); false when unknown. */
async function podmanRootless(conn: EngineConnection, timeoutMs: number): Promise<boolean> {
  try {
    const info = await conn.transport.json<{ host?: { security?: { rootless?: boolean } } }>(
      "GET",
      "/libpod/info",
      { signal: AbortSignal.timeout(timeoutMs) },
    );
    return info.host?.security?.rootless === true;
  } catch {
    return false;
  }
}

/** For Singularity/Apptainer: the host's memory and cpu controllers, in cgroup v2 or v1. */
async function hostCgroups(root: string): Promise<CheckResult> {
  const fs = new StatsRoot(root);
  const mountsText = await fs.read("/proc/mounts");
  if (mountsText === null) return { status: "fail", name: "cgroups", detail: "cannot read /proc/mounts" };
  const mounts = parseCgroupMounts(mountsText);
  if (mounts.unified) {
    const ctrls = ((await fs.read(`${mounts.unified}/cgroup.controllers`)) ?? "").trim().split(/\s+/);
    if (ctrls.includes("memory") && ctrls.includes("cpu")) {
      return {
        status: "ok",
        name: "cgroups",
        detail: `cgroup v2 with memory and cpu controllers at ${mounts.unified}`,
      };
    }
  }
  if (mounts.v1.memory && mounts.v1.cpu) {
    return { status: "ok", name: "cgroups", detail: "cgroup v1 memory and cpu controllers mounted" };
  }
  return {
    status: "fail",
    name: "cgroups",
    detail: "no cgroup memory and cpu controllers found: limits cannot be applied",
  };
}

async function dirCheck(
  name: string,
  dir: string,
  minFree: number,
  mayCreate: boolean,
  ownOnly = false,
): Promise<CheckResult> {
  let target = dir;
  try {
    const st = await Deno.stat(dir);
    if (!st.isDirectory) return { status: "fail", name, detail: `"${dir}" is not a directory` };
    const why = ownOnly ? unusableReason(await Deno.lstat(dir), currentUid()) : null;
    if (why !== null) return { status: "fail", name, detail: `"${dir}" cannot be used: ${why}` };
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound) || !mayCreate) {
      return { status: "fail", name, detail: `"${dir}" cannot be used: ${errorLine(err)}` };
    }
    target = dirname(dir); // berth creates it when needed: its parent must be writable
  }
  if (!(await writableDir(target))) {
    return { status: "fail", name, detail: `"${target}" is not writable` };
  }
  const space = await diskSpace(target);
  const created = target === dir ? "" : " (will be created)";
  if (!space) return { status: "ok", name, detail: `"${dir}" is writable${created}; free space unknown` };
  const free = `${formatBytes(space.available)} free of ${formatBytes(space.total)}`;
  if (space.available < minFree) {
    return { status: "fail", name, detail: `"${dir}" has only ${free} (needs ${formatBytes(minFree)})` };
  }
  return { status: "ok", name, detail: `"${dir}" is writable${created}, ${free}` };
}

async function markerCheck(runtimeDir: string): Promise<CheckResult> {
  const path = brokenMarkerPath(runtimeDir);
  try {
    const text = (await Deno.readTextFile(path)).trim().split("\n")[0];
    return {
      status: "fail",
      name: "broken marker",
      detail: `node is marked broken: "${path}" exists${
        text ? ` (${text})` : ""
      }; remove it once the node is fixed`,
    };
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) {
      return { status: "ok", name: "broken marker", detail: `"${path}" absent` };
    }
    return {
      status: "fail",
      name: "broken marker",
      detail: `cannot tell whether "${path}" exists: ${errorLine(err)}`,
    };
  }
}
