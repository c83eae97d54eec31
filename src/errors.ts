/**
 * Typed errors shared by every layer of berth.
 *
 * Each class carries the process exit code the CLI uses when the error reaches the top level, so that the
 * mapping from failure to exit status lives with the failure and not in a table far away. The top level prints
 * `berth: <message>` on one line and exits with `exitCode`; nothing else ever prints a stack trace.
 *
 * @module
 */

/** Exit codes berth documents in the README. Dispatchers act on them. */
export const ExitCode = {
  /**
   * The container ran to its exit with one of berth's {@link RESERVED_EXIT_CODES}; the real code is in
   * `state.json` `exit_code`.
   */
  ContainerReserved: 1,
  /** Usage error or invalid job file: nothing was created. */
  Usage: 2,
  /** `max_run_time` was exceeded and the container was stopped. */
  Timeout: 124,
  /** Any other failure of berth or the engine. */
  Failure: 125,
  /** A fault of this node (its engine unreachable or unresponsive, its tmp dir full): requeue the job elsewhere. */
  Requeue: 75,
  /** Cancelled by SIGINT. */
  Sigint: 130,
  /** Cancelled by SIGQUIT. */
  Sigquit: 131,
  /** Cancelled by SIGTERM. */
  Sigterm: 143,
} as const;

/**
 * berth's own exit statuses, which a container's exit code never passes through as: a container exiting with one
 * of these makes berth exit {@link ExitCode.ContainerReserved}, so a dispatcher never mistakes a job that simply
 * failed with 75 (EX_TEMPFAIL) for a broken node.
 */
export const RESERVED_EXIT_CODES: ReadonlySet<number> = new Set([
  ExitCode.Usage,
  ExitCode.Requeue,
  ExitCode.Timeout,
  ExitCode.Failure,
  ExitCode.Sigint,
  ExitCode.Sigquit,
  ExitCode.Sigterm,
]);

/** Options accepted by every berth error class. */
export interface BerthErrorOptions {
  /** The underlying error, kept for debugging; never printed as a stack. */
  cause?: unknown;
}

/** Base class of every error berth raises on purpose. `exitCode` is what the CLI exits with. */
export class BerthError extends Error {
  /** The process exit status for this failure. */
  readonly exitCode: number = ExitCode.Failure;
  constructor(message: string, options?: BerthErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A bad command line: unknown option, missing argument, wrong value. Exit code 2. */
export class UsageError extends BerthError {
  override readonly exitCode: number = ExitCode.Usage;
}

/** A job file that cannot be used: unreadable, malformed, or failing validation. Exit code 2. */
export class JobFileError extends BerthError {
  override readonly exitCode: number = ExitCode.Usage;
  /** The job file's path as given by the user. */
  readonly path: string;
  /** The JSON path of the offending field (for example `mounts["/out"].kind`), or "" for the whole file. */
  readonly field: string;
  constructor(path: string, field: string, problem: string, options?: BerthErrorOptions) {
    super(
      field === ""
        ? `Cannot read job file "${path}": ${problem}`
        : `Cannot read job file "${path}": field ${JSON.stringify(field)} ${problem}`,
      options,
    );
    this.path = path;
    this.field = field;
  }
}

/**
 * An infrastructure failure of the container engine or its runtime (not a non-zero exit of the container).
 * `brokenNode` is true when the failure suggests this node cannot run containers at all (the engine is down or
 * unresponsive, the disk is full), in which case the runner re-queues the job and marks the node broken.
 */
export class EngineError extends BerthError {
  /** True when the node itself looks unable to run containers. */
  readonly brokenNode: boolean;
  constructor(message: string, options?: BerthErrorOptions & { brokenNode?: boolean }) {
    super(message, options);
    this.brokenNode = options?.brokenNode ?? looksLikeBrokenNode(message);
  }
}

/** An image tarball that cannot be read or loaded: missing, truncated, not a docker-save archive. */
export class ImageError extends BerthError {}

/**
 * Error texts that mean the node cannot run containers, as crunch-run's `errorBlacklist`.
 * Matching is done on the whole message, across lines.
 */
export const BROKEN_NODE_PATTERNS: readonly RegExp[] = [
  /[Cc]annot connect to the Docker daemon/,
  /oci runtime error.*starting container process.*container init.*mounting.*to rootfs.*no such file or directory/s,
  /grpc: the connection is unavailable/,
  /[Nn]o space left on device/, // Go and engines write "no space…"; Rust (Deno) "No space…"
  /engine unresponsive/,
];

/** True when `message` matches one of {@link BROKEN_NODE_PATTERNS}. */
export function looksLikeBrokenNode(message: string): boolean {
  return BROKEN_NODE_PATTERNS.some((re) => re.test(message));
}

/** True when `err` says a file system is full (`ENOSPC`) or a disk quota is exhausted (`EDQUOT`). */
export function isDiskFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "ENOSPC" || code === "EDQUOT") return true;
  return /no space left on device|disk quota exceeded/i.test(errorLine(err));
}

/** The one-line text of any thrown value, for logs and the final state record. */
export function errorLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.replace(/\s*\n\s*/g, " ").trim();
}
