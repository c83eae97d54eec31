/**
 * The permission profiles against the code: every grant of `standard` and `hardened` is used by some code path,
 * and every environment variable, program, socket and OS fact the code uses is granted. The facts come from one
 * table (`src/permissions.ts`) and a scan of `src/` (every `readEnv`/`Deno.env.get` name, every program given
 * to `new Deno.Command` or `runBounded`, every `.sock` path, every OS-fact call); the profiles are read as
 * written, variables unexpanded. The README's generated section must match the table, and the bash and
 * TypeScript profile expanders must agree.
 */

import { join, relative } from "node:path";
import { assert, assertEquals } from "../helpers/assert.ts";
import { REPO_ROOT } from "../helpers/berth.ts";
import { HOST_ENV_NAMES } from "../../src/env.ts";
import { CA_BUNDLES } from "../../src/runner/mounts.ts";
import {
  API_URL_HOST,
  CONFIGURED_PROGRAMS,
  ENV_VARS,
  expandProfile,
  HARDENED_READ_PATHS,
  permissionsMarkdown,
  PROGRAMS,
  REGISTRY_HOSTS_VARIABLE,
  SOCKETS,
  SYS_KINDS,
} from "../../src/permissions.ts";

/** Every TypeScript file under src/, keyed by its path relative to the repository, comments removed. */
async function sourceFiles(): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(dir)) {
      const path = join(dir, e.name);
      if (e.isDirectory) await walk(path);
      else if (e.name.endsWith(".ts")) {
        files.set(relative(REPO_ROOT, path), withoutComments(await Deno.readTextFile(path)));
      }
    }
  };
  await walk(join(REPO_ROOT, "src"));
  return files;
}

/** The text without block comments and `// …` line comments (a `//` inside `unix://` or a URL stays). */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, "").split("\n").map((l) => l.replace(/(^|\s)\/\/.*$/, "")).join(
    "\n",
  );
}

/** Every match of `re`'s first group in every file, with the file. */
function scan(files: Map<string, string>, re: RegExp): { file: string; value: string }[] {
  const out: { file: string; value: string }[] = [];
  for (const [file, text] of files) {
    for (const m of text.matchAll(re)) out.push({ file, value: m[1] });
  }
  return out;
}

/** A profile's flags as written: flag name → its list entries (`true` for a bare flag), variables unexpanded. */
async function readProfile(name: string): Promise<Map<string, string[] | true>> {
  const text = await Deno.readTextFile(join(REPO_ROOT, "scripts", "profiles", `${name}.flags`));
  const flags = new Map<string, string[] | true>();
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "") continue;
    const eq = line.indexOf("=");
    if (eq < 0) flags.set(line, true);
    else flags.set(line.slice(0, eq), line.slice(eq + 1).split(","));
  }
  return flags;
}

function list(flags: Map<string, string[] | true>, flag: string): string[] {
  const v = flags.get(flag);
  assert(Array.isArray(v), `${flag} is a list`);
  return v;
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();
const literals = (entries: string[]) => sorted(entries.filter((e) => !e.includes("${")));
const variables = (entries: string[]) =>
  sorted(entries.flatMap((e) => [...e.matchAll(/\$\{(\w+)\}/g)].map((m) => m[1])));

const files = await sourceFiles();
const PROFILES = ["standard", "hardened"];
const envNames = ENV_VARS.map((v) => v.name);

Deno.test("the permissions table names only variables the code reads, and all of them", async () => {
  const read = [
    ...scan(files, /\breadEnv\(\s*"([^"]+)"/g),
    ...scan(files, /Deno\.env\.get\(\s*"([^"]+)"/g),
  ].map((r) => r.value);
  // Reads by a computed name happen in two places only: the host snapshot and the profile expansion.
  const computed = sorted([
    ...scan(files, /\breadEnv\(\s*([^")\s][^)]*)\)/g),
    ...scan(files, /Deno\.env\.(?:get|has|toObject)\(\s*([^")\s][^)]*)?\)/g),
  ].map((r) => r.file));
  assertEquals(computed, ["src/env.ts", "src/node/detach.ts"]);
  assertEquals(scan(files, /(process\.env)/g), [], "no process.env in berth");
  const profileVariables = (await Promise.all(PROFILES.map(readProfile))).flatMap((p) =>
    [...p.values()].flatMap((v) => (v === true ? [] : variables(v)))
  );
  assertEquals(sorted([...read, ...HOST_ENV_NAMES, ...profileVariables]), sorted(envNames));
});

Deno.test("each profile grants exactly the table's environment variables", async () => {
  for (const name of PROFILES) {
    const env = list(await readProfile(name), "--allow-env");
    assertEquals(literals(env), sorted(envNames), name);
    assertEquals(variables(env), ["BERTH_EXTRA_ENV"], name);
  }
});

Deno.test("the permissions table names only programs the code starts, and all of them", () => {
  const sites = [
    ...scan(files, /new Deno\.Command\(\s*([^,)]+)/g),
    ...scan(files, /\brunBounded\(\s*([^,)]+)/g),
  ];
  const byName = new Map(PROGRAMS.map((p) => [p.name, p]));
  const dynamicFiles = new Set([...PROGRAMS, ...CONFIGURED_PROGRAMS].flatMap((p) => p.usedIn));
  for (const site of sites) {
    const literal = /^"([^"]+)"$/.exec(site.value.trim());
    if (literal) {
      const program = byName.get(literal[1]);
      assert(program, `${site.file} starts "${literal[1]}", which src/permissions.ts does not list`);
      assert(program.usedIn.includes(site.file), `${site.file} is not in the usedIn of "${literal[1]}"`);
    } else {
      assert(
        dynamicFiles.has(site.file),
        `${site.file} starts a program from ${site.value.trim()}, which src/permissions.ts does not account for`,
      );
    }
  }
  for (const p of [...PROGRAMS, ...CONFIGURED_PROGRAMS]) {
    for (const file of p.usedIn) assert(files.has(file), `${file} (usedIn of ${JSON.stringify(p)}) exists`);
  }
  for (const p of PROGRAMS) {
    assert(
      p.usedIn.some((f) => files.get(f)!.includes(`"${p.name}"`)),
      `"${p.name}" is written in one of ${p.usedIn.join(", ")}`,
    );
  }
});

Deno.test("each profile grants exactly the table's programs", async () => {
  for (const name of PROFILES) {
    const run = list(await readProfile(name), "--allow-run");
    assertEquals(literals(run), sorted(PROGRAMS.map((p) => p.name)), name);
    assertEquals(variables(run), sorted(CONFIGURED_PROGRAMS.map((p) => p.variable)), name);
  }
});

Deno.test("the permissions table names the sockets the code connects to, and each profile grants exactly those", async () => {
  const inCode = sorted(scan(files, /"(\/[^"]*\.sock)"/g).map((s) => s.value));
  const fixed = SOCKETS.filter((s) => !s.path.includes("${")).map((s) => s.path);
  assertEquals(inCode, sorted(fixed));
  // The rootless Podman socket is built from the runtime dir in the code.
  assert(files.get("src/executor/docker/socket.ts")!.includes("/podman/podman.sock`"));
  assert(SOCKETS.some((s) => s.path === "${BERTH_USER_RUNTIME_DIR}/podman/podman.sock"));
  assert(
    files.get("src/executor/docker/transport.ts")!.includes(`http://${API_URL_HOST.replace(/:80$/, "")}`),
  );
  for (const name of PROFILES) {
    const p = await readProfile(name);
    assertEquals(
      sorted(list(p, "--allow-net")),
      sorted([
        ...SOCKETS.map((s) => `unix:${s.path}`),
        API_URL_HOST,
        `\${${REGISTRY_HOSTS_VARIABLE}}`,
        "${BERTH_EXTRA_NET}",
      ]),
      name,
    );
  }
});

Deno.test("the permissions table names the OS facts the code asks for, and each profile grants exactly those", async () => {
  const calls: Record<string, RegExp> = {
    hostname: /Deno\.hostname\(|\bhostname\s*[,}][^;]*from "node:os"/,
    osRelease: /Deno\.osRelease\(|\brelease\s*[,}][^;]*from "node:os"/,
    osUptime: /Deno\.osUptime\(|\buptime\s*[,}][^;]*from "node:os"/,
    loadavg: /Deno\.loadavg\(|\bloadavg\s*[,}][^;]*from "node:os"/,
    systemMemoryInfo: /Deno\.systemMemoryInfo\(|\b(?:totalmem|freemem)\s*[,}][^;]*from "node:os"/,
    networkInterfaces: /Deno\.networkInterfaces\(|\bnetworkInterfaces\s*[,}][^;]*from "node:os"/,
    uid: /Deno\.uid\(/,
    gid: /Deno\.gid\(/,
    cpus: /\bcpus\s*[,}][^;]*from "node:os"/,
  };
  const used = Object.entries(calls).filter(([, re]) => [...files.values()].some((t) => re.test(t))).map((
    [k],
  ) => k);
  assertEquals(
    scan(files, /(import \* as \w+ from "node:os")/g),
    [],
    "node:os functions are imported by name",
  );
  assertEquals(sorted(used), sorted(SYS_KINDS.map((s) => s.kind)));
  for (const name of PROFILES) {
    const sys = list(await readProfile(name), "--allow-sys");
    assertEquals(literals(sys), sorted(used), name);
    assertEquals(variables(sys), ["BERTH_EXTRA_SYS"], name);
  }
});

Deno.test("hardened reads and writes only its roots, the sockets and the table's paths; standard is unconfined", async () => {
  const hardened = await readProfile("hardened");
  const sockets = SOCKETS.map((s) => s.path);
  assertEquals(
    sorted(list(hardened, "--allow-read")),
    sorted(["${BERTH_ROOTS}", ...sockets, ...HARDENED_READ_PATHS.map((p) => p.path), "${BERTH_EXTRA_READ}"]),
  );
  assertEquals(
    sorted(list(hardened, "--allow-write")),
    sorted(["${BERTH_ROOTS}", ...sockets, "${BERTH_EXTRA_WRITE}"]),
  );
  for (const ca of CA_BUNDLES) assert(HARDENED_READ_PATHS.some((p) => p.path === ca), `${ca} is readable`);
  for (const p of HARDENED_READ_PATHS.filter((p) => !p.why.includes("PATH") && p.why !== "the same")) {
    assert([...files.values()].some((t) => t.includes(p.path)), `${p.path} is used in src/`);
  }
  const standard = await readProfile("standard");
  assertEquals(standard.get("--allow-read"), true);
  assertEquals(standard.get("--allow-write"), true);
  for (const [name, p] of [["standard", standard], ["hardened", hardened]] as const) {
    assertEquals(
      sorted(p.keys()),
      sorted(["--allow-env", "--allow-net", "--allow-read", "--allow-run", "--allow-sys", "--allow-write"]),
      `${name} grants nothing else (no --allow-all, --allow-ffi, --allow-import)`,
    );
  }
});

Deno.test("README.md holds the generated permissions section", async () => {
  const readme = await Deno.readTextFile(join(REPO_ROOT, "README.md"));
  const m = /<!-- permissions:begin[^>]*-->\n\n([\s\S]*?)\n\n<!-- permissions:end -->/.exec(readme);
  assert(m, "README.md has the permissions markers");
  assertEquals(
    m[1],
    permissionsMarkdown(),
    "README.md is out of date: run deno run --allow-read --allow-write scripts/lib/permissions_readme.ts",
  );
});

Deno.test("scripts/lib/profile.sh and expandProfile() expand every profile alike", async () => {
  const env = {
    BERTH_ROOTS: "/scratch,/var/tmp",
    BERTH_EXTRA_RUN: "/opt/x/singularity",
    BERTH_BROKEN_NODE_HOOK: "/usr/local/sbin/drain-me",
    XDG_RUNTIME_DIR: "/run/user/4242",
  };
  for (const name of PROFILES) {
    const script = `source "${REPO_ROOT}/scripts/lib/profile.sh" && profile_flags ${name}`;
    const out = await new Deno.Command("bash", {
      args: ["-c", script],
      clearEnv: true,
      env: { ...env, PATH: "/usr/bin:/bin" },
      stdout: "piped",
    }).output();
    assert(out.success, `profile_flags ${name}`);
    const text = await Deno.readTextFile(join(REPO_ROOT, "scripts", "profiles", `${name}.flags`));
    const bash = new TextDecoder().decode(out.stdout).trimEnd().split("\n");
    assertEquals(bash, expandProfile(text, (n) => env[n as keyof typeof env] ?? ""), name);
    assert(bash.some((f) => f.includes("unix:/run/user/4242/podman/podman.sock")), name);
    assert(bash.some((f) => f.startsWith("--allow-run=") && f.includes(",/usr/local/sbin/drain-me")), name);
  }
  assertEquals(
    expandProfile("--allow-net=unix:${BERTH_USER_RUNTIME_DIR}/podman/podman.sock", () => "", { uid: 1500 }),
    ["--allow-net=unix:/run/user/1500/podman/podman.sock"],
  );
});
