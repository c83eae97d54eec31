import {
  type CgroupSupport,
  cpuQuota,
  type LimitInput,
  planLimits,
  type RuntimeCapabilities,
} from "../../../src/executor/singularity/mod.ts";
import { assertEquals } from "../../helpers/assert.ts";
import { fixtureCapabilities } from "../../fixtures/singularity/mod.ts";

const CE34 = await fixtureCapabilities("singularity-3.4");
const CE38 = await fixtureCapabilities("singularity-ce-3.8");
const CE311 = await fixtureCapabilities("singularity-ce-3.11");
const APP10 = await fixtureCapabilities("apptainer-1.0");
const APP12 = await fixtureCapabilities("apptainer-1.2");

const V1: CgroupSupport = { cpu: true, memory: true, swap: true, hierarchy: "v1" };
const V2: CgroupSupport = { cpu: true, memory: true, swap: true, hierarchy: "v2" };
const NONE: CgroupSupport = { cpu: false, memory: false, swap: false, hierarchy: "none" };
const MiB = 1 << 20;

function plan(caps: RuntimeCapabilities, over: Partial<LimitInput> = {}) {
  return planLimits({
    caps,
    isRoot: true,
    vcpus: 2,
    ram: 256 * MiB,
    cgroup: V1,
    cgroupFile: "/t/cg.toml",
    ...over,
  });
}

Deno.test("planLimits() uses --cpus, --memory and --memory-swap = memory where the program has them", () => {
  for (const caps of [CE311, APP12]) {
    for (const isRoot of [true, false]) {
      assertEquals(plan(caps, { isRoot, cgroup: V2, vcpus: 1.5 }), {
        args: ["--cpus", "1.5", "--memory", String(256 * MiB), "--memory-swap", String(256 * MiB)],
        cgroupToml: null,
        mechanism: "--cpus/--memory",
        notes: [],
      });
    }
  }
});

Deno.test("planLimits() leaves out what the cgroup probe or swap accounting does not vouch for, and says so", () => {
  assertEquals(plan(CE311, { cgroup: { ...V1, swap: false } }), {
    args: ["--cpus", "2", "--memory", String(256 * MiB)],
    cgroupToml: null,
    mechanism: "--cpus/--memory",
    notes: ["Swap not limited: the kernel does not account swap (memory.memsw files are missing)"],
  });
  assertEquals(plan(CE311, { cgroup: NONE }), {
    args: [],
    cgroupToml: null,
    mechanism: "none",
    notes: [
      "CPU limit of 2 not enforced: the host's cgroup setup does not allow it (see above)",
      `Memory limit of ${
        256 * MiB
      } bytes not enforced: the host's cgroup setup does not allow it (see above)`,
    ],
  });
});

Deno.test("planLimits() writes an --apply-cgroups file for older programs as root: memory, swap = memory, CPU quota", () => {
  for (const caps of [CE34, CE38, APP10]) {
    assertEquals(plan(caps, { vcpus: 0.5 }), {
      args: ["--apply-cgroups", "/t/cg.toml"],
      cgroupToml: "# berth: resource limits for one container (OCI LinuxResources)\n" +
        `[memory]\n  limit = ${256 * MiB}\n  swap = ${
          256 * MiB
        }\n[cpu]\n  quota = 50000\n  period = 100000\n`,
      mechanism: "--apply-cgroups",
      notes: [],
    }, caps.versionLine);
  }
  assertEquals(
    plan(CE34, { ram: 0 }).cgroupToml,
    "# berth: resource limits for one container (OCI LinuxResources)\n" +
      "[cpu]\n  quota = 200000\n  period = 100000\n",
  );
});

Deno.test("planLimits() says why an older program cannot limit: not root, or cgroup v2 before SingularityCE 3.9", () => {
  const notes = (caps: RuntimeCapabilities, over: Partial<LimitInput>) => {
    const p = plan(caps, over);
    assertEquals([p.args, p.cgroupToml, p.mechanism], [[], null, "none"]);
    return p.notes;
  };
  assertEquals(notes(CE34, { isRoot: false }), [
    "CPU limit of 2 not enforced: Singularity 3.4.2 has no --cpus/--memory, and its --apply-cgroups is for root only",
    `Memory limit of ${256 * MiB} bytes not enforced: Singularity 3.4.2 has no --cpus/--memory, and its ` +
    "--apply-cgroups is for root only",
  ]);
  assertEquals(notes(CE38, { cgroup: V2, ram: 0 }), [
    "CPU limit of 2 not enforced: SingularityCE 3.8.4 applies --apply-cgroups through cgroup v1 only, and this " +
    "host has cgroup v2",
  ]);
  // Apptainer 1.0 (and SingularityCE from 3.9) apply the file on cgroup v2 too.
  assertEquals(plan(APP10, { cgroup: V2 }).mechanism, "--apply-cgroups");
  const none = { ...CE34, execFlags: new Set(["bind"]) };
  assertEquals(notes(none, { vcpus: 0 }), [
    `Memory limit of ${
      256 * MiB
    } bytes not enforced: Singularity 3.4.2 has neither --cpus/--memory nor --apply-cgroups`,
  ]);
});

Deno.test("planLimits() does nothing and says nothing when no limit is asked for", () => {
  for (const caps of [CE34, CE311]) {
    assertEquals(plan(caps, { vcpus: 0, ram: 0, cgroup: NONE, isRoot: false }), {
      args: [],
      cgroupToml: null,
      mechanism: "none",
      notes: [],
    });
  }
});

Deno.test("cpuQuota() is vcpus × 100 ms per 100 ms period, never below the kernel's 1 ms minimum", () => {
  assertEquals([cpuQuota(1), cpuQuota(0.5), cpuQuota(16), cpuQuota(0.001)], [100000, 50000, 1600000, 1000]);
});
