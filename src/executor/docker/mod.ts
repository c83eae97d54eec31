/**
 * The Docker-API executor: Docker and Podman's compatible service, spoken to over their unix socket.
 * @module
 */
export {
  createDockerExecutor,
  type DockerExecutorOptions,
  KILLED_EXIT_CODE,
  WATCHDOG_THRESHOLD,
} from "./executor.ts";
export { type DockerApiEngine, resolveSocket } from "./socket.ts";
export { JOB_LABEL, MANAGED_LABEL } from "./create_body.ts";
export { EngineApiError } from "./transport.ts";
