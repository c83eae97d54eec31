/**
 * The conformance suite against the Singularity/Apptainer executor: with the CLI test fixture in every generation
 * of the real command line it models (it really runs containers: namespaces, chroot, binds; see tests/fixtures/),
 * with the real programs named by BERTH_SINGULARITY_BINARIES, and with a real `singularity` or `apptainer`
 * whenever one is on PATH. A missing real program is reported as an ignored test that names it, never skipped
 * silently.
 * @module
 */

import {
  createSingularityExecutor,
  defaultCgroupProbe,
  detectCapabilities,
  planLimits,
  queryVersionLine,
} from "../../src/executor/singularity/mod.ts";
import { singularityTargets, testHostEnv } from "../fixtures/singularity/mod.ts";
import type { EngineProbe } from "./suite.ts";
import { defineConformanceSuite } from "./suite.ts";

/** Leftovers of Singularity runs: executors' temp dirs under `tmpDir`, then any engine process of this target. */
function singularityProbe(tmpDir: string): EngineProbe {
  return {
    async leftovers() {
      const dirs: string[] = [];
      for await (const e of Deno.readDir(tmpDir)) if (e.name !== "sif-cache") dirs.push(e.name);
      if (dirs.length > 0) return dirs;
      const ps = await new Deno.Command("ps", { args: ["-eo", "pid=,args="], stdout: "piped" }).output();
      // This suite's own engine processes: every one of them names an image in this target's tmpDir (the fixture's
      // scripts, and the real program until its starter renames itself), so other sessions' containers on the same
      // program do not count; the test runners, whose permission flags name the program too, are left out.
      return new TextDecoder().decode(ps.stdout).split("\n")
        .filter((l) => l.includes(`${tmpDir}/`) && !/\bdeno\b/.test(l));
    },
    makeStale() {
      return Promise.reject(new Error("Singularity has no named containers that could be left stale"));
    },
    async removeImage(id) {
      // The SIF cache is keyed by image ID: remove that image's entries.
      const cache = `${tmpDir}/sif-cache`;
      for await (const e of Deno.readDir(cache)) {
        if (e.name.includes(id.replace(/^sha256:/, ""))) {
          await Deno.remove(`${cache}/${e.name}`, { recursive: true });
        }
      }
    },
  };
}

/**
 * Why `binary` cannot enforce limits on this host as this user (the reason berth would log), or "" when it can:
 * the same decision the executor makes, from the program's capabilities and the real cgroup probe.
 */
async function limitsUnsupported(binary: string, tmpDir: string): Promise<string> {
  const caps = await detectCapabilities(binary, await queryVersionLine(binary, tmpDir), tmpDir);
  const isRoot = Deno.uid() === 0;
  const cgroup = await defaultCgroupProbe(isRoot, testHostEnv())(() => {});
  const plan = planLimits({ caps, isRoot, vcpus: 1, ram: 64 << 20, cgroup, cgroupFile: `${tmpDir}/x.toml` });
  return plan.notes.find((n) => !n.startsWith("Swap")) ?? "";
}

for (const target of await singularityTargets()) {
  if (target.binary === null) {
    Deno.test({
      name: `[${target.label}] conformance suite: not run, ${target.missing}`,
      ignore: true,
      fn() {},
    });
    continue;
  }
  const binary = target.binary;
  const tmpDir = await Deno.makeTempDir({ prefix: `berth-conformance-${target.engine}-` });
  await Deno.mkdir(`${tmpDir}/sif-cache`);
  globalThis.addEventListener("unload", () => Deno.removeSync(tmpDir, { recursive: true }));
  defineConformanceSuite(
    target.label,
    (log) =>
      createSingularityExecutor({
        engine: target.engine,
        binary,
        tmpDir,
        imageCache: `${tmpDir}/sif-cache`,
        hostEnv: testHostEnv(),
        log,
      }),
    {
      // --containall sets HOME; the runtime itself adds its own variables (the fixture: none beyond these).
      engineAddedEnv: [
        "HOME",
        "PWD",
        "SHLVL",
        "SINGULARITY_NAME",
        "SINGULARITY_CONTAINER",
        "APPTAINER_NAME",
        "APPTAINER_CONTAINER",
        "SINGULARITY_ENVIRONMENT",
        "APPTAINER_ENVIRONMENT",
        "SINGULARITY_NO_EVAL",
        "APPTAINER_NO_EVAL",
        "LD_LIBRARY_PATH",
        "LANG",
        "PS1",
        "PROMPT_COMMAND",
        "SINGULARITY_BIND",
        "APPTAINER_BIND",
        "SINGULARITY_COMMAND",
        "APPTAINER_COMMAND",
        "SINGULARITY_APPNAME",
        "APPTAINER_APPNAME",
        "SINGULARITY_ENVIRONMENT",
        "APPTAINER_ENVIRONMENT",
        "SINGULARITY_INIT",
        "APPTAINER_INIT",
      ],
      runtimePattern: target.engine === "apptainer"
        ? /^apptainer.* version \d+\.\d+/
        : /^singularity.* version \d+\.\d+/,
      probe: singularityProbe(tmpDir),
      // --containall mounts no cgroup file system: the limit tests look at the host's, as the real programs show.
      limitMounts: { "/sys/fs/cgroup": { hostPath: "/sys/fs/cgroup", readOnly: true } },
      limitsUnsupported: await limitsUnsupported(binary, tmpDir),
      namedContainers: false,
    },
  );
}
