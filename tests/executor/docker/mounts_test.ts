import { assertEquals } from "../../helpers/assert.ts";
import { cleanSpelling, compareMounts } from "../../../src/executor/docker/mounts.ts";

const asked = {
  "/in": { hostPath: "/data/in", readOnly: true },
  "/out": { hostPath: "/work/out", readOnly: false },
};

Deno.test("compareMounts() accepts exactly the asked binds, whatever other mount types exist", () => {
  assertEquals(
    compareMounts(asked, [
      { Type: "bind", Source: "/work/out", Destination: "/out", RW: true },
      { Type: "volume", Source: "/var/lib/docker/volumes/x/_data", Destination: "/cache", RW: true },
      { Type: "bind", Source: "/data/in", Destination: "/in", RW: false },
    ]),
    null,
  );
  assertEquals(compareMounts({}, null), null);
});

Deno.test("compareMounts() names a bind whose source differs from the asked path", () => {
  assertEquals(
    compareMounts(asked, [
      { Type: "bind", Source: "/etc", Destination: "/in", RW: false },
      { Type: "bind", Source: "/work/out", Destination: "/out", RW: true },
    ]),
    '"/in" is bind-mounted from "/etc", not from "/data/in"',
  );
});

Deno.test("compareMounts() names a missing bind, a wrong access mode and an unasked bind", () => {
  const out = { Type: "bind", Source: "/work/out", Destination: "/out", RW: true };
  assertEquals(compareMounts(asked, [out]), '"/in" is not bind-mounted (expected from "/data/in")');
  assertEquals(
    compareMounts(asked, [{ Type: "bind", Source: "/data/in", Destination: "/in", RW: true }, out]),
    '"/in" is mounted writable, not read-only',
  );
  assertEquals(
    compareMounts(asked, [
      { Type: "bind", Source: "/data/in", Destination: "/in", RW: false },
      out,
      { Type: "bind", Source: "/", Destination: "/host", RW: true },
    ]),
    '"/host" is bind-mounted from "/", which was not asked',
  );
  assertEquals(
    compareMounts({ "/out": asked["/out"] }, [out, out]),
    '"/out" is bind-mounted 2 times',
  );
});

Deno.test("cleanSpelling() drops repeated slashes, '/.' and a trailing slash, and keeps '..'", () => {
  assertEquals(cleanSpelling("/data//in/./x/"), "/data/in/x");
  assertEquals(cleanSpelling("/"), "/");
  assertEquals(cleanSpelling("/a/./"), "/a");
  assertEquals(cleanSpelling("/a/link/../b"), "/a/link/../b");
  assertEquals(cleanSpelling("/a/.hidden/b."), "/a/.hidden/b.");
});

Deno.test("compareMounts() accepts the engine's clean spelling of the asked path, but not a resolved '..'", () => {
  assertEquals(
    compareMounts({ "/in/": { hostPath: "/data//in/", readOnly: true } }, [
      { Type: "bind", Source: "/data/in", Destination: "/in", RW: false },
    ]),
    null,
  );
  assertEquals(
    compareMounts({ "/in": { hostPath: "/data/link/../in", readOnly: true } }, [
      { Type: "bind", Source: "/data/in", Destination: "/in", RW: false },
    ]),
    '"/in" is bind-mounted from "/data/in", not from "/data/link/../in"',
  );
});
