import { assertEquals, assertMatch, assertThrows } from "../../helpers/assert.ts";
import { EngineError } from "../../../src/errors.ts";
import {
  compareApiVersions,
  describeRuntime,
  MAX_API_VERSION,
  negotiateApiVersion,
} from "../../../src/executor/docker/version.ts";

Deno.test("compareApiVersions() compares minor versions numerically", () => {
  assertEquals(Math.sign(compareApiVersions("1.9", "1.10")), -1);
  assertEquals(compareApiVersions("1.41", "1.41"), 0);
  assertEquals(Math.sign(compareApiVersions("1.47", "1.41")), 1);
});

Deno.test("negotiateApiVersion() uses the server's version when it is below berth's maximum", () => {
  assertEquals(negotiateApiVersion({ ApiVersion: "1.41", MinAPIVersion: "1.12" }, "Docker"), "1.41"); // 20.10
  assertEquals(negotiateApiVersion({ ApiVersion: "1.41", MinAPIVersion: "1.24" }, "Podman"), "1.41"); // Podman 4
  assertEquals(negotiateApiVersion({ ApiVersion: "1.35" }, "Docker"), "1.35");
});

Deno.test("negotiateApiVersion() caps at berth's maximum for Docker 28 and 29", () => {
  assertEquals(MAX_API_VERSION, "1.47");
  assertEquals(negotiateApiVersion({ ApiVersion: "1.48", MinAPIVersion: "1.24" }, "Docker"), "1.47"); // 28
  assertEquals(negotiateApiVersion({ ApiVersion: "1.52", MinAPIVersion: "1.44" }, "Docker"), "1.47"); // 29.0
  assertEquals(negotiateApiVersion({ ApiVersion: "1.53", MinAPIVersion: "1.40" }, "Docker"), "1.47"); // 29.3
});

Deno.test("negotiateApiVersion() refuses an engine older than API 1.35 with a clear message", () => {
  const err = assertThrows(() => negotiateApiVersion({ ApiVersion: "1.30" }, "Docker"), EngineError);
  assertEquals(
    err.message,
    "Docker serves Docker Engine API 1.30, but berth needs API 1.35 or newer: upgrade the engine",
  );
  assertEquals(err.brokenNode, false);
});

Deno.test("negotiateApiVersion() refuses an engine whose minimum is above berth's maximum", () => {
  const err = assertThrows(
    () => negotiateApiVersion({ ApiVersion: "1.60", MinAPIVersion: "1.50" }, "Docker"),
    EngineError,
  );
  assertMatch(
    err.message,
    /^Docker accepts only Docker Engine API 1\.50 or newer, but berth speaks up to 1\.47/,
  );
});

Deno.test("negotiateApiVersion() refuses a reply without an API version", () => {
  assertThrows(() => negotiateApiVersion({}, "Podman"), EngineError);
  assertThrows(() => negotiateApiVersion({ ApiVersion: "4.3.1" }, "Podman"), EngineError);
});

Deno.test("describeRuntime() joins Docker's components as crunch-run does", () => {
  const info = {
    Components: [
      { Name: "Engine", Version: "20.10.24+dfsg1" },
      { Name: "containerd", Version: "1.6.20~ds1" },
      { Name: "runc", Version: "1.1.5+ds1" },
      { Name: "docker-init", Version: "0.19.0" },
    ],
  };
  assertEquals(
    describeRuntime("docker", info),
    "docker Engine 20.10.24+dfsg1, containerd 1.6.20~ds1, runc 1.1.5+ds1, docker-init 0.19.0",
  );
});

Deno.test("describeRuntime() shortens Podman's component names and version texts", () => {
  const info = {
    Components: [
      { Name: "Podman Engine", Version: "4.3.1" },
      { Name: "Conmon", Version: "conmon version 2.1.6, commit: unknown" },
      {
        Name: "OCI Runtime (runc)",
        Version: "runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev",
      },
    ],
  };
  assertEquals(
    describeRuntime("podman", info),
    "podman Engine 4.3.1, Conmon 2.1.6, OCI Runtime (runc) 1.1.5+ds1",
  );
});

Deno.test("describeRuntime() says unknown version when nothing is known", () => {
  assertEquals(describeRuntime("docker", null), "docker (unknown version)");
  assertEquals(describeRuntime("docker", { Components: [] }), "docker (unknown version)");
  assertEquals(describeRuntime("podman", { Version: "3.0.1" }), "podman Engine 3.0.1");
});
