/**
 * berth's benchmarks: each pair runs berth and the reference (the engine's own CLI) alternately, several times
 * after a warm-up, on the same machine in the same run, and reports medians and the ratio berth / reference.
 * Writes `bench/results.md`. See `bench/README.md` for the method.
 *
 * Usage (through bench/run): deno run <flags> bench/bench.ts [--quick]
 * @module
 */

import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bigTestImage, testImage } from "../tests/images/mod.ts";
import { startRegistry } from "../tests/helpers/registry.ts";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const { values } = parseArgs({
  args: Deno.args,
  options: { quick: { type: "boolean" }, from: { type: "string" } },
});
const QUICK = values.quick ?? false;
/** `--from N`: start at pair N (to repeat the later pairs alone). */
const FROM = Number(values.from ?? 1);
const REPS = QUICK ? 2 : 5;
const BIG_MIB = QUICK ? 32 : 256;
const LOAD_MIB = QUICK ? 32 : 200;
const WORK = join(ROOT, "bench", ".work");
const DOCKER = "/usr/bin/docker";
const PODMAN_CONF = "/var/tmp/berth-engines/containers.conf";
const FIXTURE = join(ROOT, "tests", "fixtures", "bin", "singularity");

/** One timed run: wall seconds and peak RSS (KiB) of the command, as GNU time reports them. */
interface Sample {
  wall: number;
  rssKiB: number;
}

/** Runs a bash command line under GNU time; throws when it fails. */
async function timed(cmd: string, env: Record<string, string> = {}): Promise<Sample> {
  const tf = await Deno.makeTempFile({ dir: WORK, prefix: "time-" });
  const out = await new Deno.Command("/usr/bin/time", {
    args: ["-f", "%e %M", "-o", tf, "bash", "-c", cmd],
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const [wall, rss] = (await Deno.readTextFile(tf)).trim().split("\n").pop()!.split(" ").map(Number);
  await Deno.remove(tf);
  if (!out.success) {
    throw new Error(
      `command failed (${out.code}): ${cmd}\n${new TextDecoder().decode(out.stderr).slice(-2000)}`,
    );
  }
  return { wall, rssKiB: rss };
}

/** Runs a bash command, returning stdout; throws when it fails. */
async function sh(cmd: string): Promise<string> {
  const out = await new Deno.Command("bash", { args: ["-c", cmd], stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    throw new Error(`command failed (${out.code}): ${cmd}\n${new TextDecoder().decode(out.stderr)}`);
  }
  return new TextDecoder().decode(out.stdout);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A measured pair. `ratio` is berth / reference for times (lower is better). */
interface PairResult {
  name: string;
  berth: number;
  reference: number;
  ratio: number;
  unit: string;
  target: string;
  met: boolean;
  note: string;
}
const results: PairResult[] = [];
const extras: string[] = [];

/**
 * Alternates berth and the reference `REPS` times after one warm-up of each, with `before` run untimed before
 * every sample (to reset state, e.g. remove an image), and records the medians.
 */
async function pair(
  name: string,
  berthCmd: () => Promise<string> | string,
  refCmd: () => Promise<string> | string,
  opts: { before?: () => Promise<void>; target: number; note?: string; rss?: boolean },
): Promise<{ b: Sample[]; r: Sample[] }> {
  const b: Sample[] = [];
  const r: Sample[] = [];
  for (let i = 0; i <= REPS; i++) {
    // Alternate which side goes first, so drift on a noisy machine hits both alike.
    const order = i % 2 === 0 ? ["b", "r"] : ["r", "b"];
    for (const side of order) {
      await opts.before?.();
      const s = await timed(side === "b" ? await berthCmd() : await refCmd());
      if (i > 0) (side === "b" ? b : r).push(s); // i == 0: warm-up
    }
  }
  const bm = median(b.map((s) => s.wall));
  const rm = median(r.map((s) => s.wall));
  const ratio = bm / rm;
  const rss = Math.max(...b.map((s) => s.rssKiB)) / 1024;
  results.push({
    name,
    berth: bm,
    reference: rm,
    ratio,
    unit: "s",
    target: `≤ ${opts.target.toFixed(2)}`,
    met: ratio <= opts.target,
    note: (opts.note ?? "") + (opts.rss ? ` berth peak RSS ${rss.toFixed(0)} MiB.` : ""),
  });
  console.log(`${name}: berth ${bm.toFixed(3)} s, reference ${rm.toFixed(3)} s, ratio ${ratio.toFixed(3)}`);
  return { b, r };
}

let jobCounter = 0;
/** Writes a job file and returns the `berth run` command line for it. */
async function berthRun(job: Record<string, unknown>, engineArgs: string): Promise<string> {
  const n = ++jobCounter;
  const uuid = `bench-${Deno.pid}-${n}`;
  const file = join(WORK, `${uuid}.json`);
  await Deno.writeTextFile(
    file,
    JSON.stringify({ uuid, output_path: "/out", mounts: { "/out": { kind: "tmp" } }, ...job }),
  );
  const wd = join(WORK, "runs", uuid);
  return `bash ${ROOT}/scripts/berth run ${file} --work-dir ${wd} ${engineArgs} >/dev/null 2>&1 && rm -rf ${wd}`;
}

await Deno.remove(WORK, { recursive: true }).catch(() => {});
await Deno.mkdir(join(WORK, "runs"), { recursive: true });
const busybox = await testImage("busybox");
await sh(`${DOCKER} load -i ${busybox.path} >/dev/null`);
await sh(`CONTAINERS_CONF=${PODMAN_CONF} podman load -i ${busybox.path} >/dev/null`);
const img = busybox.id.slice("sha256:".length);
const env = `CONTAINERS_CONF=${PODMAN_CONF}`;
const docker = "--runtime-engine docker";
const podman = "--runtime-engine podman";

// 1. Trivial job, image already loaded.
if (FROM <= 1) {
  await pair(
    "1. trivial job, Docker (`echo ok`)",
    () => berthRun({ container_image: busybox.path, command: ["echo", "ok"] }, docker),
    () => `${DOCKER} run --rm --network none --log-driver none ${img} echo ok >/dev/null`,
    { target: 1.1 },
  );
  await pair(
    "1b. trivial job, Podman (`echo ok`)",
    () => berthRun({ container_image: busybox.path, command: ["echo", "ok"] }, podman),
    () => `${env} podman run --rm --network none --log-driver none ${img} echo ok >/dev/null`,
    { target: 1.1 },
  );
}

// 2. Output throughput: BIG_MIB MiB of 64-byte lines on stdout.
const bytes = BIG_MIB << 20;
if (FROM <= 2) {
  const writer = [
    "sh",
    "-c",
    `yes 'berth benchmark output line, sixty-four bytes long incl. newline' | head -c ${bytes}`,
  ];
  const out2 = await pair(
    `2. stdout ${BIG_MIB} MiB, Docker (time)`,
    () => berthRun({ container_image: busybox.path, command: writer }, docker),
    () =>
      `${DOCKER} run --rm --network none ${img} ${writer.slice(0, 2).join(" ")} "${
        writer[2]
      }" > ${WORK}/out.bin`,
    {
      target: 1 / 0.95,
      rss: true,
      note: "Target is throughput ≥ 0.95 of the reference, i.e. time ratio ≤ 1.053.",
    },
  );
  extras.push(
    `Output throughput: berth ${
      (BIG_MIB / median(out2.b.map((s) => s.wall))).toFixed(0)
    } MiB/s (timestamped into ` +
      `stdout.txt), docker CLI ${
        (BIG_MIB / median(out2.r.map((s) => s.wall))).toFixed(0)
      } MiB/s (raw into a file).`,
  );
}

// 3. Stdin throughput: BIG_MIB MiB into the container from a collection file.
if (FROM <= 3) {
  const keep = join(WORK, "keep");
  const pdh = "d41d8cd98f00b204e9800998ecf8427e+0";
  await Deno.mkdir(join(keep, "by_id", pdh), { recursive: true });
  await sh(`head -c ${bytes} /dev/urandom > ${join(keep, "by_id", pdh, "data.bin")}`);
  await pair(
    `3. stdin ${BIG_MIB} MiB, Docker`,
    () =>
      berthRun({
        container_image: busybox.path,
        command: ["wc", "-c"],
        mounts: {
          "/out": { kind: "tmp" },
          stdin: { kind: "collection", portable_data_hash: pdh, path: "data.bin" },
        },
      }, `${docker} --keep-mount ${keep}`),
    () =>
      `${DOCKER} run -i --rm --network none --log-driver none ${img} wc -c < ${
        join(keep, "by_id", pdh, "data.bin")
      } >/dev/null`,
    { target: 1.1, rss: true },
  );
}

// 4. Image load: a LOAD_MIB MiB image not yet present, then a trivial run.
if (FROM <= 4) {
  const big = await bigTestImage(LOAD_MIB);
  const removeBig = async () => {
    await sh(`${DOCKER} rmi -f ${big.id} >/dev/null 2>&1 || true`);
  };
  await pair(
    `4. load a ${LOAD_MIB} MiB image + trivial run, Docker`,
    () => berthRun({ container_image: big.path, command: ["true"] }, docker),
    () =>
      `${DOCKER} load -i ${big.path} >/dev/null && ${DOCKER} run --rm --network none --log-driver none ${
        big.id.slice(7)
      } true`,
    { before: removeBig, target: 1.1, rss: true },
  );
  await removeBig();
}

// 4b. Registry pull: the same kind of image, absent from the engine, pulled from a local registry
// (docker-registry on loopback, as in the tests), then a trivial run.
if (FROM <= 4) {
  const big = await bigTestImage(LOAD_MIB);
  const registry = await startRegistry();
  try {
    const pushed = await registry.push(big, "bench");
    const removeBig = async () => {
      await sh(`${DOCKER} rmi -f ${big.id.slice(7)} >/dev/null 2>&1 || true`);
    };
    await removeBig();
    await pair(
      `4b. pull a ${LOAD_MIB} MiB image from a local registry + trivial run, Docker`,
      () => berthRun({ container_image: `docker://${pushed.reference}`, command: ["true"] }, docker),
      () =>
        `${DOCKER} pull -q ${pushed.reference} >/dev/null && ${DOCKER} run --rm --network none --log-driver none ${pushed.reference} true`,
      { before: removeBig, target: 1.1, rss: true },
    );
    await removeBig();
  } finally {
    await registry.close();
  }
}

// 5. Singularity path with the test fixture (not SingularityCE/Apptainer: see bench/README.md).
if (FROM <= 5) {
  const cache = join(WORK, "sif-cache");
  await Deno.mkdir(cache, { recursive: true });
  const sing = `--runtime-engine singularity --singularity-binary ${FIXTURE} --image-cache ${cache}`;
  await sh(await berthRun({ container_image: busybox.path, command: ["true"] }, sing)); // fill the cache
  const sif = (await sh(`find ${cache} -name '*.sif' | head -n1`)).trim();
  await pair(
    "5. cached-SIF run vs direct fixture exec",
    () => berthRun({ container_image: busybox.path, command: ["echo", "ok"] }, sing),
    () =>
      `SINGULARITY_NO_EVAL=1 ${FIXTURE} exec --containall --cleanenv --pwd=/ --net --network=none ${sif} echo ok >/dev/null`,
    { target: 1.1 },
  );
  {
    const convs: number[] = [];
    for (let i = 0; i < REPS; i++) {
      convs.push(
        (await timed(
          `${FIXTURE} build ${WORK}/conv.sif docker-archive://${busybox.path} >/dev/null 2>&1; rm -f ${WORK}/conv.sif`,
        )).wall,
      );
    }
    extras.push(`SIF conversion of the busybox image (fixture build): median ${median(convs).toFixed(3)} s.`);
    const cache10 = join(WORK, "sif-cache-10");
    await Deno.mkdir(cache10, { recursive: true });
    const cmds = await Promise.all(
      Array.from({ length: 10 }, () =>
        berthRun(
          { container_image: busybox.path, command: ["true"] },
          `--runtime-engine singularity --singularity-binary ${FIXTURE} --image-cache ${cache10}`,
        )),
    );
    const t0 = performance.now();
    const res = await Promise.all(
      cmds.map((c) => sh(c).then(() => 0, () => 1)),
    );
    const wall = (performance.now() - t0) / 1000;
    const entries = [...Deno.readDirSync(cache10)].map((e) => e.name);
    const conversions = entries.filter((n) => n.endsWith(".sif")).length;
    extras.push(
      `10 concurrent first runs of one image on the fixture: ${
        res.filter((x) => x === 0).length
      }/10 succeeded, ` +
        `${conversions} SIF file(s) in the shared cache (${entries.length} entries in all), ${
          wall.toFixed(2)
        } s wall.`,
    );
  }
}

// 5b. A SIF file as the image: berth runs it as it is (no conversion, no cache), against a bare `exec` of the same
// file. The fixture's images are bare squashfs files, not SIF files, so this pair needs a real program:
// BERTH_BENCH_SINGULARITY=/path/to/singularity (it is skipped, and says so, without one).
if (FROM <= 5) {
  const real = Deno.env.get("BERTH_BENCH_SINGULARITY") ?? "";
  if (real === "") {
    extras.push(
      "5b. SIF-file start-up: not measured (set BERTH_BENCH_SINGULARITY to a real singularity/apptainer).",
    );
  } else {
    const sif = join(WORK, "busybox.sif");
    await sh(`${real} build ${sif} docker-archive://${busybox.path} >/dev/null 2>&1`);
    const args = `--runtime-engine singularity --singularity-binary ${real}`;
    await pair(
      "5b. SIF-file run vs direct exec of the same SIF (real Singularity)",
      () => berthRun({ container_image: sif, command: ["echo", "ok"] }, args),
      () => `${real} exec --containall --cleanenv --pwd / --net --network none ${sif} echo ok >/dev/null`,
      { target: 1.1 },
    );
  }
}

// 6. Concurrency: 20 trivial jobs at once on Docker.
{
  const N = QUICK ? 5 : 20;
  const walls: { b: number[]; r: number[]; fails: number } = { b: [], r: [], fails: 0 };
  for (let i = 0; i <= (QUICK ? 1 : 3); i++) {
    const bcmds = await Promise.all(
      Array.from(
        { length: N },
        () => berthRun({ container_image: busybox.path, command: ["echo", "ok"] }, docker),
      ),
    );
    let t0 = performance.now();
    const bres = await Promise.all(bcmds.map((c) => sh(c).then(() => 0, () => 1)));
    const bw = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await Promise.all(
      Array.from(
        { length: N },
        () => sh(`${DOCKER} run --rm --network none --log-driver none ${img} echo ok`),
      ),
    );
    const rw = (performance.now() - t0) / 1000;
    if (i > 0) {
      walls.b.push(bw);
      walls.r.push(rw);
      walls.fails += bres.reduce((a, x) => a + x, 0);
    }
  }
  const ratio = median(walls.b) / median(walls.r);
  results.push({
    name: `6. ${N} trivial jobs at once, Docker (wall)`,
    berth: median(walls.b),
    reference: median(walls.r),
    ratio,
    unit: "s",
    target: "≤ 1.20, 0 failures",
    met: ratio <= 1.2 && walls.fails === 0,
    note: `${walls.fails} berth failures.`,
  });
  console.log(
    `6: berth ${median(walls.b).toFixed(2)} s, docker ${
      median(walls.r).toFixed(2)
    } s, failures ${walls.fails}`,
  );
}

// 7. Start-up: `berth version`.
{
  const s: Sample[] = [];
  for (let i = 0; i <= REPS; i++) {
    const x = await timed(`bash ${ROOT}/scripts/berth version >/dev/null`);
    if (i > 0) s.push(x);
  }
  extras.push(
    `Start-up (\`berth version\` from source through scripts/berth): median ${
      median(s.map((x) => x.wall)).toFixed(3)
    } s, ` +
      `peak RSS ${(Math.max(...s.map((x) => x.rssKiB)) / 1024).toFixed(0)} MiB.`,
  );
}

const machine = (await sh("nproc")).trim() + " cores, " +
  (await sh("free -g | awk '/Mem:/ {print $2}'")).trim() + " GiB; " +
  (await sh(`${DOCKER} version --format 'Docker {{.Server.Version}}'`)).trim() + "; " +
  (await sh("podman --version")).trim();
const md = [
  "# berth benchmark results",
  "",
  `Measured ${new Date().toISOString()} by \`deno task bench\`${
    QUICK ? " --quick" : ""
  } on one machine (${machine}).`,
  `Each pair: one warm-up, then ${REPS} alternating runs of each side; medians; ratio = berth / reference.`,
  "",
  "| pair | berth | reference | ratio | target | met |",
  "|---|---|---|---|---|---|",
  ...results.map((r) =>
    `| ${r.name} | ${r.berth.toFixed(3)} ${r.unit} | ${r.reference.toFixed(3)} ${r.unit} | ${
      r.ratio.toFixed(3)
    } | ${r.target} | ${r.met ? "yes" : "**no**"} |`
  ),
  "",
  ...results.filter((r) => r.note.trim()).map((r) => `- ${r.name}: ${r.note.trim()}`),
  ...extras.map((e) => `- ${e}`),
  "",
].join("\n");
await Deno.writeTextFile(join(ROOT, "bench", "results.md"), md);
console.log(md);
await Deno.remove(WORK, { recursive: true });
