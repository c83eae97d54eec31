/**
 * The real executor factories: the Docker-API executor (Docker, Podman) and the Singularity/Apptainer one.
 *
 * A Docker-API executor is returned connected: it has negotiated the API with one `GET /_ping` (bounded), so
 * `--runtime-engine auto` tells a live socket from a dead one without the runner speaking HTTP. A socket the
 * user named that does not exist is a {@link UsageError}; an engine that does not answer is a broken node.
 * @module
 */

import { connectDockerExecutor } from "../executor/docker/mod.ts";
import { createSingularityExecutor } from "../executor/singularity/mod.ts";
import type { ExecutorFactories } from "./engine.ts";

/** Factories that create the real executors. */
export const REAL_FACTORIES: ExecutorFactories = {
  docker(options) {
    return connectDockerExecutor(options);
  },
  singularity(options) {
    return createSingularityExecutor(options);
  },
};
