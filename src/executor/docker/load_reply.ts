/**
 * Reads the reply of `POST /images/load`: Docker streams newline-delimited JSON messages and reports failures
 * *in band* after a 200 status (`{"errorDetail":{"message":…},"error":…}`); Podman answers one JSON object with
 * no trailing newline. Every message is read, to the end, and any error among them is reported.
 *
 * @module
 */

/** One line of a load reply, as Docker's `jsonmessage.JSONMessage` (only the fields berth reads). */
export interface LoadMessage {
  /** Progress or result text, e.g. `Loaded image: busybox:latest\n`. */
  stream?: string;
  /** Status text of progress messages. */
  status?: string;
  /** Error text (older field). */
  error?: string;
  /** Error detail (newer field). */
  errorDetail?: { message?: string; code?: number };
}

/** What the reply said. */
export interface LoadReply {
  /** The `stream`/`status` texts, trimmed, in order (empty ones left out). */
  messages: string[];
  /** The first error reported in the reply, or null. */
  error: string | null;
}

/** Longest line accepted; a longer one is kept only in part. */
const MAX_LINE = 1 << 20;

/** Splits a byte stream into text lines, across chunk boundaries and split UTF-8 sequences. */
export class LineSplitter {
  #decoder = new TextDecoder();
  #partial = "";

  /** Feeds one chunk; returns the lines it completes (without their newline). */
  push(chunk: Uint8Array): string[] {
    const text = this.#partial + this.#decoder.decode(chunk, { stream: true });
    const lines = text.split("\n");
    this.#partial = lines.pop()!;
    if (this.#partial.length > MAX_LINE) this.#partial = this.#partial.slice(0, MAX_LINE);
    return lines;
  }

  /** Ends the input; returns the last line if it had no newline. */
  end(): string[] {
    const last = this.#partial + this.#decoder.decode();
    this.#partial = "";
    return last.trim() === "" ? [] : [last];
  }
}

/** Interprets one line of the reply; returns null for blank lines. Text that is not JSON is an error. */
export function parseLoadLine(line: string): LoadMessage | null {
  const text = line.trim();
  if (text === "") return null;
  try {
    const value = JSON.parse(text);
    if (value !== null && typeof value === "object" && !Array.isArray(value)) return value as LoadMessage;
  } catch {
    // Fall through.
  }
  return { error: `unexpected reply from the engine: ${text.slice(0, 500)}` };
}

/** The error text of a message, or null when it reports none. */
export function messageError(msg: LoadMessage): string | null {
  const detail = msg.errorDetail?.message;
  if (typeof detail === "string" && detail.trim() !== "") return detail.trim();
  if (typeof msg.error === "string" && msg.error.trim() !== "") return msg.error.trim();
  return null;
}

/**
 * The real cause of a load error, on one line. Docker 20.10 wraps it (`Error processing tar file(exit status 1):
 * unexpected EOF`); Podman lists one attempt per archive format, of which the `docker-archive` one is the cause
 * for a docker-save tarball.
 */
export function simplifyLoadError(message: string): string {
  const dockerArchive = /^\s*\* docker-archive: (.*)$/m.exec(message);
  const text = dockerArchive ? dockerArchive[1] : message;
  return text.replace(/^Error processing tar file\(exit status \d+\):\s*/, "").replace(/\s*\n\s*/g, " ")
    .trim();
}

/** Reads a whole load reply body, line by line, and collects its messages and first error. */
export async function readLoadReply(body: ReadableStream<Uint8Array>): Promise<LoadReply> {
  const reply: LoadReply = { messages: [], error: null };
  const splitter = new LineSplitter();
  const take = (line: string) => {
    const msg = parseLoadLine(line);
    if (!msg) return;
    const error = messageError(msg);
    if (error !== null) {
      reply.error ??= error;
      return;
    }
    const text = (msg.stream ?? msg.status ?? "").trim();
    if (text !== "") reply.messages.push(text);
  };
  for await (const chunk of body) splitter.push(chunk).forEach(take);
  splitter.end().forEach(take);
  return reply;
}
