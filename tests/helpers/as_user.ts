/**
 * Running berth (and other programs) as one of the ordinary test users that `scripts/setup` prepares, so that the
 * non-root suites see what a user on a shared compute node sees. The test process itself runs as root; each
 * command is started through `setpriv --reuid --regid --init-groups` (the user's supplementary groups, `docker`
 * among them, included) with a clean environment: HOME, USER, LOGNAME, XDG_RUNTIME_DIR=/run/user/UID and a PATH
 * with `.tools/bin`, plus what the caller adds. berth runs from source under a permission profile exactly as
 * {@link runBerth} runs it as root (the same `berthArgs`, the profile expanded with the same rules).
 *
 * See DEVELOPERS.md "Non-root test users" for what setup does and how to run these suites by hand.
 * @module
 */

import { join } from "node:path";
import { berthArgs, type BerthResult, profileFlags, REPO_ROOT } from "./berth.ts";

/** One of the test users made by scripts/setup. */
export interface TestUser {
  /** Login name. */
  name: string;
  /** User id (also its primary group id). */
  uid: number;
  /** Primary group id. */
  gid: number;
  /** Home directory. */
  home: string;
  /** `XDG_RUNTIME_DIR`: `/run/user/<uid>`, mode 0700, owned by the user. */
  runtimeDir: string;
  /** The user's rootless Podman API socket. */
  podmanSocket: string;
}

function testUser(name: string, uid: number): TestUser {
  const runtimeDir = `/run/user/${uid}`;
  return {
    name,
    uid,
    gid: uid,
    home: `/home/${name}`,
    runtimeDir,
    podmanSocket: `${runtimeDir}/podman/podman.sock`,
  };
}

/** The test users (scripts/setup step 4 makes them with exactly these names and ids). */
export const TEST_USERS = {
  /** berthuser, uid 1500, in the docker group. */
  first: testUser("berthuser", 1500),
  /** berthuser2, uid 1501, in the docker group: the second user of the two-user tests. */
  second: testUser("berthuser2", 1501),
} as const;

/** The group both test users are in, for a SIF cache shared between them (scripts/setup makes it). */
export const TEST_CACHE_GROUP = "berthcache";

/**
 * Why the non-root suites cannot run here, or null when they can: the tests must run as root (to switch
 * users), and scripts/setup must have made the users.
 */
export async function testUsersMissing(): Promise<string | null> {
  if (Deno.uid() !== 0) {
    return "the non-root suites switch to the test users with setpriv and so must run as root";
  }
  for (const u of Object.values(TEST_USERS)) {
    try {
      const st = await Deno.stat(u.runtimeDir);
      if (st.uid !== u.uid) return `${u.runtimeDir} is not owned by ${u.name} (run scripts/setup as root)`;
    } catch {
      return `test user ${u.name} (uid ${u.uid}) is not set up: run scripts/setup as root`;
    }
  }
  return null;
}

/** The environment a test user's commands start with: login variables and a PATH with `.tools/bin`. */
export function userEnv(user: TestUser, extra: Record<string, string> = {}): Record<string, string> {
  return {
    HOME: user.home,
    USER: user.name,
    LOGNAME: user.name,
    XDG_RUNTIME_DIR: user.runtimeDir,
    PATH: `${join(REPO_ROOT, ".tools", "bin")}:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin`,
    ...extra,
  };
}

/** `setpriv` arguments that run `program ARGS...` as `user` with its groups. */
export function asUserArgs(user: TestUser, program: string, args: string[]): string[] {
  return [`--reuid=${user.uid}`, `--regid=${user.gid}`, "--init-groups", "--", program, ...args];
}

/** Options for {@link spawnAsUser} and the berth helpers. */
export interface AsUserOptions {
  /** Extra environment (added to {@link userEnv}; for berth also used to expand the profile). */
  env?: Record<string, string>;
  /** Working directory (must be reachable by the user). */
  cwd?: string;
  /** Bytes for stdin. */
  stdin?: Uint8Array;
}

/** A process running as a test user. */
export interface UserProcess {
  /** The setpriv child (its pid is the program's: setpriv execs it). */
  child: Deno.ChildProcess;
  /** Resolves when it has exited. */
  done: Promise<BerthResult>;
}

/**
 * The command that runs `program ARGS...` as `user` (see the module doc), for callers that read its streams
 * themselves. stdin is null unless `stdin` is "piped"; stdout and stderr are piped unless said otherwise.
 */
export function userCommand(
  user: TestUser,
  program: string,
  args: string[],
  options: AsUserOptions & { stdin?: Uint8Array | "piped"; stderr?: "piped" | "inherit" | "null" } = {},
): Deno.Command {
  return new Deno.Command("setpriv", {
    args: asUserArgs(user, program, args),
    env: userEnv(user, options.env),
    clearEnv: true,
    cwd: options.cwd,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: options.stderr ?? "piped",
  });
}

/** Starts `program ARGS...` as `user` (see the module doc). */
export function spawnAsUser(
  user: TestUser,
  program: string,
  args: string[],
  options: AsUserOptions = {},
): UserProcess {
  const child = userCommand(user, program, args, options).spawn();
  if (options.stdin) {
    const w = child.stdin.getWriter();
    w.write(options.stdin).then(() => w.close()).catch(() => {});
  }
  const done = child.output().then((out) => ({
    code: out.code,
    signal: out.signal,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  }));
  return { child, done };
}

/** Runs `program ARGS...` as `user` to its exit. */
export async function runAsUser(
  user: TestUser,
  program: string,
  args: string[],
  options: AsUserOptions = {},
): Promise<BerthResult> {
  return await spawnAsUser(user, program, args, options).done;
}

/** Options for running berth as a test user. */
export interface BerthAsUserOptions extends AsUserOptions {
  /** Permission profile. @default "standard" */
  profile?: string;
}

/**
 * Starts `berth ARGS...` from source as `user` under a permission profile. The profile is expanded with `env`
 * and the user's environment (XDG_RUNTIME_DIR is the user's, as it would be in the user's own shell), then
 * the test process's environment, the same rules as `scripts/berth`.
 */
export async function spawnBerthAsUser(
  user: TestUser,
  args: string[],
  options: BerthAsUserOptions = {},
): Promise<UserProcess> {
  const env = { BERTH_PROFILE: options.profile ?? "standard", ...options.env };
  const flags = await profileFlags(env.BERTH_PROFILE, userEnv(user, env));
  return spawnAsUser(user, Deno.execPath(), berthArgs(flags, args), { ...options, env });
}

/** Runs `berth ARGS...` as `user` to its exit; see {@link spawnBerthAsUser}. */
export async function runBerthAsUser(
  user: TestUser,
  args: string[],
  options: BerthAsUserOptions = {},
): Promise<BerthResult> {
  return await (await spawnBerthAsUser(user, args, options)).done;
}

/**
 * Creates directory `path` (and missing parents, as root) and gives it to `user` with `mode`: a place the user
 * can write, for work dirs, tmp dirs and job files.
 */
export async function userDir(user: TestUser, path: string, mode = 0o755): Promise<string> {
  await Deno.mkdir(path, { recursive: true });
  await Deno.chown(path, user.uid, user.gid);
  await Deno.chmod(path, mode);
  return path;
}
