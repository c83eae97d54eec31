/**
 * Reading berth's own environment without tripping over Deno's sandbox: a variable the permission profile does
 * not allow reads as unset, so a hardened profile that leaves out an optional variable cannot crash berth.
 * @module
 */

/** The value of environment variable `name`, or undefined when it is unset or not readable under the profile. */
export function readEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (err) {
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw err;
  }
}

/**
 * A snapshot of the host variables berth passes on to executors (GPU visibility, Docker and runtime paths).
 * Only names the profile allows are read; the rest are absent.
 */
export function hostEnvSnapshot(names: readonly string[] = HOST_ENV_NAMES): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of names) {
    const value = readEnv(name);
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/**
 * The host variables executors may consult (each is listed, with why, in `src/permissions.ts`): finding the
 * engine and its socket, GPU visibility, the rootless session. The image conversion gets all of them.
 */
export const HOST_ENV_NAMES: readonly string[] = [
  "PATH",
  "HOME",
  "TMPDIR",
  "DOCKER_HOST",
  "CONTAINER_HOST",
  "XDG_RUNTIME_DIR",
  "DBUS_SESSION_BUS_ADDRESS",
  "CUDA_VISIBLE_DEVICES",
  "AMD_VISIBLE_DEVICES",
];
