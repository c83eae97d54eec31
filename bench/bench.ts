/**
 * berth's benchmarks (issue #17): each pair runs berth and the reference (the engine's own CLI) alternately,
 * several times after a warm-up, on the same machine in the same run, and reports medians, the ratio
 * berth / reference beside its target, and berth's peak RSS. For every berth run the harness also keeps the phase
 * timings from `state.json` (and the start-up before the first log line), so `bench/results.md` shows where each
 * remaining gap is. See `bench/README.md` for the method.
 *
 * Usage (through bench/run): deno run <flags> bench/bench.ts [--quick] [--only N,N…]
 * @module
 */

import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { bigTestImage, testImage } from "../tests/images/mod.ts";
import { startRegistry } from "../tests/helpers/registry.ts";
import { median, medianPhases, type RunPhases, runPhases, type Sample, sh, timed } from "./_measure.ts";

const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
const { values } = parseArgs({
  args: Deno.args,
  options: { quick: { type: "boolean" }, only: { type: "string" } },
});
const QUICK = values.quick ?? false;
/** `--only 1,4`: run only these pairs (by their number in the table). */
const ONLY = values.only ? new Set(values.only.split(",").map((s) => s.trim())) : null;
const REPS = QUICK ? 2 : 5;
const BIG_MIB = QUICK ? 32 : 256;
const LOAD_MIB = QUICK ? 32 : 200;
const CONCURRENT = QUICK ? 5 : 20;
/** Peak RSS every stream pair must stay under. */
const RSS_LIMIT_MIB = 100;
const WORK = join(ROOT, "bench", ".work");
const DOCKER = "/usr/bin/docker";
const PODMAN_CONF = "/var/tmp/berth-engines/containers.conf";
const FIXTURE = join(ROOT, "tests", "fixtures", "bin", "singularity");
const DENO = join(ROOT, ".tools", "bin", "deno");
/** A real singularity/apptainer (bench/run sets it from PATH when it is not given). */
const REAL_SINGULARITY = Deno.env.get("BERTH_BENCH_SINGULARITY") ?? "";

/** A measured row of the table. */
interface Row {
  id: string;
  name: string;
  berth: number;
  reference: number;
  /** berth / reference (time: lower is better). */
  ratio: number;
  /** The ratio's target, or null for a reference row. */
  target: number | null;
  /** berth's peak RSS in MiB over its samples. */
  rssMiB: number;
  /** The RSS bound this row must keep, if any. */
  rssLimitMiB: number | null;
  met: boolean | null;
  note: string;
  /** Medians of the berth runs' phases (empty when the row has none). */
  phases: RunPhases;
}
const rows: Row[] = [];
const extras: string[] = [];

const wanted = (id: string) => ONLY === null || ONLY.has(id);

/** A `berth run` command and where its run leaves its record. */
interface BerthRun {
  cmd: string;
  workDir: string;
}

let jobCounter = 0;
/** Writes a job file and returns the `berth run` command line for it (its work dir is kept for the phases). */
async function berthRun(job: Record<string, unknown>, engineArgs: string): Promise<BerthRun> {
  const n = ++jobCounter;
  const uuid = `bench-${Deno.pid}-${n}`;
  const file = join(WORK, `${uuid}.json`);
  await Deno.writeTextFile(
    file,
    JSON.stringify({ uuid, output_path: "/out", mounts: { "/out": { kind: "tmp" } }, ...job }),
  );
  const workDir = join(WORK, "runs", uuid);
  return {
    cmd: `bash ${ROOT}/scripts/berth run ${file} --work-dir ${workDir} ${engineArgs} >/dev/null 2>&1`,
    workDir,
  };
}

/** Runs one `berth run` under GNU time; returns the sample and the run's phases, and removes its work dir. */
async function timedBerth(run: BerthRun): Promise<{ sample: Sample; phases: RunPhases | null }> {
  const spawnedAt = Date.now();
  const sample = await timed(WORK, run.cmd);
  const phases = await runPhases(run.workDir, spawnedAt);
  await Deno.remove(run.workDir, { recursive: true }).catch(() => {});
  return { sample, phases };
}

interface PairOptions {
  /** Untimed, before every sample of either side (to reset state, e.g. remove an image). */
  before?: () => Promise<void>;
  target: number;
  /** Peak RSS bound for berth (stream pairs). */
  rssLimitMiB?: number;
  note?: string;
}

/**
 * Alternates berth and the reference `REPS` times after one warm-up of each (berth first on even rounds, the
 * reference first on odd ones) and records the medians.
 */
async function pair(
  id: string,
  name: string,
  berth: () => Promise<BerthRun>,
  reference: () => string,
  opts: PairOptions,
): Promise<{ b: Sample[]; r: Sample[] }> {
  const b: Sample[] = [];
  const r: Sample[] = [];
  const phases: RunPhases[] = [];
  for (let i = 0; i <= REPS; i++) {
    for (const side of i % 2 === 0 ? ["b", "r"] : ["r", "b"]) {
      await opts.before?.();
      if (side === "b") {
        const run = await timedBerth(await berth());
        if (i > 0) {
          b.push(run.sample);
          if (run.phases) phases.push(run.phases);
        }
      } else {
        const s = await timed(WORK, reference());
        if (i > 0) r.push(s);
      }
    }
  }
  record(id, name, b, r, phases, opts);
  return { b, r };
}

/** Adds a row from the samples of both sides. */
function record(
  id: string,
  name: string,
  b: Sample[],
  r: Sample[],
  phases: RunPhases[],
  opts: { target: number | null; rssLimitMiB?: number; note?: string; failures?: number },
): void {
  const bm = median(b.map((s) => s.wall));
  const rm = median(r.map((s) => s.wall));
  const ratio = bm / rm;
  const rssMiB = Math.max(...b.map((s) => s.rssKiB)) / 1024;
  const limit = opts.rssLimitMiB ?? null;
  const met = opts.target === null
    ? null
    : ratio <= opts.target && (limit === null || rssMiB <= limit) && (opts.failures ?? 0) === 0;
  rows.push({
    id,
    name,
    berth: bm,
    reference: rm,
    ratio,
    target: opts.target,
    rssMiB,
    rssLimitMiB: limit,
    met,
    note: opts.note ?? "",
    phases: medianPhases(phases),
  });
  console.log(
    `${id}. ${name}: berth ${bm.toFixed(3)} s, reference ${rm.toFixed(3)} s, ratio ${ratio.toFixed(3)}, ` +
      `berth peak RSS ${rssMiB.toFixed(0)} MiB`,
  );
}

const loadAvg = async () => (await sh("cut -d' ' -f1-3 /proc/loadavg")).trim();
const loadAtStart = await loadAvg();
await Deno.remove(WORK, { recursive: true }).catch(() => {});
await Deno.mkdir(join(WORK, "runs"), { recursive: true });
const busybox = await testImage("busybox");
await sh(`${DOCKER} load -i ${busybox.path} >/dev/null`);
await sh(`CONTAINERS_CONF=${PODMAN_CONF} podman load -i ${busybox.path} >/dev/null`);
const img = busybox.id.slice("sha256:".length);
const docker = "--runtime-engine docker";
const echoOk = { container_image: busybox.path, command: ["echo", "ok"] };

// 1, 2. A trivial job, image already there.
if (wanted("1")) {
  await pair(
    "1",
    "trivial job, Docker (`echo ok`)",
    () => berthRun(echoOk, docker),
    () => `${DOCKER} run --rm --network none --log-driver none ${img} echo ok >/dev/null`,
    { target: 1.2 },
  );
}
if (wanted("2")) {
  await pair(
    "2",
    "trivial job, Podman (`echo ok`)",
    () => berthRun(echoOk, "--runtime-engine podman"),
    () =>
      `CONTAINERS_CONF=${PODMAN_CONF} podman run --rm --network none --log-driver none ${img} echo ok >/dev/null`,
    { target: 1.5 },
  );
}

// 3. Concurrency: CONCURRENT trivial jobs at once on Docker, against as many `docker run` at once.
if (wanted("3")) {
  const b: Sample[] = [];
  const r: Sample[] = [];
  const phases: RunPhases[] = [];
  let failures = 0;
  for (let i = 0; i <= (QUICK ? 1 : 3); i++) {
    const runs = await Promise.all(Array.from({ length: CONCURRENT }, () => berthRun(echoOk, docker)));
    let t0 = performance.now();
    const results = await Promise.all(runs.map((run) => timedBerth(run).catch(() => null)));
    const bw = (performance.now() - t0) / 1000;
    t0 = performance.now();
    await Promise.all(
      Array.from(
        { length: CONCURRENT },
        () => sh(`${DOCKER} run --rm --network none --log-driver none ${img} echo ok >/dev/null`),
      ),
    );
    const rw = (performance.now() - t0) / 1000;
    if (i === 0) continue; // warm-up
    b.push({ wall: bw, rssKiB: Math.max(0, ...results.map((x) => x?.sample.rssKiB ?? 0)) });
    r.push({ wall: rw, rssKiB: 0 });
    failures += results.filter((x) => x === null).length;
    for (const x of results) if (x?.phases) phases.push(x.phases);
  }
  record("3", `${CONCURRENT} trivial jobs at once, Docker (wall)`, b, r, phases, {
    target: 1.25,
    failures,
    note: `${failures} berth failures; phases are medians over every job of every round.`,
  });
}

// 4. Stdin throughput: BIG_MIB MiB into the container from a collection file.
const bytes = BIG_MIB << 20;
if (wanted("4")) {
  const keep = join(WORK, "keep");
  const pdh = "d41d8cd98f00b204e9800998ecf8427e+0";
  const data = join(keep, "by_id", pdh, "data.bin");
  await Deno.mkdir(join(keep, "by_id", pdh), { recursive: true });
  await sh(`head -c ${bytes} /dev/urandom > ${data}`);
  await pair(
    "4",
    `stdin ${BIG_MIB} MiB, Docker`,
    () =>
      berthRun({
        container_image: busybox.path,
        command: ["wc", "-c"],
        mounts: {
          "/out": { kind: "tmp" },
          stdin: { kind: "collection", portable_data_hash: pdh, path: "data.bin" },
        },
      }, `${docker} --keep-mount ${keep}`),
    () => `${DOCKER} run -i --rm --network none --log-driver none ${img} wc -c < ${data} >/dev/null`,
    { target: 1.05, rssLimitMiB: RSS_LIMIT_MIB },
  );
  await Deno.remove(data);
}

// 5. Image load: a LOAD_MIB MiB image not yet present, then a trivial run.
if (wanted("5")) {
  const big = await bigTestImage(LOAD_MIB);
  const removeBig = async () => {
    await sh(`${DOCKER} rmi -f ${big.id} >/dev/null 2>&1 || true`);
  };
  await pair(
    "5",
    `load a ${LOAD_MIB} MiB image + trivial run, Docker`,
    () => berthRun({ container_image: big.path, command: ["true"] }, docker),
    () =>
      `${DOCKER} load -i ${big.path} >/dev/null && ${DOCKER} run --rm --network none --log-driver none ${
        big.id.slice(7)
      } true`,
    { before: removeBig, target: 1.05, rssLimitMiB: RSS_LIMIT_MIB },
  );
  await removeBig();
}

// 5b. Registry pull: the same kind of image, absent from the engine, pulled from a local registry
// (docker-registry on loopback, as in the tests), then a trivial run.
if (wanted("5b")) {
  const big = await bigTestImage(LOAD_MIB);
  const registry = await startRegistry();
  try {
    const pushed = await registry.push(big, "bench");
    const removeBig = async () => {
      await sh(`${DOCKER} rmi -f ${big.id.slice(7)} >/dev/null 2>&1 || true`);
    };
    await removeBig();
    await pair(
      "5b",
      `pull a ${LOAD_MIB} MiB image from a local registry + trivial run, Docker`,
      () => berthRun({ container_image: `docker://${pushed.reference}`, command: ["true"] }, docker),
      () =>
        `${DOCKER} pull -q ${pushed.reference} >/dev/null && ${DOCKER} run --rm --network none --log-driver none ${pushed.reference} true`,
      { before: removeBig, target: 1.1, rssLimitMiB: RSS_LIMIT_MIB },
    );
    await removeBig();
  } finally {
    await registry.close();
  }
}

/**
 * The cached-SIF pair for one Singularity-family program: berth with its SIF cache already filled, against the
 * program's own `exec` of that cached SIF with the flags berth gives it (a PID/IPC/mount namespace, no network,
 * a clean environment, the working directory).
 */
async function cachedSifPair(id: string, name: string, program: string, env: string): Promise<void> {
  const cache = join(WORK, `sif-cache-${id}`);
  await Deno.mkdir(cache, { recursive: true });
  const args = `--runtime-engine singularity --singularity-binary ${program} --image-cache ${cache}`;
  await timedBerth(await berthRun({ container_image: busybox.path, command: ["true"] }, args)); // fill the cache
  const sif = (await sh(`find ${cache} -name '*.sif' | head -n1`)).trim();
  if (sif === "") throw new Error(`${name}: berth left no SIF file in ${cache}`);
  await pair(
    id,
    name,
    () => berthRun(echoOk, args),
    () =>
      `${env}${program} exec --containall --cleanenv --pwd / --net --network none ${sif} echo ok >/dev/null`,
    { target: 1.5 },
  );
}

// 6. The Singularity path on a real program, when there is one.
if (wanted("6")) {
  if (REAL_SINGULARITY === "") {
    extras.push("6. cached SIF run on a real Singularity/Apptainer: not measured (none on PATH).");
  } else {
    const version = (await sh(`${REAL_SINGULARITY} --version`)).trim();
    await cachedSifPair("6", `cached SIF run, real ${version}`, REAL_SINGULARITY, "");
  }
}

// 7. The Singularity path on the CLI fixture (not a real runtime: berth's own overhead around one).
if (wanted("7")) {
  await cachedSifPair("7", "cached SIF run, CLI fixture", FIXTURE, "SINGULARITY_NO_EVAL=1 ");
  const convs: number[] = [];
  for (let i = 0; i < REPS; i++) {
    const s = await timed(
      WORK,
      `${FIXTURE} build ${WORK}/conv.sif docker-archive://${busybox.path} >/dev/null 2>&1; rm -f ${WORK}/conv.sif`,
    );
    convs.push(s.wall);
  }
  extras.push(`SIF conversion of the busybox image (fixture build): median ${median(convs).toFixed(3)} s.`);
  const cache10 = join(WORK, "sif-cache-10");
  await Deno.mkdir(cache10, { recursive: true });
  const runs = await Promise.all(
    Array.from({ length: 10 }, () =>
      berthRun(
        { container_image: busybox.path, command: ["true"] },
        `--runtime-engine singularity --singularity-binary ${FIXTURE} --image-cache ${cache10}`,
      )),
  );
  const t0 = performance.now();
  const ok = await Promise.all(runs.map((run) => sh(run.cmd).then(() => 1, () => 0)));
  const wall = (performance.now() - t0) / 1000;
  const entries = [...Deno.readDirSync(cache10)].map((e) => e.name);
  extras.push(
    `10 concurrent first runs of one image on the fixture: ${ok.reduce((a, x) => a + x, 0)}/10 succeeded, ` +
      `${entries.filter((n) => n.endsWith(".sif")).length} SIF file(s) in the shared cache ` +
      `(${entries.length} entries in all), ${wall.toFixed(2)} s wall.`,
  );
}

// 7b. A SIF file as the image: berth runs it as it is (no conversion, no cache), against a bare `exec` of the
// same file. The fixture's images are bare squashfs files, not SIF files: a real program only.
/** A SIF file built by `program`, run by berth as it is (no conversion), against the program's own exec of it. */
async function sifFilePair(id: string, name: string, program: string, env: string): Promise<void> {
  const sif = join(WORK, `busybox-${id}.sif`);
  await Deno.remove(sif).catch(() => {});
  await sh(`${program} build ${sif} docker-archive://${busybox.path} >/dev/null 2>&1`);
  await pair(
    id,
    name,
    () =>
      berthRun(
        { container_image: sif, command: ["echo", "ok"] },
        `--runtime-engine singularity --singularity-binary ${program}`,
      ),
    () =>
      `${env}${program} exec --containall --cleanenv --pwd / --net --network none ${sif} echo ok >/dev/null`,
    { target: 1.5 },
  );
}

if (wanted("7b")) {
  if (REAL_SINGULARITY === "") {
    extras.push("7b. SIF-file start-up: not measured (no real Singularity/Apptainer on PATH).");
  } else {
    await sifFilePair(
      "7b",
      "SIF-file run vs direct exec of the same SIF (real program)",
      REAL_SINGULARITY,
      "",
    );
  }
}
// 7c. The same on the CLI fixture (its build writes SIF-shaped files).
if (wanted("7c")) {
  await sifFilePair(
    "7c",
    "SIF-file run vs direct exec of the same SIF (CLI fixture)",
    FIXTURE,
    "SINGULARITY_NO_EVAL=1 ",
  );
}

// 8. Output throughput: BIG_MIB MiB of 64-byte lines on stdout (berth timestamps every line into stdout.txt).
if (wanted("8")) {
  const writer = `yes 'berth benchmark output line, sixty-four bytes long incl. newline' | head -c ${bytes}`;
  const out = await pair(
    "8",
    `stdout ${BIG_MIB} MiB, Docker (time)`,
    () => berthRun({ container_image: busybox.path, command: ["sh", "-c", writer] }, docker),
    () => `${DOCKER} run --rm --network none ${img} sh -c "${writer}" > ${WORK}/out.bin`,
    { target: 1.0, rssLimitMiB: RSS_LIMIT_MIB },
  );
  await Deno.remove(join(WORK, "out.bin")).catch(() => {});
  extras.push(
    `Output throughput: berth ${(BIG_MIB / median(out.b.map((s) => s.wall))).toFixed(0)} MiB/s ` +
      `(timestamped into stdout.txt), docker CLI ${
        (BIG_MIB / median(out.r.map((s) => s.wall))).toFixed(0)
      } ` +
      `MiB/s (raw into a file).`,
  );
}

// 9. Start-up: `berth version` from source against Deno's own start-up (an empty script): a reference row.
if (wanted("9")) {
  const empty = join(WORK, "empty.ts");
  await Deno.writeTextFile(empty, "");
  const b: Sample[] = [];
  const r: Sample[] = [];
  for (let i = 0; i <= REPS; i++) {
    const bs = await timed(WORK, `bash ${ROOT}/scripts/berth version >/dev/null`);
    const rs = await timed(WORK, `${DENO} run --quiet --no-prompt ${empty} >/dev/null`);
    if (i > 0) (b.push(bs), r.push(rs));
  }
  record("9", "start-up: `berth version` (scripts/berth) vs `deno run` of an empty script", b, r, [], {
    target: null,
    note: `an empty script's peak RSS ${(Math.max(...r.map((s) => s.rssKiB)) / 1024).toFixed(0)} MiB.`,
  });
}

// 10. The node-wide lock: CONCURRENT berths taking, updating and releasing their job locks at the same moment,
// against one alone. Equal times mean the directory lock serialises nothing that matters.
if (wanted("10")) {
  const rt = join(WORK, "locks");
  const probe = (n: number, at: number) =>
    `${DENO} run --quiet --no-prompt --allow-read --allow-write --allow-env --allow-run=grep ` +
    `--allow-sys=uid,gid ${ROOT}/bench/lock_probe.ts ${rt} lock-${n} ${at}`;
  type Times = { starttime: number; acquire: number; update: number; release: number };
  const one: Times[] = [];
  const many: Times[] = [];
  for (let i = 0; i < REPS; i++) {
    one.push(JSON.parse(await sh(probe(i, 0))));
    const at = Date.now() + 1500; // every probe started and loaded by then
    const outs = await Promise.all(Array.from({ length: CONCURRENT }, (_, n) => sh(probe(1000 * i + n, at))));
    many.push(...outs.map((o) => JSON.parse(o) as Times));
  }
  const ms = (xs: Times[], k: keyof Times) =>
    `${median(xs.map((x) => x[k])).toFixed(1)} ms (max ${Math.max(...xs.map((x) => x[k])).toFixed(1)})`;
  const all = (xs: Times[]) =>
    (["acquire", "update", "release", "starttime"] as const).map((k) => ms(xs, k)).join(" / ");
  extras.push(
    `Job lock (take / update / release / of which reading the own start time through grep), median: one berth ` +
      `alone ${all(one)}; ${CONCURRENT} at the same moment ${all(many)}.`,
  );
}

// The report.
const machine = (await sh("nproc")).trim() + " cores, " +
  (await sh("free -g | awk '/Mem:/ {print $2}'")).trim() + " GiB; " +
  (await sh(`${DOCKER} version --format 'Docker {{.Server.Version}}'`)).trim() + "; " +
  (await sh("podman --version")).trim();
const loadAtEnd = await loadAvg();
const fmt = (x: number) => Number.isFinite(x) ? x.toFixed(3) : "—";
const PHASES = [
  "startup",
  "setup",
  "engine",
  "image",
  "mounts",
  "create",
  "diagnostics",
  "start",
  "first_output",
  "wait",
  "stop",
  "flush",
  "output",
  "manifest",
  "cleanup",
  "logged",
];
const withPhases = rows.filter((r) => Object.keys(r.phases).length > 0);
const md = [
  "# berth benchmark results",
  "",
  `Measured ${new Date().toISOString()} by \`deno task bench\`${QUICK ? " --quick" : ""}${
    ONLY ? ` --only ${[...ONLY].join(",")}` : ""
  } on one machine (${machine}); load average ${loadAtStart} at the start, ${loadAtEnd} at the end.`,
  `Each pair: one warm-up, then ${REPS} alternating runs of each side; medians; ratio = berth / reference.`,
  "",
  "| # | pair | berth | reference | ratio | target | berth peak RSS | met |",
  "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ...rows.map((r) =>
    `| ${r.id} | ${r.name} | ${fmt(r.berth)} s | ${fmt(r.reference)} s | ${r.ratio.toFixed(2)} | ${
      r.target === null ? "—" : `≤ ${r.target.toFixed(2)}`
    } | ${r.rssMiB.toFixed(0)} MiB${r.rssLimitMiB === null ? "" : ` (≤ ${r.rssLimitMiB})`} | ${
      r.met === null ? "—" : r.met ? "yes" : "**no**"
    } |`
  ),
  "",
  ...rows.filter((r) => r.note.trim()).map((r) => `- ${r.id}: ${r.note.trim()}`),
  ...extras.map((e) => `- ${e}`),
  "",
  "## Where berth's time goes (medians of the berth runs, seconds)",
  "",
  "`startup`: from the harness starting the command to the first line of crunch-run.txt (bash, the profile,",
  "Deno, the modules, the job file, the lock); `logged`: first to last log line; the rest are the `Phase` lines",
  "(state.json `phases`; concurrent phases overlap, so they do not add up to `logged`).",
  "",
  `| # | ${PHASES.join(" | ")} |`,
  `| --- | ${PHASES.map(() => "---").join(" | ")} |`,
  ...withPhases.map((r) => `| ${r.id} | ${PHASES.map((p) => fmt(r.phases[p] ?? NaN)).join(" | ")} |`),
  "",
].join("\n");
console.log(md);
await Deno.remove(WORK, { recursive: true });
// Only a whole run replaces the results; a partial one (--quick, --only) goes into bench/.work/.
const out = QUICK || ONLY ? join(WORK, "results.md") : join(ROOT, "bench", "results.md");
await Deno.mkdir(WORK, { recursive: true });
await Deno.writeTextFile(out, md);
console.log(`Written to ${out}`);
