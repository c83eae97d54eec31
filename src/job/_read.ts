/**
 * Typed reading of parsed JSON values, each failure a {@link JobFileError} naming the field's path.
 *
 * Field paths are written `a.b` for record fields and `a["key"]` for map entries (mount targets, variable
 * names), so `mounts["/out"].capacity` names one thing whatever characters the key holds.
 *
 * @module
 */

import { isLosslessNumber, type LosslessNumber } from "lossless-json";
import { JobFileError } from "../errors.ts";
import { quote } from "./json.ts";

/** A parsed JSON object (own keys only are ever read). */
export type RawObject = Record<string, unknown>;

/** Collects what one validation run learns besides the job: its file path and the ignored fields. */
export class Reader {
  /** Field paths accepted but unused, in the order they were met. */
  readonly ignored: string[] = [];
  /** @param path The job file's path, for messages. */
  constructor(readonly path: string) {}

  /** Throws the one error of this run. */
  fail(field: string, problem: string): never {
    throw new JobFileError(this.path, field, problem);
  }

  /** The value as an object, or a failure naming `field`. */
  object(value: unknown, field: string): RawObject {
    if (!isPlainObject(value)) this.fail(field, `must be an object, got ${describe(value)}`);
    return value;
  }

  /**
   * Rejects keys of `obj` that are neither in `known` nor in `ignored`, in document order; records the
   * ignored ones that are present.
   */
  keys(
    obj: RawObject,
    field: string,
    known: ReadonlySet<string>,
    ignored: ReadonlySet<string> = EMPTY,
  ): void {
    for (const key of Object.keys(obj)) {
      if (known.has(key)) continue;
      const path = member(field, key);
      if (ignored.has(key)) this.ignored.push(path);
      else this.fail(path, "is not a known field");
    }
  }

  /** A string value. */
  string(value: unknown, field: string): string {
    if (typeof value !== "string") this.fail(field, `must be a string, got ${describe(value)}`);
    return value;
  }

  /** A string without NUL characters. */
  cleanString(value: unknown, field: string): string {
    const s = this.string(value, field);
    if (s.includes("\0")) this.fail(field, "must not contain a NUL character");
    return s;
  }

  /** A boolean value. */
  boolean(value: unknown, field: string): boolean {
    if (typeof value !== "boolean") this.fail(field, `must be true or false, got ${describe(value)}`);
    return value;
  }

  /** An array of strings (NUL allowed; callers check what they need). */
  stringArray(value: unknown, field: string): string[] {
    if (!Array.isArray(value)) this.fail(field, `must be an array of strings, got ${describe(value)}`);
    return value.map((item, i) => this.string(item, `${field}[${i}]`));
  }

  /**
   * An integer in `[min, max]`, checked exactly on the number's text (so `9007199254740993` is not mistaken
   * for `9007199254740992`, and `1e3` counts as the integer 1000).
   */
  integer(value: unknown, field: string, min: bigint, max: bigint): number {
    const expected = `must be an integer from ${min} to ${max}`;
    if (!isLosslessNumber(value)) this.fail(field, `${expected}, got ${describe(value)}`);
    const exact = exactInteger(value.toString());
    if (exact === null || exact < min || exact > max) {
      this.fail(field, `${expected}, got ${numberText(value)}`);
    }
    return Number(exact);
  }

  /** A number in `(0, max]` (fractions allowed). */
  positiveNumber(value: unknown, field: string, max: number): number {
    const expected = `must be a number greater than 0 and at most ${max}`;
    if (!isLosslessNumber(value)) this.fail(field, `${expected}, got ${describe(value)}`);
    const n = Number(value.toString());
    if (!(n > 0 && n <= max)) this.fail(field, `${expected}, got ${numberText(value)}`);
    return n;
  }
}

const EMPTY: ReadonlySet<string> = new Set();

/** The own property `key` of `obj`, with JSON `null` read as absent (as Go's decoder does). */
export function get(obj: RawObject, key: string): unknown {
  if (!Object.hasOwn(obj, key)) return undefined;
  const v = obj[key];
  return v === null ? undefined : v;
}

/** Path of the record field `key` under `parent`. */
export function member(parent: string, key: string): string {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) return entry(parent, key);
  return parent === "" ? key : `${parent}.${key}`;
}

/** Path of the map entry `key` under `parent`. */
export function entry(parent: string, key: string): string {
  return `${parent}[${quote(key, 100)}]`;
}

/** What kind of JSON value `v` is, for "got ..." in messages (never the value itself: it may be secret). */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (v === undefined) return "nothing";
  if (typeof v === "boolean") return "a boolean";
  if (typeof v === "string") return v === "" ? "an empty string" : "a string";
  if (isLosslessNumber(v)) return "a number";
  if (Array.isArray(v)) return v.length === 0 ? "an empty array" : "an array";
  return "an object";
}

/** True for a JSON object (not an array, not a number). */
export function isPlainObject(v: unknown): v is RawObject {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !isLosslessNumber(v);
}

function numberText(n: LosslessNumber): string {
  const s = n.toString();
  return s.length > 40 ? s.slice(0, 40) + "…" : s;
}

/**
 * The exact integer a JSON number's text denotes, or null when it is not an integer or has more than 30
 * digits (far beyond any bound berth uses; this also keeps `1e999999999` from building a huge bigint).
 */
export function exactInteger(text: string): bigint | null {
  // Long texts are never in range; refusing them up front also keeps the regexes below linear-time cheap.
  if (text.length > 400) return null;
  const m = /^(-?)(\d+)(?:\.(\d+))?(?:[eE]([+-]?\d+))?$/.exec(text);
  if (!m) return null;
  let digits = (m[2] + (m[3] ?? "")).replace(/^0+/, "");
  if (digits === "") return 0n;
  let exp = (m[4] === undefined ? 0 : Number(m[4])) - (m[3]?.length ?? 0);
  const trailing = digits.length - digits.replace(/0+$/, "").length;
  digits = digits.slice(0, digits.length - trailing);
  exp += trailing;
  if (exp < 0 || digits.length + exp > 30) return null;
  const value = BigInt(digits) * 10n ** BigInt(exp);
  return m[1] === "-" ? -value : value;
}
