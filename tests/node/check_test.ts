/** `berth check` as a subprocess, against the real engines here and a dead socket. */
import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { REPO_ROOT, runBerth } from "../helpers/berth.ts";
import { runBerthAsUser, TEST_USERS, testUsersMissing } from "../helpers/as_user.ts";
import { readKernelFile } from "../../src/stats/kernel_files.ts";
import { withDirs } from "./_helpers.ts";

/** `berth check` options that point the runtime dir and the tmp dir at `dir`. */
function inDir(dir: string): string[] {
  return ["--runtime-dir", dir, "--tmp-dir", dir];
}

/** A socket path nobody listens on (the Docker daemon of a node whose engine is down). */
function deadSocket(dir: string): string {
  return join(dir, "docker.sock");
}

Deno.test("berth check passes on this node and reports Docker's and Podman's versions", async () => {
  await withDirs(1, async (dir) => {
    // A generous engine timeout: the suite shares these daemons with other tests running at the same time.
    const res = await runBerth([
      "check",
      ...inDir(dir),
      "--min-free",
      "1M",
      "--timeout",
      "60",
    ]);
    assertEquals(res.code, 0, res.stdout + res.stderr);
    const lines = res.stdout.trimEnd().split("\n");
    assertMatch(
      lines[0],
      /^ok {3}engine: docker Engine 20\.\d+\.\d+\S*, .* \(API 1\.\d+, using 1\.\d+\) on unix:\/\/\/var\/run\/docker\.sock$/,
    );
    assertMatch(
      lines[1],
      /^ok {3}engine: podman Engine 4\.\d+\.\d+, .* on unix:\/\/\/run\/podman\/podman\.sock$/,
    );
    assert(
      lines.some((l) =>
        /^ok {3}cgroups: docker applies memory and CPU limits \(cgroup v1, driver \S+\)$/.test(l)
      ),
    );
    assert(lines.includes(`ok   broken marker: "${dir}/berth-broken" absent`));
    assert(lines.some((l) => new RegExp(`^ok {3}runtime dir: "${dir}" is writable, .* free of .*$`).test(l)));
    assert(lines.some((l) => new RegExp(`^ok {3}tmp dir: "${dir}" is writable, .* free of .*$`).test(l)));
    assert(lines.includes("skip image cache: none configured (--image-cache)"));
    assert(!lines.some((l) => l.startsWith("FAIL")), res.stdout);
  });
});

Deno.test("berth check fails with a clear engine line when the Docker socket is dead", async () => {
  await withDirs(1, async (dir) => {
    const socket = deadSocket(dir);
    const res = await runBerth(
      [
        "check",
        "--runtime-engine",
        "docker",
        "--docker-socket",
        socket,
        ...inDir(dir),
        "--min-free",
        "1M",
      ],
      { env: { BERTH_EXTRA_NET: `unix:${socket}` } },
    );
    assertEquals(res.code, 1, res.stdout + res.stderr);
    const lines = res.stdout.trimEnd().split("\n");
    assertMatch(
      lines[0],
      new RegExp(
        `^FAIL engine: docker not reachable: Cannot connect to the Docker daemon at unix://${socket}: .+$`,
      ),
    );
    assert(!lines.some((l) => l.startsWith("ok   engine") || l.includes("cgroups")), res.stdout);
    assert(lines.includes(`ok   broken marker: "${dir}/berth-broken" absent`), "the other checks still run");
  });
});

Deno.test("berth check says when the permission profile does not allow a Docker socket", async () => {
  await withDirs(1, async (dir) => {
    const socket = deadSocket(dir);
    const res = await runBerth([
      "check",
      "--runtime-engine",
      "podman",
      "--docker-socket",
      socket,
      ...inDir(dir),
    ]);
    assertEquals(res.code, 1);
    assertEquals(
      res.stdout.split("\n")[0],
      `FAIL engine: podman not reachable: berth's permission profile does not allow connecting to unix://${socket} ` +
        `(add "unix:${socket}" to BERTH_EXTRA_NET)`,
    );
  });
});

Deno.test("berth check fails when the node is marked broken or the tmp dir is short of space", async () => {
  await withDirs(1, async (dir) => {
    await Deno.writeTextFile(join(dir, "berth-broken"), "2026-01-01T00:00:00.000Z no space left on device\n");
    const res = await runBerth([
      "check",
      "--runtime-engine",
      "docker",
      ...inDir(dir),
      "--min-free",
      "1000T",
    ]);
    assertEquals(res.code, 1);
    const lines = res.stdout.trimEnd().split("\n");
    assert(
      lines.includes(
        `FAIL broken marker: node is marked broken: "${dir}/berth-broken" exists ` +
          "(2026-01-01T00:00:00.000Z no space left on device); remove it once the node is fixed",
      ),
      res.stdout,
    );
    assert(
      lines.some((l) =>
        new RegExp(`^FAIL tmp dir: "${dir}" has only .* free of .* \\(needs 1000\\.0 TiB\\)$`).test(l)
      ),
    );
    assert(lines.some((l) => l.startsWith("ok   engine: docker ")));
  });
});

Deno.test("berth check rejects an unknown engine and a bad size with exit 2", async () => {
  const engine = await runBerth(["check", "--runtime-engine", "lxc"]);
  assertEquals(engine.code, 2);
  assertMatch(
    engine.stderr,
    /^berth: check: --runtime-engine must be one of "auto", "docker", "podman", "singularity", "apptainer", got "lxc"\n$/,
  );
  const size = await runBerth(["check", "--min-free", "lots"]);
  assertEquals([size.code, size.stderr], [
    2,
    'berth: check: --min-free must be a size such as 500M or 10G, got "lots"\n',
  ]);
});

Deno.test("berth check finds Singularity or Apptainer, reports its version and the host's cgroup controllers", async () => {
  await withDirs(1, async (dir) => {
    const fixture = join(REPO_ROOT, "tests", "fixtures", "bin", "apptainer");
    const res = await runBerth(
      [
        "check",
        "--runtime-engine",
        "apptainer",
        "--singularity-binary",
        fixture,
        ...inDir(dir),
        "--image-cache",
        join(dir, "sif-cache"),
        "--min-free",
        "1M",
      ],
      { env: { BERTH_EXTRA_RUN: `${Deno.env.get("BERTH_EXTRA_RUN") ?? ""},${fixture}` } },
    );
    assertEquals(res.code, 0, res.stdout + res.stderr);
    const lines = res.stdout.trimEnd().split("\n");
    // berth reports the first line the program prints for --version.
    const version = await new Deno.Command(fixture, { args: ["--version"], stdout: "piped" }).output();
    const first = new TextDecoder().decode(version.stdout).split("\n")[0];
    assertMatch(first, /^apptainer\S* version 1\.2\.\d+ /);
    assertEquals(lines[0], `ok   engine: ${first}`);
    assertEquals(lines[1], "ok   cgroups: cgroup v1 memory and cpu controllers mounted");
    assert(
      lines.some((l) =>
        new RegExp(`^ok {3}image cache: "${dir}/sif-cache" is writable \\(will be created\\), `).test(l)
      ),
    );
  });
});

Deno.test("berth check fails when the Singularity program named is missing", async () => {
  await withDirs(1, async (dir) => {
    const res = await runBerth([
      "check",
      "--runtime-engine",
      "singularity",
      ...inDir(dir),
    ]);
    assertEquals(res.code, 1);
    assertEquals(res.stdout.split("\n")[0], "FAIL engine: singularity not found in PATH");
  });
});

Deno.test({
  name:
    "berth check as an ordinary user finds the rootless Podman and says it cannot apply limits on cgroup v1",
  ignore: (await testUsersMissing()) !== null,
  async fn() {
    const user = TEST_USERS.first;
    const res = await runBerthAsUser(user, [
      "check",
      "--runtime-engine",
      "podman",
      "--min-free",
      "1M",
      "--timeout",
      "60",
    ]);
    const lines = res.stdout.trimEnd().split("\n");
    assertMatch(
      lines[0],
      new RegExp(`^ok {3}engine: podman Engine 4\\.\\S+, .* on unix://${user.podmanSocket}$`),
    );
    const mounts = (await readKernelFile("/proc/mounts")) ?? "";
    const v1 = mounts.split("\n").some((l) => / cgroup (\S*,)?memory/.test(l));
    if (v1) {
      assertEquals(res.code, 1, res.stdout + res.stderr);
      assertMatch(
        lines[1],
        /^FAIL cgroups: rootless podman cannot apply memory and CPU limits on cgroup v1 \(cgroup v1, .*\): limits are ignored$/,
      );
    } else {
      assertMatch(lines[1], /^ok {3}cgroups: podman applies memory and CPU limits/);
    }
    assertEquals(lines.filter((l) => l.startsWith("ok   runtime dir: ")).length, 1, res.stdout);
  },
});
