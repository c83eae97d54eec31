import { EngineError } from "../../../src/errors.ts";
import { execArgs, type ExecArgsInput, execEnv } from "../../../src/executor/singularity/mod.ts";
import { assertEquals, assertThrows } from "../../helpers/assert.ts";

/** The crunch-run stub test's spec (singularity_test.go TestSingularityExecArgs). */
function crunchRunInput(overrides: Partial<ExecArgsInput> = {}): ExecArgsInput {
  return {
    workingDir: "/WorkingDir",
    enableNetwork: false,
    networkMode: "default",
    isRoot: false,
    gpu: { stack: "cuda", deviceCount: 3 },
    vcpus: 2,
    ram: 12345678,
    cgroup: { cpu: true, memory: true },
    mounts: { "/mnt": { hostPath: "/hostpath", readOnly: true } },
    home: undefined,
    imagePath: "/fake/image.sif",
    command: [],
    ...overrides,
  };
}

Deno.test("execArgs() matches crunch-run's argument vector for its stub spec", () => {
  assertEquals(execArgs(crunchRunInput()), {
    args: [
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
      "/fake/image.sif",
    ],
    notes: [],
  });
});

Deno.test("execArgs() leaves out unsupported limits and says so", () => {
  const { args, notes } = execArgs(crunchRunInput({ cgroup: { cpu: false, memory: false } }));
  assertEquals(args, [
    "exec",
    "--containall",
    "--cleanenv",
    "--pwd=/WorkingDir",
    "--net",
    "--network=none",
    "--nv",
    "--bind",
    "/hostpath:/mnt:ro",
    "/fake/image.sif",
  ]);
  assertEquals(notes, [
    "CPU limits are not supported by the current systemd/cgroup configuration, not setting --cpus 2",
    "Memory limits are not supported by the current systemd/cgroup configuration, not setting --memory 12345678",
  ]);
});

Deno.test("execArgs() sorts binds by container path and uses --home for a writable bind at HOME", () => {
  const { args } = execArgs(crunchRunInput({
    workingDir: "",
    gpu: { stack: "", deviceCount: 0 },
    vcpus: 0,
    ram: 0,
    home: "/home/user",
    mounts: {
      "/tmp": { hostPath: "/h/tmp", readOnly: false },
      "/home/user": { hostPath: "/h/home", readOnly: false },
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
    "--pwd=",
    "--net",
    "--network=none",
    "--bind",
    "/h/z:/Z:ro",
    "--home",
    "/h/home:/home/user",
    "--bind",
    "/h/out:/home/user/out:rw",
    "--bind",
    "/h/keep dir:/keep/a b:ro",
    "--bind",
    "/h/tmp:/tmp:rw",
    "/fake/image.sif",
    "sh",
    "-c",
    "echo $HOME",
  ]);
});

Deno.test("execArgs() keeps a read-only bind at HOME read-only instead of using --home", () => {
  const { args } = execArgs(crunchRunInput({
    gpu: { stack: "", deviceCount: 0 },
    vcpus: 0,
    ram: 0,
    home: "/home/user",
    mounts: { "/home/user": { hostPath: "/h/home", readOnly: true } },
    command: ["true"],
  }));
  assertEquals(args.slice(6), ["--bind", "/h/home:/home/user:ro", "/fake/image.sif", "true"]);
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

// Every combination of network, root, GPU and limit support, checked against a table of the fragments each
// choice contributes (the order of the fragments is part of the contract).
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
const LIMIT_CASES: { cpu: boolean; memory: boolean; flags: string[]; notes: number }[] = [
  { cpu: true, memory: true, flags: ["--cpus", "1.5", "--memory", "1073741824"], notes: 0 },
  { cpu: true, memory: false, flags: ["--cpus", "1.5"], notes: 1 },
  { cpu: false, memory: true, flags: ["--memory", "1073741824"], notes: 1 },
  { cpu: false, memory: false, flags: [], notes: 2 },
];

Deno.test("execArgs() orders network, GPU and limit flags exactly for every combination", () => {
  let checked = 0;
  for (const net of NETWORK_CASES) {
    for (const isRoot of [false, true]) {
      for (const gpu of GPU_CASES) {
        for (const limits of LIMIT_CASES) {
          const { args, notes } = execArgs({
            workingDir: "/work",
            enableNetwork: net.enable,
            networkMode: net.mode,
            isRoot,
            gpu: { stack: gpu.stack, deviceCount: gpu.count },
            vcpus: 1.5,
            ram: 1 << 30,
            cgroup: { cpu: limits.cpu, memory: limits.memory },
            mounts: { "/out": { hostPath: "/h/out", readOnly: false } },
            home: "/root",
            imagePath: "/c/img.sif",
            command: ["env"],
          });
          const label =
            `${net.name}, root=${isRoot}, gpu=${gpu.stack}x${gpu.count}, cpu=${limits.cpu}, mem=${limits.memory}`;
          assertEquals(args, [
            "exec",
            "--containall",
            "--cleanenv",
            "--pwd=/work",
            ...(isRoot ? net.root : net.user),
            ...gpu.flags,
            ...limits.flags,
            "--bind",
            "/h/out:/out:rw",
            "/c/img.sif",
            "env",
          ], label);
          assertEquals(notes.length, limits.notes, label);
          checked++;
        }
      }
    }
  }
  assertEquals(checked, NETWORK_CASES.length * 2 * GPU_CASES.length * LIMIT_CASES.length);
});

Deno.test("execArgs() passes no limit flags and no notes when no limits are asked for", () => {
  const { args, notes } = execArgs(
    crunchRunInput({ vcpus: 0, ram: 0, cgroup: { cpu: false, memory: false } }),
  );
  assertEquals(args.includes("--cpus") || args.includes("--memory"), false);
  assertEquals(notes, []);
});

Deno.test("execEnv() matches crunch-run's environment for singularity", () => {
  assertEquals(
    execEnv({
      engine: "singularity",
      env: { FOO: "bar" },
      hostEnv: {
        XDG_RUNTIME_DIR: "/run/user/1000",
        DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1000/bus",
      },
    }),
    {
      SINGULARITYENV_FOO: "bar",
      SINGULARITY_NO_EVAL: "1",
      XDG_RUNTIME_DIR: "/run/user/1000",
      DBUS_SESSION_BUS_ADDRESS: "unix:path=/run/user/1000/bus",
    },
  );
});

Deno.test("execEnv() uses the APPTAINER names for apptainer and empty session variables when unset", () => {
  assertEquals(
    execEnv({ engine: "apptainer", env: { FOO: "bar", X: "$HOME 'q' \"d\"" }, hostEnv: { PATH: "/bin" } }),
    {
      APPTAINERENV_FOO: "bar",
      APPTAINERENV_X: "$HOME 'q' \"d\"",
      APPTAINER_NO_EVAL: "1",
      XDG_RUNTIME_DIR: "",
      DBUS_SESSION_BUS_ADDRESS: "",
    },
  );
});

Deno.test("execEnv() drops HOME and never passes host variables other than the documented ones", () => {
  const env = execEnv({
    engine: "singularity",
    env: { HOME: "/home/u", PATH: "/bin" },
    hostEnv: { HOME: "/root", PATH: "/usr/bin", TMPDIR: "/scratch", NVIDIA_VISIBLE_DEVICES: "all" },
  });
  assertEquals(env, {
    SINGULARITYENV_PATH: "/bin",
    SINGULARITY_NO_EVAL: "1",
    XDG_RUNTIME_DIR: "",
    DBUS_SESSION_BUS_ADDRESS: "",
  });
});

Deno.test("execEnv() propagates the host's CUDA_VISIBLE_DEVICES only when it is set and non-empty", () => {
  for (const engine of ["singularity", "apptainer"] as const) {
    const p = engine === "apptainer" ? "APPTAINER" : "SINGULARITY";
    const base = {
      [`${p}ENV_A`]: "1",
      [`${p}_NO_EVAL`]: "1",
      XDG_RUNTIME_DIR: "",
      DBUS_SESSION_BUS_ADDRESS: "",
    };
    assertEquals(execEnv({ engine, env: { A: "1" }, hostEnv: {} }), base);
    assertEquals(execEnv({ engine, env: { A: "1" }, hostEnv: { CUDA_VISIBLE_DEVICES: "" } }), base);
    assertEquals(execEnv({ engine, env: { A: "1" }, hostEnv: { CUDA_VISIBLE_DEVICES: "0,2" } }), {
      ...base,
      [`${p}ENV_CUDA_VISIBLE_DEVICES`]: "0,2",
    });
    // The host's value wins over a job's own CUDA_VISIBLE_DEVICES, as in crunch-run.
    assertEquals(
      execEnv({ engine, env: { CUDA_VISIBLE_DEVICES: "7" }, hostEnv: { CUDA_VISIBLE_DEVICES: "1" } })[
        `${p}ENV_CUDA_VISIBLE_DEVICES`
      ],
      "1",
    );
  }
});
