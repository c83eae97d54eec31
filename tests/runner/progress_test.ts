import { assertEquals } from "../helpers/assert.ts";
import { createProgressReporter, progressText } from "../../src/runner/progress.ts";
import { formatBytes } from "../../src/report/mod.ts";

Deno.test("createProgressReporter() logs at most one batch line every 10 s", () => {
  let now = 0;
  const lines: string[] = [];
  const r = createProgressReporter({ tty: null, log: (m) => lines.push(m), now: () => now });
  const total = 100 * 1024 * 1024;
  for (let t = 0; t <= 25_000; t += 500) {
    now = t;
    r.update({ done: Math.floor((t / 25_000) * total * 0.99), total });
  }
  r.finish();
  assertEquals(lines.length, 3, lines.join("\n"));
  assertEquals(lines[0], "Loading image: 0 B of 100.0 MiB (0%)");
  assertEquals(lines[1], "Loading image: 39.6 MiB of 100.0 MiB (39%)");
});

Deno.test("createProgressReporter() redraws one terminal line and ends it with a newline", () => {
  let now = 0;
  const written: string[] = [];
  const tty = { writeSync: (d: Uint8Array) => (written.push(new TextDecoder().decode(d)), d.length) };
  const lines: string[] = [];
  const r = createProgressReporter({ tty, log: (m) => lines.push(m), now: () => now });
  r.update({ done: 0, total: 2048 });
  now = 50;
  r.update({ done: 1024, total: 2048 }); // too soon: not drawn
  now = 300;
  r.update({ done: 2048, total: 2048 });
  r.finish();
  assertEquals(lines, [], "nothing goes to the log on a terminal");
  assertEquals(written, [
    "\r\x1b[KLoading image: 0 B of 2.0 KiB (0%)",
    "\r\x1b[KLoading image: 2.0 KiB of 2.0 KiB (100%)",
    "\r\x1b[KLoading image: 2.0 KiB of 2.0 KiB (100%)",
    "\n",
  ]);
});

Deno.test("formatBytes() and progressText() format sizes in binary units", () => {
  assertEquals(formatBytes(1023), "1023 B");
  assertEquals(formatBytes(1536), "1.5 KiB");
  assertEquals(formatBytes(5 * 1024 ** 3), "5.0 GiB");
  assertEquals(progressText({ done: 0, total: 0 }), "Loading image: 0 B of 0 B (0%)");
});
