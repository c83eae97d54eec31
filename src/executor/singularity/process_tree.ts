/**
 * Finding the contained process of a Singularity container from the engine process's PID.
 *
 * The engine process (berth's child) is not itself in the container; somewhere below it is the init of the
 * container's PID namespace, and the job's command is that init's child. crunch-run asks `lsns`. berth reads
 * the parent and PID-namespace links of every process from `/proc`; Deno refuses `/proc` to anything but
 * `--allow-all`, so under berth's permission profiles the same table comes from `ps -e -o pid=,ppid=,pidns=`.
 *
 * @module
 */

/** One process: its PID, its parent's PID, and an identifier of its PID namespace. */
export interface ProcessEntry {
  /** Host PID. */
  pid: number;
  /** Parent's host PID. */
  ppid: number;
  /** PID namespace identity (the inode number, or the `pid:[…]` link text); "" when unknown. */
  pidns: string;
}

/** A snapshot of the host's processes and berth's own PID namespace. */
export interface ProcessTable {
  /** Every visible process. */
  processes: ProcessEntry[];
  /** The PID namespace berth itself is in (same notation as the entries). */
  ownPidns: string;
}

/**
 * The contained process below `enginePid` in `table`: the first child of the first descendant (breadth first)
 * whose PID namespace differs from berth's (the container's init), or that init when it has no child yet; 0 when
 * there is none.
 */
export function findContainedPid(table: ProcessTable, enginePid: number): number {
  const init = findContainerInit(table, enginePid);
  if (init === 0) return 0;
  const children = table.processes.filter((p) => p.ppid === init).sort((a, b) => a.pid - b.pid);
  return children[0]?.pid ?? init;
}

/**
 * The init of the container's PID namespace below `enginePid` in `table`: the first descendant (breadth first)
 * whose PID namespace differs from berth's; 0 when there is none (yet).
 */
export function findContainerInit(table: ProcessTable, enginePid: number): number {
  const children = new Map<number, ProcessEntry[]>();
  for (const p of table.processes) {
    const list = children.get(p.ppid) ?? [];
    list.push(p);
    children.set(p.ppid, list);
  }
  for (const list of children.values()) list.sort((a, b) => a.pid - b.pid);
  const queue = [...(children.get(enginePid) ?? [])];
  while (queue.length > 0) {
    const p = queue.shift()!;
    if (p.pidns !== "" && p.pidns !== table.ownPidns) return p.pid;
    queue.push(...(children.get(p.pid) ?? []));
  }
  return 0;
}

function refused(err: unknown): boolean {
  return err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied;
}

/** The table from `/proc`, or null when Deno refuses `/proc` (it does without `--allow-all`). */
async function tableFromProc(): Promise<ProcessTable | null> {
  let ownPidns: string;
  const processes: ProcessEntry[] = [];
  try {
    ownPidns = await Deno.readLink("/proc/self/ns/pid");
    for await (const entry of Deno.readDir("/proc")) {
      if (!/^\d+$/.test(entry.name)) continue;
      try {
        const stat = await Deno.readTextFile(`/proc/${entry.name}/stat`);
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so parse after the last ")".
        const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
        const pidns = await Deno.readLink(`/proc/${entry.name}/ns/pid`).catch(() => "");
        processes.push({ pid: Number(entry.name), ppid, pidns });
      } catch {
        // The process exited meanwhile.
      }
    }
  } catch (err) {
    if (refused(err)) return null;
    throw err;
  }
  return { processes, ownPidns };
}

/** The table from `ps`, or null when `ps` cannot be run. */
async function tableFromPs(): Promise<ProcessTable | null> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command("ps", {
      args: ["-e", "-o", "pid=,ppid=,pidns="],
      clearEnv: true,
      env: { LC_ALL: "C" },
      stdin: "null",
      stderr: "null",
    }).output();
  } catch {
    return null;
  }
  if (!out.success) return null;
  const processes: ProcessEntry[] = [];
  for (const line of new TextDecoder().decode(out.stdout).split("\n")) {
    const [pid, ppid, pidns] = line.trim().split(/\s+/);
    if (!/^\d+$/.test(pid ?? "") || !/^\d+$/.test(ppid ?? "")) continue;
    processes.push({
      pid: Number(pid),
      ppid: Number(ppid),
      pidns: pidns === "-" || pidns === undefined ? "" : pidns,
    });
  }
  const own = processes.find((p) => p.pid === Deno.pid);
  if (!own || own.pidns === "") return null;
  return { processes, ownPidns: own.pidns };
}

/**
 * The host PID of the contained process below `enginePid` (see {@link findContainedPid}); 0 when there is none
 * or the process table cannot be read.
 */
export async function containedPid(enginePid: number): Promise<number> {
  const table = (await tableFromProc()) ?? (await tableFromPs());
  return table === null ? 0 : findContainedPid(table, enginePid);
}

/** The host PID of the container's init below `enginePid` (see {@link findContainerInit}); 0 when unknown. */
export async function containerInitPid(enginePid: number): Promise<number> {
  const table = (await tableFromProc()) ?? (await tableFromPs());
  return table === null ? 0 : findContainerInit(table, enginePid);
}

/**
 * Sends SIGKILL to `pid` with the `kill` program (Deno's own `Deno.kill` of a process berth did not spawn needs
 * unrestricted `--allow-run`); gives up after `timeoutMs`. Resolves true when `kill` succeeded.
 */
export async function killPid(pid: number, timeoutMs = 2000): Promise<boolean> {
  try {
    const out = await new Deno.Command("kill", {
      args: ["-KILL", "--", String(pid)],
      clearEnv: true,
      stdin: "null",
      stdout: "null",
      stderr: "null",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    return out.success;
  } catch {
    return false;
  }
}

/** True while `pid` exists (a zombie counts) according to `ps`; false when it is gone or `ps` cannot run. */
async function exists(pid: number): Promise<boolean> {
  try {
    const out = await new Deno.Command("ps", {
      args: ["-o", "pid=", "-p", String(pid)],
      clearEnv: true,
      stdin: "null",
      stdout: "piped",
      stderr: "null",
    }).output();
    return new TextDecoder().decode(out.stdout).trim() !== "";
  } catch {
    return false;
  }
}

/** Waits until `pid` is gone, polling every 50 ms for at most `timeoutMs`; resolves false when it outlived that. */
export async function waitGone(pid: number, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (await exists(pid)) {
    if (Date.now() >= end) return false;
    await new Promise((r) => setTimeout(r, 50));
  }
  return true;
}
