/**
 * Assertions the test files share.
 *
 * @module
 */
import assert from "node:assert/strict";

/** Asserts that `fn` throws an instance of `cls` whose message contains `part`. */
export function assertThrows(fn: () => unknown, cls: ErrorConstructor, part: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected a ${cls.name}, got ${e}`);
    assert.ok(e.message.includes(part), `expected "${part}" in: ${e.message}`);
    return true;
  });
}
