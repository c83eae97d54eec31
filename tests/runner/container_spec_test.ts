import { assertEquals } from "../helpers/assert.ts";
import { buildContainerSpec, imageDefaults } from "../../src/runner/container_spec.ts";
import type { PreparedMounts } from "../../src/runner/mounts.ts";
import { fakePlan } from "./_fakes.ts";
import { withTempDir } from "./_job.ts";

const MOUNTS: PreparedMounts = {
  binds: {},
  stdin: { kind: "none" },
  stdoutFile: null,
  stderrFile: null,
  secretPaths: [],
};
const IDENTITY = {
  name: "berth-job-u1500-0a1b2c3d",
  labels: { "org.berth.job": "job", "org.berth.run": "0a1b2c3d" },
};
const STDIO = {
  stdin: null,
  stdout: new WritableStream<Uint8Array>(),
  stderr: new WritableStream<Uint8Array>(),
};

Deno.test("imageDefaults() reads Entrypoint, WorkingDir, Env and User, treating wrong types as absent", () => {
  assertEquals(
    imageDefaults({
      config: {
        Entrypoint: ["/entry", "-x"],
        WorkingDir: "/data",
        Env: ["PATH=/bin", "A=1=2", "NOEQUALS", "A=3", "=bad"],
        User: "1000:1000",
      },
    }),
    { entrypoint: ["/entry", "-x"], workingDir: "/data", env: { PATH: "/bin", A: "3" }, user: "1000:1000" },
  );
  const odd = { config: { Entrypoint: "sh -c", WorkingDir: "relative", Env: [1, 2], User: 7 } };
  assertEquals(imageDefaults(odd as never), { entrypoint: [], workingDir: "", env: {}, user: "" });
  assertEquals(imageDefaults({}), { entrypoint: [], workingDir: "", env: {}, user: "" });
});

Deno.test("buildContainerSpec() resolves Entrypoint + command, the working directory and the whole environment", async () => {
  await withTempDir(async (dir) => {
    const image = {
      entrypoint: ["/entry"],
      workingDir: "/imagewd",
      env: { PATH: "/bin", HOME: "/root" },
      user: "",
    };
    const { parsed, options } = await fakePlan(dir, {
      command: ["run", "it"],
      environment: { HOME: "/home/job", EXTRA: "1" },
    });
    const spec = buildContainerSpec({
      job: parsed.job,
      options,
      mounts: MOUNTS,
      imageId: "sha256:x",
      image,
      stdio: STDIO,
      user: null,
      identity: IDENTITY,
    });
    assertEquals(spec.command, ["/entry", "run", "it"]);
    assertEquals(spec.workingDir, "/imagewd");
    assertEquals(spec.env, { PATH: "/bin", HOME: "/home/job", EXTRA: "1" });
    assertEquals(spec.user, null);
    assertEquals([spec.name, spec.labels], [IDENTITY.name, IDENTITY.labels], "name and labels from src/node");
    const withCwd = await fakePlan(dir, { cwd: "/job/wd" });
    const noImageWd = buildContainerSpec({
      job: withCwd.parsed.job,
      options,
      mounts: MOUNTS,
      imageId: "sha256:x",
      image: { ...image, workingDir: "" },
      stdio: STDIO,
      user: { uid: 1500, gid: 1500, groups: [27] },
      identity: IDENTITY,
    });
    assertEquals(noImageWd.workingDir, "/job/wd");
    assertEquals(noImageWd.user, { uid: 1500, gid: 1500, groups: [27] });
    const plain = buildContainerSpec({
      job: parsed.job,
      options,
      mounts: MOUNTS,
      imageId: "sha256:x",
      image: imageDefaults({}),
      stdio: STDIO,
      user: null,
      identity: IDENTITY,
    });
    assertEquals([plain.command, plain.workingDir], [["run", "it"], "/"]);
  });
});
