/**
 * The Docker-API executor: Docker and Podman's compatible service, spoken to over their unix socket.
 * @module
 */
export {
  connectDockerExecutor,
  createDockerExecutor,
  type DockerExecutorOptions,
  KILLED_EXIT_CODE,
} from "./executor.ts";
export { ENGINE_BOUNDS, WATCHDOG_THRESHOLD } from "./bounds.ts";
export { compareMounts } from "./mounts.ts";
export { type DockerApiEngine, resolveSocket } from "./socket.ts";
export { JOB_LABEL, MANAGED_LABEL } from "./create_body.ts";
export { EngineApiError, EngineTimeoutError } from "./transport.ts";
