/**
 * The check-then-mount window as the real threat looks: berth runs as an ordinary user (berthuser, in the docker
 * group) under the hardened profile, and that user swaps a bind source below its own `--allow-bind` root for a
 * symlink into a directory it cannot reach itself (below a root-only 0700 directory), while berth is held (the
 * engine proxy holds Docker's image calls; a wrapper holds the Singularity fixture's capability probe, which runs
 * when the container is created). A bind mount would hand the container a file the user could never read; berth
 * must refuse the run instead.
 */

import { join } from "node:path";
import { assert, assertEquals, assertMatch } from "../helpers/assert.ts";
import { runAsUser, spawnBerthAsUser, TEST_USERS, testUsersMissing, userDir } from "../helpers/as_user.ts";
import { runBerth } from "../helpers/berth.ts";
import { ENGINE_SOCKETS, engineRequest } from "../helpers/engine_api.ts";
import { FIXTURE_BIN } from "../fixtures/singularity/mod.ts";
import { IMAGES_DIR, testImage } from "../images/mod.ts";
import { startEngineProxy } from "../e2e/_engine_proxy.ts";

const missing = await testUsersMissing();
const user = TEST_USERS.first;
const busybox = await testImage("busybox");
const SECRET = "root-only-secret-3317";

/** Polls `done()` every 50 ms until it is true, or fails after `ms`. */
async function until(what: string, done: () => boolean | Promise<boolean>, ms = 60_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function dockerAnswers(): Promise<boolean> {
  try {
    return (await engineRequest(ENGINE_SOCKETS.docker, "GET", "/_ping")).status === 200;
  } catch {
    return false;
  }
}

for (const engine of ["docker", "singularity"] as const) {
  Deno.test({
    name:
      `hostile: a user's bind source swapped for a symlink to a root-only dir is not mounted on ${engine}`,
    ignore: missing !== null || (engine === "docker" && !(await dockerAnswers())),
    fn: async () => {
      const base = await Deno.makeTempDir({ prefix: "berth-swap-user-" });
      await Deno.chmod(base, 0o755);
      try {
        const root = await userDir(user, join(base, "tree"));
        for (const d of ["tmp", "allowed", "allowed/d"]) await userDir(user, join(root, d));
        // What the user cannot reach: a readable file below a root-only directory.
        const vault = join(base, "vault");
        await Deno.mkdir(join(vault, "inner"), { recursive: true });
        await Deno.chmod(vault, 0o700);
        await Deno.writeTextFile(join(vault, "inner", "secret.txt"), `${SECRET}\n`);
        const cat = await runAsUser(user, "cat", [join(vault, "inner", "secret.txt")]);
        assert(!cat.stdout.includes(SECRET), "the user cannot read the vault itself");

        const job = join(root, "job.json");
        await Deno.writeTextFile(
          job,
          JSON.stringify({
            uuid: `hostile-swap-user-${engine}-${crypto.randomUUID().slice(0, 8)}`,
            container_image: busybox.path,
            command: ["sh", "-c", "cat /data/secret.txt"],
            output_path: "/out",
            mounts: {
              "/out": { kind: "tmp" },
              "/data": { kind: "bind", source: join(root, "allowed", "d") },
            },
          }),
        );
        await Deno.chown(job, user.uid, user.gid);
        const args = [
          "run",
          job,
          "--work-dir",
          join(root, "work"),
          "--tmp-dir",
          join(root, "tmp"),
          "--runtime-dir",
          join(root, "rt"),
          "--allow-bind",
          join(root, "allowed"),
          "--crunchstat-interval",
          "0",
        ];
        const env: Record<string, string> = { BERTH_ROOTS: `${root},${IMAGES_DIR},${join(base, "cache")}` };
        let held: () => Promise<boolean>;
        let release: () => Promise<void>;
        let stop = () => Promise.resolve();
        if (engine === "docker") {
          const listen = join(root, "engine.sock");
          const proxy = await startEngineProxy({
            listen,
            target: ENGINE_SOCKETS.docker,
            root,
            rules: [{ action: "hold", pattern: "^(GET /images/[^/]+/json|POST /images/load)$" }],
          });
          await Deno.chmod(listen, 0o666);
          args.push("--runtime-engine", "docker", "--docker-socket", listen);
          env.BERTH_EXTRA_NET = `unix:${listen}`;
          held = () => Promise.resolve(proxy.reports().some((l) => l.startsWith("proxy: hold")));
          release = () => proxy.release();
          stop = () => proxy.stop();
        } else {
          // The fixture cannot convert as a user: root converts busybox into a cache of root's first (a root-owned
          // cache is trusted by every user), and the wrapper holds the capability probe (`exec --help`), which the
          // executor runs when it creates the container: after every host path was claimed, before the start.
          const cache = join(base, "cache");
          await Deno.mkdir(cache, { mode: 0o755 });
          const warm = await runBerth([
            "run",
            job,
            "--work-dir",
            join(base, "warm"),
            "--tmp-dir",
            join(root, "tmp"),
            "--runtime-dir",
            join(base, "warm-rt"),
            "--allow-bind",
            join(root, "allowed"),
            "--runtime-engine",
            "singularity",
            "--singularity-binary",
            FIXTURE_BIN.singularity,
            "--image-cache",
            cache,
          ]);
          assertEquals(warm.code, 1, warm.stderr); // cat of the empty bind dir's file fails: only the image matters
          const wrapper = join(root, "singularity");
          const started = join(root, "probe-started");
          const go = join(root, "probe-release");
          await Deno.writeTextFile(
            wrapper,
            `#!/bin/bash\nif [ "$1" = exec ] && [ "$2" = --help ]; then : > '${started}'; ` +
              `while [ ! -e '${go}' ]; do sleep 0.05; done; fi\nexec '${FIXTURE_BIN.singularity}' "$@"\n`,
          );
          await Deno.chmod(wrapper, 0o755);
          args.push(
            "--runtime-engine",
            "singularity",
            "--singularity-binary",
            wrapper,
            "--image-cache",
            cache,
          );
          env.BERTH_EXTRA_RUN = wrapper;
          env.BERTH_EXTRA_READ = join(FIXTURE_BIN.singularity, "..");
          held = () => Deno.lstat(started).then(() => true, () => false);
          release = () => Deno.writeTextFile(go, "");
        }
        try {
          const berth = await spawnBerthAsUser(user, args, { profile: "hardened", env });
          await until("berth to be held", held);
          // The user's own move: rename the checked directory away and put a symlink in its place.
          const d = join(root, "allowed", "d");
          const swap = await runAsUser(user, "sh", [
            "-c",
            `mv '${d}' '${d}.checked' && ln -s '${vault}/inner' '${d}'`,
          ]);
          assertEquals(swap.code, 0, swap.stderr);
          await release();
          const r = await berth.done;
          assertEquals(r.code, 125, r.stderr);
          assert(
            !r.stderr.includes(SECRET) && !r.stdout.includes(SECRET),
            "the secret never reached berth's output",
          );
          const log = await Deno.readTextFile(join(root, "work", "logs", "crunch-run.txt"));
          // berth, as the user, cannot even resolve the new target (the vault is root's): refused either way.
          assertMatch(
            log,
            new RegExp(
              `of the mount at "/data" (now resolves to "${join(vault, "inner")}"|cannot be resolved)`,
            ),
          );
          const stdout = await Deno.readTextFile(join(root, "work", "logs", "stdout.txt")).catch(() => "");
          assert(!stdout.includes(SECRET), "the container never read the vault");
        } finally {
          await stop();
        }
      } finally {
        await Deno.remove(base, { recursive: true });
      }
    },
  });
}
