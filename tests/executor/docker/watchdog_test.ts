import { assert, assertEquals } from "../../helpers/assert.ts";
import { startWatchdog, type WatchdogTimers } from "../../../src/executor/docker/watchdog.ts";

/** A fake clock: timers fire only when the test advances time. */
class FakeClock implements WatchdogTimers {
  now = 0;
  #next = 1;
  #timers = new Map<number, { at: number; fn: () => void }>();

  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { at: this.now + ms, fn });
    return id;
  }

  clearTimeout(id: unknown): void {
    this.#timers.delete(id as number);
  }

  /** Timers pending now. */
  get pending(): number {
    return this.#timers.size;
  }

  /** Advances time by `ms`, firing due timers in order and letting their promises settle. */
  async advance(ms: number): Promise<void> {
    const end = this.now + ms;
    while (true) {
      await settle();
      const due = [...this.#timers.entries()].filter(([, t]) => t.at <= end).sort((a, b) =>
        a[1].at - b[1].at
      );
      if (due.length === 0) break;
      const [id, t] = due[0];
      this.#timers.delete(id);
      this.now = t.at;
      t.fn();
    }
    this.now = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

function watchdog(clock: FakeClock, probe: (signal: AbortSignal) => Promise<string>, logs: string[]) {
  return startWatchdog({
    probe,
    intervalMs: 15_000,
    probeTimeoutMs: 10_000,
    threshold: 5,
    label: "Docker watchdog",
    checks: "container inspections",
    engine: "Docker",
    log: (m) => logs.push(m),
    timers: clock,
  });
}

Deno.test("startWatchdog() gives up after 5 unanswered checks, 125 s after the engine froze", async () => {
  const clock = new FakeClock();
  const logs: string[] = [];
  let calls = 0;
  const w = watchdog(clock, () => {
    calls++;
    return new Promise(() => {}); // a frozen engine never answers
  }, logs);
  let failedAt = -1;
  w.failed.then(() => failedAt = clock.now);
  await clock.advance(124_999);
  assertEquals([failedAt, calls], [-1, 5]);
  await clock.advance(1);
  assertEquals(failedAt, 125_000);
  const err = await w.failed;
  assertEquals(
    err.message,
    "Docker engine unresponsive: 5 container inspections in a row failed, the last with: no answer within 10 s",
  );
  assert(err.brokenNode);
  assertEquals(logs.at(-1), "Docker watchdog: giving up");
  assertEquals(logs.filter((l) => l === "Docker watchdog: no answer within 10 s").length, 5);
  assertEquals(clock.pending, 0);
});

Deno.test("startWatchdog() keeps checking while the engine answers, and a success resets the count", async () => {
  const clock = new FakeClock();
  const logs: string[] = [];
  const answers = ["", "busy", "busy", "busy", "busy", "", "busy", "busy", "busy", "busy", ""];
  let calls = 0;
  const w = watchdog(clock, () => Promise.resolve(answers[calls++] ?? ""), logs);
  let failed = false;
  w.failed.then(() => failed = true);
  await clock.advance(15_000 * 40);
  assertEquals([failed, calls], [false, 40]);
  assertEquals(logs.filter((l) => l === "Docker watchdog: busy").length, 8);
  w.stop();
  assertEquals(clock.pending, 0);
  await clock.advance(60_000);
  assertEquals(calls, 40);
});

Deno.test("startWatchdog() aborts a check's signal when its time is up and counts a rejection as a failure", async () => {
  const clock = new FakeClock();
  const logs: string[] = [];
  const signals: AbortSignal[] = [];
  const w = watchdog(clock, (signal) => {
    signals.push(signal);
    return signals.length === 1 ? new Promise(() => {}) : Promise.reject(new Error("connection refused"));
  }, logs);
  await clock.advance(25_000);
  assertEquals(signals[0].aborted, true);
  await clock.advance(15_000);
  assertEquals(logs, ["Docker watchdog: no answer within 10 s", "Docker watchdog: connection refused"]);
  w.stop();
});
