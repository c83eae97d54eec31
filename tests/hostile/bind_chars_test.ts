/**
 * Bind sources whose names hold the separators of the engines' mount syntaxes (`:` of Docker's `Binds`
 * strings and Singularity's `--bind`, `,` of the option lists), under the hardened profile on every engine.
 * Beside each sits a decoy directory named like the part before the separator (`data` for `data,rw`), which a
 * mis-parsed mount would bind instead, and writable. Every engine must either bind exactly the named directory,
 * read-only as the job asked, or refuse the job with one line naming the path; it must never show the decoy or
 * let the container write.
 */

import { join } from "node:path";
import { assert, assertEquals, assertStringIncludes } from "../helpers/assert.ts";
import { testImage } from "../images/mod.ts";
import {
  assertFinalState,
  assertTimestamped,
  type EngineCase,
  ENGINES,
  runBerthE2e,
  withWorkspace,
} from "../e2e/_harness.ts";

const busybox = await testImage("busybox");

/** What an engine does with a name: binds it exactly, or refuses the job with a line containing the text. */
type Expected = { ran: true } | { ran: false; line: string };

interface CharCase {
  /** The bound directory's name. */
  name: string;
  /** The decoy's name: what a parser splitting at the separator would take as the source. */
  decoy: string;
  expect(engine: EngineCase): Expected;
}

/** Singularity and Apptainer (every generation): `--bind` has no way to quote either separator. */
const SINGULARITY_REFUSES: Expected = {
  ran: false,
  line: `contains ":" or ",", which --bind cannot express`,
};

const CASES: CharCase[] = [
  {
    name: "data:ro",
    decoy: "data",
    expect: (e) => (e.socket === null ? SINGULARITY_REFUSES : { ran: true }),
  },
  {
    name: "data,rw",
    decoy: "data",
    expect: (e) => (e.socket === null ? SINGULARITY_REFUSES : { ran: true }),
  },
  {
    name: "data:/etc,rw",
    decoy: "data",
    expect: (e) =>
      e.socket === null
        ? SINGULARITY_REFUSES
        : e.name === "podman"
        ? { ran: false, line: `whose paths contain both "," and ":"` }
        : { ran: true },
  },
];

for (const engine of ENGINES) {
  for (const c of CASES) {
    Deno.test({
      name: `hostile: a bind source named ${
        JSON.stringify(c.name)
      } is bound exactly or refused on ${engine.label}`,
      ignore: !engine.available,
      fn: async () => {
        await withWorkspace(engine, "bind-chars", async (ws) => {
          const named = join(ws.allowed, c.name);
          const decoy = join(ws.allowed, c.decoy);
          await Deno.mkdir(named, { recursive: true });
          await Deno.mkdir(decoy, { recursive: true });
          await Deno.writeTextFile(join(named, "marker"), "named\n");
          await Deno.writeTextFile(join(decoy, "marker"), "decoy\n");
          await Deno.chmod(decoy, 0o777);
          await ws.writeJob({
            container_image: busybox.path,
            command: ["sh", "-c", "cat /in/marker; if touch /in/written 2>/dev/null; then echo WRITABLE; fi"],
            mounts: { "/out": { kind: "tmp" }, "/in": { kind: "bind", source: named } },
          });
          const r = await runBerthE2e(ws.args());
          const expected = c.expect(engine);
          if (expected.ran) {
            assertEquals(r.code, 0, r.stderr);
            await assertFinalState(ws, "Complete", 0);
            assertEquals(assertTimestamped(await ws.read("logs/stdout.txt"), "stdout.txt"), ["named"]);
          } else {
            assert(r.code === 2 || r.code === 125, `refused with 2 or 125, got ${r.code}: ${r.stderr}`);
            assertStringIncludes(r.stderr, expected.line);
            assertStringIncludes(r.stderr, named);
          }
          for (const dir of [named, decoy]) {
            const left = (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name);
            assertEquals(left, ["marker"], `${dir} was not written to`);
          }
          await ws.assertNoLeftovers();
        });
      },
    });
  }
}
