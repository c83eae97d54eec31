/**
 * Containers that misbehave without end: one writes to stdout forever, one forks forever, one fills its tmp
 * mount. The run must still end (max_run_time, the RAM limit), with berth's own memory bounded and the logs
 * complete up to the end: every line of stdout.txt timestamped, crunch-run.txt ending in the final state.
 * Docker only: the point is berth's side of the stream, which the conformance suite checks per engine.
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { testImage } from "../images/mod.ts";
import { assertFinalState, assertTimestamped, ENGINES, runBerthE2e, withWorkspace } from "./_harness.ts";

const busybox = await testImage("busybox");
const docker = ENGINES.find((e) => e.name === "docker")!;
const MiB = 1024 * 1024;

/** The last `n` bytes of a file, as text. */
async function readTail(path: string, n: number): Promise<string> {
  using f = await Deno.open(path);
  const size = (await f.stat()).size;
  await f.seek(Math.max(0, size - n), Deno.SeekMode.Start);
  const buf = new Uint8Array(Math.min(n, size));
  let got = 0;
  while (got < buf.length) {
    const r = await f.read(buf.subarray(got));
    if (r === null) break;
    got += r;
  }
  return new TextDecoder().decode(buf.subarray(0, got));
}

/** berth's peak RSS as it logs it at the end of the run ("Maximum berth memory rss usage was N bytes"). */
function berthPeakRss(log: string[]): number {
  const line = log.find((l) => l.startsWith("Maximum berth memory rss usage was "));
  assert(line, "berth logs its peak memory");
  return Number(line.split(" ")[6]);
}

const CASES: { name: string; command: string; check?: (text: string) => void }[] = [
  {
    name: "writes to stdout forever",
    command: "yes 'a line of output that never stops coming, sixty-four bytes long'",
  },
  {
    name: "forks forever",
    command: "while :; do sleep 1000 & done",
  },
  {
    name: "fills its tmp mount",
    command:
      "echo filling; i=0; while :; do head -c 1048576 /dev/zero > /scratch/f$i || exit 9; i=$((i+1)); done",
  },
];

for (const c of CASES) {
  Deno.test({
    name:
      `berth run on docker: a container that ${c.name} still ends at max_run_time, logs complete, memory bounded`,
    ignore: !docker.available,
    async fn() {
      await withWorkspace(docker, "runaway", async (ws) => {
        await ws.writeJob({
          container_image: busybox.path,
          command: ["sh", "-c", c.command],
          mounts: { "/out": { kind: "tmp" }, "/scratch": { kind: "tmp" } },
          runtime_constraints: { vcpus: 1, ram: 128 * MiB },
          scheduling_parameters: { max_run_time: 3 },
        });
        const r = await runBerthE2e(ws.args(["--crunchstat-interval", "1"]));
        // Ends either by max_run_time (124) or, for the fork loop, possibly by the RAM limit's OOM kill (137).
        assert(r.code === 124 || r.code === 137 || r.code === 9, `exit ${r.code}: ${r.stderr.slice(-2000)}`);
        const log = await assertFinalState(ws, r.code === 124 ? "Cancelled" : "Complete", r.code);
        // The end of stdout.txt (it may be hundreds of MiB): every whole line there is timestamped.
        const tail = await readTail(`${ws.work}/logs/stdout.txt`, 64 * 1024);
        const lines = tail.split("\n").slice(1, -1); // the first may be cut by the tail, the last is partial or ""
        if (lines.length > 0) assertTimestamped(lines.join("\n") + "\n", "the end of stdout.txt");
        assert(berthPeakRss(log) < 150 * MiB, `berth's peak RSS ${berthPeakRss(log)} bytes`);
        assertEquals(JSON.parse(await ws.read("state.json")).uuid, ws.uuid);
        await ws.assertNoLeftovers();
      });
    },
  });
}
