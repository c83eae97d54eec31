import { assertEquals, assertMatch, assertThrows } from "../helpers/assert.ts";
import { UsageError } from "../../src/errors.ts";
import { parseRunArgs } from "../../src/cli/run.ts";
import { runBerth } from "../helpers/berth.ts";

Deno.test("parseRunArgs() fills in the documented defaults", () => {
  const p = parseRunArgs(["job.json"], "/home/u")!;
  assertEquals(p.jobPath, "job.json");
  assertEquals(p.engine, "auto");
  assertEquals(p.workDir, "");
  assertEquals(p.allowBind, []);
  assertEquals(p.enableNetworking, "default");
  assertEquals(p.networkMode, "default");
  assertEquals(p.enableMemoryLimit, true);
  assertEquals(p.crunchstatInterval, 10);
  assertEquals(p.watchdogInterval, 15);
  assertEquals(p.keepMount, "");
  assertEquals(p.brokenNodeHook, "");
});

Deno.test("parseRunArgs() reads every option and makes paths absolute", () => {
  const p = parseRunArgs([
    "--runtime-engine=podman",
    "--work-dir",
    "w",
    "--tmp-dir=/scratch",
    "--keep-mount",
    "keep",
    "--allow-bind",
    "/data",
    "--allow-bind=rel",
    "--image-cache",
    "/cache",
    "--image-cache-group",
    "4711",
    "--image-cache-verify",
    "--docker-socket",
    "/run/x.sock",
    "--singularity-binary",
    "apptainer",
    "--container-enable-networking",
    "always",
    "--container-network-mode",
    "host",
    "--enable-memory-limit",
    "false",
    "--cgroup-parent",
    "/slurm/job1",
    "--crunchstat-interval",
    "0.5",
    "--broken-node-hook",
    "/usr/local/bin/drain",
    "--runtime-dir",
    "rt",
    "--watchdog-interval",
    "2",
    "--pull",
    "never",
    "--insecure-registry",
    "127.0.0.1:5000",
    "--insecure-registry",
    "Registry.Example",
    "--registry-auth",
    "auth/config.json",
    "job.json",
  ], "/home/u")!;
  assertEquals(p, {
    jobPath: "job.json",
    engine: "podman",
    workDir: "/home/u/w",
    tmpDir: "/scratch",
    keepMount: "/home/u/keep",
    allowBind: ["/data", "/home/u/rel"],
    imageCache: "/cache",
    imageCacheGroup: 4711,
    imageCacheVerify: true,
    dockerSocket: "/run/x.sock",
    singularityBinary: "apptainer",
    enableNetworking: "always",
    networkMode: "host",
    enableMemoryLimit: false,
    cgroupParent: "/slurm/job1",
    crunchstatInterval: 0.5,
    brokenNodeHook: "/usr/local/bin/drain",
    runtimeDir: "/home/u/rt",
    watchdogInterval: 2,
    detach: false,
    pull: "never",
    insecureRegistries: ["127.0.0.1:5000", "registry.example"],
    registryAuth: "/home/u/auth/config.json",
  });
});

for (
  const [args, message] of [
    [[], /^run: missing the job file/],
    [["a.json", "b.json"], /^run: expected one job file, got 2 arguments/],
    [
      ["--runtime-engine", "lxc", "j.json"],
      /^run: --runtime-engine must be one of "auto", "docker", "podman", "singularity", "apptainer", got "lxc"$/,
    ],
    [
      ["--enable-memory-limit", "yes", "j.json"],
      /^run: --enable-memory-limit must be one of "true", "false", got "yes"$/,
    ],
    [["--container-enable-networking", "never", "j.json"], /must be one of "default", "always"/],
    [
      ["--crunchstat-interval=-1", "j.json"],
      /^run: --crunchstat-interval must be a number of seconds, got "-1"$/,
    ],
    [
      ["--watchdog-interval", "0", "j.json"],
      /^run: --watchdog-interval must be a number of seconds of at least 0.1/,
    ],
    [["--work-dir=", "j.json"], /^run: --work-dir must not be empty$/],
    [
      ["--pull", "sometimes", "j.json"],
      /^run: --pull must be one of "missing", "always", "never", got "sometimes"$/,
    ],
    [
      ["--insecure-registry", "http://host:5000", "j.json"],
      /^run: --insecure-registry must be a registry HOST or HOST:PORT \(no scheme, no path\), got "http:\/\/host:5000"$/,
    ],
    [["--registry-auth=", "j.json"], /^run: --registry-auth must not be empty$/],
    [
      ["--image-cache-group", "no-such-group-x", "j.json"],
      /^run: --image-cache-group must be a group id or a group name in \/etc\/group, got "no-such-group-x"$/,
    ],
    [["--frobnicate", "j.json"], /^run: Unknown option '--frobnicate'/],
  ] as [string[], RegExp][]
) {
  Deno.test(`parseRunArgs() refuses ${JSON.stringify(args)} as a usage error`, () => {
    const err = assertThrows(() => parseRunArgs(args, "/"), UsageError);
    assertEquals(err.exitCode, 2);
    assertMatch(err.message, message);
  });
}

Deno.test("berth run --help documents every option", async () => {
  const r = await runBerth(["run", "--help"]);
  assertEquals(r.code, 0);
  for (
    const option of [
      "--runtime-engine",
      "--work-dir",
      "--tmp-dir",
      "--keep-mount",
      "--allow-bind",
      "--image-cache",
      "--image-cache-group",
      "--image-cache-verify",
      "--docker-socket",
      "--singularity-binary",
      "--container-enable-networking",
      "--container-network-mode",
      "--enable-memory-limit",
      "--cgroup-parent",
      "--crunchstat-interval",
      "--broken-node-hook",
      "--runtime-dir",
      "--watchdog-interval",
    ]
  ) {
    assertMatch(r.stdout, new RegExp(`\\n  ${option} `), option);
  }
  assertMatch(r.stdout, /^Usage: berth run JOB\.json \[options\]/);
});

Deno.test("parseRunArgs() reads --image-cache-group as a name from /etc/group or a number", () => {
  const root = /^root:[^:]*:(\d+):/m.exec(Deno.readTextFileSync("/etc/group"));
  assertEquals(
    parseRunArgs(["--image-cache-group", "root", "j.json"], "/")!.imageCacheGroup,
    Number(root![1]),
  );
  assertEquals(parseRunArgs(["--image-cache-group", "1501", "j.json"], "/")!.imageCacheGroup, 1501);
  assertEquals(parseRunArgs(["j.json"], "/")!.imageCacheGroup, null);
  assertEquals(parseRunArgs(["j.json"], "/")!.imageCacheVerify, false);
});
