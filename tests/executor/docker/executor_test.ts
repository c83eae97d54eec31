/**
 * Docker-API executor behaviour beyond the conformance suite, against the real engines: exact error texts,
 * log lines and failure modes.
 * @module
 */

import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "../../helpers/assert.ts";
import { ENGINE_SOCKETS, engineRequest } from "../../helpers/engine_api.ts";
import { testImage } from "../../images/mod.ts";
import { EngineError, ImageError } from "../../../src/errors.ts";
import { createDockerExecutor, EngineApiError } from "../../../src/executor/docker/mod.ts";
import type { ContainerExecutor, ContainerSpec } from "../../../src/executor/types.ts";
import { plainSpec } from "../../helpers/container_spec.ts";

const ENGINES = ["docker", "podman"] as const;
type Engine = typeof ENGINES[number];

function executor(engine: Engine, logs: string[] = []): ContainerExecutor {
  return createDockerExecutor({
    engine,
    socket: ENGINE_SOCKETS[engine],
    hostEnv: {},
    log: (m) => logs.push(m),
  });
}

function spec(image: string, command: string[], out = new WritableStream<Uint8Array>()): ContainerSpec {
  return plainSpec({
    name: `berth-exec-${crypto.randomUUID().slice(0, 12)}`,
    image,
    command,
    stdout: out,
    stderr: new WritableStream(),
  });
}

/** Asserts that the engine has no container named `name`. */
async function assertGone(engine: Engine, name: string): Promise<void> {
  const res = await engineRequest(ENGINE_SOCKETS[engine], "GET", `/containers/${name}/json`);
  assertEquals(res.status, 404, `container "${name}" was left behind`);
}

function randomId(): string {
  return `sha256:${crypto.randomUUID().replaceAll("-", "")}${crypto.randomUUID().replaceAll("-", "")}`;
}

Deno.test("runtime() lists Docker's components like crunch-run", async () => {
  const ex = executor("docker");
  try {
    assertMatch(
      await ex.runtime(),
      /^docker Engine 20\.10\.\d+\S*, containerd \S+, runc \S+, docker-init \S+$/,
    );
  } finally {
    await ex.close();
  }
});

const truncatedMessages: Record<Engine, string> = {
  docker: "Image load failed: unexpected EOF",
  podman: "Image load failed: loading tar component manifest.json: unexpected EOF",
};

for (const engine of ENGINES) {
  Deno.test(`loadImage() reports a truncated tarball on ${engine} as "${truncatedMessages[engine]}"`, async () => {
    const ex = executor(engine);
    const truncated = await testImage("truncated");
    try {
      const err = await assertRejects(
        () => ex.loadImage(randomId(), truncated.path),
        ImageError,
      );
      assertEquals(err.message, truncatedMessages[engine]);
    } finally {
      await ex.close();
    }
  });

  Deno.test(`loadImage() on ${engine} fails when the tarball holds another image than the ID`, async () => {
    const ex = executor(engine);
    const id = randomId();
    try {
      const busybox = await testImage("busybox");
      const e = await assertRejects(() => ex.loadImage(id, busybox.path), ImageError);
      assertEquals(
        e.message,
        `Image load failed: the engine loaded "${busybox.path}" but has no image ${id} (does the tarball hold ` +
          `another image?)`,
      );
    } finally {
      await ex.close();
    }
  });

  Deno.test(`loadImage() on ${engine} reports a missing tarball as an ImageError`, async () => {
    const ex = executor(engine);
    try {
      const e = await assertRejects(() => ex.loadImage(randomId(), "/nonexistent/image.tar"), ImageError);
      assertMatch(e.message, /^Cannot read image tarball "\/nonexistent\/image\.tar": /);
    } finally {
      await ex.close();
    }
  });

  Deno.test(`create() on ${engine} logs the removal of a leftover container`, async () => {
    const logs: string[] = [];
    const ex = executor(engine, logs);
    const busybox = await testImage("busybox");
    const s = spec(busybox.id, ["true"]);
    try {
      await ex.loadImage(busybox.id, busybox.path);
      const created = await engineRequest(
        ENGINE_SOCKETS[engine],
        "POST",
        `/containers/create?name=${s.name}`,
        JSON.stringify({ Image: busybox.id, Cmd: ["true"], HostConfig: { NetworkMode: "none" } }),
        { "Content-Type": "application/json" },
      );
      assertEquals(created.status, 201, created.text);
      await ex.create(s);
      assert(logs.includes(`Removed a leftover container named "${s.name}"`), logs.join("\n"));
      await ex.start();
      assertEquals(await ex.wait(), 0);
    } finally {
      await ex.close();
    }
    await assertGone(engine, s.name);
  });

  Deno.test(`create() on ${engine} reports an absent image with the HTTP status and the engine's message`, async () => {
    const ex = executor(engine);
    const id = randomId();
    const s = spec(id, ["true"]);
    try {
      const err = await assertRejects(() => ex.create(s), EngineApiError);
      assertEquals(err.status, 404);
      assertMatch(
        err.message,
        new RegExp(`^Cannot create container "${s.name}": \\(HTTP 404\\) not found - .+`),
      );
      assert(err instanceof EngineError && !err.brokenNode);
    } finally {
      await ex.close();
    }
  });

  Deno.test(`pid() on ${engine} is positive while the container runs and 0 after it is stopped`, async () => {
    const ex = executor(engine);
    const busybox = await testImage("busybox");
    try {
      await ex.loadImage(busybox.id, busybox.path);
      assertEquals(await ex.pid(), 0);
      await ex.create(spec(busybox.id, ["sleep", "30"]));
      await ex.start();
      let pid = 0;
      for (let i = 0; i < 200 && pid === 0; i++) {
        pid = await ex.pid();
        if (pid === 0) await new Promise((r) => setTimeout(r, 50));
      }
      assert(pid > 0, "pid() stayed 0 while the container ran");
      await ex.stop();
      assert((await ex.wait()) !== 0);
      assertEquals(await ex.pid(), 0);
    } finally {
      await ex.close();
    }
  });
}

Deno.test("createDockerExecutor() passes a refusal of berth's permission profile through, not as a broken node", () => {
  const err = assertThrows(
    () =>
      createDockerExecutor({
        engine: "docker",
        socket: "/tmp/berth-not-allowed.sock",
        hostEnv: {},
        log: () => {},
      }),
    Deno.errors.NotCapable,
  );
  assertMatch(err.message, /unix:\/tmp\/berth-not-allowed\.sock/);
});

/** Runs `command` to its end with `mounts`; returns the exit code and stdout. */
async function runWith(
  engine: Engine,
  command: string[],
  mounts: ContainerSpec["mounts"],
): Promise<{ code: number; stdout: string }> {
  const ex = executor(engine);
  const busybox = await testImage("busybox");
  let stdout = "";
  const out = new WritableStream<Uint8Array>({ write: (c) => void (stdout += new TextDecoder().decode(c)) });
  try {
    await ex.loadImage(busybox.id, busybox.path);
    await ex.create({ ...spec(busybox.id, command, out), mounts });
    await ex.start();
    return { code: await ex.wait(), stdout };
  } finally {
    await ex.close();
  }
}

async function withDirs(names: string[], fn: (dirs: string[]) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "berth-exec-mounts-" });
  try {
    const dirs = names.map((n) => `${root}/${n}`);
    for (const d of dirs) {
      await Deno.mkdir(d);
      await Deno.writeTextFile(`${d}/f`, d);
    }
    await fn(dirs);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

for (const engine of ENGINES) {
  Deno.test(`start() on ${engine} rejects with the engine's message when the command is not in the image`, async () => {
    const ex = executor(engine);
    const busybox = await testImage("busybox");
    const s = spec(busybox.id, ["berth-no-such-command"]);
    try {
      await ex.loadImage(busybox.id, busybox.path);
      await ex.create(s);
      const err = await assertRejects(() => ex.start(), EngineApiError);
      assertMatch(
        err.message,
        new RegExp(
          `^Cannot start container "${s.name}": \\(HTTP (400|409|500)\\) [a-z ]+ - .*exec: "berth-no-such-command": ` +
            `executable file not found in \\$PATH`,
        ),
      );
      assertEquals(err.brokenNode, false);
    } finally {
      await ex.close();
    }
    await assertGone(engine, s.name);
  });

  Deno.test(`create() on ${engine} mounts host paths containing ':' and ',' as they are`, async () => {
    // Podman cannot express a path with both characters (see the next test); each alone works on both engines.
    const names = engine === "docker" ? ["a:b,ro", "c,d"] : ["a:b", "c,ro"];
    await withDirs(names, async ([first, second]) => {
      const r = await runWith(engine, ["sh", "-c", "cat /m1/f; echo; cat /m2/f; echo; echo w > /m2/g"], {
        "/m1": { hostPath: first, readOnly: true },
        "/m2": { hostPath: second, readOnly: false },
      });
      assertEquals([r.code, r.stdout], [0, `${first}\n${second}\n`]);
      assertEquals(await Deno.readTextFile(`${second}/g`), "w\n");
    });
  });

  Deno.test(`create() on ${engine} refuses and removes a container whose bind source differs from the spec`, async () => {
    await withDirs(["in"], async ([dir]) => {
      const ex = executor(engine);
      const busybox = await testImage("busybox");
      // The engines resolve ".." lexically; the kernel would not when a component is a symbolic link.
      const asked = `${dir}/../in`;
      const s = { ...spec(busybox.id, ["true"]), mounts: { "/m": { hostPath: asked, readOnly: true } } };
      try {
        await ex.loadImage(busybox.id, busybox.path);
        const err = await assertRejects(() => ex.create(s), EngineError);
        assertEquals(
          err.message,
          `Refusing container "${s.name}": "/m" is bind-mounted from "${dir}", not from "${asked}"`,
        );
        assertEquals(err.brokenNode, false);
        await assertGone(engine, s.name);
      } finally {
        await ex.close();
      }
    });
  });
}

Deno.test("create() on podman refuses a bind path holding both ',' and ':' in one line, creating nothing", async () => {
  await withDirs(["a,b:c"], async ([dir]) => {
    const ex = executor("podman");
    const busybox = await testImage("busybox");
    const s = { ...spec(busybox.id, ["true"]), mounts: { "/m": { hostPath: dir, readOnly: true } } };
    try {
      await ex.loadImage(busybox.id, busybox.path);
      const err = await assertRejects(() => ex.create(s), EngineError);
      assertEquals(
        err.message,
        `Cannot bind-mount "${dir}" at "/m" with Podman: its Docker-compatible API cannot express a mount ` +
          `whose paths contain both "," and ":"`,
      );
      await assertGone("podman", s.name);
    } finally {
      await ex.close();
    }
  });
});

for (const engine of ENGINES) {
  Deno.test(`create() on ${engine} re-checks the host paths right before creating; a refusal creates nothing`, async () => {
    const busybox = await testImage("busybox");
    const refusal = new Error("bind source /data/in now resolves to /etc");
    const ex = executor(engine);
    const s = { ...spec(busybox.id, ["true"]), verifyHostPaths: () => Promise.reject(refusal) };
    try {
      await ex.loadImage(busybox.id, busybox.path);
      assertEquals(await assertRejects(() => ex.create(s), Error), refusal);
      await assertGone(engine, s.name);
    } finally {
      await ex.close();
    }
    let checks = 0;
    const ok = { ...spec(busybox.id, ["true"]), verifyHostPaths: () => Promise.resolve(void checks++) };
    const ex2 = executor(engine);
    try {
      await ex2.create(ok);
      await ex2.start();
      assertEquals([await ex2.wait(), checks], [0, 1]);
    } finally {
      await ex2.close();
    }
  });
}
