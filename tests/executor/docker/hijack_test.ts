import { assertEquals, assertThrows } from "../../helpers/assert.ts";
import { EngineError } from "../../../src/errors.ts";
import { parseResponseHead } from "../../../src/executor/docker/hijack.ts";

Deno.test("parseResponseHead() reads Docker's 101 and Podman's 200 upgrade answers", () => {
  const docker = parseResponseHead(
    "HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\n" +
      "Upgrade: tcp\r\n\r\n",
  );
  assertEquals(docker.status, 101);
  assertEquals(docker.headers.get("upgrade"), "tcp");
  assertEquals(
    parseResponseHead("HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n").status,
    200,
  );
  assertEquals(parseResponseHead("HTTP/1.0 404\r\n\r\n").status, 404);
});

Deno.test("parseResponseHead() rejects what is not an HTTP status line", () => {
  assertThrows(() => parseResponseHead("SSH-2.0-OpenSSH\r\n\r\n"), EngineError);
});
