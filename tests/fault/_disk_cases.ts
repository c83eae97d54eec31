/**
 * Full disks, for real: a tmpfs of a few hundred KiB or MiB mounted on the case's work dir or tmp dir
 * (`_tmpfs.ts`). The job filling its work dir fails the job (125, node untouched) and the final `state.json` and
 * log lines are still written; berth finding the node's tmp dir full (staging a mount, converting an image) is a
 * fault of the node (75, marker). See `_fault.ts` for what every case asserts.
 * @module
 */

import { join } from "node:path";
import type { EngineCase, Workspace } from "../e2e/_harness.ts";
import { type FaultCase, type Rig, until } from "./_fault.ts";
import { busyboxJob, cancelled, NODE_FAULT } from "./_jobs.ts";
import { plainRig, singularityRig } from "./_rigs.ts";
import { mountTmpfs, unmountTmpfs } from "./_tmpfs.ts";

/** Resolves once the container's output has begun to reach `logs/stdout.txt`. */
async function firstOutput(ws: Workspace): Promise<void> {
  const path = join(ws.work, "logs", "stdout.txt");
  await until(async () => (await Deno.stat(path).then((i) => i.size, () => 0)) > 0, "the first output byte");
}

/** `rig` with a tmpfs of `sizeKiB` on the workspace's `which` dir (the work dir is made for it, empty). */
function onTmpfs(
  which: "work" | "tmp",
  sizeKiB: number,
  rig: (ws: Workspace) => Promise<Rig>,
): (ws: Workspace) => Promise<Rig> {
  return async (ws) => {
    const dir = which === "work" ? ws.work : ws.tmp;
    await Deno.mkdir(dir, { recursive: true });
    await mountTmpfs(dir, sizeKiB);
    let mounted = true;
    const unmount = async () => {
      if (mounted) await unmountTmpfs(dir);
      mounted = false;
    };
    try {
      const inner = await rig(ws);
      return {
        ...inner,
        dispose: async () => {
          try {
            await inner.dispose?.();
          } finally {
            await unmount();
          }
        },
      };
    } catch (err) {
      await unmount();
      throw err;
    }
  };
}

/** A full work dir and a full tmp dir on `engine` (and, for Singularity, a conversion into a full tmp dir). */
export function diskCases(engine: EngineCase): FaultCase[] {
  const cases: FaultCase[] = [
    {
      engine,
      phase: "wait",
      fault: "the job's output fills a 4 MiB work dir",
      job: busyboxJob("yes 0123456789abcdef | head -c 20000000; sleep 100"),
      // Measured from the container's first output byte, when the filling begins.
      expect: { ...cancelled(125), exitCode: undefined, logLine: /The work dir's file system is full/ },
      rig: onTmpfs("work", 4096, plainRig((ws) => firstOutput(ws))),
    },
    {
      engine,
      phase: "mounts",
      fault: "a 3 MiB text mount staged into a 1 MiB tmp dir",
      job: busyboxJob("true", {
        mounts: { "/out": { kind: "tmp" }, "/in/big.txt": { kind: "text", content: "x".repeat(3 << 20) } },
      }),
      expect: { ...NODE_FAULT, logLine: /The node's tmp dir is full/ },
      rig: onTmpfs("tmp", 1024, plainRig(() => Promise.resolve())),
    },
  ];
  if (engine.name === "singularity") {
    cases.push({
      engine,
      phase: "image",
      fault: "the image converted in a 1 MiB tmp dir",
      job: busyboxJob("true"),
      expect: NODE_FAULT,
      rig: onTmpfs("tmp", 1024, singularityRig([], () => Promise.resolve(), { privateCache: "cache" })),
    });
  }
  return cases;
}
