/**
 * The shared SIF cache, exercised through the executor with the CLI fixture doing real conversions (the fixture
 * records each build it starts in `BERTH_FIXTURE_BUILD_LOG`).
 */
import { basename, join } from "node:path";
import { EngineError, ImageError } from "../../../src/errors.ts";
import { sifBaseName, type SingularityExecutor } from "../../../src/executor/singularity/mod.ts";
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
    assertEquals(await listDir(w.cache), [`${base}.sif`, `${base}.sif.lock`]);
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
    assertEquals(await listDir(w.cache), [`${base}.sif`, `${base}.sif.lock`]);
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
