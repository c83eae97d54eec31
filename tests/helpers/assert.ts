/**
 * Assertions for tests, on top of `node:assert/strict` (the stand-in for `@std/assert`, which JSR would
 * provide): the same names and argument order as `@std/assert`, so a site with JSR can switch back by changing
 * this one import.
 * @module
 */

import assert from "node:assert/strict";

/** Asserts deep equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  assert.deepStrictEqual(actual, expected, message as string);
}

/** Asserts deep inequality. */
export function assertNotEquals<T>(actual: T, expected: T, message?: string): void {
  assert.notDeepStrictEqual(actual, expected, message as string);
}

/** Asserts a truthy value. */
export function assert_(value: unknown, message?: string): asserts value {
  assert.ok(value, message as string);
}
export { assert_ as assert };

/** Asserts `text` matches `re`. */
export function assertMatch(text: string, re: RegExp, message?: string): void {
  assert.match(text, re, message as string);
}

/** Asserts `text` does not match `re`. */
export function assertNotMatch(text: string, re: RegExp, message?: string): void {
  assert.doesNotMatch(text, re, message as string);
}

/** Asserts that `text` contains `part`. */
export function assertStringIncludes(text: string, part: string, message?: string): void {
  assert.ok(
    text.includes(part),
    message ?? `expected ${JSON.stringify(text)} to include ${JSON.stringify(part)}`,
  );
}

/** Asserts `fn` throws an instance of `ErrorClass`, and returns the error. */
export function assertThrows<E extends Error>(fn: () => unknown, ErrorClass: new (...args: never[]) => E): E {
  try {
    fn();
  } catch (err) {
    if (err instanceof ErrorClass) return err;
    throw new assert.AssertionError({ message: `expected ${ErrorClass.name}, got ${String(err)}` });
  }
  throw new assert.AssertionError({ message: `expected ${ErrorClass.name} to be thrown` });
}

/** Asserts the promise from `fn` rejects with an instance of `ErrorClass`, and returns the error. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  ErrorClass: new (...args: never[]) => E,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof ErrorClass) return err;
    throw new assert.AssertionError({ message: `expected ${ErrorClass.name}, got ${String(err)}` });
  }
  throw new assert.AssertionError({ message: `expected ${ErrorClass.name} to be thrown` });
}
