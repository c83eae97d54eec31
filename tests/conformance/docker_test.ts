/**
 * The conformance suite against Docker Engine on its default socket.
 * @module
 */

import { createDockerExecutor } from "../../src/executor/docker/mod.ts";
import { ENGINE_SOCKETS } from "../helpers/engine_api.ts";
import { dockerApiProbe } from "./docker_probe.ts";
import { defineConformanceSuite } from "./suite.ts";

defineConformanceSuite(
  "docker",
  (log) =>
    Promise.resolve(
      createDockerExecutor({ engine: "docker", socket: ENGINE_SOCKETS.docker, hostEnv: {}, log }),
    ),
  {
    // Docker sets HOSTNAME to the container ID and HOME from the image user's passwd entry.
    engineAddedEnv: ["HOSTNAME", "HOME"],
    runtimePattern: /^docker Engine \d+\.\d+/,
    probe: dockerApiProbe(ENGINE_SOCKETS.docker),
  },
);
