import { assertEquals } from "../../helpers/assert.ts";
import { LineSplitter, readLoadReply, simplifyLoadError } from "../../../src/executor/docker/load_reply.ts";

const enc = new TextEncoder();

function body(...chunks: (string | Uint8Array)[]): ReadableStream<Uint8Array> {
  return ReadableStream.from(chunks.map((c) => typeof c === "string" ? enc.encode(c) : c));
}

Deno.test("LineSplitter.push() joins lines and UTF-8 characters split across chunks", () => {
  const s = new LineSplitter();
  const euro = enc.encode("€"); // 3 bytes
  assertEquals(s.push(enc.encode('{"a":')), []);
  assertEquals(s.push(new Uint8Array([...enc.encode('"x'), euro[0], euro[1]])), []);
  assertEquals(s.push(new Uint8Array([euro[2], ...enc.encode('"}\n{"b":1}\n{"c"')])), [
    '{"a":"x€"}',
    '{"b":1}',
  ]);
  assertEquals(s.end(), ['{"c"']);
});

Deno.test("readLoadReply() collects Docker's NDJSON messages split across chunks", async () => {
  const reply = await readLoadReply(
    body('{"stream":"Loaded ima', 'ge: busybox:latest\\n"}\n', '{"stream":"x"}\n\n'),
  );
  assertEquals(reply, { messages: ["Loaded image: busybox:latest", "x"], error: null });
});

Deno.test("readLoadReply() finds an in-band error after progress lines", async () => {
  const reply = await readLoadReply(body(
    '{"status":"Loading layer","progressDetail":{"current":1,"total":2}}\n',
    '{"errorDetail":{"message":"Error processing tar file(exit status 1): unexpected EOF"},' +
      '"error":"Error processing tar file(exit status 1): unexpected EOF"}\n',
  ));
  assertEquals(reply.error, "Error processing tar file(exit status 1): unexpected EOF");
  assertEquals(reply.messages, ["Loading layer"]);
});

Deno.test("readLoadReply() accepts an error with only the old error field", async () => {
  assertEquals((await readLoadReply(body('{"error":"disk full"}'))).error, "disk full");
});

Deno.test("readLoadReply() reads Podman's single object without a trailing newline", async () => {
  const reply = await readLoadReply(body('{"stream":"Loaded image: localhost/a:latest,localhost/b:1"}'));
  assertEquals(reply, { messages: ["Loaded image: localhost/a:latest,localhost/b:1"], error: null });
});

Deno.test("readLoadReply() treats a line that is not JSON as an error", async () => {
  const reply = await readLoadReply(body("<html>proxy error</html>\n"));
  assertEquals(reply.error, "unexpected reply from the engine: <html>proxy error</html>");
});

Deno.test("simplifyLoadError() keeps the real cause of Docker's and Podman's load errors", () => {
  assertEquals(
    simplifyLoadError("Error processing tar file(exit status 1): unexpected EOF"),
    "unexpected EOF",
  );
  assertEquals(
    simplifyLoadError(
      "failed to load image: payload does not match any of the supported image formats:\n" +
        " * oci: initializing source oci:/var/tmp/x:: open /var/tmp/x/index.json: not a directory\n" +
        " * docker-archive: loading tar component manifest.json: unexpected EOF\n" +
        " * dir: open /var/tmp/x/manifest.json: not a directory",
    ),
    "loading tar component manifest.json: unexpected EOF",
  );
  assertEquals(
    simplifyLoadError("write /var/lib/docker/x: no space left\n on device"),
    "write /var/lib/docker/x: no space left on device",
  );
});
