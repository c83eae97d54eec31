/**
 * The real executor factories: the Docker-API executor (Docker, Podman) and the Singularity/Apptainer one.
 *
 * A Docker-API executor contacts its engine lazily, so the factory asks it for the runtime description once:
 * an engine that answers `/version` describes itself, one that does not is reported by the executor as
 * `<engine> (unknown version)`. That is how `--runtime-engine auto` tells a live socket from a dead one without
 * the runner speaking HTTP.
 * @module
 */

import { EngineError } from "../errors.ts";
import { createDockerExecutor } from "../executor/docker/mod.ts";
import { createSingularityExecutor } from "../executor/singularity/mod.ts";
import type { ExecutorFactories } from "./engine.ts";

/** Factories that create the real executors. */
export const REAL_FACTORIES: ExecutorFactories = {
  async docker(options) {
    const executor = createDockerExecutor(options);
    const runtime = await executor.runtime();
    if (runtime.endsWith("(unknown version)")) {
      await executor.close();
      throw new EngineError(
        `the ${options.engine} engine does not answer on ${
          options.socket ? `socket "${options.socket}"` : "its default socket"
        }`,
        { brokenNode: true },
      );
    }
    return executor;
  },
  singularity(options) {
    return createSingularityExecutor(options);
  },
};
