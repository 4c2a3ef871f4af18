/**
 * Global switches of the graph builder, as in DeZero's `Config`.
 *
 * @module
 */
import { describeValue } from "./_validate.ts";

/** The flags that control graph recording and train/test behaviour. */
export interface ConfigFlags {
  /** Record the graph so that `backward()` works (default true). */
  enableBackprop: boolean;
  /** Training mode: dropout drops and batch norm uses batch statistics (default true). */
  train: boolean;
}

/**
 * The current flags. Prefer {@linkcode usingConfig}, {@linkcode noGrad} and
 * {@linkcode testMode}, which restore them.
 *
 * @example
 * ```ts
 * import { Config } from "./config.ts";
 * console.log(Config.enableBackprop); // true
 * ```
 */
export const Config: ConfigFlags = { enableBackprop: true, train: true };

/**
 * Runs `fn` with some flags changed, restoring them afterwards even when `fn` throws.
 * An unknown flag or a value other than true / false is a TypeError; an undefined one
 * leaves its flag as it is.
 * Returns `fn`'s result. An async `fn` keeps the flags until its promise settles, so an
 * evaluation loop that awaits readbacks stays in the mode it asked for; code that runs
 * concurrently meanwhile (another un-awaited task) sees the same flags, as with
 * PyTorch's `no_grad` around `await`.
 *
 * @example
 * ```ts
 * import { Config, usingConfig } from "./config.ts";
 * usingConfig({ train: false }, () => console.log(Config.train)); // false
 * await usingConfig({ train: false }, async () => {
 *   await Promise.resolve();
 *   console.log(Config.train); // false
 * });
 * ```
 */
export function usingConfig<T>(flags: Partial<ConfigFlags>, fn: () => T): T {
  checkFlags("usingConfig", flags);
  if (typeof fn !== "function") {
    throw new TypeError(`usingConfig: fn must be a function, got ${typeof fn}`);
  }
  const saved = setFlags(flags);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    Object.assign(Config, saved);
    throw e;
  }
  if (!isPromiseLike(result)) {
    Object.assign(Config, saved);
    return result;
  }
  const settled = (async () => {
    try {
      return await result;
    } finally {
      Object.assign(Config, saved);
    }
  })();
  return settled as T;
}

/**
 * Sets the flags `flags` gives, leaving one given as undefined as it is
 * (`usingConfig({ train: opts.train }, ...)`); returns the flags as they were.
 */
function setFlags(flags: Partial<ConfigFlags>): ConfigFlags {
  const saved = { ...Config };
  for (const [name, value] of Object.entries(flags)) {
    if (value !== undefined) Config[name as keyof ConfigFlags] = value;
  }
  return saved;
}

/**
 * Throws unless `flags` (given to `op`) sets only known flags, each to a boolean: a typo
 * would change nothing.
 */
function checkFlags(op: string, flags: Partial<ConfigFlags>): void {
  if (typeof flags !== "object" || flags === null || Array.isArray(flags)) {
    throw new TypeError(
      `${op}: flags must be an object such as { train: false }, got ${describeValue(flags)}`,
    );
  }
  const known = Object.keys(Config);
  for (const [name, value] of Object.entries(flags)) {
    if (!known.includes(name)) {
      throw new TypeError(
        `${op}: unknown flag ${JSON.stringify(name)} (the flags are ${known.join(", ")})`,
      );
    }
    if (typeof value !== "boolean" && value !== undefined) {
      throw new TypeError(
        `${op}: flag ${name} must be true or false, got ${describeValue(value)}`,
      );
    }
  }
}

function isPromiseLike(x: unknown): x is PromiseLike<unknown> {
  return typeof (x as PromiseLike<unknown> | null)?.then === "function";
}

/**
 * Runs `fn` without recording the graph (inference, parameter updates); an async `fn`
 * keeps it off until its promise settles.
 *
 * @example
 * ```ts
 * import { noGrad } from "./config.ts";
 * const y = noGrad(() => 1 + 1);
 * ```
 */
export function noGrad<T>(fn: () => T): T {
  return usingConfig({ enableBackprop: false }, fn);
}

/**
 * Runs `fn` in test mode (`Config.train = false`): dropout is the identity and
 * batch norm uses its running statistics. An async `fn` stays in test mode until its
 * promise settles.
 *
 * @example
 * ```ts
 * import { Config, testMode } from "./config.ts";
 * testMode(() => console.log(Config.train)); // false
 * ```
 */
export function testMode<T>(fn: () => T): T {
  return usingConfig({ train: false }, fn);
}

/**
 * The `using` form: changes flags until the returned handle is disposed.
 *
 * @example
 * ```ts
 * import { Config, configScope } from "./config.ts";
 * {
 *   using _ = configScope({ enableBackprop: false });
 *   console.log(Config.enableBackprop); // false
 * }
 * console.log(Config.enableBackprop); // true
 * ```
 */
export function configScope(flags: Partial<ConfigFlags>): Disposable {
  checkFlags("configScope", flags);
  const saved = setFlags(flags);
  return { [Symbol.dispose]: () => void Object.assign(Config, saved) };
}
