import { assert, assertEquals } from "../helpers/assert.ts";
import {
  initialState,
  releaseSpace,
  RESERVE_BYTES,
  reserveSpace,
  writeState,
} from "../../src/runner/state.ts";
import { VERSION } from "../../src/version.ts";

Deno.test("writeState() replaces state.json atomically and leaves no temp file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/state.json`;
    const record = initialState("job-1", new Date("2026-01-02T03:04:05Z"));
    await writeState(path, record);
    assertEquals(JSON.parse(await Deno.readTextFile(path)), {
      uuid: "job-1",
      state: "Running",
      exit_code: null,
      exit_status: null,
      runtime: "",
      started_at: "2026-01-02T03:04:05.000Z",
      finished_at: null,
      error: null,
      berth_version: VERSION,
      image: null,
      phases: {},
    });
    const before = await Deno.stat(path);
    await writeState(path, { ...record, state: "Complete", exit_code: 3, exit_status: 3 });
    const after = await Deno.stat(path);
    assert(before.ino !== after.ino, "the file is replaced by a rename, not rewritten in place");
    assertEquals(JSON.parse(await Deno.readTextFile(path)).state, "Complete");
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assertEquals(names, ["state.json"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("reserveSpace() holds space in a file, releaseSpace() gives it back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await reserveSpace(`${dir}/.reserve`);
    assertEquals((await Deno.stat(`${dir}/.reserve`)).size, RESERVE_BYTES);
    await releaseSpace(`${dir}/.reserve`);
    await releaseSpace(`${dir}/.reserve`);
    assertEquals(await Deno.stat(`${dir}/.reserve`).then(() => true, () => false), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
