/**
 * The reporter against captured-style cgroup trees (tests/stats/fixtures/): cgroup v2 (debian12) and the hybrid
 * v1 layout (ubuntu1804). The machines here are cgroup v1, so v2 is only testable this way.
 */
import { fileURLToPath } from "node:url";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { StatsRoot } from "../../src/stats/stats_root.ts";
import { findCgroupFiles } from "../../src/stats/cgroup_files.ts";
import { StatsReporter } from "../../src/stats/reporter.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));
const DEBIAN12 = `${FIXTURES}debian12`;
const DEBIAN12_PID = 1115883;
const DEBIAN12_RSS = 12591513600;
const UBUNTU1804 = `${FIXTURES}ubuntu1804`;

function collect(root: string, ramLimit = 0) {
  const lines: string[] = [];
  const logs: string[] = [];
  const reporter = new StatsReporter({
    root,
    ramLimit,
    write: (l) => lines.push(l),
    log: (m) => logs.push(m),
  });
  return { reporter, lines, logs };
}

Deno.test("findCgroupFiles() finds cgroup v2 files, walking up for io.stat and using /proc/PID/cpuset", async () => {
  const notes: string[] = [];
  const files = await findCgroupFiles(new StatsRoot(DEBIAN12), DEBIAN12_PID, (l) => notes.push(l));
  const scope = "/sys/fs/cgroup/user.slice/user-1000.slice/session-4.scope";
  assertEquals(files, {
    cpuMax: `${scope}/cpu.max`,
    cpuset: "/sys/fs/cgroup/user.slice/cpuset.cpus.effective",
    cpuStat: `${scope}/cpu.stat`,
    ioStat: "/sys/fs/cgroup/user.slice/io.stat",
    memoryStat: `${scope}/memory.stat`,
    memoryCurrent: `${scope}/memory.current`,
    memorySwapCurrent: `${scope}/memory.swap.current`,
    netDev: `/proc/${DEBIAN12_PID}/net/dev`,
  });
  assert(notes.includes(`notice: reading stats from ${scope}/memory.current`), notes.join("\n"));
  assert(notes.includes(`using /proc/${DEBIAN12_PID}/net/dev`));
});

Deno.test("findCgroupFiles() prefers v1 files on a hybrid host and skips an empty cpuset file", async () => {
  const files = await findCgroupFiles(new StatsRoot(UBUNTU1804), 2523, () => {});
  assertEquals(files, {
    cfsQuota: "/sys/fs/cgroup/cpu,cpuacct/user.slice/cpu.cfs_quota_us",
    cfsPeriod: "/sys/fs/cgroup/cpu,cpuacct/user.slice/cpu.cfs_period_us",
    cpuset: "/sys/fs/cgroup/cpuset/cpuset.cpus",
    cpuacctStat: "/sys/fs/cgroup/cpu,cpuacct/user.slice/cpuacct.stat",
    blkio: "/sys/fs/cgroup/blkio/user.slice/blkio.throttle.io_service_bytes",
    memoryStat: "/sys/fs/cgroup/memory/user.slice/memory.stat",
    netDev: "/proc/2523/net/dev",
  });
});

Deno.test("findCgroupFiles() says which statistics are missing for a process without cgroup files", async () => {
  const notes: string[] = [];
  const files = await findCgroupFiles(new StatsRoot(DEBIAN12), 999999, (l) => notes.push(l));
  assertEquals(files, {});
  assert(
    notes.some((n) => /^notice: stats not available: memory\.stat for process 999999$/.test(n)),
  );
});

Deno.test("StatsReporter.report() writes crunch-run's line shapes from a cgroup v2 tree", async () => {
  const { reporter, lines } = collect(DEBIAN12);
  await reporter.attach(DEBIAN12_PID);
  await reporter.report();
  const stats = lines.filter((l) => !l.startsWith("notice:") && !l.startsWith("using "));
  assertEquals(stats, [
    `mem 3554775040 swap 1195307 pgmajfault ${DEBIAN12_RSS} rss`,
    "cpu 1234.5679 user 234.5140 sys 8.00 cpus",
    "blkio:259:0 14577205248 write 8102907904 read",
    "blkio:8:0 0 write 1015808 read",
    "net:enp5s0 406474418 tx 2950634461 rx",
    "net:wlp4s0 0 tx 0 rx",
  ]);
  await reporter.report();
  const second = lines.slice(lines.length - 6);
  assertMatch(
    second[1],
    /^cpu 1234\.5679 user 234\.5140 sys 8\.00 cpus -- interval \d+\.\d{4} seconds 0\.0000 user 0\.0000 sys$/,
  );
  assertMatch(
    second[2],
    /^blkio:259:0 14577205248 write 8102907904 read -- interval \d+\.\d{4} seconds 0 write 0 read$/,
  );
  assertMatch(second[4], /^net:enp5s0 406474418 tx 2950634461 rx -- interval \d+\.\d{4} seconds 0 tx 0 rx$/);
});

Deno.test("StatsReporter.report() reads a hybrid v1 tree: total_ values, cpuacct ticks, cpuset count", async () => {
  const { reporter, lines } = collect(UBUNTU1804);
  await reporter.attach(2523);
  await reporter.report();
  const stats = lines.filter((l) => !l.startsWith("notice:") && !l.startsWith("using "));
  assertEquals(stats, [
    "mem 1128595456 cache 0 swap 1021 pgmajfault 244654080 rss",
    "cpu 172.1500 user 44.2700 sys 2.00 cpus",
    "blkio:8:0 122249216 write 339255296 read",
    "net:enp0s3 1562830 tx 24345345 rx",
  ]);
});

for (
  const [name, factor, expected] of [
    ["no", 10, []],
    ["some", 1.02, [90, 95]],
    ["all", 1, [90, 95, 99]],
  ] as const
) {
  Deno.test(`StatsReporter.sample() logs ${name} RSS thresholds, each once over many samples`, async () => {
    const limit = Math.floor(DEBIAN12_RSS * factor);
    const { reporter, logs } = collect(DEBIAN12, limit);
    await reporter.attach(DEBIAN12_PID);
    for (let i = 0; i < 5; i++) await reporter.sample();
    await reporter.report();
    assertEquals(
      logs,
      expected.map((p) => `Container using over ${p}% of memory (rss ${DEBIAN12_RSS}/${limit} bytes)`),
    );
  });
}

Deno.test("StatsReporter.logMaxima() logs CPU, disk I/O, memory and network totals as crunch-run", async () => {
  const limit = DEBIAN12_RSS * 10;
  const tmp = await Deno.makeTempDir({ prefix: "berth-stats-test-" });
  try {
    const logs: string[] = [];
    const reporter = new StatsReporter({
      root: DEBIAN12,
      ramLimit: limit,
      tmpDir: tmp,
      write: () => {},
      log: (m) => logs.push(m),
    });
    await reporter.attach(DEBIAN12_PID);
    await reporter.report();
    reporter.logMaxima();
    assertEquals(logs[0], "Total CPU usage was 1234.567890 user and 234.513973 sys on 8.00 CPUs");
    assert(logs.includes("Total disk I/O on 259:0 was 14577205248 bytes written and 8102907904 bytes read"));
    assert(logs.some((l) => /^Maximum disk usage was \d+%, \d+\/\d+ bytes$/.test(l)), logs.join("\n"));
    assert(logs.includes("Maximum container memory swap usage was 3554775040 bytes"));
    assert(logs.includes("Maximum container memory pgmajfault usage was 1195307 faults"));
    assert(logs.includes(`Maximum container memory rss usage was 10%, ${DEBIAN12_RSS}/${limit} bytes`));
    assert(
      logs.includes("Total network I/O on enp5s0 was 406474418 bytes written and 2950634461 bytes read"),
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("StatsReporter.attach() says in the job log when no statistics can be read", async () => {
  const { reporter, logs } = collect(DEBIAN12);
  await reporter.attach(424242);
  assertEquals(logs, [
    "Cannot read memory or CPU statistics of process 424242: no cgroup statistics files found",
  ]);
});
