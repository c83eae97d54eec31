import { assertEquals } from "../helpers/assert.ts";
import { MAX_TIMER_MS, startDeadline, type TimerApi, type TimerId } from "../../src/runner/deadline.ts";

/** Timers that run only when the test advances them, recording every delay asked for. */
function fakeTimers() {
  const pending = new Map<number, { fn: () => void; ms: number }>();
  const delays: number[] = [];
  let next = 1;
  const api: TimerApi = {
    setTimeout(fn, ms) {
      delays.push(ms);
      pending.set(next, { fn, ms });
      return next++ as unknown as TimerId;
    },
    clearTimeout(id) {
      pending.delete(id as unknown as number);
    },
  };
  const fireAll = () => {
    const due = [...pending.entries()];
    pending.clear();
    for (const [, t] of due) t.fn();
  };
  return { api, delays, pending, fireAll };
}

Deno.test("startDeadline() splits a wait longer than one setTimeout into chunks", () => {
  const t = fakeTimers();
  let fired = 0;
  const total = 2 * MAX_TIMER_MS + 5;
  startDeadline(total, () => fired++, t.api);
  t.fireAll();
  assertEquals(fired, 0);
  t.fireAll();
  assertEquals(fired, 0);
  t.fireAll();
  assertEquals(fired, 1);
  assertEquals(t.delays, [MAX_TIMER_MS, MAX_TIMER_MS, 5]);
  assertEquals(t.pending.size, 0);
});

Deno.test("startDeadline() never fires once cancelled", () => {
  const t = fakeTimers();
  let fired = 0;
  const cancel = startDeadline(MAX_TIMER_MS + 1, () => fired++, t.api);
  t.fireAll();
  cancel();
  cancel();
  t.fireAll();
  assertEquals(fired, 0);
  assertEquals(t.pending.size, 0);
});
