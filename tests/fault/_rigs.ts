/**
 * The fault suite's rigs: how each fault is put in front of berth.
 *
 * - {@link proxyRig}: the Engine API proxy of the end-to-end suite (`tests/e2e/_engine_proxy.ts`) between berth
 *   and the real Docker or Podman socket, with `hold`/`stall`/`drop`/`delay` rules for one call, or frozen
 *   (SIGSTOP) to stand for an engine that stopped answering; the real engine other sessions share is never
 *   touched.
 * - {@link singularityRig}: a wrapper program in front of the Singularity CLI fixture (`_singularity_wrapper.ts`).
 * - {@link plainRig}: the engine as it is (a signal, the container's own exit code, a full disk).
 *
 * Triggers say when the fault took effect: {@link proxySaw} (the proxy reported applying its rule), {@link logSays}
 * (berth's log reached a line), then usually a signal to berth.
 * @module
 */

import { join } from "node:path";
import { type EngineProxy, type ProxyRule, startEngineProxy } from "../e2e/_engine_proxy.ts";
import {
  type EngineCase,
  ENGINES,
  extraNet,
  extraRun,
  type Running,
  SIF_CACHE,
  type Workspace,
} from "../e2e/_harness.ts";
import { FIXTURE_BIN } from "../fixtures/singularity/mod.ts";
import { engineRequest } from "../helpers/engine_api.ts";
import { buildImage, IMAGE_PATH } from "../images/builder.ts";
import type { Rig } from "./_fault.ts";
import { until } from "./_fault.ts";
import { type WrapperFault, writeSingularityWrapper } from "./_singularity_wrapper.ts";

/** Resolves once berth's log contains `text`. */
export async function logSays(ws: Workspace, text: string, timeoutMs = 120_000): Promise<void> {
  await until(
    async () => (await ws.read("logs/crunch-run.txt").catch(() => "")).includes(text),
    `"${text}" in the log of ${ws.uuid}`,
    timeoutMs,
  );
}

/** Resolves once the proxy reported applying a rule to a call matching `re` (`proxy: ACTION METHOD /path`). */
export async function proxySaw(proxy: EngineProxy, re: RegExp, timeoutMs = 120_000): Promise<void> {
  await until(() => proxy.reports().some((l) => re.test(l)), `the proxy to report ${re}`, timeoutMs);
}

/** Sends `signal` to berth. */
export function signal(run: Running, sig: Deno.Signal): void {
  run.child.kill(sig);
}

/** What a {@link proxyRig} fault sees. */
export interface ProxyFaultContext {
  ws: Workspace;
  proxy: EngineProxy;
  run: Running;
}

/**
 * A rig with the Engine API proxy in front of the case's engine. `fault` injects the fault once berth runs (and
 * resolves when it took effect); `extraArgs` go to berth after `--docker-socket`.
 */
export function proxyRig(
  rules: ProxyRule[],
  fault: (ctx: ProxyFaultContext) => Promise<void>,
  extraArgs: string[] = [],
): (ws: Workspace) => Promise<Rig> {
  return async (ws) => {
    const socket = join(ws.root, "engine.sock");
    const proxy = await startEngineProxy({
      listen: socket,
      target: ws.engine!.socket!,
      root: ws.root,
      rules,
    });
    return {
      args: ["--docker-socket", socket, ...extraArgs],
      env: extraNet(socket),
      fault: (run) => fault({ ws, proxy, run }),
      ownPids: () => [proxy.child.pid],
      after: () => proxy.stop(),
      dispose: () => proxy.stop(),
    };
  };
}

/** A rig with the engine as it is; `fault` injects the fault (a signal, usually) or only waits for it. */
export function plainRig(
  fault: (ws: Workspace, run: Running) => Promise<void>,
  extraArgs: string[] = [],
): (ws: Workspace) => Promise<Rig> {
  return (ws) =>
    Promise.resolve({
      args: extraArgs,
      env: {},
      fault: (run) => fault(ws, run),
      caches: ws.engine?.name === "singularity" ? [SIF_CACHE] : [],
    });
}

/** What a {@link singularityRig} fault sees. */
export interface SingularityFaultContext {
  ws: Workspace;
  run: Running;
  /** Resolves once the wrapper was started for `step` (`version`, `help`, `build`, `exec`), `n` times. */
  reached(step: string, n?: number): Promise<void>;
  /** The image cache berth uses in this case. */
  cache: string;
}

/**
 * A rig with a wrapper in front of the Singularity CLI fixture, `faults` applied to its steps. `privateCache`:
 * a directory name under the case's tree for an image cache of its own (so that it converts), else the suite's
 * shared cache.
 */
export function singularityRig(
  faults: WrapperFault[],
  fault: (ctx: SingularityFaultContext) => Promise<void>,
  o: { privateCache?: string; extraArgs?: string[] } = {},
): (ws: Workspace) => Promise<Rig> {
  return async (ws) => {
    const wrapper = await writeSingularityWrapper(join(ws.root, "bin"), faults);
    const cache = o.privateCache ? join(ws.root, o.privateCache) : SIF_CACHE;
    return {
      args: ["--singularity-binary", wrapper.path, "--image-cache", cache, ...(o.extraArgs ?? [])],
      env: extraRun(wrapper.path),
      fault: (run) => fault({ ws, run, reached: wrapper.reached, cache }),
      caches: [cache],
    };
  };
}

/**
 * A one-layer image (static busybox as `sh`, `echo`, `sleep`) whose config is unique to `ws` (an `Env` naming
 * it), so that Docker and Podman do not have it yet and berth must load it; `remove()` deletes it from the
 * engine again.
 */
export async function uniqueImage(ws: Workspace): Promise<{ path: string; remove(): Promise<void> }> {
  const path = join(ws.root, "unique.tar");
  const built = await buildImage({
    repoTag: `berth-fault/${ws.uuid.toLowerCase()}:latest`,
    layers: [[
      { type: "dir", path: "bin" },
      { type: "dir", path: "tmp", mode: 0o1777 },
      { type: "hostfile", path: "bin/busybox", mode: 0o755, source: "/bin/busybox" },
      ...["sh", "echo", "sleep"].map((name) => ({
        type: "symlink" as const,
        path: `bin/${name}`,
        target: "busybox",
      })),
    ]],
    config: { Env: [IMAGE_PATH, `BERTH_FAULT_CASE=${ws.uuid}`], Cmd: ["sh"] },
  }, path);
  return {
    path,
    async remove() {
      const socket = ws.engine?.socket;
      if (!socket) return;
      await engineRequest(socket, "DELETE", `/images/${encodeURIComponent(built.id)}?force=1`).catch(
        () => {},
      );
    },
  };
}

/**
 * The engines the fault suite walks: Docker and Podman (skipped, and reported so, when their socket does not
 * answer) and the Singularity CLI fixture as `tests/fixtures/bin/singularity` (SingularityCE 3.11); the other
 * fixture generations differ in flags, not in how faults are handled, and have the conformance suite.
 */
export const FAULT_ENGINES: EngineCase[] = [
  ...ENGINES.filter((e) => e.socket !== null),
  {
    ...ENGINES.find((e) => e.name === "singularity")!,
    args: () => [
      "--runtime-engine",
      "singularity",
      "--singularity-binary",
      FIXTURE_BIN.singularity,
      "--image-cache",
      SIF_CACHE,
    ],
    available: true,
  },
];

/** The fault suite's engine that runs the Singularity CLI fixture. */
export const SINGULARITY: EngineCase = FAULT_ENGINES.at(-1)!;
