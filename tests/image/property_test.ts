import fc from "fast-check";
import { assert } from "../helpers/assert.ts";
import { readImageManifest } from "../../src/image/mod.ts";
import { ImageError } from "../../src/errors.ts";
import { testImage } from "../images/mod.ts";

/** Runs readImageManifest on `bytes` written to a temp file; only success or ImageError is acceptable. */
async function onlyImageErrors(bytes: Uint8Array): Promise<void> {
  const path = await Deno.makeTempFile({ suffix: ".tar" });
  try {
    await Deno.writeFile(path, bytes);
    await readImageManifest(path);
  } catch (err) {
    assert(
      err instanceof ImageError,
      `expected ImageError, got ${err instanceof Error ? err.stack : String(err)}`,
    );
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("readImageManifest() throws only ImageError for random bytes", async () => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ minLength: 0, maxLength: 4096 }), onlyImageErrors),
    { numRuns: 300 },
  );
});

Deno.test("readImageManifest() throws only ImageError for a real image tarball with random corruption", async () => {
  const original = await Deno.readFile((await testImage("multilayer")).path);
  // Corrupt the headers area (first 64 KiB and the tail, where manifest.json and the config live) and cut.
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(original.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 20,
      }),
      fc.option(fc.nat(original.length), { nil: undefined }),
      async (flips, cut) => {
        const bytes = original.slice(0, cut ?? original.length);
        for (const [pos, value] of flips) if (pos < bytes.length) bytes[pos] = value;
        await onlyImageErrors(bytes);
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("readImageManifest() throws only ImageError for tar headers with random numeric fields", async () => {
  // A valid header block with random bytes in the size and checksum fields, followed by random data.
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 12, maxLength: 12 }),
      fc.uint8Array({ maxLength: 2048 }),
      async (size, data) => {
        const header = new Uint8Array(512);
        header.set(new TextEncoder().encode("manifest.json"), 0);
        header.set(size, 124);
        header.set(new TextEncoder().encode("ustar\u000000"), 257);
        header.fill(32, 148, 156);
        let sum = 0;
        for (const b of header) sum += b;
        header.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\u0000 "), 148);
        const bytes = new Uint8Array(512 + data.length + 1024);
        bytes.set(header, 0);
        bytes.set(data, 512);
        await onlyImageErrors(bytes);
      },
    ),
    { numRuns: 300 },
  );
});
