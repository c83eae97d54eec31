import { assertEquals, assertMatch, assertThrows } from "../../helpers/assert.ts";
import { EngineError } from "../../../src/errors.ts";
import type { ContainerSpec } from "../../../src/executor/types.ts";
import { buildCreateBody, type HostFacts } from "../../../src/executor/docker/create_body.ts";
import { plainSpec } from "../../helpers/container_spec.ts";

function spec(over: Partial<ContainerSpec> = {}): ContainerSpec {
  return plainSpec({
    name: "zzzzz-dz642-queuedcontainer",
    image: "sha256:" + "a".repeat(64),
    command: ["echo", "ok"],
    stdout: new WritableStream(),
    stderr: new WritableStream(),
    ...over,
  });
}

const DOCKER = { flavor: "docker", rootless: false } as const;
const PODMAN = { flavor: "podman", rootless: false } as const;
const ROOTLESS_PODMAN = { flavor: "podman", rootless: true } as const;

/** Host facts with the given environment and device files (path → gid). */
function host(env: Record<string, string> = {}, devices: Record<string, number> = {}): HostFacts {
  return { env, deviceGroup: (p) => devices[p] ?? null };
}

Deno.test("buildCreateBody() matches crunch-run's container config for the basic fields", () => {
  const body = buildCreateBody(
    spec({
      vcpus: 4,
      ram: 123123123,
      workingDir: "/WorkingDir",
      env: { FOO: "bar", A: "1" },
      mounts: {
        "/mnt": { hostPath: "/hostpath", readOnly: true },
        "/out": { hostPath: "/host/out", readOnly: false },
      },
      cgroupParent: "/slurm/job1",
    }),
    "1.41",
    host(),
  );
  assertEquals(body, {
    Image: "sha256:" + "a".repeat(64),
    Entrypoint: [""],
    Cmd: ["echo", "ok"],
    WorkingDir: "/WorkingDir",
    Env: ["A=1", "FOO=bar"],
    Labels: { "org.berth.managed": "true", "org.berth.job": "zzzzz-dz642-queuedcontainer" },
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    OpenStdin: true,
    StdinOnce: true,
    Tty: false,
    HostConfig: {
      LogConfig: { Type: "none", Config: {} },
      NetworkMode: "none",
      CgroupParent: "/slurm/job1",
      NanoCpus: 4_000_000_000,
      Memory: 123123123,
      MemorySwap: 123123123,
      Mounts: [
        { Type: "bind", Source: "/hostpath", Target: "/mnt", ReadOnly: true },
        { Type: "bind", Source: "/host/out", Target: "/out", ReadOnly: false },
      ],
    },
  });
});

Deno.test("buildCreateBody() sends paths with ':' and ',' verbatim as structured mounts to Docker", () => {
  const hc = buildCreateBody(
    spec({ mounts: { "/in:x": { hostPath: "/data/a:b,ro", readOnly: false } } }),
    "1.41",
    host(),
    DOCKER,
  ).HostConfig;
  assertEquals(hc.Mounts, [{ Type: "bind", Source: "/data/a:b,ro", Target: "/in:x", ReadOnly: false }]);
  assertEquals(hc.Binds, undefined);
});

Deno.test("buildCreateBody() gives Podman a path with ',' as a Binds entry and one with ':' as a mount", () => {
  const hc = buildCreateBody(
    spec({
      mounts: {
        "/a": { hostPath: "/data/a,ro", readOnly: true },
        "/b": { hostPath: "/data/b:1", readOnly: false },
      },
    }),
    "1.41",
    host(),
    PODMAN,
  ).HostConfig;
  assertEquals(hc.Binds, ["/data/a,ro:/a:ro"]);
  assertEquals(hc.Mounts, [{ Type: "bind", Source: "/data/b:1", Target: "/b", ReadOnly: false }]);
});

Deno.test("buildCreateBody() refuses on Podman a mount whose paths hold both ',' and ':'", () => {
  const err = assertThrows(
    () =>
      buildCreateBody(
        spec({ mounts: { "/a": { hostPath: "/data/x,y:z", readOnly: true } } }),
        "1.41",
        host(),
        PODMAN,
      ),
    EngineError,
  );
  assertEquals(
    err.message,
    'Cannot bind-mount "/data/x,y:z" at "/a" with Podman: its Docker-compatible API cannot express a mount ' +
      'whose paths contain both "," and ":"',
  );
  assertEquals(err.brokenNode, false);
});

Deno.test("buildCreateBody() raises a RAM limit below 16 MiB and leaves 0 unlimited", () => {
  const small = buildCreateBody(spec({ ram: 1000 }), "1.41", host()).HostConfig;
  assertEquals([small.Memory, small.MemorySwap], [16 << 20, 16 << 20]);
  const none = buildCreateBody(spec({ ram: 0, vcpus: 0 }), "1.41", host()).HostConfig;
  assertEquals([none.Memory, none.MemorySwap, none.NanoCpus], [undefined, undefined, undefined]);
  assertEquals(buildCreateBody(spec({ vcpus: 0.5 }), "1.41", host()).HostConfig.NanoCpus, 500_000_000);
});

Deno.test("buildCreateBody() uses the network mode only when networking is enabled", () => {
  assertEquals(buildCreateBody(spec({ networkMode: "host" }), "1.41", host()).HostConfig.NetworkMode, "none");
  assertEquals(
    buildCreateBody(spec({ enableNetwork: true, networkMode: "host" }), "1.41", host()).HostConfig
      .NetworkMode,
    "host",
  );
  assertEquals(
    buildCreateBody(spec({ enableNetwork: true, networkMode: "default" }), "1.41", host()).HostConfig
      .NetworkMode,
    "default",
  );
});

Deno.test("buildCreateBody() asks for a count of CUDA GPUs when CUDA_VISIBLE_DEVICES is unset", () => {
  const hc = buildCreateBody(spec({ gpu: { stack: "cuda", deviceCount: 3 } }), "1.41", host()).HostConfig;
  assertEquals(hc.DeviceRequests, [{
    Driver: "nvidia",
    Count: 3,
    DeviceIDs: null,
    Capabilities: [["gpu", "nvidia", "compute", "utility"]],
  }]);
  assertEquals([hc.Devices, hc.GroupAdd], [undefined, undefined]);
});

Deno.test("buildCreateBody() asks for the CUDA_VISIBLE_DEVICES IDs, not a count, when it is set", () => {
  const hc = buildCreateBody(
    spec({ gpu: { stack: "cuda", deviceCount: 1 } }),
    "1.40",
    host({ CUDA_VISIBLE_DEVICES: "2, GPU-8f1c,,3" }),
  ).HostConfig;
  assertEquals(hc.DeviceRequests, [{
    Driver: "nvidia",
    Count: 0,
    DeviceIDs: ["2", "GPU-8f1c", "3"],
    Capabilities: [["gpu", "nvidia", "compute", "utility"]],
  }]);
  const empty = buildCreateBody(
    spec({ gpu: { stack: "cuda", deviceCount: 2 } }),
    "1.41",
    host({ CUDA_VISIBLE_DEVICES: "" }),
  );
  assertEquals(empty.HostConfig.DeviceRequests?.[0].Count, 2);
});

Deno.test("buildCreateBody() refuses CUDA GPUs on an engine older than API 1.40", () => {
  const err = assertThrows(
    () => buildCreateBody(spec({ gpu: { stack: "cuda", deviceCount: 1 } }), "1.39", host()),
    EngineError,
  );
  assertEquals(
    err.message,
    "CUDA GPUs need Docker Engine API 1.40 or newer, but the engine speaks 1.39: upgrade the engine",
  );
});

Deno.test("buildCreateBody() requests no GPU when the count is 0, whatever the stack", () => {
  for (const stack of ["cuda", "rocm"] as const) {
    const hc = buildCreateBody(spec({ gpu: { stack, deviceCount: 0 } }), "1.35", host()).HostConfig;
    assertEquals([hc.DeviceRequests, hc.Devices, hc.GroupAdd], [undefined, undefined, undefined]);
  }
});

Deno.test("buildCreateBody() maps /dev/kfd and every existing render node for ROCm, with their groups", () => {
  const devices = {
    "/dev/kfd": 44,
    "/dev/dri/renderD128": 109,
    "/dev/dri/renderD129": 109,
    "/dev/dri/renderD200": 7,
  };
  const hc =
    buildCreateBody(spec({ gpu: { stack: "rocm", deviceCount: 2 } }), "1.35", host({}, devices)).HostConfig;
  const rwm = (p: string) => ({ PathOnHost: p, PathInContainer: p, CgroupPermissions: "rwm" });
  assertEquals(hc.Devices, [
    rwm("/dev/kfd"),
    rwm("/dev/dri/renderD128"),
    rwm("/dev/dri/renderD129"),
    rwm("/dev/dri/renderD200"),
  ]);
  assertEquals(hc.GroupAdd, ["44", "109", "7"]);
  assertEquals(hc.DeviceRequests, undefined);
});

Deno.test("buildCreateBody() honours AMD_VISIBLE_DEVICES and skips entries that are not integers", () => {
  const devices = {
    "/dev/kfd": 44,
    "/dev/dri/renderD128": 109,
    "/dev/dri/renderD129": 110,
    "/dev/dri/renderD131": 109,
  };
  const hc = buildCreateBody(
    spec({ gpu: { stack: "rocm", deviceCount: 1 } }),
    "1.41",
    host({ AMD_VISIBLE_DEVICES: "1,x, 3,7" }, devices),
  ).HostConfig;
  assertEquals(hc.Devices?.map((d) => d.PathOnHost), [
    "/dev/kfd",
    "/dev/dri/renderD129",
    "/dev/dri/renderD131",
  ]);
  assertEquals(hc.GroupAdd, ["44", "110", "109"]);
});

Deno.test("buildCreateBody() fails with a clear EngineError when ROCm is requested without /dev/kfd", () => {
  const err = assertThrows(
    () =>
      buildCreateBody(
        spec({ gpu: { stack: "rocm", deviceCount: 1 } }),
        "1.41",
        host({}, { "/dev/dri/renderD128": 1 }),
      ),
    EngineError,
  );
  assertMatch(err.message, /^ROCm GPUs were requested, but this node has no "\/dev\/kfd"/);
});

Deno.test("buildCreateBody() clears the image's Entrypoint and sends the spec's whole command and directory", () => {
  const body = buildCreateBody(
    spec({ command: ["/entry.sh", "--flag", "job", "arg"], workingDir: "/", env: { B: "2", A: "" } }),
    "1.41",
    host(),
  );
  assertEquals(
    [body.Entrypoint, body.Cmd, body.WorkingDir, body.Env],
    [[""], ["/entry.sh", "--flag", "job", "arg"], "/", ["A=", "B=2"]],
  );
});

Deno.test("buildCreateBody() runs a spec user as uid:gid with its groups, merged with the ROCm groups", () => {
  const user = { uid: 1500, gid: 1500, groups: [105, 44] };
  const body = buildCreateBody(
    spec({ user, gpu: { stack: "rocm", deviceCount: 1 } }),
    "1.41",
    host({}, { "/dev/kfd": 44, "/dev/dri/renderD128": 109 }),
  );
  assertEquals([body.User, body.HostConfig.GroupAdd, body.HostConfig.UsernsMode], [
    "1500:1500",
    ["105", "44", "109"],
    undefined,
  ]);
  const image = buildCreateBody(spec({ user: null }), "1.41", host());
  assertEquals([image.User, image.HostConfig.GroupAdd], [undefined, undefined]);
});

Deno.test("buildCreateBody() on rootless Podman keeps the user's id in its namespace and adds no groups", () => {
  const body = buildCreateBody(
    spec({ user: { uid: 1500, gid: 1500, groups: [105] } }),
    "1.41",
    host(),
    ROOTLESS_PODMAN,
  );
  assertEquals([body.User, body.HostConfig.UsernsMode, body.HostConfig.GroupAdd], [
    "1500:1500",
    "keep-id",
    undefined,
  ]);
});

Deno.test("buildCreateBody() puts the spec's labels beside berth's own, which they may refine", () => {
  const body = buildCreateBody(
    spec({ labels: { "org.berth.job": "zzzzz-dz642-queuedcontainer", "org.berth.run": "0a1b2c3d" } }),
    "1.41",
    host(),
  );
  assertEquals(body.Labels, {
    "org.berth.managed": "true",
    "org.berth.job": "zzzzz-dz642-queuedcontainer",
    "org.berth.run": "0a1b2c3d",
  });
});
