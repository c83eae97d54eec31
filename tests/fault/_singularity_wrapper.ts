/**
 * A fault wrapper in front of the Singularity CLI fixture (`tests/fixtures/bin/singularity`), for the fault suite:
 * a small bash program, written into the case's tree and given to berth as `--singularity-binary`, that records
 * each step berth asks of it (`version`, `help` for `exec --help`, `build`, `exec`) and then either hands the
 * step to the fixture or applies the case's fault to it:
 *
 * - `pause`: wait N seconds before the step (a runtime that is slow to answer, or hangs): a bash builtin
 *   `read -t` on a private FIFO, so that the wait is this process itself and berth's SIGKILL ends it without
 *   leaving a child behind (as a real runtime's own process would be killed).
 * - `fail`: print a runtime error (`FATAL:   …`, exit 255), as the real programs do for their own failures.
 * - `after`: run the step to its end, then wait N seconds before exiting (a build that wrote its image and
 *   has not exited yet: the half-finished conversion a cancel must clean up).
 *
 * The fixture stays untouched: the wrapper is a test-only stand-in for a misbehaving installation.
 * @module
 */

import { join } from "node:path";
import { FIXTURE_BIN } from "../fixtures/singularity/mod.ts";
import { until } from "./_fault.ts";

/** A fault applied to one step of the wrapped CLI. */
export interface WrapperFault {
  /** The step: `version` (`--version`), `help` (`exec --help`), `build`, `exec`. */
  step: "version" | "help" | "build" | "exec";
  /** What happens to it. */
  mode: "pause" | "fail" | "after";
  /** Seconds for `pause` and `after`. */
  seconds?: number;
  /** The error line for `fail`. */
  message?: string;
}

/** A written wrapper. */
export interface SingularityWrapper {
  /** The program to give berth. */
  path: string;
  /** Resolves once the wrapper was started for `step` at least `n` times (default 1). */
  reached(step: string, n?: number): Promise<void>;
  /** The steps started so far, in order. */
  steps(): Promise<string[]>;
}

function quote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/** Writes the wrapper into `dir` (created) and returns it. */
export async function writeSingularityWrapper(
  dir: string,
  faults: WrapperFault[],
): Promise<SingularityWrapper> {
  await Deno.mkdir(dir, { recursive: true });
  const path = join(dir, "singularity");
  const stepsFile = join(dir, "steps.log");
  const cases = faults.map((f) => {
    const n = f.seconds ?? 600;
    const action = f.mode === "pause"
      ? `pause ${n}`
      : f.mode === "fail"
      ? `printf 'FATAL:   %s\\n' ${quote(f.message ?? "injected failure")} >&2; exit 255`
      : `"$fixture" "$@"; rc=$?; printf 'done %s %s\\n' "$step" "$rc" >>"$steps"; pause ${n}; exit "$rc"`;
    return `  ${f.step}) ${action} ;;`;
  });
  const script = `#!/bin/bash
# berth fault suite (TEST ONLY): a misbehaving stand-in in front of the Singularity CLI fixture.
# See tests/fault/_singularity_wrapper.ts.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
fixture=${quote(FIXTURE_BIN.singularity)}
steps=${quote(stepsFile)}
case "\${1:-}" in
--version | version) step=version ;;
exec) if [ "\${2:-}" = --help ]; then step=help; else step=exec; fi ;;
*) step=\${1:-none} ;;
esac
printf '%s %s\\n' "$step" "$$" >>"$steps"
# Waits $1 seconds inside this process (no child to leave behind when it is killed).
pause() {
  local fifo
  fifo=$(mktemp -u "$steps.fifo.XXXXXX") && mkfifo "$fifo" && exec 9<>"$fifo" && rm -f "$fifo"
  read -r -t "$1" -u 9
  return 0
}
case "$step" in
${cases.join("\n")}
esac
exec "$fixture" "$@"
`;
  await Deno.writeTextFile(path, script);
  await Deno.chmod(path, 0o755);
  const steps = async () => {
    const text = await Deno.readTextFile(stepsFile).catch(() => "");
    return text.split("\n").filter((l) => l !== "").map((l) => l.split(" ")[0]);
  };
  return {
    path,
    steps,
    reached: (step, n = 1) =>
      until(
        async () => (await steps()).filter((s) => s === step).length >= n,
        `the wrapper's ${step} step`,
      ),
  };
}
