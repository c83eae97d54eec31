/**
 * Fault injection on the Engine API engines (Docker, Podman): every call berth makes, from the API negotiation
 * to the removal, is held while berth gets SIGTERM or SIGINT, stalled (never answered: the engine stopped
 * answering), dropped (the connection closed: the engine died mid-call) or answered late, through the proxy of
 * `tests/e2e/_engine_proxy.ts`; the engine is frozen while the container runs, with and without a SIGTERM; a
 * create whose answer never comes; `max_run_time` while the engine holds a call. See `_fault.ts` for what every
 * case asserts.
 * @module
 */

import type { EngineCase } from "../e2e/_harness.ts";
import { CANCEL_BOUND_S, type Expectation, type FaultCase } from "./_fault.ts";
import { cancelled, complete, LONG_JOB, NODE_FAULT, SHORT_JOB } from "./_jobs.ts";
import { logSays, proxyRig, proxySaw, signal, uniqueImage } from "./_rigs.ts";

/** The calls berth makes before the container runs, by phase, as the proxy sees them (`METHOD /path`). */
const CALLS: { phase: string; call: string; pattern: string }[] = [
  { phase: "engine", call: "GET /_ping", pattern: "^GET /_ping$" },
  { phase: "engine", call: "GET /version", pattern: "^GET /version$" },
  { phase: "image", call: "GET /images/ID/json", pattern: "^GET /images/[^/]+/json$" },
  { phase: "image", call: "POST /images/load", pattern: "^POST /images/load$" },
  { phase: "create", call: "POST /containers/create", pattern: "^POST /containers/create$" },
  { phase: "create", call: "GET /containers/ID/json", pattern: "^GET /containers/[^/]+/json$" },
  { phase: "attach", call: "POST /containers/ID/attach", pattern: "^POST /containers/[^/]+/attach$" },
  { phase: "start", call: "POST /containers/ID/start", pattern: "^POST /containers/[^/]+/start$" },
];

function re(pattern: string, action: string): RegExp {
  return new RegExp(`^proxy: ${action} ${pattern.slice(1)}`);
}

/** The load case needs an image the engine does not have: its own, unique image. */
function withUniqueImage(
  rig: ReturnType<typeof proxyRig>,
): ReturnType<typeof proxyRig> {
  return async (ws) => {
    const image = await uniqueImage(ws);
    const inner = await rig(ws);
    return {
      ...inner,
      job: { container_image: image.path },
      dispose: async () => {
        await inner.dispose?.();
        await image.remove();
      },
    };
  };
}

/** The Engine API cases for `engine` (Docker or Podman). */
export function engineApiCases(engine: EngineCase): FaultCase[] {
  const cases: FaultCase[] = [];
  for (const { phase, call, pattern } of CALLS) {
    const load = call === "POST /images/load";
    // GET /version only describes the engine (the log's "Using container runtime" line): an engine that
    // answers everything else runs the job, the runtime reported as unknown.
    const informational = call === "GET /version";
    const lost: Expectation = informational ? complete() : NODE_FAULT;
    const wrap = load ? withUniqueImage : (r: ReturnType<typeof proxyRig>) => r;
    // SIGTERM while the engine holds the call.
    cases.push({
      engine,
      phase,
      fault: `SIGTERM while ${call} is held`,
      job: LONG_JOB,
      expect: cancelled(),
      rig: wrap(proxyRig([{ action: "hold", pattern }], async ({ proxy, run }) => {
        await proxySaw(proxy, re(pattern, "hold"));
        signal(run, "SIGTERM");
      })),
    });
    // The engine stops answering at this call (stall), or dies in the middle of it: its connection closes (drop).
    for (const [action, what] of [["stall", "never answered"], ["drop", "connection dropped"]] as const) {
      cases.push({
        engine,
        phase,
        fault: `${call} ${what}`,
        job: informational ? SHORT_JOB : LONG_JOB,
        expect: lost,
        rig: wrap(proxyRig([{ action, pattern }], ({ proxy }) => proxySaw(proxy, re(pattern, action)))),
      });
    }
  }
  // The engine has the start request and is still starting the container when the SIGTERM comes: berth stops it
  // once started and hears its end (137), or, when the answer comes too late for that, removes it as the late
  // start settles (the runner waits for it within the stop budget and closes the executor again).
  const startPattern = "^POST /containers/[^/]+/start$";
  for (const [ms, exitCode] of [[3000, 137], [8000, undefined]] as const) {
    cases.push({
      engine,
      phase: "start",
      fault: `SIGTERM while POST /containers/ID/start is answered ${ms / 1000} s late`,
      job: LONG_JOB,
      expect: { ...cancelled(), exitCode },
      rig: proxyRig([{ action: "delay-reply", pattern: startPattern, ms }], async ({ proxy, run }) => {
        await proxySaw(proxy, re(startPattern, "delay-reply"));
        signal(run, "SIGTERM");
      }),
    });
  }
  // Podman's wait is its own API's (`POST /v<release>/libpod/containers/ID/wait`, see containers.ts).
  const waitCall = engine.name === "podman" ? "POST /libpod/containers/ID/wait" : "POST /containers/ID/wait";
  const waitPattern = `^${waitCall.replace("ID", "[^/]+")}$`;
  cases.push(
    {
      engine,
      phase: "create",
      fault: "SIGINT while POST /containers/create is held",
      job: LONG_JOB,
      expect: cancelled(130),
      rig: proxyRig([{ action: "hold", pattern: "^POST /containers/create$" }], async ({ proxy, run }) => {
        await proxySaw(proxy, /^proxy: hold POST \/containers\/create/);
        signal(run, "SIGINT");
      }),
    },
    {
      engine,
      phase: "create",
      fault: "SIGTERM after the engine created the container but before berth heard",
      job: LONG_JOB,
      expect: cancelled(),
      rig: proxyRig(
        [{ action: "stall-reply", pattern: "^POST /containers/create$" }],
        async ({ proxy, run }) => {
          await proxySaw(proxy, /^proxy: stall-reply POST \/containers\/create/);
          await new Promise((r) => setTimeout(r, 2000)); // the engine has made it by now
          signal(run, "SIGTERM");
        },
      ),
    },
    {
      engine,
      phase: "wait",
      fault: `SIGTERM while ${waitCall} is held`,
      job: LONG_JOB,
      expect: { ...cancelled(), exitCode: undefined },
      rig: proxyRig([{ action: "hold", pattern: waitPattern }], async ({ ws, proxy, run }) => {
        await proxySaw(proxy, re(waitPattern, "hold"));
        await logSays(ws, "Waiting for container to finish");
        signal(run, "SIGTERM");
      }),
    },
    {
      engine,
      phase: "wait",
      fault: "engine frozen while the container runs (--watchdog-interval 2)",
      job: LONG_JOB,
      // The real engine behind the frozen one still runs the container: left, named in the log, for berth gc.
      expect: { ...NODE_FAULT, containerLeft: true },
      rig: proxyRig([], async ({ ws, proxy }) => {
        await logSays(ws, "Waiting for container to finish");
        proxy.child.kill("SIGSTOP");
      }, ["--watchdog-interval", "2"]),
    },
    {
      engine,
      phase: "stop",
      fault: "SIGTERM while the engine is frozen",
      job: LONG_JOB,
      // What came first decides: the SIGTERM (the engine's silence is found while stopping). The container the
      // frozen engine still runs is left, named in the log, for berth gc.
      expect: { ...cancelled(), containerLeft: true },
      rig: proxyRig([], async ({ ws, proxy, run }) => {
        await logSays(ws, "Waiting for container to finish");
        proxy.child.kill("SIGSTOP");
        signal(run, "SIGTERM");
      }),
    },
    {
      engine,
      phase: "stop",
      fault: "SIGTERM, the kill never answered",
      job: LONG_JOB,
      expect: cancelled(),
      rig: proxyRig([{ action: "stall", pattern: "^POST /containers/[^/]+/kill$" }], async ({ ws, run }) => {
        await logSays(ws, "Waiting for container to finish");
        signal(run, "SIGTERM");
      }),
    },
    {
      engine,
      phase: "close",
      fault: "DELETE /containers/ID never answered after a normal exit",
      job: SHORT_JOB,
      expect: { ...complete(), containerLeft: true },
      rig: proxyRig(
        [{ action: "stall", pattern: "^DELETE /containers/[^/]+$" }],
        ({ proxy }) => proxySaw(proxy, /^proxy: stall DELETE /),
      ),
    },
    {
      engine,
      phase: "whole run",
      fault: "every call answered 1 s late",
      job: SHORT_JOB,
      expect: complete(),
      rig: proxyRig(
        [{ action: "delay-reply", pattern: ".", ms: 1000 }],
        ({ proxy }) => proxySaw(proxy, /^proxy: delay-reply GET \/_ping/),
      ),
    },
    {
      engine,
      phase: "whole run",
      fault: "max_run_time 3 s, the engine holding POST /containers/create",
      job: { ...LONG_JOB, scheduling_parameters: { max_run_time: 3 } },
      // Measured from berth's start (it takes the job's lock at once): exit ≤ max_run_time + 25 s, wherever the
      // time runs out (on a loaded node, possibly before the create).
      expect: { ...cancelled(124), boundS: 3 + CANCEL_BOUND_S, logLine: /^maximum run time exceeded/ },
      rig: proxyRig([{ action: "hold", pattern: "^POST /containers/create$" }], () => Promise.resolve()),
    },
  );
  return cases;
}
