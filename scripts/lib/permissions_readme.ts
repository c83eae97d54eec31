/**
 * Writes the README's generated "What berth may touch" section (between `<!-- permissions:begin -->` and
 * `<!-- permissions:end -->`) from the table in src/permissions.ts:
 *
 *   deno run --allow-read --allow-write scripts/lib/permissions_readme.ts
 *
 * tests/hostile/permissions_test.ts fails while README.md differs from what this writes.
 * @module
 */

import { fileURLToPath } from "node:url";
import { permissionsMarkdown } from "../../src/permissions.ts";

const readme = fileURLToPath(new URL("../../README.md", import.meta.url));
const text = await Deno.readTextFile(readme);
const re = /(<!-- permissions:begin[^>]*-->)[\s\S]*?(<!-- permissions:end -->)/;
if (!re.test(text)) {
  console.error(
    `permissions_readme: no "<!-- permissions:begin -->" … "<!-- permissions:end -->" in ${readme}`,
  );
  Deno.exit(1);
}
const updated = text.replace(
  re,
  (_, begin: string, end: string) => `${begin}\n\n${permissionsMarkdown()}\n\n${end}`,
);
if (updated !== text) await Deno.writeTextFile(readme, updated);
console.log(updated === text ? "README.md is up to date" : "README.md updated");
