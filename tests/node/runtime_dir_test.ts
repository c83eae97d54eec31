/** The pure parts of the multi-user node model: runtime dir rules, temp dir names and locks, container names. */
import { join } from "node:path";
import { assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { UsageError } from "../../src/errors.ts";
import {
  chooseRuntimeDir,
  runtimeDirCandidates,
  runtimeDirsToSearch,
  unusableReason,
} from "../../src/node/runtime_dir.ts";
import { createJobTmpDir, jobOfTmpDir, jobTmpDirPrefix, tmpDirState } from "../../src/node/tmp_dirs.ts";
import { containerIdentity, runOfLabels } from "../../src/node/container_name.ts";
import { containerUserFor, invokingUser, parseStatusGroups } from "../../src/node/identity.ts";
import { parsePasswd } from "../../src/node/users.ts";
import { withDirs } from "./_helpers.ts";

Deno.test("runtimeDirCandidates() prefers /var/lock/berth-UID, then $XDG_RUNTIME_DIR/berth, then /tmp/berth-UID", () => {
  assertEquals(runtimeDirCandidates(1500, "/run/user/1500"), [
    "/var/lock/berth-1500",
    "/run/user/1500/berth",
    "/tmp/berth-1500",
  ]);
  assertEquals(runtimeDirCandidates(0, ""), ["/var/lock/berth-0", "/tmp/berth-0"]);
  assertEquals(runtimeDirCandidates(7, "relative"), ["/var/lock/berth-7", "/tmp/berth-7"]);
});

Deno.test("unusableReason() accepts only a real directory of the user that others cannot write", async () => {
  await withDirs(1, async (dir) => {
    const uid = Deno.uid()!;
    assertEquals(unusableReason(await Deno.lstat(dir), uid), null);
    assertEquals(unusableReason(await Deno.lstat(dir), uid + 1), `it belongs to uid ${uid}, not ${uid + 1}`);
    await Deno.chmod(dir, 0o775);
    assertEquals(unusableReason(await Deno.lstat(dir), uid), "it is writable by other users (mode 0775)");
    await Deno.chmod(dir, 0o1777);
    assertEquals(unusableReason(await Deno.lstat(dir), uid), "it is writable by other users (mode 1777)");
    await Deno.chmod(dir, 0o700);
    await Deno.symlink(dir, join(dir, "link"));
    assertEquals(unusableReason(await Deno.lstat(join(dir, "link")), uid), "it is a symlink");
    await Deno.writeTextFile(join(dir, "file"), "");
    assertEquals(unusableReason(await Deno.lstat(join(dir, "file")), uid), "it is not a directory");
  });
});

Deno.test("chooseRuntimeDir() creates a missing --runtime-dir 0755 and refuses one others can write", async () => {
  await withDirs(1, async (base) => {
    const made = join(base, "a", "rt");
    assertEquals(await chooseRuntimeDir(made), made);
    assertEquals((await Deno.stat(made)).mode! & 0o7777, 0o755);
    await Deno.chmod(made, 0o777);
    const err = await assertRejects(() => chooseRuntimeDir(made), UsageError);
    assertEquals(err.message, `Cannot use runtime dir "${made}": it is writable by other users (mode 0777)`);
    assertEquals(await runtimeDirsToSearch(made), [{ path: made, uid: Deno.uid()! }]);
  });
});

Deno.test("job temp dirs: berth-run-<uuid>-<random>, 0700, live while held, dead once nobody holds the lock", async () => {
  await withDirs(1, async (tmp) => {
    const held = await createJobTmpDir(tmp, "zzzzz-dz642-0123456789abcde");
    const name = held.path.slice(tmp.length + 1);
    assertMatch(name, /^berth-run-zzzzz-dz642-0123456789abcde-[A-Za-z0-9]{6,}$/);
    assertEquals(jobOfTmpDir(name), "zzzzz-dz642-0123456789abcde");
    assertEquals((await Deno.stat(held.path)).mode! & 0o777, 0o700);
    assertEquals(await tmpDirState(held.path), "live");
    const dead = await Deno.makeTempDir({ dir: tmp, prefix: jobTmpDirPrefix("x") });
    await Deno.writeTextFile(join(dead, ".berth-run.lock"), "");
    assertEquals(await tmpDirState(dead), "dead");
    assertEquals(await tmpDirState(join(tmp, "missing")), "unknown");
    assertEquals(await held.release(), null);
    assertEquals(await held.release(), null, "release() is idempotent");
    assertEquals(await Deno.lstat(held.path).then(() => true, () => false), false);
  });
  // Names that are not berth's job temp dirs, the Singularity executor's own among them.
  for (
    const name of ["berth-singularity-1a2b3c", "berth-job-abcdef", "berth-run-", "berth-run-..-abcdef", "x"]
  ) {
    assertEquals(jobOfTmpDir(name), null, name);
  }
  assertEquals(jobTmpDirPrefix("u".repeat(255)), `berth-run-${"u".repeat(48)}-`);
});

Deno.test("containerIdentity() names a container per user and run, and runOfLabels() reads it back", () => {
  const id = containerIdentity({
    uuid: "job-1",
    uid: 1500,
    run: "0a1b2c3d",
    lockPath: "/var/lock/berth-1500/l",
  });
  assertEquals(id, {
    name: "berth-job-1-u1500-0a1b2c3d",
    labels: {
      "org.berth.job": "job-1",
      "org.berth.owner": "1500",
      "org.berth.run": "0a1b2c3d",
      "org.berth.lock": "/var/lock/berth-1500/l",
    },
  });
  assertEquals(runOfLabels(id.labels), {
    uuid: "job-1",
    uid: 1500,
    run: "0a1b2c3d",
    lockPath: "/var/lock/berth-1500/l",
  });
  assertEquals(
    runOfLabels({ "org.berth.job": "berth-old", "org.berth.owner": "x", "org.berth.lock": "rel" }),
    {
      uuid: "berth-old",
      uid: null,
      run: null,
      lockPath: null,
    },
  );
  const long = containerIdentity({ uuid: "v".repeat(255), uid: 0, run: "00000000", lockPath: "/l" });
  assertEquals(long.name, `berth-${"v".repeat(64)}-u0-00000000`);
  assertEquals(long.labels["org.berth.job"], "v".repeat(255));
});

Deno.test("the container runs as the invoking user only for a non-root berth on Docker or Podman", async () => {
  assertEquals(parseStatusGroups("Name:\tx\nGroups:\t105 1500 27 105 \nNgid:\t0\n", 1500), [27, 105]);
  assertEquals(parseStatusGroups("Groups:\t\n", 0), []);
  const user = { uid: 1500, gid: 1500, groups: [105] };
  assertEquals(containerUserFor("docker", user), user);
  assertEquals(containerUserFor("podman", user), user);
  assertEquals(containerUserFor("singularity", user), null);
  assertEquals(containerUserFor("docker", { uid: 0, gid: 0, groups: [] }), null);
  const me = await invokingUser();
  assertEquals([me.uid, me.gid], [Deno.uid(), Deno.gid()]);
  assertEquals(
    parsePasswd("root:x:0:0::/root:/bin/sh\nberthuser:x:1500:1500::/home/b:/bin/bash\nbad\n"),
    new Map([[0, "root"], [1500, "berthuser"]]),
  );
});
