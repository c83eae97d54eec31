/**
 * Logger: a log file that cannot be written (a full work dir) loses no line: what was not written waits in memory
 * and reaches the file, in order, once there is room again.
 */

import { assert, assertEquals } from "../helpers/assert.ts";
import { Logger, MAX_PENDING_BYTES } from "../../src/logs/logger.ts";

/** A file on a disk with `room` bytes free: a write takes what fits, then fails with ENOSPC. */
class SmallDisk {
  room: number;
  written = "";
  closed = false;
  constructor(room: number) {
    this.room = room;
  }
  writeSync(data: Uint8Array): number {
    if (this.room === 0) {
      throw Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" });
    }
    const n = Math.min(this.room, data.length);
    this.written += new TextDecoder().decode(data.subarray(0, n));
    this.room -= n;
    return n;
  }
  close(): void {
    this.closed = true;
  }
}

function logger(disk: SmallDisk, mirror?: string[]): Logger {
  return new Logger(disk as unknown as Deno.FsFile, {
    clock: () => "T",
    mirror: mirror ? { writeSync: (d) => (mirror.push(new TextDecoder().decode(d)), d.length) } : null,
  });
}

Deno.test("Logger keeps the lines a full disk refused and writes them in order once there is room", () => {
  const disk = new SmallDisk(10);
  const mirror: string[] = [];
  const log = logger(disk, mirror);
  log.log("first line");
  log.log("second line");
  assertEquals(disk.written, "T first li", "the first write stops where the disk is full");
  assertEquals(log.flush(), false);
  disk.room = 1000;
  log.log("third line");
  assertEquals(disk.written, "T first line\nT second line\nT third line\n");
  assertEquals(mirror.join(""), "T first line\nT second line\nT third line\n", "the mirror got each at once");
});

Deno.test("Logger.closeFile() writes what is waiting before closing", () => {
  const disk = new SmallDisk(0);
  const log = logger(disk);
  log.log("the final state");
  assertEquals(disk.written, "");
  disk.room = 1000;
  log.closeFile();
  assertEquals(disk.written, "T the final state\n");
  assert(disk.closed);
});

Deno.test("Logger bounds the memory it keeps for a full disk and says how many messages it lost", () => {
  const disk = new SmallDisk(0);
  const log = logger(disk);
  const big = "x".repeat(1 << 20);
  for (let i = 0; i < 6; i++) log.log(big);
  disk.room = 64 << 20;
  assert(log.flush());
  const lines = disk.written.trimEnd().split("\n");
  assertEquals(lines.length, Math.floor(MAX_PENDING_BYTES / (big.length + 3)) + 1);
  assertEquals(lines.at(-1)!.startsWith("T 3 log messages were lost"), true, lines.at(-1));
});
