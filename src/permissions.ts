/**
 * What berth uses from its host, in one table: the environment variables it reads, the programs it runs, the
 * unix sockets it connects to, the OS facts it asks Deno for, and the fixed paths the `hardened` profile lets it
 * read. Each entry says why and where.
 *
 * The permission profiles (`scripts/profiles/*.flags`) grant exactly this, and `tests/hostile/permissions_test.ts`
 * holds them together: it scans the source for every `readEnv`/`Deno.env.get` name, every program started, every
 * socket path and every OS-fact call, and fails when the code, this table and the profiles disagree. The README's
 * "What berth may touch" section is generated from this table ({@link permissionsMarkdown}).
 *
 * Profile files are expanded by {@link expandProfile} here and by `scripts/lib/profile.sh` (for `scripts/berth`,
 * `scripts/compile` and `scripts/test`) with the same rules.
 *
 * @module
 */

/** An environment variable berth reads. */
export interface EnvVarUse {
  /** The variable's name. */
  name: string;
  /** Why berth reads it. */
  why: string;
}

/** A program berth starts, granted by name in `--allow-run`. */
export interface ProgramUse {
  /** The program's name (found on PATH by Deno when berth starts, and by berth itself for the engines). */
  name: string;
  /** Why berth runs it. */
  why: string;
  /** Source files that start it (the test checks that the name appears in one of them). */
  usedIn: readonly string[];
}

/** Programs berth starts whose path is configured, granted through a profile variable. */
export interface ConfiguredProgramUse {
  /** The profile variable of `--allow-run` that grants them. */
  variable: string;
  /** What they are. */
  why: string;
  /** Source files that start them from a path not written in the source. */
  usedIn: readonly string[];
}

/** A unix socket berth connects to (net, read and write access to the socket file). */
export interface SocketUse {
  /** The socket path; `${VAR}` is expanded like every profile variable. */
  path: string;
  /** Why. */
  why: string;
}

/** An OS fact berth asks Deno for (`--allow-sys`). */
export interface SysUse {
  /** Deno's name for the kind. */
  kind: string;
  /** The call that needs it. */
  call: string;
  /** Why. */
  why: string;
}

/** A fixed host path the `hardened` profile lets berth read, besides the roots and the sockets. */
export interface ReadPathUse {
  /** The path. */
  path: string;
  /** Why. */
  why: string;
}

/** Every environment variable berth reads, nothing else (`--allow-env`). */
export const ENV_VARS: readonly EnvVarUse[] = [
  { name: "BERTH_PROFILE", why: "the profile's name, for messages and for `berth run --detach` from source" },
  { name: "BERTH_DEBUG", why: "non-empty: an unexpected error prints its stack" },
  { name: "BERTH_ROOTS", why: "profile variable: the roots `hardened` confines reads and writes to" },
  {
    name: "BERTH_EXTRA_NET",
    why: "profile variable: more unix sockets (a `--docker-socket`, `DOCKER_HOST`)",
  },
  { name: "BERTH_EXTRA_RUN", why: "profile variable: more programs (an engine off PATH, a compiled berth)" },
  { name: "BERTH_EXTRA_READ", why: "profile variable: more read-only paths under `hardened`" },
  { name: "BERTH_EXTRA_WRITE", why: "profile variable: more writable paths under `hardened`" },
  { name: "BERTH_EXTRA_ENV", why: "profile variable: more environment variables (the test suite's own)" },
  { name: "BERTH_EXTRA_SYS", why: "profile variable: more OS facts (the test suite's own)" },
  { name: "BERTH_BROKEN_NODE_HOOK", why: "profile variable: the `--broken-node-hook` program berth may run" },
  {
    name: "BERTH_REGISTRIES",
    why: "profile variable: the registry hosts berth may fetch `docker://` images from",
  },
  {
    name: "BERTH_USER_RUNTIME_DIR",
    why: "profile variable: the user's runtime dir holding the rootless Podman socket " +
      "(default `$XDG_RUNTIME_DIR`, else `/run/user/<uid>`)",
  },
  { name: "PATH", why: "finding `singularity`/`apptainer`; given to the image conversion" },
  { name: "HOME", why: "given to the image conversion (the engine reads its user configuration there)" },
  { name: "TMPDIR", why: "the default `--tmp-dir` and runtime dir; given to the image conversion" },
  { name: "DOCKER_HOST", why: "Docker's socket (`unix://` only)" },
  { name: "CONTAINER_HOST", why: "Podman's socket (`unix://` only)" },
  {
    name: "XDG_RUNTIME_DIR",
    why: "the rootless Podman socket and berth's runtime dir; rootless Singularity cgroup limits",
  },
  { name: "DBUS_SESSION_BUS_ADDRESS", why: "rootless Singularity cgroup limits (systemd user session)" },
  { name: "CUDA_VISIBLE_DEVICES", why: "which NVIDIA GPUs the job may use" },
  { name: "AMD_VISIBLE_DEVICES", why: "which AMD GPUs the job may use" },
];

/** The files that start `singularity` or `apptainer`. */
const ENGINE_PROGRAM_FILES: readonly string[] = [
  "src/executor/singularity/engine.ts",
  "src/executor/singularity/executor.ts",
  "src/executor/singularity/convert.ts",
  "src/executor/singularity/capabilities.ts",
  "src/node/check.ts",
];

/** Every program berth starts by name (`--allow-run`). */
export const PROGRAMS: readonly ProgramUse[] = [
  {
    name: "singularity",
    why: "the Singularity engine (image conversion, containers, version)",
    usedIn: ENGINE_PROGRAM_FILES,
  },
  {
    name: "apptainer",
    why: "the Apptainer engine (image conversion, containers, version)",
    usedIn: ENGINE_PROGRAM_FILES,
  },
  { name: "nvidia-smi", why: "CUDA set-up before a GPU job", usedIn: ["src/runner/cuda.ts"] },
  { name: "nvidia-modprobe", why: "CUDA set-up before a GPU job", usedIn: ["src/runner/cuda.ts"] },
  { name: "uname", why: "`node-info.txt`", usedIn: ["src/runner/node_info.ts"] },
  {
    name: "df",
    why: "`node-info.txt`; free space of the work and tmp dirs",
    usedIn: ["src/runner/node_info.ts", "src/stats/statfs.ts"],
  },
  {
    name: "ps",
    why: "the process table (Deno reads `/proc` only with `--allow-all`): a Singularity container's pid",
    usedIn: ["src/executor/singularity/process_tree.ts"],
  },
  {
    name: "findmnt",
    why: "the mount table (same reason): which cgroup controllers Singularity can use",
    usedIn: ["src/executor/singularity/cgroup_probe.ts"],
  },
  {
    name: "grep",
    why:
      "reads `/proc/<pid>/*` and `/sys/fs/cgroup/*` (same reason): statistics, process liveness, the cgroup " +
      "controllers Singularity can use",
    usedIn: ["src/stats/kernel_files.ts", "src/executor/singularity/cgroup_probe.ts"],
  },
  {
    name: "kill",
    why:
      "signals another berth (`berth kill`), and stops a Singularity container's init so that the runtime " +
      "removes its cgroups (`Deno.kill` needs an unrestricted `--allow-run`)",
    usedIn: ["src/node/process.ts", "src/executor/singularity/process_tree.ts"],
  },
];

/** Programs whose path is configured at the site, granted through a profile variable. */
export const CONFIGURED_PROGRAMS: readonly ConfiguredProgramUse[] = [
  {
    variable: "BERTH_BROKEN_NODE_HOOK",
    why: "the `--broken-node-hook` program",
    usedIn: ["src/runner/broken_node.ts", "src/runner/subprocess.ts"],
  },
  {
    variable: "BERTH_EXTRA_RUN",
    why:
      "an engine outside PATH (`--singularity-binary`), berth itself for `--detach` (the compiled binary, " +
      "or `deno` when run from source: `scripts/berth` adds it)",
    usedIn: ["src/node/detach.ts"],
  },
];

/** Every unix socket berth connects to by default (`--allow-net=unix:…`, and read/write under `hardened`). */
export const SOCKETS: readonly SocketUse[] = [
  { path: "/var/run/docker.sock", why: "Docker's default socket" },
  { path: "/run/podman/podman.sock", why: "rootful Podman's socket (berth running as root)" },
  {
    path: "${BERTH_USER_RUNTIME_DIR}/podman/podman.sock",
    why: "rootless Podman's socket of the user running berth",
  },
];

/**
 * The host name in the Engine API URLs sent over the sockets (`fetch` checks it as a net permission). The
 * reserved `.invalid` domain never resolves, so granting it grants no TCP access.
 */
export const API_URL_HOST = "engine.invalid:80";

/**
 * The profile variable listing the only TCP hosts berth may reach: the registries (and their token and blob
 * hosts) it fetches `docker://` images from for Singularity/Apptainer (Docker and Podman pull themselves).
 * Unset: no TCP at all.
 */
export const REGISTRY_HOSTS_VARIABLE = "BERTH_REGISTRIES";

/** Every OS fact berth asks for (`--allow-sys`). */
export const SYS_KINDS: readonly SysUse[] = [
  { kind: "hostname", call: "Deno.hostname()", why: "the log's first lines" },
  { kind: "loadavg", call: "Deno.loadavg()", why: "host statistics" },
  { kind: "systemMemoryInfo", call: "Deno.systemMemoryInfo()", why: "host statistics, `node-info.txt`" },
  { kind: "cpus", call: "cpus()", why: "`node-info.txt` (node:os)" },
  { kind: "uid", call: "Deno.uid()", why: "who berth runs as: sockets, output ownership, container user" },
  { kind: "gid", call: "Deno.gid()", why: "the same, for the group" },
];

/** Fixed paths `hardened` lets berth read, besides `BERTH_ROOTS` and the sockets. */
export const HARDENED_READ_PATHS: readonly ReadPathUse[] = [
  { path: "/usr/bin", why: "finding `singularity`/`apptainer` on PATH" },
  { path: "/usr/local/bin", why: "the same" },
  { path: "/bin", why: "the same" },
  { path: "/usr/sbin", why: "the same" },
  { path: "/sbin", why: "the same" },
  { path: "/dev/kfd", why: "the group of the AMD GPU device (ROCm jobs)" },
  { path: "/dev/dri", why: "the groups of the AMD render nodes (ROCm jobs)" },
  { path: "/etc/passwd", why: "user names (`berth list`, ownership messages)" },
  { path: "/etc/group", why: "the group named by `--image-cache-group`" },
  { path: "/etc/ssl/certs/ca-certificates.crt", why: "the CA bundle mounted into `API` jobs" },
  { path: "/etc/pki/tls/certs/ca-bundle.crt", why: "the same, another distribution's path" },
  { path: "/etc/ssl/ca-bundle.pem", why: "the same" },
  { path: "/etc/pki/tls/cacert.pem", why: "the same" },
  { path: "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem", why: "the same" },
  { path: "/etc/ssl/cert.pem", why: "the same" },
];

/** The profile variable that names the user's runtime dir, and how its default is found. */
export const USER_RUNTIME_DIR_VARIABLE = "BERTH_USER_RUNTIME_DIR";

/** Options of {@link expandProfile}. */
export interface ExpandProfileOptions {
  /** The user ID for `/run/user/<uid>` when neither variable is set. @default `Deno.uid()` */
  uid?: number;
}

/**
 * The Deno flags of a profile file's text, one per line, with the rules of `scripts/lib/profile.sh`: `#` starts a
 * comment; blank lines are dropped; `${VAR}` is replaced by `lookup(VAR)`; empty list entries left by unset
 * variables are removed. `BERTH_USER_RUNTIME_DIR` defaults to `XDG_RUNTIME_DIR`, else `/run/user/<uid>`.
 *
 * @param text The profile file's text.
 * @param lookup A variable's value, "" when unset.
 * @returns The flags, e.g. `--allow-env=BERTH_PROFILE,PATH`.
 *
 * @example
 * ```ts
 * import { expandProfile } from "./permissions.ts";
 * const flags = expandProfile("--allow-run=df,${X}\n# note\n--allow-net=unix:${BERTH_USER_RUNTIME_DIR}/s", (n) =>
 *   n === "XDG_RUNTIME_DIR" ? "/run/user/7" : "");
 * console.assert(flags.join(" ") === "--allow-run=df --allow-net=unix:/run/user/7/s");
 * ```
 */
export function expandProfile(
  text: string,
  lookup: (name: string) => string,
  options: ExpandProfileOptions = {},
): string[] {
  const value = (name: string): string => {
    const v = lookup(name);
    if (v !== "" || name !== USER_RUNTIME_DIR_VARIABLE) return v;
    return lookup("XDG_RUNTIME_DIR") || `/run/user/${options.uid ?? Deno.uid() ?? 0}`;
  };
  return text.split("\n")
    .map((l) => l.replace(/#.*$/, "").trim())
    .filter((l) => l !== "")
    .map((l) => l.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, n) => value(n)))
    .map((l) => l.replace(/,,+/g, ",").replace(/,$/, "").replace(/=,/, "="));
}

/** One table of the README section, padded as `deno fmt` pads Markdown tables. */
function table(header: [string, string], rows: [string, string][]): string {
  const all = [header, ...rows];
  const width = [0, 1].map((i) => Math.max(3, ...all.map((r) => [...r[i]].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((c, i) => c + " ".repeat(width[i] - [...c].length)).join(" | ")} |`;
  return [line(header), line(width.map((w) => "-".repeat(w))), ...rows.map(line)].join("\n");
}

/**
 * The README's "What berth may touch" section (between its markers), generated from the tables above so that
 * the documentation cannot drift from the code. `scripts/lib/permissions_readme.ts` writes it into README.md;
 * the permissions test checks that README.md holds exactly this text.
 */
export function permissionsMarkdown(): string {
  const code = (s: string) => `\`${s}\``;
  return [
    "Environment variables berth reads (`--allow-env`; nothing else is visible to it):",
    "",
    table(["variable", "why"], ENV_VARS.map((v) => [code(v.name), v.why])),
    "",
    "Programs berth runs (`--allow-run`):",
    "",
    table(["program", "why"], [
      ...PROGRAMS.map((p): [string, string] => [code(p.name), p.why]),
      ...CONFIGURED_PROGRAMS.map((p): [string, string] => [code(`\${${p.variable}}`), p.why]),
    ]),
    "",
    "Sockets berth connects to (`--allow-net=unix:…`; more with `BERTH_EXTRA_NET`):",
    "",
    table(["socket", "why"], SOCKETS.map((s) => [code(s.path), s.why])),
    "",
    `TCP: only the hosts in \`${REGISTRY_HOSTS_VARIABLE}\` (registries berth fetches \`docker://\` images from for\n` +
    "Singularity/Apptainer; Docker and Podman pull themselves); unset, none.",
    "",
    "OS facts (`--allow-sys`):",
    "",
    table(["kind", "why"], SYS_KINDS.map((s) => [code(s.kind), `${code(s.call)}: ${s.why}`])),
    "",
    "Paths `hardened` lets berth read besides `BERTH_ROOTS` and the sockets (writes: only `BERTH_ROOTS`, the\n" +
    "sockets and `BERTH_EXTRA_WRITE`):",
    "",
    table(["path", "why"], HARDENED_READ_PATHS.map((p) => [code(p.path), p.why])),
  ].join("\n");
}
