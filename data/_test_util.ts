/**
 * Small assertion helpers for the data tests, on top of `node:assert/strict`
 * (jsr's `@std/assert` is not reachable here): the throwing ones return the
 * error so that tests can check its message.
 *
 * @module
 */
import { deepStrictEqual, match, ok } from "node:assert/strict";

/** Asserts `cond` is truthy. */
export function assert(cond: unknown, message?: string): asserts cond {
  ok(cond, message);
}

/** Deep strict equality. */
export function assertEquals<T>(actual: unknown, expected: T, message?: string): void {
  deepStrictEqual(actual, expected, message);
}

/** Asserts `s` matches `re`. */
export function assertMatch(s: string, re: RegExp): void {
  match(s, re);
}

/** Asserts `fn` throws an instance of `cls` whose message includes `includes`; returns it. */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  cls: new (...args: any[]) => E,
  includes?: string,
): E {
  try {
    fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new Error(`Expected ${cls.name} to be thrown, but nothing was thrown`);
}

/** Asserts `fn` rejects with an instance of `cls` whose message includes `includes`; returns it. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  cls: new (...args: any[]) => E,
  includes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (e) {
    return checkError(e, cls, includes);
  }
  throw new Error(`Expected ${cls.name} to be rejected, but the promise resolved`);
}

function checkError<E extends Error>(
  e: unknown,
  cls: new (...args: any[]) => E,
  includes?: string,
): E {
  if (!(e instanceof cls)) {
    throw new Error(`Expected ${cls.name}, got ${e instanceof Error ? e.name : typeof e}: ${e}`);
  }
  if (includes !== undefined && !e.message.includes(includes)) {
    throw new Error(`Expected the message to include ${JSON.stringify(includes)}: ${e.message}`);
  }
  return e;
}
