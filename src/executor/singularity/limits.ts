/**
 * How CPU and memory limits reach a Singularity/Apptainer container, for each generation of the command line:
 *
 * - `--cpus`/`--memory` (SingularityCE ≥ 3.10, Apptainer ≥ 1.1), plus `--memory-swap` equal to the memory limit
 *   (swap = memory, as Docker and Podman do), where the cgroup probe says they will work;
 * - older programs, as root: the same limits through `--apply-cgroups FILE`, a TOML file of OCI
 *   `LinuxResources` (`[memory] limit`, `swap`; `[cpu] quota`, `period`) in the executor's temp dir. Programs before
 *   SingularityCE 3.9 (and Singularity before the fork) apply that file through cgroup v1 only;
 * - otherwise nothing, and one log line per limit saying that it is not enforced and why.
 *
 * @module
 */

import type { RuntimeCapabilities } from "./capabilities.ts";
import type { CgroupSupport } from "./cgroup_probe.ts";

/** The CFS period berth uses for CPU quotas (the kernel's default). */
export const CPU_PERIOD_US = 100_000;

/** Everything {@link planLimits} depends on. */
export interface LimitInput {
  /** What the program can do. */
  caps: RuntimeCapabilities;
  /** Whether berth runs as root. */
  isRoot: boolean;
  /** CPU limit in cores; 0 for none. */
  vcpus: number;
  /** Memory limit in bytes; 0 for none. */
  ram: number;
  /** What the cgroup probe found (only consulted when a limit is asked for). */
  cgroup: CgroupSupport;
  /** Where the `--apply-cgroups` file will be written. */
  cgroupFile: string;
}

/** How the limits are applied. */
export interface LimitPlan {
  /** Arguments for `exec`. */
  args: string[];
  /** Content of the `--apply-cgroups` file to write at `cgroupFile`, or null when none is used. */
  cgroupToml: string | null;
  /** The mechanism, for the capability log line: `--cpus/--memory`, `--apply-cgroups`, or `none`. */
  mechanism: "--cpus/--memory" | "--apply-cgroups" | "none";
  /** Log lines: each limit that is not enforced, and why. */
  notes: string[];
}

/** True when `--apply-cgroups` of this program can use a cgroup v2 (unified) tree. */
function applyCgroupsKnowsV2(caps: RuntimeCapabilities): boolean {
  const { flavour, numbers: [major, minor] } = caps.version;
  if (flavour === "Apptainer") return true;
  if (flavour === "Singularity") return false;
  return major > 3 || (major === 3 && minor >= 9);
}

/** The CPU quota for `vcpus` cores, in microseconds per {@link CPU_PERIOD_US}. */
export function cpuQuota(vcpus: number): number {
  return Math.max(1000, Math.round(vcpus * CPU_PERIOD_US));
}

/** Decides how `vcpus` and `ram` are applied; see the module doc. */
export function planLimits(input: LimitInput): LimitPlan {
  const { caps, isRoot, vcpus, ram, cgroup } = input;
  const plan: LimitPlan = { args: [], cgroupToml: null, mechanism: "none", notes: [] };
  if (vcpus <= 0 && ram <= 0) return plan;
  const runtime = `${caps.version.flavour} ${caps.version.text}`;
  const notEnforced = (why: string) => {
    if (vcpus > 0) plan.notes.push(`CPU limit of ${vcpus} not enforced: ${why}`);
    if (ram > 0) plan.notes.push(`Memory limit of ${ram} bytes not enforced: ${why}`);
  };
  const cgroupWhy = "the host's cgroup setup does not allow it (see above)";
  const flags = caps.execFlags;
  if (flags.has("cpus") && flags.has("memory")) {
    plan.mechanism = "--cpus/--memory";
    if (vcpus > 0) {
      if (cgroup.cpu) plan.args.push("--cpus", String(vcpus));
      else plan.notes.push(`CPU limit of ${vcpus} not enforced: ${cgroupWhy}`);
    }
    if (ram > 0) {
      if (cgroup.memory) {
        plan.args.push("--memory", String(ram));
        if (!flags.has("memory-swap")) {
          plan.notes.push(`Swap not limited: ${runtime} has no --memory-swap`);
        } else if (!cgroup.swap) {
          plan.notes.push(
            `Swap not limited: the kernel does not account swap (memory.memsw files are missing)`,
          );
        } else plan.args.push("--memory-swap", String(ram));
      } else plan.notes.push(`Memory limit of ${ram} bytes not enforced: ${cgroupWhy}`);
    }
    if (plan.args.length === 0) plan.mechanism = "none";
    return plan;
  }
  if (!flags.has("apply-cgroups")) {
    notEnforced(`${runtime} has neither --cpus/--memory nor --apply-cgroups`);
    return plan;
  }
  if (!isRoot) {
    notEnforced(`${runtime} has no --cpus/--memory, and its --apply-cgroups is for root only`);
    return plan;
  }
  if (cgroup.hierarchy === "v2" && !applyCgroupsKnowsV2(caps)) {
    notEnforced(`${runtime} applies --apply-cgroups through cgroup v1 only, and this host has cgroup v2`);
    return plan;
  }
  const sections: string[] = [];
  if (ram > 0) {
    if (!cgroup.memory) plan.notes.push(`Memory limit of ${ram} bytes not enforced: ${cgroupWhy}`);
    else {
      const lines = ["[memory]", `  limit = ${ram}`];
      if (cgroup.swap) lines.push(`  swap = ${ram}`);
      else {plan.notes.push(
          `Swap not limited: the kernel does not account swap (memory.memsw files are missing)`,
        );}
      sections.push(lines.join("\n"));
    }
  }
  if (vcpus > 0) {
    if (!cgroup.cpu) plan.notes.push(`CPU limit of ${vcpus} not enforced: ${cgroupWhy}`);
    else sections.push(["[cpu]", `  quota = ${cpuQuota(vcpus)}`, `  period = ${CPU_PERIOD_US}`].join("\n"));
  }
  if (sections.length > 0) {
    plan.mechanism = "--apply-cgroups";
    plan.cgroupToml = `# berth: resource limits for one container (OCI LinuxResources)\n${
      sections.join("\n")
    }\n`;
    plan.args.push("--apply-cgroups", input.cgroupFile);
  }
  return plan;
}
