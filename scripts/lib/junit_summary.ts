/**
 * Reads the JUnit XML that `deno test --junit-path` writes and prints berth's closing line:
 * `N passed, N failed, N skipped`. Exits 1 when the file is missing or has no test cases.
 *
 * Usage: deno run --allow-read=.build scripts/lib/junit_summary.ts .build/junit.xml
 * @module
 */

const path = Deno.args[0] ?? ".build/junit.xml";
const xml = await Deno.readTextFile(path);

let passed = 0;
let failed = 0;
let skipped = 0;
// Each <testcase ...>...</testcase> or <testcase .../>; a failure or error child marks it failed.
for (const m of xml.matchAll(/<testcase\b[^>]*?(?:\/>|>([\s\S]*?)<\/testcase>)/g)) {
  const body = m[1] ?? "";
  if (/<(failure|error)\b/.test(body)) failed++;
  else if (/<skipped\b/.test(body)) skipped++;
  else passed++;
}
if (passed + failed + skipped === 0) {
  console.log("0 passed, 1 failed (the test report lists no test case)");
  Deno.exit(1);
}
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
