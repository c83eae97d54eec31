/**
 * `berth run` and `berth pull` with registry images, end to end: berth as a subprocess under the end-to-end
 * profile, a real docker-registry on loopback, on Docker, Podman and the Singularity CLI fixture. Pull by tag and
 * by digest with provenance in state.json and crunch-run.txt; `berth pull` then `--pull never` with the registry
 * gone; a wrong digest and an unreachable registry (exit 125, never the node's fault); htpasswd credentials from
 * `--registry-auth` that appear nowhere; a SIF file refused by Docker/Podman before anything exists.
 */
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertNotMatch } from "../helpers/assert.ts";
import { removeRegistryTags, startRegistry, type TestRegistry } from "../helpers/registry.ts";
import {
  assertFinalState,
  assertSecretsAbsent,
  ENGINES,
  type Finished,
  runBerthE2e,
  withWorkspace,
  type Workspace,
} from "../e2e/_harness.ts";
import { SIF_MAGIC } from "../../src/image/mod.ts";

/** berth reaches the loopback registries (the Singularity path speaks HTTP itself; see scripts/profiles). */
const NET = { BERTH_REGISTRIES: "127.0.0.1" };

async function withRegistry(
  fn: (registry: TestRegistry) => Promise<void>,
  options: { user?: { username: string; password: string }; socket?: string | null } = {},
): Promise<void> {
  const registry = await startRegistry({ user: options.user });
  try {
    await fn(registry);
  } finally {
    await registry.close();
    if (options.socket) await removeRegistryTags(options.socket, registry.host);
  }
}

async function writeRegistryJob(ws: Workspace, image: string): Promise<void> {
  await ws.writeJob({
    container_image: image,
    command: ["sh", "-c", "cat /etc/berth-kept; pwd; echo $BERTH_IMAGE_VAR"],
    mounts: { "/out": { kind: "tmp" } },
  });
}

function pullArgs(ws: Workspace, extra: string[]): string[] {
  // `berth pull` takes the engine and cache options of `run`, not the work-dir ones.
  const engineArgs = ws.engine?.args(ws) ?? [];
  return ["pull", ws.jobPath, "--tmp-dir", ws.tmp, ...engineArgs, ...extra];
}

function assertExit(r: Finished, code: number): void {
  assertEquals(r.code, code, `berth exited ${r.code}, expected ${code}; stderr: ${r.stderr.slice(-1500)}`);
}

/**
 * Docker, Podman, ONE generation of the Singularity CLI fixture (berth itself fetches registry images for every
 * generation alike, and converts them with the same `build docker-archive://` as a tarball) and the real programs.
 */
const TARGETS = ENGINES.filter((e, i) =>
  e.socket !== null || !e.label.includes("fixture") ||
  ENGINES.findIndex((x) => x.label.includes("fixture")) === i
);

for (const engine of TARGETS) {
  const ignore = !engine.available;

  Deno.test({
    name:
      `berth run on ${engine.label}: docker:// by tag and by digest, same result as the tarball, provenance`,
    ignore,
    sanitizeResources: false,
    async fn() {
      await withRegistry(async (registry) => {
        const pushed = await registry.push("multilayer", "e2e");
        const insecure = ["--insecure-registry", registry.host];
        const outputs: string[] = [];
        for (
          const [label, image] of [
            ["tag", `docker://${pushed.reference}`],
            ["digest", `docker://${registry.host}/${pushed.repository}@${pushed.digest}`],
          ]
        ) {
          await withWorkspace(engine, `registry-${label}`, async (ws) => {
            await writeRegistryJob(ws, image);
            const r = await runBerthE2e(ws.args(insecure), NET);
            assertExit(r, 0);
            const lines = await assertFinalState(ws, "Complete", 0);
            const state = await ws.state();
            assertEquals(state.image, {
              id: pushed.id,
              reference: label === "tag"
                ? `${registry.host}/${pushed.repository}:e2e`
                : `${registry.host}/${pushed.repository}@${pushed.digest}`,
              manifest_digest: pushed.digest,
            });
            assert(
              lines.some((l) =>
                l.includes(`Image: id ${pushed.id}`) && l.includes(`manifest digest ${pushed.digest}`)
              ),
              lines.join("\n"),
            );
            outputs.push((await ws.read("logs/stdout.txt")).replace(/^\S+ /gm, ""));
            await ws.assertNoLeftovers();
          });
        }
        await withWorkspace(engine, "registry-tarball", async (ws) => {
          await writeRegistryJob(ws, join(Deno.cwd(), "tests/.images/multilayer.tar"));
          assertExit(await runBerthE2e(ws.args()), 0);
          outputs.push((await ws.read("logs/stdout.txt")).replace(/^\S+ /gm, ""));
        });
        assertEquals(outputs[0], "kept\n/work\nfrom-image\n");
        assertEquals(outputs[1], outputs[0]);
        assertEquals(outputs[2], outputs[0]);
      }, { socket: engine.socket });
    },
  });

  Deno.test({
    name: `berth pull on ${engine.label}, then berth run --pull never with the registry gone`,
    ignore,
    sanitizeResources: false,
    async fn() {
      let host = "";
      let repository = "";
      await withWorkspace(engine, "pull-never", async (ws) => {
        await withRegistry(async (registry) => {
          host = registry.host;
          const pushed = await registry.push("busybox", "prefetch");
          repository = pushed.repository;
          await writeRegistryJob(ws, `docker://${pushed.reference}`);
          // No --insecure-registry: a loopback registry is plain HTTP on every engine, as Docker has it.
          const pulled = await runBerthE2e(pullArgs(ws, []), NET);
          assertExit(pulled, 0);
          const printed = JSON.parse(pulled.stdout);
          assertEquals(printed.image_id, pushed.id);
          assertEquals(printed.manifest_digest, pushed.digest);
          assertEquals(printed.engine, engine.name);
        });
        // The registry is gone now: the run must not need it.
        const r = await runBerthE2e(ws.args(["--pull", "never"]), NET);
        assertExit(r, 0);
        await assertFinalState(ws, "Complete", 0);
        const log = await ws.read("logs/crunch-run.txt");
        assertMatch(log, /not contacting the registry \(--pull never\)/);
        await ws.assertNoLeftovers();
      });
      await withWorkspace(engine, "pull-never-absent", async (ws) => {
        await writeRegistryJob(ws, `docker://${host}/${repository}:never-pushed`);
        const r = await runBerthE2e(ws.args(["--pull", "never"]), NET);
        assertExit(r, 2);
        assertMatch(r.stderr, /--pull never forbids fetching it/);
        await ws.assertNoLeftovers();
      });
      if (engine.socket) await removeRegistryTags(engine.socket, host);
    },
  });

  Deno.test({
    name:
      `berth run on ${engine.label}: a wrong digest and an unreachable registry exit 125, node not broken`,
    ignore,
    sanitizeResources: false,
    async fn() {
      let deadHost = "";
      await withRegistry(async (registry) => {
        deadHost = registry.host;
        const pushed = await registry.push("busybox", "wrong");
        const wrong = "sha256:" + "0".repeat(64);
        await withWorkspace(engine, "wrong-digest", async (ws) => {
          await writeRegistryJob(ws, `docker://${registry.host}/${pushed.repository}@${wrong}`);
          const r = await runBerthE2e(ws.args(["--insecure-registry", registry.host]), NET);
          assertExit(r, 125);
          await assertFinalState(ws, "Cancelled", 125);
          assertMatch(String((await ws.state()).error), new RegExp(`Cannot pull image ".*@${wrong}"`));
          assertEquals([...Deno.readDirSync(ws.rt)].filter((e) => e.name.includes("broken")), []);
          await ws.assertNoLeftovers();
        });
      });
      await withWorkspace(engine, "unreachable", async (ws) => {
        await writeRegistryJob(ws, `docker://${deadHost}/berth/gone:1`);
        const r = await runBerthE2e(ws.args(["--insecure-registry", deadHost]), NET);
        assertExit(r, 125);
        await assertFinalState(ws, "Cancelled", 125);
        assertMatch(String((await ws.state()).error), /connection refused|cannot reach/);
        assertEquals([...Deno.readDirSync(ws.rt)].filter((e) => e.name.includes("broken")), []);
        await ws.assertNoLeftovers();
      });
    },
  });

  Deno.test({
    name: `berth run on ${engine.label}: htpasswd credentials from --registry-auth work and appear nowhere`,
    ignore,
    sanitizeResources: false,
    async fn() {
      const user = { username: "berth-e2e", password: "Pw-" + crypto.randomUUID() };
      const b64 = btoa(`${user.username}:${user.password}`);
      await withRegistry(async (registry) => {
        const pushed = await registry.push("busybox", "private");
        await withWorkspace(engine, "auth", async (ws) => {
          const authFile = join(ws.root, "config.json");
          await Deno.writeTextFile(authFile, JSON.stringify({ auths: { [registry.host]: { auth: b64 } } }));
          await writeRegistryJob(ws, `docker://${pushed.reference}`);
          const args = ["--insecure-registry", registry.host, "--registry-auth", authFile];
          const r = await runBerthE2e(ws.args(args), NET);
          assertExit(r, 0);
          await assertSecretsAbsent(ws, [user.password, b64]);
          for (const text of [r.stdout, r.stderr]) {
            assertNotMatch(text, new RegExp(user.password));
            assertNotMatch(text, new RegExp(b64.replace(/[+/=]/g, "\\$&")));
          }
        });
        await withWorkspace(engine, "auth-missing", async (ws) => {
          await writeRegistryJob(ws, `docker://${pushed.reference}`);
          // --pull always: the image is on the node now, and only the registry can refuse.
          const r = await runBerthE2e(
            ws.args(["--insecure-registry", registry.host, "--pull", "always"]),
            NET,
          );
          assertExit(r, 125);
          await assertFinalState(ws, "Cancelled", 125);
        });
      }, { user, socket: engine.socket });
    },
  });

  if (engine.socket !== null) {
    Deno.test({
      name: `berth run on ${engine.label}: a SIF file is refused before anything is created (exit 2)`,
      ignore,
      async fn() {
        await withWorkspace(engine, "sif-refused", async (ws) => {
          const sif = join(ws.root, "image.sif");
          const head = new Uint8Array(4096);
          head.set(new TextEncoder().encode("#!/usr/bin/env run-singularity\n"));
          head.set(SIF_MAGIC, 32);
          await Deno.writeFile(sif, head);
          await ws.writeJob({ container_image: sif, command: ["true"], mounts: { "/out": { kind: "tmp" } } });
          const r = await runBerthE2e(ws.args());
          assertExit(r, 2);
          assertMatch(
            r.stderr,
            new RegExp(`field "container_image" names the SIF file ".*", which ${engine.name} cannot run`),
          );
          assertEquals(r.stderr.trim().split("\n").length, 1);
          await Deno.stat(ws.work).then(() => assert(false, "a work dir was created"), () => {});
          await ws.assertNoLeftovers();
        });
      },
    });
  }
}
