import { assertEquals, assertMatch } from "../helpers/assert.ts";
import {
  parseRegistryReference,
  referenceString,
  registryApiHost,
  type RegistryReference,
} from "../../src/image/mod.ts";

const D = "sha256:" + "ab".repeat(32);

function ok(text: string): RegistryReference {
  const r = parseRegistryReference(text);
  if (!r.ok) throw new Error(`expected ${text} to parse: ${r.problem}`);
  return r.reference;
}

function problem(text: string): string {
  const r = parseRegistryReference(text);
  if (r.ok) throw new Error(`expected ${text} to be refused, got ${referenceString(r.reference)}`);
  return r.problem;
}

Deno.test("parseRegistryReference() normalises names the way Docker does", () => {
  const cases: [string, string][] = [
    ["docker://busybox", "docker.io/library/busybox:latest"],
    ["docker://busybox:1.36", "docker.io/library/busybox:1.36"],
    ["docker://library/busybox", "docker.io/library/busybox:latest"],
    ["docker://docker.io/busybox", "docker.io/library/busybox:latest"],
    ["docker://index.docker.io/library/busybox", "docker.io/library/busybox:latest"],
    ["docker://org/tool:v2", "docker.io/org/tool:v2"],
    ["docker://ghcr.io/org/tool", "ghcr.io/org/tool:latest"],
    ["docker://localhost/tool", "localhost/tool:latest"],
    ["docker://localhost:5000/a/b/c:x", "localhost:5000/a/b/c:x"],
    ["docker://127.0.0.1:5000/tool", "127.0.0.1:5000/tool:latest"],
    ["docker://Registry.Example/tool", "Registry.Example/tool:latest"],
    [`docker://busybox@${D}`, `docker.io/library/busybox@${D}`],
    [`docker://busybox:1.36@${D}`, `docker.io/library/busybox:1.36@${D}`],
    ["docker://org/a__b.c-d---e_f", "docker.io/org/a__b.c-d---e_f:latest"],
    ["docker://a.b/c", "a.b/c:latest"],
    ["docker://host:5000/x:5000", "host:5000/x:5000"],
  ];
  for (const [text, canonical] of cases) assertEquals(referenceString(ok(text)), canonical, text);
});

Deno.test("parseRegistryReference() keeps registry, repository, tag and digest apart", () => {
  assertEquals(ok(`docker://127.0.0.1:5000/berth/busybox@${D}`), {
    registry: "127.0.0.1:5000",
    repository: "berth/busybox",
    tag: "",
    digest: D,
  });
  assertEquals(registryApiHost(ok("docker://busybox").registry), "registry-1.docker.io");
  assertEquals(registryApiHost(ok("docker://ghcr.io/x/y").registry), "ghcr.io");
});

Deno.test("parseRegistryReference() refuses malformed references naming the part at fault", () => {
  const cases: [string, RegExp][] = [
    ["docker://", /without an image name/],
    ["busybox", /does not start with "docker:\/\/"/],
    ["docker://Busybox", /repository path "library\/Busybox": it must be lowercase/],
    ["docker://busybox:", /invalid tag ""/],
    ["docker://busybox:-x", /invalid tag "-x"/],
    ["docker://busybox:" + "a".repeat(129), /invalid tag/],
    ["docker://busybox@sha256:abc", /invalid digest "sha256:abc"/],
    ["docker://busybox@md5:" + "a".repeat(32), /invalid digest/],
    ["docker://busybox@" + "sha256:" + "AB".repeat(32), /invalid digest/],
    ["docker://ho_st:5000/x", /invalid registry host "ho_st:5000"/],
    ["docker://host:port/x", /invalid registry host "host:port"/],
    ["docker://ghcr.io/", /no repository path after the registry host "ghcr.io"/],
    ["docker://a//b", /an empty part was found/],
    ["docker://a/-b", /invalid repository path "a\/-b"/],
    ["docker://a b", /white space/],
    ["docker://" + "ab".repeat(32), /64-digit hex image ID/],
    ["docker://org/" + "a".repeat(250), /at most 255/],
    [":tag", /does not start/],
    ["docker://:tag", /no image name/],
  ];
  for (const [text, re] of cases) {
    const p = problem(text);
    assertMatch(p, re, text);
    assertMatch(p, /\(expected "docker:\/\/NAME\[:TAG\]\[@sha256:DIGEST\]"\)$/);
    assertEquals(p.includes("\n"), false);
  }
});
