/**
 * Lossless JSON for job files: parsing that keeps every number's exact text, and serialization that writes
 * content back the way crunch-run's Go encoder does.
 *
 * `JSON.parse` turns `123456789123456789123` into `123456789123456790000`; a `json` mount must deliver what the
 * job file said, so numbers are parsed into `LosslessNumber`s (from the `lossless-json` package) that keep
 * their text, and {@link serializeJsonContent} writes that text back unchanged.
 *
 * @module
 */

import { isLosslessNumber, parse } from "lossless-json";
import { JobFileError } from "../errors.ts";
import type { JsonValue } from "./types.ts";

/**
 * Arrays and objects may nest at most this deep. The parser recurses once per level, so without a limit a file
 * of a million `[` would overflow the stack; Go's encoder stops at 10000, and no job needs more than a few.
 */
export const MAX_JSON_DEPTH = 512;

/**
 * Parses JSON text, keeping numbers exact.
 *
 * Duplicate keys with different values, nesting beyond {@link MAX_JSON_DEPTH}, and any syntax error are
 * rejected with the line and column of the problem.
 *
 * @param text The JSON text.
 * @param path The job file's path, for messages.
 * @returns The value; every number is a `LosslessNumber`.
 * @throws {JobFileError} When the text is not JSON berth accepts.
 *
 * @example
 * ```ts
 * import { parseJsonText, serializeJsonContent } from "./json.ts";
 * const value = parseJsonText('{"n": 123456789123456789123}', "job.json");
 * console.assert(serializeJsonContent(value) === '{"n":123456789123456789123}');
 * ```
 */
export function parseJsonText(text: string, path: string): JsonValue {
  if (text.trim() === "") throw new JobFileError(path, "", "is empty");
  const tooDeep = depthViolation(text, MAX_JSON_DEPTH);
  if (tooDeep >= 0) {
    throw new JobFileError(
      path,
      "",
      `nests arrays and objects deeper than ${MAX_JSON_DEPTH} levels at ${lineColumn(text, tooDeep)}`,
    );
  }
  try {
    return parse(text, undefined, {
      onDuplicateKey: ({ key, position }) => {
        throw new DuplicateKey(key, position - 1);
      },
    }) as JsonValue;
  } catch (err) {
    if (err instanceof DuplicateKey) {
      throw new JobFileError(
        path,
        "",
        `is not valid JSON at ${lineColumn(text, err.position)}: duplicate key ${quote(err.key)}`,
      );
    }
    if (err instanceof SyntaxError) {
      const m = /^(.*?)\s*at position (\d+)$/s.exec(err.message);
      const where = m ? ` at ${lineColumn(text, Number(m[2]))}` : "";
      // The parser's message may quote a whole (huge) number: keep the message one short line.
      const what = escapeControls(clip(m ? m[1] : err.message, 200));
      throw new JobFileError(path, "", `is not valid JSON${where}: ${lowerFirst(what)}`, { cause: err });
    }
    if (err instanceof RangeError) {
      // Stack exhaustion despite the depth limit (a tiny stack): still the user's input, still one line.
      throw new JobFileError(path, "", "is too deeply nested to parse", { cause: err });
    }
    throw err;
  }
}

/** Options for {@link serializeJsonContent}. */
export interface SerializeOptions {
  /**
   * Spaces per indentation level; 0 writes compact JSON (Go's `json.Marshal`), 4 matches crunch-run's
   * `container.json` (Go's `json.MarshalIndent(v, "", "    ")`).
   * @default {0}
   */
  indent?: number;
}

/**
 * Writes a JSON value as Go's `encoding/json` does, so that a `json` mount's file holds what crunch-run would
 * write: object keys sorted (by code point), numbers exactly as written in the job file, `<`, `>`, `&`,
 * U+2028 and U+2029 escaped as `\u003c` etc., lone surrogates replaced by U+FFFD, no trailing newline.
 *
 * @param value The value (numbers as `LosslessNumber`, or finite JS numbers, or bigints).
 * @param options Formatting options.
 * @returns The JSON text.
 * @throws {TypeError} For a value that has no JSON form (a non-finite number, a function, `undefined`).
 *
 * @example
 * ```ts
 * import { serializeJsonContent } from "./json.ts";
 * console.assert(serializeJsonContent({ b: 1, a: "<x>" }) === '{"a":"\\u003cx\\u003e","b":1}');
 * ```
 */
export function serializeJsonContent(value: JsonValue | bigint, options: SerializeOptions = {}): string {
  const unit = " ".repeat(Math.max(0, Math.min(10, options.indent ?? 0)));
  return write(value, "");

  function write(v: unknown, indent: string): string {
    if (v === null) return "null";
    if (typeof v === "boolean") return v ? "true" : "false";
    if (typeof v === "string") return goString(v);
    if (typeof v === "bigint") return v.toString();
    if (typeof v === "number") {
      if (!Number.isFinite(v)) throw new TypeError(`Cannot serialize the number ${v} as JSON`);
      return JSON.stringify(v);
    }
    if (isLosslessNumber(v)) return v.toString();
    if (Array.isArray(v)) {
      if (v.length === 0) return "[]";
      const inner = indent + unit;
      const items = v.map((item) => write(item, inner));
      return unit === "" ? `[${items.join(",")}]` : `[\n${inner}${items.join(`,\n${inner}`)}\n${indent}]`;
    }
    if (typeof v === "object") {
      const keys = Object.keys(v).sort(compareCodePoints);
      if (keys.length === 0) return "{}";
      const inner = indent + unit;
      const sep = unit === "" ? ":" : ": ";
      const items = keys.map((k) => goString(k) + sep + write((v as Record<string, unknown>)[k], inner));
      return unit === "" ? `{${items.join(",")}}` : `{\n${inner}${items.join(`,\n${inner}`)}\n${indent}}`;
    }
    throw new TypeError(`Cannot serialize a value of type ${typeof v} as JSON`);
  }
}

/** A JSON string literal as Go writes it (HTML-safe escaping). */
function goString(s: string): string {
  return JSON.stringify(s.toWellFormed()).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${hex4(c.charCodeAt(0))}`);
}

/** Orders strings by Unicode code point, as Go's byte-wise comparison of UTF-8 does. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // A surrogate (0xD800-0xDFFF) starts a code point above 0xFFFF, so it sorts after every other unit.
    const xs = x >= 0xd800 && x <= 0xdfff;
    const ys = y >= 0xd800 && y <= 0xdfff;
    if (xs !== ys) return xs ? 1 : -1;
    return x < y ? -1 : 1;
  }
  return a.length - b.length;
}

/**
 * Quotes a user-supplied string for a message: JSON-escaped (so control characters and NUL stay visible and
 * the message stays on one line) and cut to `max` characters.
 */
export function quote(s: string, max = 80): string {
  return JSON.stringify(clip(s, max));
}

/** Index of the first `[` or `{` (outside strings) that exceeds `limit` levels, or -1. */
function depthViolation(text: string, limit: number): number {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > limit) return i;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return -1;
}

/** "line L column C" (both 1-based) of a 0-based index into `text`. */
function lineColumn(text: string, index: number): string {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf("\n"); i !== -1 && i < index; i = text.indexOf("\n", i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return `line ${line} column ${index - lineStart + 1}`;
}

function clip(s: string, max: number): string {
  return s.length > max ? s.slice(0, max) + "…" : s;
}

function escapeControls(s: string): string {
  // deno-lint-ignore no-control-regex -- control characters are exactly what must not reach a one-line message
  return s.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${hex4(c.charCodeAt(0))}`);
}

function hex4(n: number): string {
  return n.toString(16).padStart(4, "0");
}

/** Lower-cases a leading capital that starts a word ("Comma" → "comma"), not an acronym ("JSON"). */
function lowerFirst(s: string): string {
  return /^[A-Z][a-z]/.test(s) ? s.charAt(0).toLowerCase() + s.slice(1) : s;
}

class DuplicateKey extends Error {
  constructor(readonly key: string, readonly position: number) {
    super(`duplicate key ${key}`);
  }
}
