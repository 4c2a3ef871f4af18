/**
 * Checks of constructor arguments for layers, models and optimizers. Plain
 * JavaScript and notebooks do not type-check, so DeZero's positional forms
 * (`Conv2d(4, 3, 1, 1)`, `SGD(0.1)`) would otherwise be ignored silently.
 *
 * @module
 */
import { describeValue } from "../core/_validate.ts";
import { DTYPES } from "../core/dtype.ts";

/** What an option may hold. */
export type OptionKind =
  | "number"
  | "count"
  | "boolean"
  | "pair"
  | "dtype"
  | "function"
  | "device";

const EXPECTED: Record<OptionKind, string> = {
  number: "a finite number",
  count: "a positive integer",
  boolean: "a boolean",
  pair: "a non-negative integer or a pair of them",
  dtype: `one of ${DTYPES.join(", ")}`,
  function: "a function",
  device: '"cpu" or "gpu"',
};

/** A value's type for a TypeError: `the number 1`, `true`, `a string "2"`, `an array`. */
function isCount(x: unknown): boolean {
  return typeof x === "number" && Number.isInteger(x) && x > 0;
}

function isIndex(x: unknown): boolean {
  return typeof x === "number" && Number.isInteger(x) && x >= 0;
}

function fits(kind: OptionKind, x: unknown): boolean {
  switch (kind) {
    case "number":
      return typeof x === "number" && Number.isFinite(x);
    case "count":
      return isCount(x);
    case "boolean":
      return typeof x === "boolean";
    case "pair":
      return isIndex(x) || (Array.isArray(x) && x.length === 2 && x.every(isIndex));
    case "dtype":
      return DTYPES.includes(x as never);
    case "function":
      return typeof x === "function";
    case "device":
      return x === "cpu" || x === "gpu";
  }
}

/** Throws a TypeError unless `x` (argument `what` of `op`) is of `kind`. */
export function checkArg(op: string, what: string, kind: OptionKind, x: unknown): void {
  if (!fits(kind, x)) {
    throw new TypeError(`${op}: ${what} must be ${EXPECTED[kind]}, got ${describeValue(x)}`);
  }
}

/** Whether `x` is a plain object (`{ ... }`), not a number, array, class instance or null. */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== "object" || x === null || Array.isArray(x)) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/**
 * Checks the options argument of `op`: undefined or a plain object whose keys
 * are in `spec` and whose values (unless undefined) are of the kind given
 * there. `example` shows the options form (`{ stride: 1, pad: 1 }`) and
 * `after` names the last positional parameter.
 */
export function checkOptions<T extends object>(
  op: string,
  options: unknown,
  spec: Record<string, OptionKind>,
  example: string,
  after: string,
): T {
  if (options === undefined) return {} as T;
  if (!isPlainObject(options)) {
    throw new TypeError(
      `${op}: options must be an object such as ${example}, got ${
        describeValue(options)
      } (positional arguments after ${after} are not accepted)`,
    );
  }
  for (const [key, value] of Object.entries(options)) {
    const kind = spec[key];
    if (kind === undefined) {
      throw new TypeError(
        `${op}: unknown option "${key}": expected ${Object.keys(spec).join(", ")}`,
      );
    }
    if (value !== undefined) checkArg(op, `option "${key}"`, kind, value);
  }
  return options as T;
}

/**
 * The hyperparameters of optimizer `op`, given as an options object or in
 * DeZero's positional order `positional` (`SGD(0.1)`, `Adam(alpha, beta1)`).
 * Every value must be a finite number; unknown keys and extra arguments are
 * TypeErrors.
 */
export function hyperparams<T extends object>(
  op: string,
  args: readonly unknown[],
  positional: readonly string[],
  known: readonly string[],
): T {
  const spec = Object.fromEntries(known.map((k) => [k, "number" as const]));
  const example = `{ ${known.map((k) => `${k}: …`).join(", ")} }`;
  if (args.length === 0 || (args.length === 1 && args[0] === undefined)) return {} as T;
  if (typeof args[0] === "number" && positional.length > 0) {
    if (args.length > positional.length) {
      throw new TypeError(
        `${op}: takes at most ${positional.length} positional arguments (${
          positional.join(", ")
        }), got ${args.length}: use an options object such as ${example}`,
      );
    }
    const out: Record<string, number> = {};
    args.forEach((x, i) => {
      if (x === undefined) return;
      checkArg(op, positional[i], "number", x);
      out[positional[i]] = x as number;
    });
    return out as T;
  }
  if (args.length > 1 || !isPlainObject(args[0])) {
    throw new TypeError(
      `${op}: expected an options object such as ${example}${
        positional.length > 0 ? ` or numbers (${positional.join(", ")})` : ""
      }, got ${args.map(describeValue).join(", ")}`,
    );
  }
  return checkOptions<T>(op, args[0], spec, example, "the options");
}

/** Throws a RangeError naming `op`, the argument `what` and its value unless `ok`. */
export function checkRange(op: string, what: string, x: unknown, ok: boolean, range: string): void {
  if (!ok) throw new RangeError(`${op}: ${what} must be ${range}, got ${describeValue(x)}`);
}

/**
 * A size given as one integer or a pair (`stride: 2`, `pad: [1, 0]`) as a pair: a
 * TypeError for anything but integers, a RangeError below `min` (1 for kernels and
 * strides, 0 for padding).
 */
export function checkPair(op: string, what: string, x: unknown, min: 0 | 1): [number, number] {
  const message = `${op}: ${what} must be a ${
    min === 1 ? "positive" : "non-negative"
  } integer or a pair of them, got ${describeValue(x)}`;
  const items: unknown[] = Array.isArray(x) ? x : [x];
  if (items.length !== (Array.isArray(x) ? 2 : 1) || !items.every(Number.isInteger)) {
    throw new TypeError(message);
  }
  const [h, w = h] = items as number[];
  if (h < min || w < min) throw new RangeError(message);
  return [h, w];
}
