/**
 * The conformance suite's {@link EngineProbe} for engines serving the Docker Engine API (Docker, Podman), built on
 * the tests' own independent API client so the code under test does not observe itself.
 * @module
 */

import { berthContainers, engineRequest } from "../helpers/engine_api.ts";
import { testImage } from "../images/mod.ts";
import type { EngineProbe } from "./suite.ts";

/** A probe for the engine behind `socket`. */
export function dockerApiProbe(socket: string): EngineProbe {
  return {
    leftovers: (name) => berthContainers(socket, name),
    async makeStale(name) {
      const image = await testImage("busybox");
      const body = JSON.stringify({
        Image: image.id,
        Cmd: ["sleep", "1000"],
        Labels: { "org.berth.managed": "true", "org.berth.job": name },
        HostConfig: { NetworkMode: "none", LogConfig: { Type: "none" } },
      });
      const q = encodeURIComponent(name);
      const created = await engineRequest(socket, "POST", `/containers/create?name=${q}`, body, {
        "Content-Type": "application/json",
      });
      if (created.status !== 201) throw new Error(`Cannot create stale container "${name}": ${created.text}`);
      const started = await engineRequest(socket, "POST", `/containers/${q}/start`);
      if (started.status !== 204) throw new Error(`Cannot start stale container "${name}": ${started.text}`);
    },
    async removeImage(id) {
      const res = await engineRequest(socket, "DELETE", `/images/${encodeURIComponent(id)}?force=1`);
      if (res.status !== 200 && res.status !== 404) throw new Error(`Cannot remove image ${id}: ${res.text}`);
    },
  };
}
