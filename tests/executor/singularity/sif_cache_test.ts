/**
 * The shared SIF cache, exercised through the executor with the CLI fixture doing real conversions (the fixture
 * records each build it starts in `BERTH_FIXTURE_BUILD_LOG`).
 */
import { basename, join } from "node:path";
import { EngineError, ImageError } from "../../../src/errors.ts";
import {
  obtainSif,
  type ObtainSifOptions,
  sifBaseName,
  type SingularityExecutor,
} from "../../../src/executor/singularity/mod.ts";
import { findCachedSif, type FindCachedSifOptions } from "../../../src/executor/singularity/sif_cache.ts";
import { testImage } from "../../images/mod.ts";
import { buildLogLines, fixtureExecutor, recordingLog, testHostEnv } from "../../fixtures/singularity/mod.ts";
import {
  assert,
  assertEquals,
  assertMatch,
  assertRejects,
  assertStringIncludes,
} from "../../helpers/assert.ts";

interface CacheWorld {
  dir: string;
  cache: string;
  buildLog: string;
  executors: SingularityExecutor[];
  make(extraEnv?: Record<string, string>, log?: (m: string) => void): Promise<SingularityExecutor>;
}

/** Runs `fn` with a fresh cache dir; closes every executor made and removes everything afterwards. */
async function withCache(fn: (w: CacheWorld) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "berth-sif-cache-test-" });
  const world: CacheWorld = {
    dir,
    cache: join(dir, "cache"),
    buildLog: join(dir, "builds.log"),
    executors: [],
    async make(extraEnv = {}, log = () => {}) {
      const exec = await fixtureExecutor("singularity", dir, {
        imageCache: world.cache,
        hostEnv: testHostEnv({ BERTH_FIXTURE_BUILD_LOG: world.buildLog, ...extraEnv }),
        log,
      });
      world.executors.push(exec);
      return exec;
    },
  };
  try {
    await fn(world);
  } finally {
    await Promise.allSettled(world.executors.map((e) => e.close()));
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  try {
    return (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort();
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return [];
    throw err;
  }
}

Deno.test("loadImage() converts once when 20 jobs load the same image into one cache at the same time", async () => {
  const busybox = await testImage("busybox");
  await withCache(async (w) => {
    const execs = await Promise.all(Array.from({ length: 20 }, () => w.make()));
    await Promise.all(execs.map((e) => e.loadImage(busybox.id, busybox.path)));
    assertEquals((await buildLogLines(w.buildLog)).length, 1);
    const base = sifBaseName(busybox.id);
    assertEquals(await listDir(w.cache), [`${base}.sif`, `${base}.sif.json`, `${base}.sif.lock`]);
    for (const e of execs) assertEquals(e.sifPath(busybox.id), join(w.cache, `${base}.sif`));
    assert((await Deno.stat(join(w.cache, `${base}.sif`))).size > 0);
  });
});

Deno.test("loadImage() hits the cache after a miss without building again", async () => {
  const busybox = await testImage("busybox");
  await withCache(async (w) => {
    const first = recordingLog();
    await (await w.make({}, first.log)).loadImage(busybox.id, busybox.path);
    assertEquals((await buildLogLines(w.buildLog)).length, 1);
    assert(
      first.lines.some((l) => l.startsWith("INFO:    Build complete:")),
      "the build's output is in the job log",
    );
    const second = recordingLog();
    const exec = await w.make({}, second.log);
    await exec.loadImage(busybox.id, busybox.path);
    assertEquals((await buildLogLines(w.buildLog)).length, 1);
    assertEquals(second.lines, [`Using cached image "${exec.sifPath(busybox.id)}"`]);
  });
});

Deno.test("loadImage() leaves no entry when the conversion is killed midway, and the next job converts cleanly", async () => {
  const busybox = await testImage("busybox");
  await withCache(async (w) => {
    const killed = await w.make({ BERTH_FIXTURE_BUILD_KILL: "1" });
    const err = await assertRejects(() => killed.loadImage(busybox.id, busybox.path), EngineError);
    assertStringIncludes(err.message, "was killed by SIGKILL");
    const base = sifBaseName(busybox.id);
    assertEquals(await listDir(w.cache), [`${base}.sif.lock`]);
    assertEquals(await listDir(killed.workDir), [], "the conversion's private dirs are gone");
    const next = await w.make();
    await next.loadImage(busybox.id, busybox.path);
    assertEquals((await buildLogLines(w.buildLog)).length, 2);
    assertEquals(await listDir(w.cache), [`${base}.sif`, `${base}.sif.json`, `${base}.sif.lock`]);
  });
});

Deno.test("loadImage() rejects a truncated tarball with ImageError and caches nothing", async () => {
  const truncated = await testImage("truncated");
  await withCache(async (w) => {
    const exec = await w.make();
    const err = await assertRejects(() => exec.loadImage(truncated.id, truncated.path), ImageError);
    assertMatch(err.message, /truncated/);
    assertEquals((await listDir(w.cache)).filter((n) => !n.endsWith(".lock")), []);
    assertEquals(await buildLogLines(w.buildLog), []);
    assertEquals(exec.sifPath(truncated.id), undefined);
  });
});

Deno.test("loadImage() refuses a tarball that holds another image than the ID it is cached under", async () => {
  const busybox = await testImage("busybox");
  const multilayer = await testImage("multilayer");
  await withCache(async (w) => {
    const exec = await w.make();
    const err = await assertRejects(() => exec.loadImage(multilayer.id, busybox.path), ImageError);
    assertStringIncludes(err.message, `holds image "${busybox.id}", not "${multilayer.id}"`);
    assertEquals((await listDir(w.cache)).filter((n) => !n.endsWith(".lock")), []);
  });
});

Deno.test("loadImage() converts into the job's temp dir when the cache dir cannot be written", async () => {
  const busybox = await testImage("busybox");
  await withCache(async (w) => {
    // /proc exists and refuses new files even to root: an honest unwritable directory.
    const { log, lines } = recordingLog();
    const exec = await fixtureExecutor("singularity", w.dir, {
      imageCache: "/proc",
      hostEnv: testHostEnv({ BERTH_FIXTURE_BUILD_LOG: w.buildLog }),
      log,
    });
    w.executors.push(exec);
    await exec.loadImage(busybox.id, busybox.path);
    assertEquals(exec.sifPath(busybox.id), join(exec.workDir, `${sifBaseName(busybox.id)}.sif`));
    assert(
      lines.some((l) => l.startsWith(`Cannot use image cache "/proc"`) && l.endsWith("temp dir instead")),
    );
    assertEquals((await buildLogLines(w.buildLog)).length, 1);
  });
});

Deno.test("loadImage() without a cache converts into the executor's temp dir once", async () => {
  const busybox = await testImage("busybox");
  await withCache(async (w) => {
    const exec = await fixtureExecutor("apptainer", w.dir, {
      hostEnv: testHostEnv({ BERTH_FIXTURE_BUILD_LOG: w.buildLog }),
    });
    w.executors.push(exec);
    await exec.loadImage(busybox.id, busybox.path);
    await exec.loadImage(busybox.id, busybox.path);
    assertEquals(exec.sifPath(busybox.id), join(exec.workDir, `${sifBaseName(busybox.id)}.sif`));
    assertEquals((await buildLogLines(w.buildLog)).length, 1);
    await exec.close();
    assertEquals(await listDir(w.dir), ["builds.log"], "close() removed the executor's temp dir");
  });
});

Deno.test("loadImage() sweeps partial files of dead conversions but not of running ones", async () => {
  const busybox = await testImage("busybox");
  const multilayer = await testImage("multilayer");
  await withCache(async (w) => {
    await Deno.mkdir(w.cache);
    const own = `.${sifBaseName(busybox.id)}.deadbeef.sif-partial`;
    const otherDead = `.${sifBaseName(multilayer.id)}.0dead.sif-partial`;
    const otherBusy = `.sha256-${"ab".repeat(32)}.0busy.sif-partial`;
    for (const name of [own, otherDead, otherBusy]) {
      await Deno.writeTextFile(join(w.cache, name), "half an image");
    }
    // A conversion of a third image is running: its lock is held.
    const busyLock = await Deno.open(join(w.cache, `sha256-${"ab".repeat(32)}.sif.lock`), {
      create: true,
      write: true,
    });
    try {
      await busyLock.lock(true);
      const exec = await w.make();
      await exec.loadImage(busybox.id, busybox.path);
      const names = await listDir(w.cache);
      assertEquals(names.filter((n) => n.endsWith(".sif-partial")), [otherBusy]);
      assert(names.includes(basename(exec.sifPath(busybox.id)!)));
    } finally {
      busyLock.close();
    }
  });
});

Deno.test("loadImage() rejects an image ID that is not a digest", async () => {
  const busybox = await testImage("busybox");
  await withCache(async (w) => {
    const exec = await w.make();
    const err = await assertRejects(() => exec.loadImage("busybox:latest", busybox.path), ImageError);
    assertStringIncludes(err.message, `Invalid image ID "busybox:latest"`);
  });
});

// ---- Trust: a cache shared with strangers (obtainSif directly; `convert` writes a small stand-in SIF) ----

const IMAGE_ID = `sha256:${"5e".repeat(32)}`;
const OTHER_ID = `sha256:${"0a".repeat(32)}`;
const BASE = sifBaseName(IMAGE_ID);

interface TrustWorld {
  dir: string;
  cache: string;
  local: string;
  entry: string;
  record: string;
  builds: string[];
  lines: string[];
  obtain(opts?: Partial<ObtainSifOptions>): Promise<string>;
}

/** A cache dir (mode 0755, root's: the tests run as root) and a job dir; `obtain()` records each conversion. */
async function withTrustCache(fn: (w: TrustWorld) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "berth-sif-trust-" });
  const cache = join(dir, "cache");
  const local = join(dir, "job");
  await Deno.mkdir(cache, { mode: 0o755 });
  await Deno.chmod(cache, 0o755);
  await Deno.mkdir(local);
  const world: TrustWorld = {
    dir,
    cache,
    local,
    entry: join(cache, `${BASE}.sif`),
    record: join(cache, `${BASE}.sif.json`),
    builds: [],
    lines: [],
    obtain: (opts = {}) =>
      obtainSif({
        imageId: IMAGE_ID,
        cacheDir: cache,
        localDir: local,
        convert: async (dst) => {
          world.builds.push(dst);
          await Deno.writeTextFile(dst, `SIF of ${IMAGE_ID} #${world.builds.length}\n`);
        },
        log: (line) => world.lines.push(line),
        ...opts,
      }),
  };
  try {
    await fn(world);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("obtainSif() writes a record of the image beside each entry, read-only, and trusts it on the next run", async () => {
  await withTrustCache(async (w) => {
    assertEquals(await w.obtain(), w.entry);
    const info = await Deno.lstat(w.entry);
    const record = JSON.parse(await Deno.readTextFile(w.record));
    assertEquals(record.image_id, IMAGE_ID);
    assertEquals(record.size, info.size);
    assertEquals(record.mtime_ms, info.mtime!.getTime());
    assertMatch(record.sha256, /^[0-9a-f]{64}$/);
    assertEquals(info.mode! & 0o777, 0o555);
    assertEquals((await Deno.lstat(w.record)).mode! & 0o777, 0o444);
    w.lines.length = 0;
    assertEquals(await w.obtain(), w.entry);
    assertEquals(w.builds.length, 1);
    assertEquals(w.lines, [`Using cached image "${w.entry}"`]);
  });
});

/** Each way an entry can be planted or damaged, and the reason berth gives for not using it. */
const UNTRUSTED_ENTRIES: { name: string; plant(w: TrustWorld): Promise<void>; reason: RegExp }[] = [
  {
    name: "a planted file without a record",
    plant: (w) => Deno.writeTextFile(w.entry, "evil image"),
    reason: /no record of the image it was built from/,
  },
  {
    name: "a file whose record names another image",
    plant: async (w) => {
      await w.obtain();
      const record = JSON.parse(await Deno.readTextFile(w.record));
      await Deno.chmod(w.record, 0o644);
      await Deno.writeTextFile(w.record, JSON.stringify({ ...record, image_id: OTHER_ID }));
    },
    reason: new RegExp(`its record names image "${OTHER_ID}"`),
  },
  {
    name: "a file changed after its record was written",
    plant: async (w) => {
      await w.obtain();
      await Deno.chmod(w.entry, 0o644);
      await Deno.writeTextFile(w.entry, "appended", { append: true });
    },
    reason: /size or modification time differs from its record/,
  },
  {
    name: "a symlink",
    plant: async (w) => {
      await Deno.writeTextFile(join(w.dir, "elsewhere.sif"), "evil image");
      await Deno.symlink(join(w.dir, "elsewhere.sif"), w.entry);
    },
    reason: /is not a regular file/,
  },
  {
    name: "a file owned by another user",
    plant: async (w) => {
      await w.obtain();
      await Deno.chown(w.entry, 1500, 1500);
    },
    reason: /is owned by uid 1500/,
  },
  {
    name: "a file anyone may write",
    plant: async (w) => {
      await w.obtain();
      await Deno.chmod(w.entry, 0o666);
    },
    reason: /may be written by others/,
  },
  {
    name: "a record owned by another user",
    plant: async (w) => {
      await w.obtain();
      await Deno.chown(w.record, 1500, 1500);
    },
    reason: /record .* is owned by uid 1500/,
  },
];

for (const c of UNTRUSTED_ENTRIES) {
  Deno.test(`obtainSif() ignores ${c.name} and rebuilds it in place, with one log line`, async () => {
    await withTrustCache(async (w) => {
      await c.plant(w);
      const before = w.builds.length;
      w.lines.length = 0;
      assertEquals(await w.obtain(), w.entry);
      assertEquals(w.builds.length, before + 1, "converted again");
      const ignored = w.lines.filter((l) => l.startsWith("Ignoring cached image"));
      assertEquals(ignored.length, 1, w.lines.join("\n"));
      assertMatch(ignored[0], c.reason);
      assertStringIncludes(ignored[0], "converting it again");
      const info = await Deno.lstat(w.entry);
      assert(info.isFile);
      assertEquals(info.uid, Deno.uid());
      assertEquals(await Deno.readTextFile(w.entry), `SIF of ${IMAGE_ID} #${w.builds.length}\n`);
      // And the rebuilt entry is trusted from then on.
      w.lines.length = 0;
      await w.obtain();
      assertEquals(w.lines, [`Using cached image "${w.entry}"`]);
    });
  });
}

Deno.test("obtainSif() does not use a cache dir others may write, and converts into the job's dir instead", async () => {
  await withTrustCache(async (w) => {
    await w.obtain();
    await Deno.chmod(w.cache, 0o1777);
    w.lines.length = 0;
    assertEquals(await w.obtain(), join(w.local, `${BASE}.sif`));
    assertEquals(w.builds.length, 2);
    assertEquals(w.lines.length, 1);
    assertMatch(
      w.lines[0],
      /^Cannot use image cache ".*": it may be written by others \(mode 1777\); converting/,
    );
  });
});

Deno.test("obtainSif() trusts a group-writable cache and its entries only for the configured cache group", async () => {
  await withTrustCache(async (w) => {
    const gid = 4711;
    await w.obtain();
    await Deno.chown(w.cache, 0, gid);
    await Deno.chmod(w.cache, 0o2775);
    // Another member of the group converted the image.
    await Deno.chown(w.entry, 1500, gid);
    await Deno.chown(w.record, 1500, gid);
    w.lines.length = 0;
    assertEquals(await w.obtain({ cacheGroup: gid }), w.entry);
    assertEquals(w.builds.length, 1);
    assertEquals(w.lines, [`Using cached image "${w.entry}"`]);
    w.lines.length = 0;
    assertEquals(await w.obtain(), join(w.local, `${BASE}.sif`), "without the group the dir is not trusted");
    assertMatch(w.lines[0], /may be written by others \(mode 2775, group 4711\)/);
    w.lines.length = 0;
    assertEquals(await w.obtain({ cacheGroup: gid + 1 }), join(w.local, `${BASE}.sif`));
  });
});

Deno.test("obtainSif() finds same-size corruption only with verifyContent, which re-hashes the file", async () => {
  await withTrustCache(async (w) => {
    await w.obtain();
    const info = await Deno.lstat(w.entry);
    const text = await Deno.readTextFile(w.entry);
    await Deno.chmod(w.entry, 0o644);
    await Deno.writeTextFile(w.entry, text.replace("#1", "#X"));
    await Deno.chmod(w.entry, 0o555);
    await Deno.utime(w.entry, info.atime!, info.mtime!);
    w.lines.length = 0;
    await w.obtain();
    assertEquals(w.builds.length, 1, "the cheap check sees only size and time");
    await w.obtain({ verifyContent: true });
    assertEquals(w.builds.length, 2);
    assertMatch(
      w.lines.find((l) => l.startsWith("Ignoring"))!,
      /content does not match its record \(sha256\)/,
    );
  });
});

Deno.test("findCachedSif() returns a trusted entry and null for a missing, planted or strangers' one", async () => {
  await withTrustCache(async (w) => {
    const find = (extra: Partial<FindCachedSifOptions> = {}) =>
      findCachedSif({ cacheDir: w.cache, imageId: IMAGE_ID, ...extra });
    assertEquals(await find(), null);
    await Deno.writeTextFile(w.entry, "evil image");
    assertEquals(await find(), null, "no record");
    await Deno.remove(w.entry);
    await w.obtain();
    assertEquals(await find(), w.entry);
    assertEquals(await find({ imageId: OTHER_ID }), null);
    await Deno.chmod(w.cache, 0o777);
    assertEquals(await find(), null, "the dir may be written by others");
    assertEquals(w.builds.length, 1, "findCachedSif() converts nothing");
  });
});

Deno.test("loadImage() trusts a cache group's entries only when the executor is given that group", async () => {
  const busybox = await testImage("busybox");
  await withCache(async (w) => {
    const gid = 4712;
    await (await w.make()).loadImage(busybox.id, busybox.path);
    await Deno.chown(w.cache, 0, gid);
    await Deno.chmod(w.cache, 0o3775);
    const entry = join(w.cache, `${sifBaseName(busybox.id)}.sif`);
    // Another member of the group converted it.
    await Deno.chown(entry, 1500, gid);
    await Deno.chown(`${entry}.json`, 1500, gid);
    const member = recordingLog();
    const trusted = await fixtureExecutor("singularity", w.dir, {
      imageCache: w.cache,
      imageCacheGroup: gid,
      imageCacheVerify: true,
      hostEnv: testHostEnv({ BERTH_FIXTURE_BUILD_LOG: w.buildLog }),
      log: member.log,
    });
    w.executors.push(trusted);
    await trusted.loadImage(busybox.id, busybox.path);
    assertEquals(member.lines, [`Using cached image "${entry}"`]);
    assertEquals(trusted.sifPath(busybox.id), entry);
    const stranger = recordingLog();
    const untrusting = await w.make({}, stranger.log);
    await untrusting.loadImage(busybox.id, busybox.path);
    assertEquals(untrusting.sifPath(busybox.id), join(untrusting.workDir, `${sifBaseName(busybox.id)}.sif`));
    assertMatch(stranger.lines[0], /may be written by others \(mode 3775, group 4712\)/);
    assertEquals(
      (await buildLogLines(w.buildLog)).length,
      2,
      "converted by the first and the untrusting one",
    );
  });
});
