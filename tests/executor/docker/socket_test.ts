import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { UsageError } from "../../../src/errors.ts";
import { chooseSocket, namedSocketMistake, resolveSocket } from "../../../src/executor/docker/socket.ts";

Deno.test("resolveSocket() prefers the explicit socket over the environment", () => {
  const hostEnv = { DOCKER_HOST: "unix:///x.sock", CONTAINER_HOST: "unix:///y.sock" };
  assertEquals(resolveSocket({ engine: "docker", socket: "/s.sock", hostEnv, uid: 0 }), "/s.sock");
  assertEquals(resolveSocket({ engine: "podman", socket: "/s.sock", hostEnv, uid: 0 }), "/s.sock");
});

Deno.test("resolveSocket() reads DOCKER_HOST for Docker, else /var/run/docker.sock", () => {
  assertEquals(
    resolveSocket({ engine: "docker", hostEnv: { DOCKER_HOST: "unix:///run/d.sock" }, uid: 5 }),
    "/run/d.sock",
  );
  assertEquals(resolveSocket({ engine: "docker", hostEnv: {}, uid: 5 }), "/var/run/docker.sock");
  assertEquals(
    resolveSocket({ engine: "docker", hostEnv: { DOCKER_HOST: "" }, uid: 5 }),
    "/var/run/docker.sock",
  );
});

Deno.test("resolveSocket() picks Podman's rootful socket for root and the rootless one otherwise", () => {
  assertEquals(resolveSocket({ engine: "podman", hostEnv: {}, uid: 0 }), "/run/podman/podman.sock");
  assertEquals(
    resolveSocket({ engine: "podman", hostEnv: { XDG_RUNTIME_DIR: "/run/user/1000" }, uid: 1000 }),
    "/run/user/1000/podman/podman.sock",
  );
  assertEquals(
    resolveSocket({ engine: "podman", hostEnv: {}, uid: 1001 }),
    "/run/user/1001/podman/podman.sock",
  );
  assertEquals(
    resolveSocket({ engine: "podman", hostEnv: { CONTAINER_HOST: "unix:///tmp/p.sock" }, uid: 1000 }),
    "/tmp/p.sock",
  );
});

Deno.test("resolveSocket() refuses a TCP or relative DOCKER_HOST", () => {
  const err = assertThrows(
    () => resolveSocket({ engine: "docker", hostEnv: { DOCKER_HOST: "tcp://10.0.0.1:2375" }, uid: 0 }),
    UsageError,
  );
  assertEquals(
    err.message,
    'Cannot use DOCKER_HOST="tcp://10.0.0.1:2375": berth speaks to the engine only on a unix socket (unix:///path)',
  );
  assertThrows(
    () => resolveSocket({ engine: "docker", hostEnv: { DOCKER_HOST: "unix://d.sock" }, uid: 0 }),
    UsageError,
  );
});

Deno.test("chooseSocket() says who named the socket: the option, the variable, or nobody (a default)", () => {
  const hostEnv = { DOCKER_HOST: "unix:///x.sock", CONTAINER_HOST: "unix:///y.sock" };
  assertEquals(chooseSocket({ engine: "docker", socket: "/s.sock", hostEnv, uid: 0 }), {
    path: "/s.sock",
    namedBy: "--docker-socket",
  });
  assertEquals(chooseSocket({ engine: "docker", hostEnv, uid: 0 }), {
    path: "/x.sock",
    namedBy: "DOCKER_HOST",
  });
  assertEquals(chooseSocket({ engine: "podman", hostEnv, uid: 0 }), {
    path: "/y.sock",
    namedBy: "CONTAINER_HOST",
  });
  assertEquals(chooseSocket({ engine: "podman", hostEnv: {}, uid: 7 }), {
    path: "/run/user/7/podman/podman.sock",
    namedBy: null,
  });
});

Deno.test("namedSocketMistake() blames the user only for a named path that is missing or not a socket", async () => {
  const dir = await Deno.makeTempDir({ prefix: "berth-socket-" });
  try {
    const missing = `${dir}/none.sock`;
    const err = namedSocketMistake({ path: missing, namedBy: "DOCKER_HOST" });
    assertEquals(err?.message, `Cannot use DOCKER_HOST="unix://${missing}": "${missing}" does not exist`);
    assertEquals(err?.exitCode, 2);
    await Deno.writeTextFile(`${dir}/file`, "");
    assertEquals(
      namedSocketMistake({ path: `${dir}/file`, namedBy: "--docker-socket" })?.message,
      `Cannot use --docker-socket "${dir}/file": "${dir}/file" is not a socket`,
    );
    // A default socket that is missing is the node's fault, not the user's.
    assertEquals(namedSocketMistake({ path: missing, namedBy: null }), null);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
