/**
 * Runs berth from source as a subprocess with exactly the flags of a permission profile
 * (`scripts/profiles/<profile>.flags`, as `scripts/berth` does), so tests see what users see.
 * @module
 */

import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { profileFlags as expandProfile } from "../../src/node/detach.ts";

/** The repository root. */
export const REPO_ROOT: string = fileURLToPath(new URL("../..", import.meta.url));

/** Reads a profile's flags, expanding `${VAR}` from `env`, then the environment (berth's own expansion rules). */
export async function profileFlags(profile: string, env: Record<string, string> = {}): Promise<string[]> {
  const text = await Deno.readTextFile(join(REPO_ROOT, "scripts", "profiles", `${profile}.flags`));
  return expandProfile(text, (name) => env[name] ?? Deno.env.get(name) ?? "");
}

/** The result of one berth run. */
export interface BerthResult {
  code: number;
  signal: Deno.Signal | null;
  stdout: string;
  stderr: string;
}

/** Options for {@link runBerth}. */
export interface RunBerthOptions {
  /** Permission profile. @default "standard" */
  profile?: string;
  /** Extra environment for berth (and for profile expansion). */
  env?: Record<string, string>;
  /** Working directory. */
  cwd?: string;
  /** Bytes for berth's stdin. */
  stdin?: Uint8Array;
}

/** The `deno` arguments that run berth from source with permission `flags`, as scripts/berth does. */
export function berthArgs(flags: string[], args: string[]): string[] {
  return [
    "run",
    "--no-prompt",
    "--quiet",
    "--cached-only",
    ...flags,
    join(REPO_ROOT, "src", "main.ts"),
    ...args,
  ];
}

/** Runs `berth ARGS...` from source under a permission profile and collects its output. */
export async function runBerth(args: string[], options: RunBerthOptions = {}): Promise<BerthResult> {
  const flags = await profileFlags(options.profile ?? "standard", options.env);
  const child = new Deno.Command(Deno.execPath(), {
    args: berthArgs(flags, args),
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin) {
    const w = child.stdin.getWriter();
    await w.write(options.stdin);
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    signal: out.signal,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}
