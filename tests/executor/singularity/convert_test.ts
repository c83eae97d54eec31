import { plainBuildLine } from "../../../src/executor/singularity/mod.ts";
import { assertEquals } from "../../helpers/assert.ts";

Deno.test("plainBuildLine() drops colour codes and keeps only the final state of a redrawn progress line", () => {
  // As SingularityCE 3.4.2 writes them (seen on the real program, stderr not a terminal).
  assertEquals(plainBuildLine("\x1b[34mINFO:   \x1b[0m Starting build..."), "INFO:    Starting build...");
  assertEquals(
    plainBuildLine("\x1b[31mFATAL:  \x1b[0m While performing build: x"),
    "FATAL:   While performing build: x",
  );
  assertEquals(
    plainBuildLine("Copying blob 1 [>----] 0.0b / 1.0MiB\rCopying blob 1 [=====] 1.0MiB / 1.0MiB\r"),
    "Copying blob 1 [=====] 1.0MiB / 1.0MiB",
  );
  assertEquals(plainBuildLine("plain line"), "plain line");
  assertEquals(plainBuildLine("\r\r"), "");
});
