/**
 * One job lock taken and given back as `berth run` does (take, one record update, release), timed: the
 * benchmark starts many of these at the same moment to see whether the node-wide directory lock serialises
 * concurrent jobs. Prints one JSON line of milliseconds: `{"starttime", "acquire", "update", "release"}`
 * (`starttime`: reading the process's own start time alone, which `acquire` also does).
 *
 * Usage: deno run --allow-read --allow-write --allow-env --allow-run=grep --allow-sys=uid,gid bench/lock_probe.ts
 *   RUNTIME_DIR UUID START_AT_EPOCH_MS
 * (no --allow-all, so that /proc is read through the same helper as in berth)
 * @module
 */

import { acquireJobLock } from "../src/node/lock.ts";
import { processStartTime } from "../src/node/process.ts";

const [runtimeDir, uuid, startAt] = Deno.args;
await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(startAt) - Date.now())));
// The process's own start time, which the lock record carries (read through a helper process): measured alone
// too, to tell that spawn's cost under load from the directory lock's.
const ts = performance.now();
await processStartTime(Deno.pid);
const t0 = performance.now();
const lock = await acquireJobLock(runtimeDir, uuid);
const t1 = performance.now();
await lock.update({ state: "Running" });
const t2 = performance.now();
await lock.release();
const t3 = performance.now();
console.log(JSON.stringify({ starttime: t0 - ts, acquire: t1 - t0, update: t2 - t1, release: t3 - t2 }));
