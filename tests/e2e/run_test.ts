/**
 * `berth run` end to end, as a subprocess under its permission profile, on Docker, Podman and the Singularity
 * CLI fixture alike: one suite, parametrized over the engines.
 */

import { createHash } from "node:crypto";
import { join } from "node:path";
import { assert, assertEquals, assertMatch, assertStringIncludes } from "../helpers/assert.ts";
import { testImage } from "../images/mod.ts";
import {
  assertFinalState,
  assertSecretsAbsent,
  assertTimestamped,
  brokenEngineProgram,
  deadSocket,
  ENGINES,
  extraNet,
  extraRun,
  keepImage,
  runBerthE2e,
  spawnBerth,
  waitForLog,
  withWorkspace,
} from "./_harness.ts";

const busybox = await testImage("busybox");
const badLayer = await testImage("badlayer");

const PDH_A = "0123456789abcdef0123456789abcdef+12";
const PDH_STDIN = "fedcba9876543210fedcba9876543210+9";
const UUID_C = "zzzzz-4zz18-0123456789abcde";
const SECRET_TEXT = "s3cret-text-content-7731";
const SECRET_JSON_VALUE = "s3cret-json-value-5521";
const SECRET_ENV = "s3cret-env-token-9902";

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/** Everything about a file berth must never touch (ctime moves on any chmod or chown). */
async function fingerprint(path: string) {
  const s = await Deno.stat(path);
  return { mode: s.mode, uid: s.uid, gid: s.gid, ctime: s.ctime?.getTime(), size: s.size };
}

/** The container side of the mounts test: checks what it can see, and leaves traps in the output. */
const MOUNTS_SCRIPT = `
fail() { echo "FAIL: $*" >&2; exit 99; }
[ "$(stat -c %a /scratch)" = 755 ] || fail "tmp mount mode $(stat -c %a /scratch)"
echo scratch > /scratch/x || fail "tmp mount not writable"
[ "$(cat /in/t.txt)" = "text here" ] || fail "text mount content"
[ "$(stat -c %a /in/t.txt)" = 444 ] || fail "text mount mode $(stat -c %a /in/t.txt)"
if (echo x > /in/t.txt) 2>/dev/null; then fail "text mount writable"; fi
[ "$(stat -c %a /in/j.json)" = 444 ] || fail "json mount mode"
cp /in/j.json /out/j-copy.json
cat /keep/top.txt > /out/keep-top.txt
cat /keepsub/inner.txt > /out/keepsub-inner.txt
cat /keepuuid/u.txt > /out/keepuuid.txt
if touch /keep/new 2>/dev/null; then fail "read-only collection writable"; fi
echo appended >> /out/coll/top.txt || fail "writable collection copy not writable"
if touch /out/ro/new 2>/dev/null; then fail "read-only collection under output writable"; fi
echo more >> /out/staged.txt || fail "staged text not writable"
cat /data/d.txt > /out/data.txt
if touch /data/new 2>/dev/null; then fail "read-only bind writable"; fi
echo from-container > /rw/written.txt || fail "writable bind not writable"
sha256sum /etc/secret.txt | cut -d" " -f1 > /out/secret.sha
[ -s /out/secret.json ] || fail "secret json mount below the output missing"
cat > /out/stdin.copy
echo "FOO=$FOO" > /out/env.txt
[ "$(grep -c : /proc/net/dev)" = 1 ] || fail "networking is on: $(cat /proc/net/dev)"
mkdir -p /out/private/deeper
echo data > /out/private/deeper/data.bin
# (chown fails where root has no CAP_CHOWN in the container: Singularity with "root default capabilities = file")
chown 1234:1234 /out/private/deeper/data.bin /out/private/deeper /out/private 2>/dev/null
chmod 000 /out/private/deeper/data.bin /out/private/deeper
chmod 500 /out/private
ln -s /etc/shadow /out/shadow
ln -s / /out/rootlink
mknod /out/devnull c 1 3 2>/dev/null || true
echo "to stdout"
echo "to stderr" >&2
`;

for (const engine of ENGINES) {
  const ignore = !engine.available;
  const test = (name: string, fn: () => Promise<void>) =>
    Deno.test({ name: `berth run on ${engine.label}: ${name}`, ignore, fn });

  test("every mount kind, secrets, stdin, a stderr file mount, output ownership and manifest", async () => {
    await withWorkspace(engine, "mounts", async (ws) => {
      const shadowBefore = await fingerprint("/etc/shadow").catch(() => null);
      await ws.collection(PDH_A, { "top.txt": "top\n", "sub/inner.txt": "inner\n" });
      await ws.collection(UUID_C, { "u.txt": "by uuid\n" });
      await Deno.mkdir(join(ws.allowed, "data"));
      await Deno.writeTextFile(join(ws.allowed, "data", "d.txt"), "bound\n");
      await Deno.mkdir(join(ws.allowed, "rw"));
      await ws.writeJob({
        container_image: await keepImage(ws, busybox.path),
        command: ["sh", "-c", MOUNTS_SCRIPT],
        environment: { FOO: "bar", API_TOKEN: SECRET_ENV },
        mounts: {
          "/out": { kind: "tmp" },
          "/scratch": { kind: "tmp", capacity: 1000 },
          "/in/t.txt": { kind: "text", content: "text here" },
          "/in/j.json": { kind: "json", content: { n: "BIG:123456789123456789123", s: "<&>" } },
          "/keep": { kind: "collection", portable_data_hash: PDH_A },
          "/keepsub": { kind: "collection", portable_data_hash: `${PDH_A}/sub` },
          "/keepuuid": { kind: "collection", uuid: UUID_C },
          "/out/coll": { kind: "collection", portable_data_hash: PDH_A, writable: true },
          "/out/ro": { kind: "collection", portable_data_hash: PDH_A },
          "/out/staged.txt": { kind: "text", content: "staged\n" },
          "/data": { kind: "bind", source: join(ws.allowed, "data") },
          "/rw": { kind: "bind", source: join(ws.allowed, "rw"), writable: true },
          "stdin": { kind: "json", content: { stdin: "BIG:98765432109876543210987" } },
          "stderr": { kind: "file", path: "/out/logs/err.txt" },
        },
        secret_mounts: {
          "/etc/secret.txt": { kind: "text", content: SECRET_TEXT },
          "/out/secret.json": { kind: "json", content: { password: SECRET_JSON_VALUE } },
        },
      });
      const r = await runBerthE2e(ws.args());
      assertEquals(r.code, 0, r.stderr);
      const log = await assertFinalState(ws, "Complete", 0);
      assertEquals((await ws.state()).exit_code, 0);
      assertMatch(log.join("\n"), new RegExp(`Using container runtime: ${engine.name}`));
      // Mount contents as the container saw them.
      const out = (rel: string) => ws.read(`output/${rel}`);
      assertEquals(await out("j-copy.json"), '{"n":123456789123456789123,"s":"\\u003c\\u0026\\u003e"}');
      assertEquals(await out("keep-top.txt"), "top\n");
      assertEquals(await out("keepsub-inner.txt"), "inner\n");
      assertEquals(await out("keepuuid.txt"), "by uuid\n");
      assertEquals(await out("coll/top.txt"), "top\nappended\n");
      assertEquals(await out("coll/sub/inner.txt"), "inner\n");
      assertEquals(await out("ro/top.txt"), "top\n");
      assertEquals(await out("staged.txt"), "staged\nmore\n");
      assertEquals(await out("data.txt"), "bound\n");
      assertEquals(await Deno.readTextFile(join(ws.allowed, "rw", "written.txt")), "from-container\n");
      assertEquals(await out("secret.sha"), sha256(SECRET_TEXT) + "\n");
      assertEquals(await out("stdin.copy"), '{"stdin":98765432109876543210987}');
      assertEquals(await out("env.txt"), "FOO=bar\n");
      // stdout is timestamped per line in logs/; stderr went raw to its file mount.
      assertEquals(assertTimestamped(await ws.read("logs/stdout.txt"), "stdout.txt"), ["to stdout"]);
      assertEquals(await out("logs/err.txt"), "to stderr\n");
      assertEquals(await Deno.stat(join(ws.work, "logs", "stderr.txt")).then(() => true, () => false), false);
      // The secret below output_path was never copied out, and its mount point is gone.
      assertEquals(
        await Deno.lstat(join(ws.work, "output", "secret.json")).then(() => true, () => false),
        false,
      );
      // Ownership: everything is berth's user's, readable; the symlink traps are untouched links.
      for (const rel of ["private", "private/deeper", "private/deeper/data.bin"]) {
        const s = await Deno.lstat(join(ws.work, "output", rel));
        assertEquals([s.uid, s.gid], [Deno.uid(), Deno.gid()], rel);
        assertEquals(s.mode! & 0o700, s.isDirectory ? 0o700 : 0o600, rel);
      }
      assertEquals(await out("private/deeper/data.bin"), "data\n");
      assertEquals(await Deno.readLink(join(ws.work, "output", "shadow")), "/etc/shadow");
      assertEquals(await Deno.readLink(join(ws.work, "output", "rootlink")), "/");
      if (shadowBefore) assertEquals(await fingerprint("/etc/shadow"), shadowBefore);
      // The manifest describes exactly what is there.
      const manifest = JSON.parse(await ws.read("output.json"));
      assertEquals(manifest.uuid, ws.uuid);
      const paths = manifest.entries.map((e: { path: string }) => e.path);
      assertEquals(paths, [...paths].sort());
      assert(!paths.includes("secret.json"));
      assert(!paths.includes("devnull"), "device nodes are removed from the output");
      let files = 0;
      for (const e of manifest.entries) {
        const info = await Deno.lstat(join(ws.work, "output", e.path));
        assertEquals(e.mode, (info.mode! & 0o7777).toString(8).padStart(4, "0"), e.path);
        if (e.type === "file") {
          files++;
          assertEquals(e.size, info.size, e.path);
          const bytes = await Deno.readFile(join(ws.work, "output", e.path));
          assertEquals(e.sha256, createHash("sha256").update(bytes).digest("hex"), e.path);
        }
        if (e.type === "symlink") {
          assertEquals(e.target, await Deno.readLink(join(ws.work, "output", e.path)));
        }
      }
      assertEquals(manifest.files, files);
      assert(files >= 14, `${files} files in the manifest`);
      // The record: container.json without secrets, node-info, no secret anywhere.
      const container = JSON.parse(await ws.read("logs/container.json"));
      assertEquals(container.secret_mounts, {
        "/etc/secret.txt": { kind: "text" },
        "/out/secret.json": { kind: "json" },
      });
      assertEquals(container.environment, { FOO: "bar", API_TOKEN: "<redacted>" });
      assertStringIncludes(await ws.read("logs/container.json"), "123456789123456789123");
      assertMatch(await ws.read("logs/node-info.txt"), /^Host Information\n/);
      await assertSecretsAbsent(ws, [SECRET_TEXT, SECRET_JSON_VALUE, SECRET_ENV]);
      await ws.assertNoLeftovers();
    });
  });

  test("stdin from a collection file, a stdout file mount, and the container's exit code", async () => {
    await withWorkspace(engine, "stdio", async (ws) => {
      await ws.collection(PDH_STDIN, { "in/data.txt": "line one\nline two\n" });
      await ws.writeJob({
        container_image: busybox.path,
        command: ["sh", "-c", "cat; printf 'no newline'; printf 'err one\\nerr two\\n' >&2; exit 3"],
        mounts: {
          "/out": { kind: "tmp" },
          "stdin": { kind: "collection", portable_data_hash: PDH_STDIN, path: "in/data.txt" },
          "stdout": { kind: "file", path: "/out/a/b/stdout.txt" },
        },
      });
      const r = await runBerthE2e(ws.args());
      assertEquals(r.code, 3, r.stderr);
      const log = await assertFinalState(ws, "Complete", 3);
      assertEquals((await ws.state()).exit_code, 3);
      assert(log.includes("Container exited with status code 3"));
      assertEquals(await ws.read("output/a/b/stdout.txt"), "line one\nline two\nno newline");
      assertEquals(assertTimestamped(await ws.read("logs/stderr.txt"), "stderr.txt"), ["err one", "err two"]);
      await ws.assertNoLeftovers();
    });
  });

  test("stdin from a text mount and from a bind-mounted host file", async () => {
    await withWorkspace(engine, "stdin", async (ws) => {
      await ws.writeJob({
        container_image: busybox.path,
        command: ["sh", "-c", "cat > /out/stdin.copy"],
        mounts: { "/out": { kind: "tmp" }, "stdin": { kind: "text", content: "text on stdin\n\u00e9\n" } },
      });
      const text = await runBerthE2e(ws.args());
      assertEquals(text.code, 0, text.stderr);
      assertEquals(await ws.read("output/stdin.copy"), "text on stdin\n\u00e9\n");
      await Deno.remove(ws.work, { recursive: true });
      const data = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7 + (i >> 12)) & 0xff);
      await Deno.writeFile(join(ws.allowed, "stdin.bin"), data);
      await ws.writeJob({
        container_image: busybox.path,
        command: ["sh", "-c", "cat > /out/stdin.copy"],
        mounts: { "/out": { kind: "tmp" }, "stdin": { kind: "bind", source: join(ws.allowed, "stdin.bin") } },
      });
      const file = await runBerthE2e(ws.args());
      assertEquals(file.code, 0, file.stderr);
      const manifest = JSON.parse(await ws.read("output.json"));
      assertEquals(manifest.entries, [{
        path: "stdin.copy",
        type: "file",
        size: data.length,
        mode: manifest.entries[0].mode,
        sha256: createHash("sha256").update(data).digest("hex"),
      }]);
      await ws.assertNoLeftovers();
    });
  });

  test("a container exiting with a reserved code (75): Complete, berth exits 1, the code in state.json", async () => {
    await withWorkspace(engine, "reserved", async (ws) => {
      await ws.writeJob({
        container_image: busybox.path,
        command: ["sh", "-c", "echo tempfail; exit 75"],
        mounts: { "/out": { kind: "tmp" } },
      });
      const r = await runBerthE2e(ws.args());
      assertEquals(r.code, 1, r.stderr);
      const log = await assertFinalState(ws, "Complete", 1);
      assertEquals((await ws.state()).exit_code, 75);
      assert(log.some((l) => l.startsWith("Container exit code 75 is one of berth's own exit statuses")));
      assert(log.some((l) => /^Phase wait: \d+\.\d{3} s$/.test(l)), log.join("\n"));
      assertEquals(await Deno.stat(join(ws.rt, "berth-broken")).then(() => true, () => false), false);
      await ws.assertNoLeftovers();
    });
  });

  test("max_run_time stops the container: Cancelled, exit 124, partial output kept", async () => {
    await withWorkspace(engine, "timeout", async (ws) => {
      await ws.writeJob({
        container_image: busybox.path,
        command: ["sh", "-c", "echo started > /out/partial.txt; echo started; sleep 60"],
        mounts: { "/out": { kind: "tmp" } },
        // From the job's start (image load included): room for a CLI fixture container to start on a loaded host.
        scheduling_parameters: { max_run_time: 15 },
      });
      const r = await runBerthE2e(ws.args());
      assertEquals(r.code, 124, r.stderr);
      assert(r.seconds < 30, `berth took ${r.seconds} s`);
      const log = await assertFinalState(ws, "Cancelled", 124);
      assert(log.includes("maximum run time exceeded. Stopping container."), log.join("\n"));
      assertMatch(String((await ws.state()).error), /^maximum run time exceeded \(15 s\)$/);
      assertEquals(await ws.read("output/partial.txt"), "started\n");
      assertEquals(JSON.parse(await ws.read("output.json")).files, 1);
      await ws.assertNoLeftovers();
    });
  });

  const signals: Array<["SIGTERM" | "SIGINT" | "SIGQUIT", number, string]> = engine.name === "docker"
    ? [["SIGTERM", 143, "terminated"], ["SIGINT", 130, "interrupt"], ["SIGQUIT", 131, "quit"]]
    : [["SIGTERM", 143, "terminated"]];
  for (const [signal, code, word] of signals) {
    test(`${signal} mid-run: Cancelled, exit ${code}, nothing left within 10 s; SIGUSR1/SIGUSR2 ignored`, async () => {
      await withWorkspace(engine, signal.toLowerCase(), async (ws) => {
        await ws.writeJob({
          container_image: busybox.path,
          command: ["sh", "-c", "echo running; sleep 120"],
          mounts: { "/out": { kind: "tmp" } },
        });
        const run = await spawnBerth(ws.args());
        try {
          await waitForLog(ws, "Waiting for container to finish");
          run.child.kill("SIGUSR1");
          run.child.kill("SIGUSR2");
          if (signal === "SIGTERM") {
            // A second berth for the same job is refused while the first holds the job's lock.
            const second = await runBerthE2e([...ws.args(), "--work-dir", join(ws.root, "work2")]);
            assertEquals(second.code, 125);
            assertMatch(second.stderr, /is already running on this node/);
          }
          const sent = performance.now();
          run.child.kill(signal);
          const r = await run.done;
          const seconds = (performance.now() - sent) / 1000;
          assertEquals(r.signal, null, "berth exits by itself, it is not killed by a signal");
          assertEquals(r.code, code, r.stderr);
          assert(seconds < 10, `berth took ${seconds} s to finish after ${signal}`);
          const log = await assertFinalState(ws, "Cancelled", code);
          assert(log.includes(`caught signal: ${word}`), log.join("\n"));
          assert(log.includes("stopping container"));
          await ws.assertNoLeftovers();
        } finally {
          try {
            run.child.kill("SIGKILL");
          } catch { /* exited */ }
          await run.done;
        }
      });
    });
  }

  test("an image whose layer the engine cannot unpack: Cancelled, exit 125", async () => {
    await withWorkspace(engine, "badlayer", async (ws) => {
      await ws.writeJob({
        container_image: badLayer.path,
        command: ["true"],
        mounts: { "/out": { kind: "tmp" } },
      });
      const r = await runBerthE2e(ws.args());
      assertEquals(r.code, 125, r.stderr);
      const log = await assertFinalState(ws, "Cancelled", 125);
      assertMatch(log.join("\n"), /Cannot load the container image: /);
      assertMatch(String((await ws.state()).error), /^Cannot load the container image: /);
      await ws.assertNoLeftovers();
    });
  });

  /** An engine that is there but does not work: a socket nobody listens on, a program that fails. */
  const unreachable = async (ws: { root: string }) => {
    if (engine.socket) {
      const socket = await deadSocket(join(ws.root, "dead.sock"));
      return { args: ["--docker-socket", socket], net: extraNet(socket), programs: [] as string[] };
    }
    const program = await brokenEngineProgram(join(ws.root, "singularity"));
    return { args: ["--singularity-binary", program], net: {}, programs: [program] };
  };

  test("an unreachable engine: Queued, exit 75, the broken-node marker written", async () => {
    await withWorkspace(engine, "broken", async (ws) => {
      await ws.writeJob({
        container_image: busybox.path,
        command: ["true"],
        mounts: { "/out": { kind: "tmp" } },
      });
      const bad = await unreachable(ws);
      const r = await runBerthE2e(ws.args(bad.args), { ...bad.net, ...extraRun(...bad.programs) });
      assertEquals(r.code, 75, r.stderr);
      const log = await assertFinalState(ws, "Queued", 75);
      assert(
        log.some((l) => l.startsWith("Error suggests node is unable to run containers: ")),
        log.join("\n"),
      );
      assert(log.includes(`Writing ${join(ws.rt, "berth-broken")} to mark node as broken`));
      assertMatch(await Deno.readTextFile(join(ws.rt, "berth-broken")), /\S/);
      await Deno.remove(join(ws.rt, "berth-broken"));
      await ws.assertNoLeftovers();
    });
  });

  test("an unreachable engine with --broken-node-hook: the hook runs, its output logged, no marker", async () => {
    await withWorkspace(engine, "hook", async (ws) => {
      await ws.writeJob({
        container_image: busybox.path,
        command: ["true"],
        mounts: { "/out": { kind: "tmp" } },
      });
      const hook = join(ws.root, "hook.sh");
      await Deno.writeTextFile(
        hook,
        `#!/bin/sh\necho "killme from hook"\ntouch ${join(ws.root, "hook-ran")}\n`,
      );
      await Deno.chmod(hook, 0o755);
      const bad = await unreachable(ws);
      const r = await runBerthE2e(ws.args([...bad.args, "--broken-node-hook", hook]), {
        ...bad.net,
        ...extraRun(...bad.programs, hook),
      });
      assertEquals(r.code, 75, r.stderr);
      const log = await assertFinalState(ws, "Queued", 75);
      assert(log.includes(`Running broken node hook ${JSON.stringify(hook)}`), log.join("\n"));
      assert(log.includes("killme from hook"));
      await Deno.stat(join(ws.root, "hook-ran"));
      assertEquals(await Deno.stat(join(ws.rt, "berth-broken")).then(() => true, () => false), false);
      await ws.assertNoLeftovers();
    });
  });
}
