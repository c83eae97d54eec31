import {
  type CgroupProbeHost,
  defaultCgroupProbe,
  probeCgroupControllers,
  realCgroupProbeHost,
} from "../../../src/executor/singularity/mod.ts";
import { assertEquals, assertMatch } from "../../helpers/assert.ts";

const V1_MOUNTS = "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0\n" +
  "cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0\n";
const V1_SELF = "3:memory:/user.slice\n2:cpu,cpuacct:/user.slice\n1:name=systemd:/user.slice\n0::/\n";
const V2_MOUNTS = "sysfs /sys sysfs rw 0 0\ncgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
const V2_SELF = "0::/user.slice/user-1000.slice/session-1.scope\n";

function fakeHost(overrides: Partial<CgroupProbeHost> & { files?: Record<string, string> }): CgroupProbeHost {
  const files = overrides.files ?? {};
  return {
    isRoot: true,
    uid: 0,
    xdgRuntimeDir: "",
    dbusAddress: "",
    mounts: () =>
      "/proc/mounts" in files
        ? Promise.resolve(files["/proc/mounts"])
        : Promise.reject(new Error("no mounts")),
    selfCgroup: () => Promise.resolve(files["/proc/self/cgroup"] ?? null),
    readFile: (path) =>
      path in files ? Promise.resolve(files[path]) : Promise.reject(new Error(`no ${path}`)),
    exists: (path) => Promise.resolve(path in files),
    ...overrides,
  };
}

const sorted = (s: Set<string>) => [...s].sort();

Deno.test("probeCgroupControllers() counts cgroup v1 controllers for root when there is no cgroup2 mount", async () => {
  const r = await probeCgroupControllers(fakeHost({
    files: { "/proc/mounts": V1_MOUNTS, "/proc/self/cgroup": V1_SELF },
  }));
  assertEquals(sorted(r.controllers), ["cpu", "cpuacct", "memory", "name=systemd"]);
  assertEquals([r.hierarchy, r.swap, r.notes], ["v1", false, []]);
  const swap = await probeCgroupControllers(fakeHost({
    files: {
      "/proc/mounts": V1_MOUNTS,
      "/proc/self/cgroup": V1_SELF,
      "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes": "9223372036854771712\n",
    },
  }));
  assertEquals([swap.hierarchy, swap.swap], ["v1", true]);
});

Deno.test("probeCgroupControllers() reads cgroup.controllers of root's own cgroup v2 group", async () => {
  const r = await probeCgroupControllers(fakeHost({
    files: {
      "/proc/mounts": V2_MOUNTS,
      "/proc/self/cgroup": "0::/system.slice/slurmstepd.scope/job_1\n",
      "/sys/fs/cgroup/system.slice/slurmstepd.scope/job_1/cgroup.controllers": "cpuset cpu memory\n",
    },
  }));
  assertEquals(sorted(r.controllers), ["cpu", "cpuset", "memory"]);
  assertEquals([r.hierarchy, r.swap, r.notes], ["v2", true, []]);
});

Deno.test("probeCgroupControllers() gives a non-root user the controllers delegated to user@UID.service", async () => {
  const unit = "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/cgroup.controllers";
  const host = (controllers: string) =>
    fakeHost({
      isRoot: false,
      uid: 1000,
      xdgRuntimeDir: "/run/user/1000",
      dbusAddress: "unix:path=/run/user/1000/bus",
      files: { "/proc/mounts": V2_MOUNTS, "/proc/self/cgroup": V2_SELF, [unit]: controllers },
    });
  const r = await probeCgroupControllers(host("cpu memory pids\n"));
  assertEquals(sorted(r.controllers), ["cpu", "memory", "pids"]);
  assertEquals([r.hierarchy, r.swap, r.notes], ["v2", true, []]);
  const partial = await probeCgroupControllers(host("memory pids\n"));
  assertEquals(partial.notes, [`The user's systemd instance delegates only "memory pids" in "${unit}"`]);
});

Deno.test("probeCgroupControllers() falls back to v1 for root when the v2 group offers neither cpu nor memory", async () => {
  const r = await probeCgroupControllers(fakeHost({
    files: {
      "/proc/mounts": V2_MOUNTS + V1_MOUNTS,
      "/proc/self/cgroup": "3:memory:/x\n2:cpu:/x\n0::/\n",
      "/sys/fs/cgroup/cgroup.controllers": "pids\n",
    },
  }));
  assertEquals(sorted(r.controllers), ["cpu", "memory", "pids"]);
});

Deno.test("probeCgroupControllers() refuses limits for non-root users without a systemd session", async () => {
  const cases: [Partial<CgroupProbeHost>, RegExp][] = [
    [{ xdgRuntimeDir: "", dbusAddress: "x" }, /XDG_RUNTIME_DIR or DBUS_SESSION_BUS_ADDRESS is empty/],
    [
      { xdgRuntimeDir: "/run/user/7", dbusAddress: "x", uid: 7 },
      /"\/sys\/fs\/cgroup\/user.slice\/user-7.slice\/user@7.service\/cgroup.controllers" cannot be read .*is the user's systemd instance running\?/,
    ],
  ];
  for (const [host, note] of cases) {
    const r = await probeCgroupControllers(fakeHost({
      isRoot: false,
      files: { "/proc/mounts": V2_MOUNTS, "/proc/self/cgroup": V2_SELF },
      ...host,
    }));
    assertEquals(r.controllers.size, 0);
    assertEquals(r.hierarchy, "none");
    assertEquals(r.notes.length, 1);
    assertMatch(r.notes[0], note);
  }
});

Deno.test("probeCgroupControllers() gives non-root users on cgroup v1 no limits", async () => {
  const r = await probeCgroupControllers(fakeHost({
    isRoot: false,
    xdgRuntimeDir: "/r",
    dbusAddress: "x",
    files: { "/proc/mounts": V1_MOUNTS, "/proc/self/cgroup": V1_SELF },
  }));
  assertEquals(r.controllers.size, 0);
  assertEquals(r.notes, [
    "Not running as root, and there is no cgroup2 mount: resource limits are not supported",
  ]);
});

Deno.test("probeCgroupControllers() counts mounted v1 controllers for root when /proc/self/cgroup is unreadable", async () => {
  const r = await probeCgroupControllers(fakeHost({
    files: {
      "/proc/mounts": "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0\n" +
        "cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0\n" +
        "cgroup /sys/fs/cgroup/memory cgroup rw,nosuid,nodev,noexec,relatime,memory 0 0\n" +
        "cgroup /sys/fs/cgroup/systemd cgroup rw,nosuid,xattr,name=systemd 0 0\n",
    },
  }));
  assertEquals(sorted(r.controllers), ["cpu", "cpuacct", "memory", "name=systemd"]);
  assertEquals(r.notes, [], "no v2 complaint once v1 gave both controllers");
});

Deno.test("probeCgroupControllers() explains a mount table it cannot read", async () => {
  const r = await probeCgroupControllers(fakeHost({ files: {} }));
  assertEquals(r.controllers.size, 0);
  assertEquals(r.notes, ["Cannot read the mount table (no mounts): resource limits are not supported"]);
});

// On this kind of host (root, cgroup v1 or hybrid, as the test machines are) the real probe must find both
// controllers even under berth's permission profile, which refuses /proc to Deno.
const V1_HOST = Deno.uid() === 0 && Deno.build.os === "linux" &&
  (await probeCgroupControllers(realCgroupProbeHost(true, {}))).controllers.has("name=systemd");

Deno.test({
  name: "defaultCgroupProbe() finds cpu and memory on a root cgroup v1 host under berth's permission profile",
  ignore: !V1_HOST,
  fn: async () => {
    const lines: string[] = [];
    const support = await defaultCgroupProbe(true, {})((m) => lines.push(m));
    assertEquals(support, { cpu: true, memory: true, swap: true, hierarchy: "v1" });
    assertEquals(lines, []);
  },
});
if (!V1_HOST) {
  console.error("defaultCgroupProbe() host test ignored: needs root on a cgroup v1 (or hybrid) host");
}
