import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertRejects } from "../helpers/assert.ts";
import { acquireJobLock, inspectLock, JobLockedError, readLockRecord } from "../../src/node/lock.ts";
import { formatJobLine, listJobs } from "../../src/node/jobs.ts";
import { processAlive } from "../../src/node/process.ts";
import { brokenMarkerPath, jobOfLockFile, lockFileName, lockPath } from "../../src/node/runtime_dir.ts";
import { deadPid, withDirs } from "./_helpers.ts";

Deno.test("acquireJobLock() writes the job record and refuses a second holder", async () => {
  await withDirs(1, async (base) => {
    const rt = join(base, "runtime"); // created by acquireJobLock
    const lock = await acquireJobLock(rt, "job-one", { engine: "podman", workDir: "/w/job-one" });
    try {
      const record = JSON.parse(await Deno.readTextFile(lockPath(rt, "job-one")));
      assertEquals(record.uuid, "job-one");
      assertEquals(record.pid, Deno.pid);
      assertEquals(record.state, "Starting");
      assertEquals(record.engine, "podman");
      assertEquals(record.work_dir, "/w/job-one");
      assertEquals(record.uid, Deno.uid());
      assertMatch(record.run, /^[0-9a-f]{8}$/);
      assertEquals(
        (await Deno.stat(lockPath(rt, "job-one"))).mode! & 0o777,
        0o600,
        "only the owner may open it",
      );
      assertMatch(record.started, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert(Number.isInteger(record.starttime) && record.starttime > 0);
      const err = await assertRejects(() => acquireJobLock(rt, "job-one"), JobLockedError);
      assertEquals(err.pid, Deno.pid);
      assertMatch(
        err.message,
        /^Job "job-one" is already running on this node \(pid \d+\): lock ".+" is held$/,
      );
    } finally {
      await lock.release();
    }
    assertEquals(await inspectLock(lockPath(rt, "job-one")), null);
    const again = await acquireJobLock(rt, "job-one");
    await again.release();
  });
});

Deno.test("HeldJobLock.update() rewrites the state and engine that list shows", async () => {
  await withDirs(1, async (rt) => {
    const lock = await acquireJobLock(rt, "job-two");
    try {
      await lock.update({ state: "Running", engine: "docker" });
      const r = await readLockRecord(lock.path);
      assertEquals([r?.state, r?.engine], ["Running", "docker"]);
      const status = await inspectLock(lock.path);
      assertEquals([status?.held, status?.running], [true, true]);
    } finally {
      await lock.release();
    }
  });
});

Deno.test("inspectLock() reports a lock file left by a dead berth as not running", async () => {
  await withDirs(1, async (rt) => {
    const pid = await deadPid();
    assertEquals(await processAlive(pid), false);
    const path = lockPath(rt, "job-dead");
    await Deno.writeTextFile(path, JSON.stringify({ uuid: "job-dead", pid }) + "\n");
    const status = await inspectLock(path);
    assertEquals([status?.held, status?.running, status?.record?.pid], [false, false, pid]);
  });
});

Deno.test("inspectLock() does not mistake a process that reused the pid for the job's berth", async () => {
  await withDirs(1, async (rt) => {
    const lock = await acquireJobLock(rt, "job-reuse");
    try {
      const record = JSON.parse(await Deno.readTextFile(lock.path));
      // The lock is advisory: rewrite the record as if another process had had this pid.
      await Deno.writeTextFile(lock.path, JSON.stringify({ ...record, starttime: record.starttime + 12345 }));
      const status = await inspectLock(lock.path);
      assertEquals([status?.held, status?.running], [true, false]);
    } finally {
      await lock.release();
    }
  });
});

Deno.test("listJobs() lists running and stale jobs and the broken marker, oldest first", async () => {
  await withDirs(1, async (rt) => {
    const pid = await deadPid();
    await Deno.writeTextFile(
      lockPath(rt, "job-stale"),
      JSON.stringify({
        uuid: "job-stale",
        pid,
        state: "Running",
        engine: "docker",
        started: "2020-01-01T00:00:00Z",
      }),
    );
    await Deno.writeTextFile(lockPath(rt, "job-empty"), "");
    await Deno.writeTextFile(join(rt, "unrelated.lock"), "x");
    const lock = await acquireJobLock(rt, "job-live", { state: "Running", engine: "singularity" });
    try {
      let listing = await listJobs(rt);
      assertEquals(listing.broken, false);
      assertEquals(listing.jobs.map((j) => [j.uuid, j.stale]), [
        ["job-empty", true],
        ["job-stale", true],
        ["job-live", false],
      ]);
      assertEquals(
        await formatJobLine(listing.jobs[1]),
        `job-stale ${pid} stale docker 2020-01-01T00:00:00Z -`,
      );
      assertEquals(await formatJobLine(listing.jobs[0]), "job-empty - stale - - -");
      assertEquals(
        await formatJobLine(listing.jobs[2]),
        `job-live ${Deno.pid} Running singularity ${lock.record.started} root`,
      );
      await Deno.writeTextFile(brokenMarkerPath(rt), "broken\n");
      listing = await listJobs(rt);
      assertEquals(listing.broken, true);
    } finally {
      await lock.release();
    }
  });
});

Deno.test("listJobs() of a runtime dir that does not exist lists nothing", async () => {
  await withDirs(1, async (base) => {
    assertEquals(await listJobs(join(base, "missing")), { jobs: [], broken: false, markers: [] });
  });
});

Deno.test("jobOfLockFile() reads job uuids from lock file names and skips the directory lock", () => {
  assertEquals(jobOfLockFile("berth-zzzzz-dz642-0123456789abcde.lock"), "zzzzz-dz642-0123456789abcde");
  assertEquals(jobOfLockFile("berth-all.lock"), null);
  assertEquals(jobOfLockFile("berth-broken"), null);
  assertEquals(jobOfLockFile("crunch-run-x.lock"), null);
  assertEquals(jobOfLockFile("berth-../x.lock"), null);
});

Deno.test("lockFileName() keeps a 255-character uuid within a file name and apart from its neighbours", () => {
  const long = "a".repeat(255);
  const other = "a".repeat(254) + "b";
  const name = lockFileName(long);
  assert(new TextEncoder().encode(name).length <= 255, name);
  assertMatch(name, /^berth-a{180}~[0-9a-f]{16}\.lock$/);
  assert(name !== lockFileName(other), "two long uuids sharing 180 characters get two names");
  assertEquals(jobOfLockFile(name), "a".repeat(180) + "~");
  assertEquals(lockFileName("a".repeat(200)), `berth-${"a".repeat(200)}.lock`);
});

Deno.test("acquireJobLock() takes the lock of a 255-character uuid and listJobs() names it from the record", async () => {
  await withDirs(1, async (rt) => {
    const uuid = "z".repeat(255);
    const lock = await acquireJobLock(rt, uuid);
    try {
      assertEquals((await listJobs(rt)).jobs.map((j) => [j.uuid, j.stale]), [[uuid, false]]);
      await assertRejects(() => acquireJobLock(rt, uuid), JobLockedError);
    } finally {
      await lock.release();
    }
  });
});
