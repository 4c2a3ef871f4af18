/**
 * The backend array: a shape, a dtype and a reference-counted storage owned by
 * one backend. Reshapes share storage; everything else makes a new array.
 *
 * Memory is released deterministically: `dispose()` drops this handle's
 * reference, scopes (`withScope`) dispose the arrays created inside them, and a
 * FinalizationRegistry is only the backstop for handles the program forgot.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import type { DType } from "./dtype.ts";
import { fmtShape, resolveReshape, type Shape, sizeOf } from "./shape.ts";

/** Backend-owned memory shared by one or more {@linkcode NDArray} handles. */
export interface Storage {
  /** Live handles on this storage. */
  refs: number;
  /** Size in bytes. */
  readonly bytes: number;
  /** Backend payload: a TypedArray on the CPU, a buffer on the GPU. */
  readonly payload: unknown;
}

let liveArrays = 0;

/** Number of NDArray handles not yet disposed or collected. */
export function liveArrayCount(): number {
  return liveArrays;
}

const finalizer = new FinalizationRegistry<{ backend: Backend; storage: Storage }>(
  ({ backend, storage }) => {
    liveArrays--;
    unref(backend, storage);
  },
);

function unref(backend: Backend, storage: Storage): void {
  storage.refs--;
  if (storage.refs === 0) backend.release(storage);
}

/** An n-dimensional array living on one backend. Internal to the library and custom Functions. */
export class NDArray {
  /** The shape. */
  readonly shape: readonly number[];
  /** The element type. */
  readonly dtype: DType;
  /** Number of elements. */
  readonly size: number;
  /** The backend that owns the storage. */
  readonly backend: Backend;
  #storage: Storage | null;
  #why: string | null = null;

  /** Wraps `storage` (taking over one reference the caller already counted). */
  constructor(backend: Backend, storage: Storage, shape: Shape, dtype: DType) {
    this.backend = backend;
    this.#storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = sizeOf(shape);
    liveArrays++;
    finalizer.register(this, { backend, storage }, this);
    track(this);
  }

  /** Number of axes. */
  get ndim(): number {
    return this.shape.length;
  }

  /** Whether this handle was disposed. */
  get disposed(): boolean {
    return this.#storage === null;
  }

  /** The storage; throws when this handle was disposed. */
  get storage(): Storage {
    if (this.#storage === null) {
      throw new ReferenceError(
        `Array of shape ${fmtShape(this.shape)} (${this.dtype}) ${
          this.#why ?? "was used after it was disposed"
        }`,
      );
    }
    return this.#storage;
  }

  /**
   * Drops this handle's reference; the memory is released when no handle is left. Idempotent.
   * `why` completes the error of a later use ("was released by ...: do this instead").
   */
  dispose(why?: string): void {
    const storage = this.#storage;
    if (storage === null) return;
    this.#storage = null;
    this.#why = why ?? null;
    liveArrays--;
    finalizer.unregister(this);
    untrack(this);
    unref(this.backend, storage);
  }

  /** A new handle on the same storage (the memory lives while either handle does). */
  share(): NDArray {
    return this.reshape(this.shape);
  }

  /** A new handle on the same storage with another shape of the same size. */
  reshape(shape: readonly number[]): NDArray {
    const storage = this.storage;
    const resolved = resolveReshape("reshape", this.shape, shape);
    storage.refs++;
    return new NDArray(this.backend, storage, resolved, this.dtype);
  }
}

// ---------------------------------------------------------------- scopes

const scopes: Set<NDArray>[] = [];

function track(a: NDArray): void {
  if (scopes.length > 0) scopes[scopes.length - 1].add(a);
}

function untrack(a: NDArray): void {
  for (let i = scopes.length - 1; i >= 0; i--) {
    if (scopes[i].delete(a)) return;
  }
}

/**
 * Marks arrays as owned by something long-lived (a parameter, optimizer state):
 * no enclosing scope disposes them.
 */
export function keepArrays(...arrays: (NDArray | null | undefined)[]): void {
  for (const a of arrays) if (a) untrack(a);
}

/** The innermost open scope, or null outside every scope. @internal */
export function currentScope(): Set<NDArray> | null {
  return scopes.at(-1) ?? null;
}

/**
 * Moves `a` out of the scopes it is tracked in and into `scope` if that is still open (else
 * into none: it lives until disposed or collected). A value stored into a Variable made
 * outside the current scope belongs where that Variable was made. @internal
 */
export function adoptInto(scope: Set<NDArray> | null, a: NDArray): void {
  untrack(a);
  if (scope !== null && scopes.includes(scope)) scope.add(a);
}

/**
 * Runs `fn`, then disposes every array created inside it except those
 * `keep(result)` lists (which move to the enclosing scope). Disposes everything
 * created inside when `fn` throws. `why` completes the error of a later use of a
 * disposed array (see {@linkcode NDArray.dispose}).
 */
export function withScope<T>(
  fn: () => T,
  keep: (result: T) => Iterable<NDArray>,
  why?: string,
): T {
  const scope = new Set<NDArray>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (e) {
    scopes.pop();
    for (const a of scope) a.dispose(why);
    throw e;
  }
  scopes.pop();
  const kept = new Set(keep(result));
  for (const a of scope) {
    if (kept.has(a)) track(a);
    else a.dispose(why);
  }
  return result;
}

/** Opens a scope that lasts until the returned handle is disposed (for `using`). */
export function openScope(): { keep(...arrays: NDArray[]): void; [Symbol.dispose](): void } {
  const scope = new Set<NDArray>();
  scopes.push(scope);
  const kept = new Set<NDArray>();
  return {
    keep(...arrays: NDArray[]) {
      for (const a of arrays) kept.add(a);
    },
    [Symbol.dispose]() {
      const i = scopes.lastIndexOf(scope);
      if (i >= 0) scopes.splice(i, 1);
      for (const a of scope) {
        if (kept.has(a)) track(a);
        else a.dispose();
      }
    },
  };
}
