/** A fresh temp dir for one test. @module */

/** Runs `fn` with a fresh temp dir (named `prefix…`) that is removed afterwards, whatever happens. */
export async function withTempDir(
  fn: (dir: string) => Promise<void>,
  prefix = "berth-unit-",
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
