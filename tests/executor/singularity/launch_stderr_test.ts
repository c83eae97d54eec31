import { LaunchStderr } from "../../../src/executor/singularity/mod.ts";
import { assert, assertEquals } from "../../helpers/assert.ts";
import { CollectingSink } from "../../fixtures/singularity/mod.ts";

const TOKEN = "berth-launch-0f0f";
const enc = (s: string) => new TextEncoder().encode(s);

/** Feeds `chunks` through a splitter; returns the verdict, the container's stderr and the logged runtime lines. */
async function split(chunks: string[]) {
  const sink = new CollectingSink();
  const logged: string[] = [];
  const s = new LaunchStderr(TOKEN, sink.stream, (l) => logged.push(l), "singularity: ");
  const writer = s.writable.getWriter();
  for (const c of chunks) await writer.write(enc(c));
  await writer.close();
  return {
    verdict: await s.verdict,
    detail: s.detail,
    stderr: sink.text(),
    logged,
    error: s.errorLine(),
    sink,
  };
}

Deno.test("LaunchStderr gives the runtime's lines to the log and every byte after the verdict to the container", async () => {
  const text =
    `WARNING: underlay of /etc/localtime\nINFO: x\n${TOKEN} started\nout 1\n${TOKEN} started\npartial`;
  // Every way of cutting the stream into two chunks gives the same result.
  for (let cut = 0; cut <= text.length; cut++) {
    const r = await split([text.slice(0, cut), text.slice(cut)]);
    assertEquals(r.verdict, "started", `cut at ${cut}`);
    assertEquals(r.stderr, `out 1\n${TOKEN} started\npartial`, `cut at ${cut}`);
    assertEquals(r.logged, ["singularity: WARNING: underlay of /etc/localtime", "singularity: INFO: x"]);
    assert(r.sink.closed);
  }
  const bytewise = await split([...text]);
  assertEquals([bytewise.verdict, bytewise.stderr], ["started", `out 1\n${TOKEN} started\npartial`]);
});

Deno.test("LaunchStderr without a verdict keeps the runtime's error line, colour codes removed", async () => {
  const r = await split([
    "\x1b[33mWARNING:\x1b[0m something\n",
    'Error for command "exec": unknown flag: --cpus\n\nOptions for exec command:\n\n  -B, --bind strings\n',
    "Run 'singularity exec --help' for more detailed usage information.",
  ]);
  assertEquals([r.verdict, r.stderr], [null, ""]);
  assertEquals(r.error, 'Error for command "exec": unknown flag: --cpus');
  assertEquals(r.logged[0], "singularity: WARNING: something");
  assertEquals(
    r.logged.at(-1),
    "singularity: Run 'singularity exec --help' for more detailed usage information.",
  );
  assertEquals(
    (await split(["\x1b[31mFATAL:  \x1b[0m container creation failed\n"])).error,
    "FATAL:   container creation failed",
  );
  assertEquals(
    (await split(["WARNING: skipping mount of /x\n", `${TOKEN} no-bind /a b\n`])).error,
    "WARNING: skipping mount of /x",
  );
  assertEquals((await split(["just this"])).error, "just this");
  assertEquals((await split([])).error, "");
});

Deno.test("LaunchStderr reads the negative verdicts and their detail", async () => {
  for (
    const [line, verdict, detail] of [
      [`${TOKEN} not-found`, "not-found", ""],
      [`${TOKEN} no-workdir`, "no-workdir", ""],
      [`${TOKEN} no-bind /in/a b`, "no-bind", "/in/a b"],
    ]
  ) {
    const r = await split([`${line}\n`]);
    assertEquals([r.verdict, r.detail, r.stderr], [verdict, detail, ""]);
  }
  // A token followed by something else is not a verdict: it stays runtime text.
  const odd = await split([`${TOKEN} maybe\n`, `${TOKEN} started\nx`]);
  assertEquals([odd.verdict, odd.stderr, odd.logged], ["started", "x", [`singularity: ${TOKEN} maybe`]]);
});
