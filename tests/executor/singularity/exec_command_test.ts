import { EngineError } from "../../../src/errors.ts";
import {
  containerEnv,
  execArgs,
  type ExecArgsInput,
  execEnv,
  flagsUsed,
  LAUNCH_SCRIPT_PATH,
  type RuntimeCapabilities,
} from "../../../src/executor/singularity/mod.ts";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { fixtureCapabilities } from "../../fixtures/singularity/mod.ts";

const CE311 = await fixtureCapabilities("singularity-ce-3.11");
const CE34 = await fixtureCapabilities("singularity-3.4");
const LAUNCH = ["--bind", `/t/launch.sh:${LAUNCH_SCRIPT_PATH}:ro`];

/** The crunch-run stub test's spec (singularity_test.go TestSingularityExecArgs). */
function crunchRunInput(overrides: Partial<ExecArgsInput> = {}): ExecArgsInput {
  return {
    caps: CE311,
    workingDir: "/WorkingDir",
    enableNetwork: false,
    networkMode: "default",
    isRoot: false,
    gpu: { stack: "cuda", deviceCount: 3 },
    limitArgs: ["--cpus", "2", "--memory", "12345678"],
    mounts: { "/mnt": { hostPath: "/hostpath", readOnly: true } },
    home: undefined,
    homeScratch: "/t/home",
    launchScript: "/t/launch.sh",
    imagePath: "/fake/image.sif",
    command: [],
    ...overrides,
  };
}

Deno.test("execArgs() matches crunch-run's argument vector for its stub spec, plus the launch script", () => {
  assertEquals(execArgs(crunchRunInput()), [
    "exec",
    "--containall",
    "--cleanenv",
    "--pwd=/WorkingDir",
    "--net",
    "--network=none",
    "--nv",
    "--cpus",
    "2",
    "--memory",
    "12345678",
    "--bind",
    "/hostpath:/mnt:ro",
    ...LAUNCH,
    "/fake/image.sif",
  ]);
});

Deno.test("execArgs() sorts binds by container path; a bind at or above HOME stays a --bind", () => {
  const args = execArgs(crunchRunInput({
    gpu: { stack: "", deviceCount: 0 },
    limitArgs: [],
    home: "/home/user",
    mounts: {
      "/tmp": { hostPath: "/h/tmp", readOnly: false },
      "/home/user": { hostPath: "/h/home", readOnly: true },
      "/keep/a b": { hostPath: "/h/keep dir", readOnly: true },
      "/Z": { hostPath: "/h/z", readOnly: true },
      "/home/user/out": { hostPath: "/h/out", readOnly: false },
    },
    command: ["sh", "-c", "echo $HOME"],
  }));
  assertEquals(args, [
    "exec",
    "--containall",
    "--cleanenv",
    "--pwd=/WorkingDir",
    "--net",
    "--network=none",
    "--bind",
    "/h/z:/Z:ro",
    "--bind",
    "/h/home:/home/user:ro",
    "--bind",
    "/h/out:/home/user/out:rw",
    "--bind",
    "/h/keep dir:/keep/a b:ro",
    "--bind",
    "/h/tmp:/tmp:rw",
    ...LAUNCH,
    "/fake/image.sif",
    "sh",
    "-c",
    "echo $HOME",
  ]);
});

Deno.test("execArgs() gives a HOME no bind provides berth's scratch directory with --home", () => {
  const base = { gpu: { stack: "" as const, deviceCount: 0 }, limitArgs: [], command: ["true"] };
  const home = (h: string | undefined, mounts: ExecArgsInput["mounts"] = {}) =>
    execArgs(crunchRunInput({ ...base, home: h, mounts })).filter((a, i, all) =>
      a === "--home" || all[i - 1] === "--home"
    );
  assertEquals(home("/home/job"), ["--home", "/t/home:/home/job"]);
  assertEquals(home("/home/job", { "/home": { hostPath: "/h", readOnly: false } }), []);
  assertEquals(home("/home/job", { "/home/job/out": { hostPath: "/h", readOnly: false } }), [
    "--home",
    "/t/home:/home/job",
  ]);
  assertEquals(home("/"), []);
  assertEquals(home("relative"), []);
  assertEquals(home(undefined), []);
});

Deno.test("execArgs() rejects bind paths that --bind cannot express", () => {
  for (const [ctr, host] of [["/a:b", "/h"], ["/a", "/h,x"]]) {
    const err = assertThrows(
      () => execArgs(crunchRunInput({ mounts: { [ctr]: { hostPath: host, readOnly: false } } })),
      EngineError,
    );
    assertEquals(err.message.includes('contains ":" or ","'), true);
  }
});

Deno.test("execArgs() refuses what the program's exec --help does not list, naming the flag and the program", () => {
  const err = assertThrows(
    () => execArgs(crunchRunInput({ caps: CE34, gpu: { stack: "rocm", deviceCount: 1 }, limitArgs: [] })),
    EngineError,
  );
  assertEquals(
    err.message,
    `Cannot run this container with Singularity 3.4.2 ("${CE34.path}"): a ROCm GPU needs --rocm, which its ` +
      `"exec --help" does not list`,
  );
  const bare: RuntimeCapabilities = { ...CE311, execFlags: new Set(["bind", "pwd", "cleanenv"]) };
  const missing = assertThrows(() => execArgs(crunchRunInput({ caps: bare })), EngineError);
  assertEquals(missing.message.includes("berth needs --containall"), true);
});

// Every combination of network, root and GPU, checked against a table of the fragments each choice contributes
// (the order of the fragments is part of the contract).
const NETWORK_CASES: { name: string; enable: boolean; mode: string; root: string[]; user: string[] }[] = [
  {
    name: "off",
    enable: false,
    mode: "default",
    root: ["--net", "--network=none"],
    user: ["--net", "--network=none"],
  },
  {
    name: "off, host asked",
    enable: false,
    mode: "host",
    root: ["--net", "--network=none"],
    user: ["--net", "--network=none"],
  },
  { name: "on, default", enable: true, mode: "default", root: ["--net", "--network=bridge"], user: [] },
  { name: "on, host", enable: true, mode: "host", root: [], user: [] },
  {
    name: "on, none",
    enable: true,
    mode: "none",
    root: ["--net", "--network=none"],
    user: ["--net", "--network=none"],
  },
  {
    name: "on, named",
    enable: true,
    mode: "ptp",
    root: ["--net", "--network=ptp"],
    user: ["--net", "--network=ptp"],
  },
];
const GPU_CASES: { stack: "" | "cuda" | "rocm"; count: number; flags: string[] }[] = [
  { stack: "", count: 0, flags: [] },
  { stack: "cuda", count: 0, flags: [] },
  { stack: "cuda", count: 2, flags: ["--nv"] },
  { stack: "rocm", count: 0, flags: [] },
  { stack: "rocm", count: 1, flags: ["--rocm"] },
];

Deno.test("execArgs() orders network, GPU and limit flags exactly for every combination", () => {
  let checked = 0;
  for (const net of NETWORK_CASES) {
    for (const isRoot of [false, true]) {
      for (const gpu of GPU_CASES) {
        for (const limitArgs of [[], ["--apply-cgroups", "/t/cgroups.toml"]]) {
          const args = execArgs({
            caps: CE311,
            workingDir: "/work",
            enableNetwork: net.enable,
            networkMode: net.mode,
            isRoot,
            gpu: { stack: gpu.stack, deviceCount: gpu.count },
            limitArgs,
            mounts: { "/out": { hostPath: "/h/out", readOnly: false } },
            home: "/out",
            homeScratch: "/t/home",
            launchScript: "/t/launch.sh",
            imagePath: "/c/img.sif",
            command: ["env"],
          });
          const label =
            `${net.name}, root=${isRoot}, gpu=${gpu.stack}x${gpu.count}, limits=${limitArgs.length}`;
          assertEquals(args, [
            "exec",
            "--containall",
            "--cleanenv",
            "--pwd=/work",
            ...(isRoot ? net.root : net.user),
            ...gpu.flags,
            ...limitArgs,
            "--bind",
            "/h/out:/out:rw",
            ...LAUNCH,
            "/c/img.sif",
            "env",
          ], label);
          checked++;
        }
      }
    }
  }
  assertEquals(checked, NETWORK_CASES.length * 2 * GPU_CASES.length * 2);
});

Deno.test("flagsUsed() lists each long flag once, in order", () => {
  assertEquals(flagsUsed(["exec", "--pwd=/x", "--bind", "a:b", "--bind", "c:d", "img", "--not-a-flag?"]), [
    "--pwd",
    "--bind",
    "--not-a-flag?",
  ]);
});

Deno.test("execEnv() passes only the session variables rootless cgroups need, never the container's", () => {
  assertEquals(
    execEnv({
      XDG_RUNTIME_DIR: "/run/user/1000",
      DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1000/bus",
      HOME: "/root",
      PATH: "/usr/bin",
      SINGULARITYENV_X: "1",
    }),
    { XDG_RUNTIME_DIR: "/run/user/1000", DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1000/bus" },
  );
  assertEquals(execEnv({}), { XDG_RUNTIME_DIR: "", DBUS_SESSION_BUS_ADDRESS: "" });
});

Deno.test("containerEnv() adds the host's non-empty CUDA_VISIBLE_DEVICES for CUDA GPUs only, over the job's", () => {
  const cuda = { stack: "cuda" as const, deviceCount: 1 };
  assertEquals(containerEnv({ A: "1" }, cuda, {}), { A: "1" });
  assertEquals(containerEnv({ A: "1" }, cuda, { CUDA_VISIBLE_DEVICES: "" }), { A: "1" });
  assertEquals(containerEnv({ A: "1" }, cuda, { CUDA_VISIBLE_DEVICES: "0,2" }), {
    A: "1",
    CUDA_VISIBLE_DEVICES: "0,2",
  });
  // The host's value wins over a job's own CUDA_VISIBLE_DEVICES, as in crunch-run.
  assertEquals(containerEnv({ CUDA_VISIBLE_DEVICES: "7" }, cuda, { CUDA_VISIBLE_DEVICES: "1" }), {
    CUDA_VISIBLE_DEVICES: "1",
  });
  assertEquals(
    containerEnv({ A: "1" }, { stack: "", deviceCount: 0 }, { CUDA_VISIBLE_DEVICES: "1" }),
    { A: "1" },
  );
});
