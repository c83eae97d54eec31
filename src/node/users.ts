/**
 * User names for uids, from `/etc/passwd` (read once), for `berth list` and messages. A uid without an entry,
 * or a passwd file berth may not read, gives the number itself.
 * @module
 */

let names: Promise<Map<number, string>> | null = null;

/** The `uid → name` entries of a passwd text. */
export function parsePasswd(text: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length >= 3 && /^\d+$/.test(f[2]) && !out.has(Number(f[2]))) out.set(Number(f[2]), f[0]);
  }
  return out;
}

/** The name of user `uid`, or the uid as text when it has none. */
export async function userName(uid: number): Promise<string> {
  names ??= Deno.readTextFile("/etc/passwd").then(parsePasswd, () => new Map());
  return (await names).get(uid) ?? String(uid);
}
