/**
 * The conformance suite against Podman's Docker-compatible API service on its rootful socket.
 * @module
 */

import { createDockerExecutor } from "../../src/executor/docker/mod.ts";
import { ENGINE_SOCKETS } from "../helpers/engine_api.ts";
import { dockerApiProbe } from "./docker_probe.ts";
import { defineConformanceSuite } from "./suite.ts";

defineConformanceSuite(
  "podman",
  (log) =>
    Promise.resolve(
      createDockerExecutor({ engine: "podman", socket: ENGINE_SOCKETS.podman, hostEnv: {}, log }),
    ),
  {
    // Podman sets HOSTNAME and HOME like Docker, and also TERM=xterm and container=podman.
    engineAddedEnv: ["HOSTNAME", "HOME", "TERM", "container"],
    runtimePattern: /^podman Engine \d+\.\d+/,
    probe: dockerApiProbe(ENGINE_SOCKETS.podman),
  },
);
