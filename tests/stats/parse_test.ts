import { assertEquals } from "../helpers/assert.ts";
import {
  countCpuinfoProcessors,
  parseBlkio,
  parseCfsQuota,
  parseCpuacctStat,
  parseCpuList,
  parseCpuMax,
  parseCpuStatV2,
  parseIoStat,
  parseMemoryStat,
  parseNetDev,
  parseProcStat,
} from "../../src/stats/parse.ts";
import { parseDfOutput } from "../../src/stats/statfs.ts";
import { parseCgroupMounts, parseProcessCgroups } from "../../src/stats/cgroup_files.ts";
import { formatCpuLine, formatMemLine } from "../../src/stats/format.ts";
import { MemoryThresholds } from "../../src/stats/thresholds.ts";

Deno.test("parseMemoryStat() reads every name and value and skips malformed lines", () => {
  const m = parseMemoryStat("cache 10\nrss 20\nbogus line here\ntotal_rss 30\n\n");
  assertEquals([...m], [["cache", 10], ["rss", 20], ["total_rss", 30]]);
});

Deno.test("formatMemLine() prefers total_ values and leaves out missing statistics", () => {
  const v1 = new Map([["cache", 1], ["total_cache", 2], ["rss", 3], ["pgmajfault", 4]]);
  assertEquals(formatMemLine(v1), "mem 2 cache 4 pgmajfault 3 rss");
  assertEquals(formatMemLine(new Map()), "mem");
});

Deno.test("parseCpuacctStat() and parseCpuStatV2() give seconds", () => {
  assertEquals(parseCpuacctStat("user 17215\nsystem 4427\n"), { user: 172.15, sys: 44.27 });
  assertEquals(parseCpuStatV2("usage_usec 3\nuser_usec 2500000\nsystem_usec 500000\n"), {
    user: 2.5,
    sys: 0.5,
  });
  assertEquals(parseCpuacctStat("nonsense"), null);
});

Deno.test("parseCpuMax() and parseCfsQuota() give a CPU count only for a real limit", () => {
  assertEquals(parseCpuMax("150000 100000\n"), 1.5);
  assertEquals(parseCpuMax("max 100000\n"), null);
  assertEquals(parseCfsQuota("200000\n", "100000\n"), 2);
  assertEquals(parseCfsQuota("-1\n", "100000\n"), null);
});

Deno.test("parseCpuList() counts ranges and single CPUs", () => {
  assertEquals(parseCpuList("0,4-7\n"), 5);
  assertEquals(parseCpuList("0-7"), 8);
  assertEquals(parseCpuList("\n"), null);
  assertEquals(parseCpuList("x-y"), null);
  assertEquals(countCpuinfoProcessors("processor\t: 0\nmodel\t: a\n\nprocessor\t: 1\n"), 2);
});

Deno.test("parseBlkio() pairs reads and writes per device and parseIoStat() reads rbytes and wbytes", () => {
  const v1 = parseBlkio("8:0 Read 100\n8:0 Write 200\n8:0 Total 300\n8:16 Read 5\nTotal 300\n");
  assertEquals([...v1], [["8:0", { read: 100, write: 200 }]]);
  const v2 = parseIoStat("259:0 rbytes=10 wbytes=20 rios=1 wios=2\n8:0 rbytes=3 wbytes=0\n");
  assertEquals([...v2], [["259:0", { read: 10, write: 20 }], ["8:0", { read: 3, write: 0 }]]);
});

Deno.test("parseNetDev() skips lo and header lines, and handles names glued to numbers", () => {
  const text = "Inter-|   Receive |  Transmit\n face |bytes packets|bytes\n" +
    "    lo: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0\n" +
    "eth0:2950634461 3170422 0 1064 0 0 0 14291 406474418 1387913 0 0 0 0 0 0\n";
  assertEquals([...parseNetDev(text)], [["eth0", { read: 2950634461, write: 406474418 }]]);
});

Deno.test("parseProcStat() finds state, start time and rss after a command name with ') '", () => {
  const fields = Array.from({ length: 50 }, (_, i) => String(i + 3));
  fields[0] = "S";
  const text = `1234 (odd) name) ${fields.join(" ")}\n`;
  assertEquals(parseProcStat(text), { state: "S", startTime: 22, rssPages: 24 });
  assertEquals(parseProcStat("garbage"), null);
});

Deno.test("parseDfOutput() reads POSIX df columns as bytes", () => {
  const text = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n" +
    "/dev/sda1         264212084  23577588  82813324      23% /mnt/with space\n";
  assertEquals(parseDfOutput(text), {
    total: 264212084 * 1024,
    used: 23577588 * 1024,
    available: 82813324 * 1024,
  });
  assertEquals(parseDfOutput("only a header\n"), null);
});

Deno.test("parseCgroupMounts() maps combined v1 controllers and the cgroup2 mount", () => {
  const m = parseCgroupMounts(
    "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\ncgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,cpu,cpuacct 0 0\n" +
      "cgroup /sys/fs/cgroup/sys\\040tem cgroup rw,name=systemd 0 0\n",
  );
  assertEquals(m, {
    unified: "/sys/fs/cgroup/unified",
    v1: { cpu: "/sys/fs/cgroup/cpu,cpuacct", cpuacct: "/sys/fs/cgroup/cpu,cpuacct" },
  });
  const p = parseProcessCgroups("4:cpu,cpuacct:/docker/abc\n1:name=systemd:/x\n0::/docker/abc\n");
  assertEquals(p, {
    unified: "/docker/abc",
    v1: { cpu: "/docker/abc", cpuacct: "/docker/abc", "name=systemd": "/x" },
  });
});

Deno.test("formatCpuLine() adds the interval deltas from the second sample on", () => {
  const a = { user: 1, sys: 0.5, cpus: 2, at: 1000 };
  const b = { user: 3.25, sys: 0.75, cpus: 2, at: 11000 };
  assertEquals(formatCpuLine(a), "cpu 1.0000 user 0.5000 sys 2.00 cpus");
  assertEquals(
    formatCpuLine(b, a),
    "cpu 3.2500 user 0.7500 sys 2.00 cpus -- interval 10.0000 seconds 2.2500 user 0.2500 sys",
  );
});

Deno.test("MemoryThresholds.check() reports each threshold once, even when all are passed again", () => {
  const t = new MemoryThresholds(1000);
  assertEquals(t.check(100), []);
  assertEquals(t.check(950), [
    "Container using over 90% of memory (rss 950/1000 bytes)",
    "Container using over 95% of memory (rss 950/1000 bytes)",
  ]);
  assertEquals(t.check(960), []);
  assertEquals(t.check(995), ["Container using over 99% of memory (rss 995/1000 bytes)"]);
  assertEquals(t.check(2000), []);
  assertEquals(t.check(2000), []);
  assertEquals(new MemoryThresholds(0).check(1e12), []);
});
