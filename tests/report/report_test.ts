/** `berth report`: figures from a work dir with known contents, the chart, and the command line. */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { runBerth } from "../helpers/berth.ts";
import { parseCrunchstatLog } from "../../src/report/crunchstat_log.ts";
import { readRunReport } from "../../src/report/summary.ts";
import { formatReport } from "../../src/report/format.ts";
import { niceScale, renderChart } from "../../src/report/chart.ts";
import { withTempDir } from "../helpers/temp_dir.ts";

const MiB = 1024 * 1024;
const UUID = "zzzzz-dz642-reporttest00001";

/** crunchstat.txt lines: one report every 10 s, rss in MiB, cumulative user and sys seconds. */
function crunchstatText(samples: { rss: number; user: number; sys: number }[]): string {
  const t0 = Date.parse("2026-01-02T03:04:06Z");
  const lines: string[] = [
    "2026-01-02T03:04:06.000000001Z notice: reading stats from /sys/fs/cgroup/memory/x/memory.stat",
  ];
  samples.forEach((s, i) => {
    const ts = new Date(t0 + i * 10_000).toISOString().replace(/\.(\d{3})Z$/, ".$1000000Z");
    lines.push(`${ts} mem ${4 * MiB} cache 0 swap 0 pgmajfault ${s.rss * MiB} rss`);
    const prev = samples[i - 1];
    const delta = prev
      ? ` -- interval 10.0000 seconds ${(s.user - prev.user).toFixed(4)} user ${
        (s.sys - prev.sys).toFixed(4)
      } sys`
      : "";
    lines.push(`${ts} cpu ${s.user.toFixed(4)} user ${s.sys.toFixed(4)} sys 2.00 cpus${delta}`);
    lines.push(`${ts} statfs 1000 available 2000 used 3000 total`);
  });
  return lines.join("\n") + "\n";
}

const SAMPLES = [
  { rss: 10, user: 0.1, sys: 0 },
  { rss: 50, user: 5.1, sys: 1 },
  { rss: 120, user: 15.1, sys: 2 },
  { rss: 80, user: 20.1, sys: 3 },
];

/** Writes a finished job's work dir with known figures. */
async function finishedWorkDir(
  dir: string,
  options: { totals?: boolean; manifest?: boolean } = {},
): Promise<void> {
  await Deno.mkdir(join(dir, "logs"), { recursive: true });
  await Deno.mkdir(join(dir, "output", "sub"), { recursive: true });
  await Deno.writeTextFile(
    join(dir, "state.json"),
    JSON.stringify({
      uuid: UUID,
      state: "Complete",
      exit_code: 3,
      exit_status: 3,
      runtime: "docker Engine 20.10.24, containerd 1.6.20",
      started_at: "2026-01-02T03:04:05.000Z",
      finished_at: "2026-01-02T03:05:35.000Z",
      error: null,
      berth_version: "0.1.0",
    }),
  );
  await Deno.writeTextFile(
    join(dir, "logs", "container.json"),
    JSON.stringify({
      uuid: UUID,
      container_image: "keep:busybox.tar",
      runtime_constraints: { ram: 256 * MiB, vcpus: 2 },
    }),
  );
  await Deno.writeTextFile(join(dir, "logs", "crunchstat.txt"), crunchstatText(SAMPLES));
  const log = ["2026-01-02T03:04:05.000000000Z berth 0.1.0 started"];
  if (options.totals !== false) {
    log.push(
      "2026-01-02T03:05:35.000000000Z Total CPU usage was 20.100000 user and 3.000000 sys on 2.00 CPUs",
      `2026-01-02T03:05:35.000000000Z Maximum container memory rss usage was 46%, ${120 * MiB}/${
        256 * MiB
      } bytes`,
    );
  }
  log.push("2026-01-02T03:05:35.000000000Z Complete");
  await Deno.writeTextFile(join(dir, "logs", "crunch-run.txt"), log.join("\n") + "\n");
  await Deno.writeTextFile(join(dir, "output", "a.txt"), "x".repeat(1000));
  await Deno.writeTextFile(join(dir, "output", "sub", "b.txt"), "y".repeat(536));
  await Deno.symlink("a.txt", join(dir, "output", "link"));
  if (options.manifest !== false) {
    await Deno.writeTextFile(
      join(dir, "output.json"),
      JSON.stringify({ uuid: UUID, files: 2, bytes: 1536, entries: [] }),
    );
  }
}

function withWorkDir(fn: (dir: string) => Promise<void>): Promise<void> {
  return withTempDir(fn, "berth-report-test-");
}

Deno.test("parseCrunchstatLog() turns mem and cpu lines into rss and cores-busy series", () => {
  const s = parseCrunchstatLog(crunchstatText(SAMPLES) + "garbage line\n2026-01-02T03:09:00Z mem 5 cache\n");
  assertEquals(s.mem.map((p) => p.rss / MiB), [10, 50, 120, 80]);
  assertEquals(s.mem[0].t, Date.parse("2026-01-02T03:04:06Z"));
  assertEquals(s.cpu.map((p) => p.busy === undefined ? null : Number(p.busy.toFixed(3))), [
    null,
    0.6,
    1.1,
    0.6,
  ]);
  assertEquals(s.cpu.at(-1)!.cpus, 2);
});

Deno.test("readRunReport() gives the state, times, peak memory, CPU and output of a finished job", async () => {
  await withWorkDir(async (dir) => {
    await finishedWorkDir(dir);
    const r = await readRunReport(dir);
    assertEquals(
      [
        r.uuid,
        r.state,
        r.exitCode,
        r.durationMs,
        r.image,
        r.ramLimit,
        r.peakRss,
        r.cpuUser,
        r.cpuSys,
        r.cpus,
      ],
      [UUID, "Complete", 3, 90_000, "keep:busybox.tar", 256 * MiB, 120 * MiB, 20.1, 3, 2],
    );
    assertEquals([r.outputFiles, r.outputBytes], [2, 1536]);
    assertEquals(formatReport(r, `${dir}/logs/crunchstat.svg`), [
      `job:       ${UUID}`,
      `work dir:  ${dir}`,
      "state:     Complete",
      "exit code: 3",
      "started:   2026-01-02T03:04:05.000Z",
      "finished:  2026-01-02T03:05:35.000Z",
      "duration:  1m30s",
      "engine:    docker Engine 20.10.24, containerd 1.6.20",
      "image:     keep:busybox.tar",
      "memory:    peak rss 120.0 MiB of 256.0 MiB limit (46%)",
      "cpu:       23.10 s (20.10 user + 3.00 sys) on 2 CPUs, 0.26 cores busy on average",
      "output:    2 files, 1.5 KiB",
      "samples:   4 memory, 4 cpu (logs/crunchstat.txt)",
      `chart:     ${dir}/logs/crunchstat.svg`,
    ]);
  });
});

Deno.test("readRunReport() falls back to the samples and the output tree when totals and manifest are missing", async () => {
  await withWorkDir(async (dir) => {
    await finishedWorkDir(dir, { totals: false, manifest: false });
    const r = await readRunReport(dir);
    assertEquals([r.peakRss, r.cpuUser, r.cpuSys, r.cpus], [120 * MiB, 20.1, 3, 2]);
    assertEquals([r.outputFiles, r.outputBytes], [2, 1536], "the symlink is not counted or followed");
  });
});

Deno.test("renderChart() draws CPU and memory lines, the CPU count and the RAM limit in a self-contained SVG", () => {
  const svg = renderChart(parseCrunchstatLog(crunchstatText(SAMPLES)), {
    title: `berth job ${UUID}`,
    ramLimit: 256 * MiB,
  });
  assertMatch(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="860" height="\d+"/);
  assert(svg.trimEnd().endsWith("</svg>"));
  assertEquals(svg.match(/<polyline /g)?.length, 3, "CPU, cache and rss lines");
  assertStringIncludes(svg, `berth job ${UUID}`);
  assertStringIncludes(svg, ">limit 256 MiB</text>");
  assertStringIncludes(svg, ">2 CPUs available</text>");
  assertStringIncludes(svg, ">0:30</text>");
  assert(!/(href|<script|<image|url\()/.test(svg), "nothing external");
  const empty = renderChart({ mem: [], cpu: [] }, { title: "x & <y>", ramLimit: 0 });
  assertStringIncludes(empty, "No statistics samples in crunchstat.txt");
  assertStringIncludes(empty, "x &amp; &lt;y&gt;");
});

Deno.test("niceScale() picks steps of 1, 2, 2.5 or 5 times a power of ten and at most 6 intervals", () => {
  assertEquals([0.66, 2.2, 6, 7, 281.6, 0].map(niceScale), [
    { max: 0.8, step: 0.2 },
    { max: 2.5, step: 0.5 },
    { max: 6, step: 1 },
    { max: 8, step: 2 },
    { max: 300, step: 50 },
    { max: 1, step: 0.2 },
  ]);
});

Deno.test("berth report prints the summary and writes the chart next to crunchstat.txt", async () => {
  await withWorkDir(async (dir) => {
    await finishedWorkDir(dir);
    const res = await runBerth(["report", dir]);
    assertEquals(res.code, 0, res.stderr);
    assertStringIncludes(res.stdout, "memory:    peak rss 120.0 MiB of 256.0 MiB limit (46%)\n");
    assertStringIncludes(res.stdout, `chart:     ${join(dir, "logs", "crunchstat.svg")}\n`);
    assertMatch(
      await Deno.readTextFile(join(dir, "logs", "crunchstat.svg")),
      /^<svg [^]*<polyline [^]*<\/svg>\n$/,
    );
    const json = await runBerth(["report", dir, "--json", "--no-chart"]);
    const parsed = JSON.parse(json.stdout);
    assertEquals([parsed.state, parsed.exitCode, parsed.peakRss, parsed.chart], [
      "Complete",
      3,
      120 * MiB,
      null,
    ]);
  });
});

Deno.test("readRunReport() shows the phase timings, berth's own exit status and an incomplete manifest", async () => {
  await withWorkDir(async (dir) => {
    await finishedWorkDir(dir);
    const state = JSON.parse(await Deno.readTextFile(join(dir, "state.json")));
    await Deno.writeTextFile(
      join(dir, "state.json"),
      JSON.stringify({
        ...state,
        exit_code: 75,
        exit_status: 1,
        phases: { engine: 12, image: 1234, create: 45, first_output: 300, wait: 61_000, bogus: "x" },
      }),
    );
    await Deno.writeTextFile(
      join(dir, "output.json"),
      JSON.stringify({ uuid: UUID, entries: [], files: 2, bytes: 1536, complete: false }),
    );
    const r = await readRunReport(dir);
    assertEquals(r.phases, { engine: 12, image: 1234, create: 45, first_output: 300, wait: 61_000 });
    const lines = formatReport(r, null);
    assertEquals(lines.find((l) => l.startsWith("berth exit:")), "berth exit: 1");
    assertEquals(
      lines.find((l) => l.startsWith("phases:")),
      "phases:     engine 12 ms, image 1.23 s, create 45 ms, first output 300 ms, wait 61.00 s",
    );
    assertStringIncludes(lines.find((l) => l.startsWith("output:"))!, "(output.json incomplete");
  });
});

Deno.test("berth report refuses a directory that is not a berth work dir with exit 2", async () => {
  await withWorkDir(async (dir) => {
    const res = await runBerth(["report", dir]);
    assertEquals(res.code, 2);
    assertEquals(
      res.stderr,
      `berth: Cannot report on "${dir}": it has no readable state.json (is it a berth work dir?)\n`,
    );
  });
});
