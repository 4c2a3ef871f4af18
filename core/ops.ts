/**
 * Array-level operations on {@linkcode NDArray}s for `Function.forward` code:
 * device checks, dtype promotion, scalars and the movement ops written with the
 * backend's strided primitives. No graph is recorded here.
 *
 * @module
 */
import { type BinaryOp, type Device, getBackend, type UnaryOp } from "./backend.ts";
import type { DType } from "./dtype.ts";
import type { NDArray } from "./ndarray.ts";
import {
  broadcastShapes,
  broadcastStrides,
  fmtShape,
  normAxes,
  normAxis,
  shapesEqual,
  sizeOf,
  stridesOf,
} from "./shape.ts";

/** An array, or a number broadcast as a scalar of the other operand's dtype. */
export type ArrayOrScalar = NDArray | number;

/** The device of an array. */
export function deviceOf(x: NDArray): Device {
  return x.backend.device;
}

/** Throws a TypeError naming the op and both devices unless all arrays share a backend. */
export function assertSameDevice(op: string, arrays: readonly NDArray[]): void {
  for (let i = 1; i < arrays.length; i++) {
    if (arrays[i].backend !== arrays[0].backend) {
      throw new TypeError(
        `${op}: operands are on different devices: ${deviceOf(arrays[0])} and ${
          deviceOf(arrays[i])
        }; move one with toGpu() or toCpu() (toCpu() is async: await it, as in await model.toCpu())`,
      );
    }
  }
}

/** The common dtype of two dtypes (float64 > float32 > int32). */
export function promoteTypes(a: DType, b: DType): DType {
  if (a === b) return a;
  if (a === "float64" || b === "float64") return "float64";
  return "float32";
}

/**
 * The dtype a number takes beside an array of `dtype`: that dtype, except that a number int32
 * cannot hold exactly (a fraction, NaN, an infinity, out of range) makes float32, so that
 * `int32 * 0.5` promotes as in NumPy and PyTorch instead of truncating the number.
 */
export function scalarDType(dtype: DType, value: number): DType {
  const exactInt = Number.isInteger(value) && value >= -2147483648 && value <= 2147483647;
  return dtype === "int32" && !exactInt ? "float32" : dtype;
}

/** A scalar array on the device of `like` (dtype: {@linkcode scalarDType} unless given). */
export function scalar(
  like: NDArray,
  value: number,
  dtype: DType = scalarDType(like.dtype, value),
): NDArray {
  return like.backend.full([], value, dtype);
}

/** An array of `shape` filled with `value`, on the device of `like`. */
export function fullLike(
  like: NDArray,
  value: number,
  shape: readonly number[] = like.shape,
  dtype: DType = like.dtype,
): NDArray {
  return like.backend.full(shape, value, dtype);
}

/** A zeros array on `device`. */
export function zerosOn(device: Device, shape: readonly number[], dtype: DType): NDArray {
  return getBackend(device).full(shape, 0, dtype);
}

/**
 * Converts the dtype, returning a shared handle when it already matches. Floats become int32
 * as every backend's `cast` makes them: toward zero, saturating at the int32 range, NaN as 0.
 */
export function cast(x: NDArray, dtype: DType): NDArray {
  if (x.dtype === dtype) return x.share();
  return x.backend.cast(x, dtype);
}

function operands(op: string, a: ArrayOrScalar, b: ArrayOrScalar): [NDArray, NDArray, NDArray[]] {
  const temps: NDArray[] = [];
  if (typeof a === "number" && typeof b === "number") {
    throw new TypeError(`${op}: at least one operand must be an array`);
  }
  if (typeof a === "number") {
    a = scalar(b as NDArray, a);
    temps.push(a);
  }
  if (typeof b === "number") {
    b = scalar(a, b);
    temps.push(b);
  }
  assertSameDevice(op, [a, b]);
  if (a.dtype !== b.dtype) {
    const t = promoteTypes(a.dtype, b.dtype);
    if (a.dtype !== t) temps.push(a = a.backend.cast(a, t));
    if (b.dtype !== t) temps.push(b = b.backend.cast(b, t));
  }
  return [a, b, temps];
}

/** Elementwise binary op with broadcasting and dtype promotion. */
export function binary(op: BinaryOp, a: ArrayOrScalar, b: ArrayOrScalar): NDArray {
  const [x, y, temps] = operands(op, a, b);
  broadcastShapes(op, x.shape, y.shape);
  const out = x.backend.binary(op, x, y);
  for (const t of temps) t.dispose();
  return out;
}

/** `a + b`. */
export const add = (a: ArrayOrScalar, b: ArrayOrScalar): NDArray => binary("add", a, b);
/** `a - b`. */
export const sub = (a: ArrayOrScalar, b: ArrayOrScalar): NDArray => binary("sub", a, b);
/** `a * b`. */
export const mul = (a: ArrayOrScalar, b: ArrayOrScalar): NDArray => binary("mul", a, b);
/** `a / b`. */
export const div = (a: ArrayOrScalar, b: ArrayOrScalar): NDArray => binary("div", a, b);
/**
 * Throws a RangeError naming `op` for an int32 base and a negative integer exponent (as NumPy:
 * the result is no integer, and truncating it gives 0 silently).
 */
export function assertIntPow(op: string, dtype: DType, exponent: number): void {
  if (dtype === "int32" && exponent < 0 && scalarDType("int32", exponent) === "int32") {
    throw new RangeError(
      `${op}: integers to negative integer powers are not allowed: got int32 ** ${exponent}; cast to float32 first (x.astype("float32"))`,
    );
  }
}

/** `a ** b` (an int32 array to a negative integer number is a RangeError). */
export function pow(a: ArrayOrScalar, b: ArrayOrScalar): NDArray {
  if (typeof b === "number" && typeof a !== "number") assertIntPow("pow", a.dtype, b);
  return binary("pow", a, b);
}
/** Elementwise maximum. */
export const maximum = (a: ArrayOrScalar, b: ArrayOrScalar): NDArray => binary("maximum", a, b);
/** Elementwise minimum. */
export const minimum = (a: ArrayOrScalar, b: ArrayOrScalar): NDArray => binary("minimum", a, b);

/** Elementwise unary op (float ops on int32 inputs compute in float32). */
export function unary(op: UnaryOp, x: NDArray): NDArray {
  const intOk = op === "neg" || op === "abs" || op === "sign" || op === "relu" ||
    op === "floor" || op === "round";
  if (x.dtype === "int32" && !intOk) {
    const f = x.backend.cast(x, "float32");
    const out = x.backend.unary(op, f);
    f.dispose();
    return out;
  }
  return x.backend.unary(op, x);
}

/** `cond != 0 ? a : b` with broadcasting. */
export function where(cond: NDArray, a: ArrayOrScalar, b: ArrayOrScalar): NDArray {
  const [x, y, temps] = operands("where", a, b);
  assertSameDevice("where", [cond, x]);
  broadcastShapes("where", broadcastShapes("where", cond.shape, x.shape), y.shape);
  const out = x.backend.where(cond, x, y);
  for (const t of temps) t.dispose();
  return out;
}

/** Sum over `axis` (all by default). */
export function sum(
  x: NDArray,
  axis?: number | readonly number[] | null,
  keepdims = false,
): NDArray {
  const axes = normAxes("sum", axis, x.ndim);
  if (axes.length === 0) return x.share();
  return x.backend.reduce("sum", x, axes, keepdims);
}

/** Max or min over `axis` (all by default). */
export function reduceExtreme(
  op: "max" | "min",
  x: NDArray,
  axis?: number | readonly number[] | null,
  keepdims = false,
): NDArray {
  const axes = normAxes(op, axis, x.ndim);
  if (axes.length === 0) return x.share();
  for (const a of axes) {
    if (x.shape[a] === 0) {
      throw new RangeError(`${op}: cannot reduce an empty axis ${a} of shape ${fmtShape(x.shape)}`);
    }
  }
  return x.backend.reduce(op, x, axes, keepdims);
}

/** Index of the maximum along `axis` (int32); the flat index when `axis` is omitted. */
export function argmax(x: NDArray, axis?: number, keepdims = false): NDArray {
  if (axis === undefined) {
    const flat = x.reshape([x.size]);
    const out = x.backend.argReduce("argmax", flat, 0, false);
    flat.dispose();
    if (!keepdims) return out;
    // As NumPy's argmax(x, keepdims=True): every axis kept, of length 1.
    const kept = out.reshape(x.shape.map(() => 1));
    out.dispose();
    return kept;
  }
  return x.backend.argReduce("argmax", x, normAxis("argmax", axis, x.ndim), keepdims);
}

/** Permutes axes (reverses them by default) as a contiguous copy. */
export function transpose(x: NDArray, axes?: readonly number[]): NDArray {
  const n = x.ndim;
  const perm = axes ? axes.map((a) => normAxis("transpose", a, n)) : [...Array(n).keys()].reverse();
  if (perm.length !== n || new Set(perm).size !== n) {
    throw new TypeError(
      `transpose: axes ${JSON.stringify(axes)} are not a permutation of ${n} axes of shape ${
        fmtShape(x.shape)
      }`,
    );
  }
  if (perm.every((p, i) => p === i)) return x.share();
  const strides = stridesOf(x.shape);
  return x.backend.asStrided(x, {
    shape: perm.map((p) => x.shape[p]),
    strides: perm.map((p) => strides[p]),
    offset: 0,
  });
}

/** The inverse of a permutation. */
export function invertPermutation(axes: readonly number[]): number[] {
  const inv = new Array<number>(axes.length);
  axes.forEach((a, i) => (inv[a] = i));
  return inv;
}

/** Broadcasts `x` to `shape` (a contiguous copy; a shared handle when equal). */
export function broadcastTo(x: NDArray, shape: readonly number[]): NDArray {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    throw new TypeError(
      `broadcastTo: cannot broadcast shape ${fmtShape(x.shape)} to ${
        Array.isArray(shape) ? fmtShape(shape) : JSON.stringify(shape)
      }: the target must be non-negative integers`,
    );
  }
  if (shapesEqual(x.shape, shape)) return x.share();
  const b = broadcastShapes("broadcastTo", x.shape, shape);
  if (!shapesEqual(b, shape)) {
    throw new TypeError(
      `broadcastTo: cannot broadcast shape ${fmtShape(x.shape)} to ${fmtShape(shape)}`,
    );
  }
  try {
    return x.backend.asStrided(x, { shape, strides: broadcastStrides(x.shape, shape), offset: 0 });
  } catch (e) {
    // A backend limit (the GPU's binding size) names the primitive: name the op and shapes.
    if (!(e instanceof RangeError) || !e.message.startsWith("asStrided: ")) throw e;
    throw new RangeError(
      `broadcastTo: broadcasting ${fmtShape(x.shape)} to ${fmtShape(shape)}: ${
        e.message.slice("asStrided: ".length)
      }`,
    );
  }
}

/** Sums `x` down to `shape` (the adjoint of broadcastTo). */
export function sumTo(x: NDArray, shape: readonly number[]): NDArray {
  if (shapesEqual(x.shape, shape)) return x.share();
  const lead = x.ndim - shape.length;
  if (lead < 0) {
    throw new TypeError(`sumTo: cannot sum shape ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
  }
  const axes: number[] = [];
  for (let i = 0; i < x.ndim; i++) {
    if (i < lead) axes.push(i);
    else if (shape[i - lead] === 1 && x.shape[i] !== 1) axes.push(i);
    else if (shape[i - lead] !== x.shape[i]) {
      throw new TypeError(`sumTo: cannot sum shape ${fmtShape(x.shape)} to ${fmtShape(shape)}`);
    }
  }
  const s = x.backend.reduce("sum", x, axes, true);
  const out = s.reshape(shape);
  s.dispose();
  return out;
}

/** Batched matrix product with NumPy's rules for 1-D operands. */
export function matmul(
  a: NDArray,
  b: NDArray,
  opts: { transA?: boolean; transB?: boolean } = {},
): NDArray {
  assertSameDevice("matmul", [a, b]);
  if (a.ndim === 0 || b.ndim === 0) {
    throw new TypeError(
      `matmul: operands must have rank ≥ 1, got shapes ${fmtShape(a.shape)} and ${
        fmtShape(b.shape)
      }`,
    );
  }
  const temps: NDArray[] = [];
  if (a.dtype !== b.dtype) {
    const t = promoteTypes(a.dtype, b.dtype);
    if (a.dtype !== t) temps.push(a = a.backend.cast(a, t));
    if (b.dtype !== t) temps.push(b = b.backend.cast(b, t));
  }
  const a1 = a.ndim === 1;
  const b1 = b.ndim === 1;
  if (a1) temps.push(a = a.reshape([1, a.shape[0]]));
  if (b1) temps.push(b = b.reshape([b.shape[0], 1]));
  const ka = opts.transA ? a.shape[a.ndim - 2] : a.shape[a.ndim - 1];
  const kb = opts.transB ? b.shape[b.ndim - 1] : b.shape[b.ndim - 2];
  if (ka !== kb) {
    for (const t of temps) t.dispose();
    throw new TypeError(
      `matmul: shapes ${fmtShape(a1 ? [ka] : a.shape)} and ${
        fmtShape(b1 ? [kb] : b.shape)
      } are not aligned: ${ka} vs ${kb}`,
    );
  }
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  try {
    broadcastShapes("matmul", batchA, batchB);
  } catch {
    for (const t of temps) t.dispose();
    throw new TypeError(
      `matmul: the batch axes ${fmtShape(batchA)} and ${fmtShape(batchB)} of shapes ${
        fmtShape(a.shape)
      } and ${fmtShape(b.shape)} do not broadcast`,
    );
  }
  let out = a.backend.matmul(a, b, opts);
  if (a1 || b1) {
    const s = [...out.shape];
    if (b1) s.splice(s.length - 1, 1);
    if (a1) s.splice(s.length - (b1 ? 1 : 2), 1);
    const r = out.reshape(s);
    out.dispose();
    out = r;
  }
  for (const t of temps) t.dispose();
  return out;
}

/** Joins arrays along an existing axis. */
export function concat(xs: readonly NDArray[], axis = 0): NDArray {
  if (xs.length === 0) throw new TypeError("concat: expected at least one array");
  assertSameDevice("concat", xs);
  const first = xs[0];
  const ax = normAxis("concat", axis, first.ndim);
  let dtype = first.dtype;
  for (const x of xs) {
    dtype = promoteTypes(dtype, x.dtype);
    if (
      x.ndim !== first.ndim ||
      x.shape.some((d, i) => i !== ax && d !== first.shape[i])
    ) {
      throw new TypeError(
        `concat: shapes ${fmtShape(first.shape)} and ${
          fmtShape(x.shape)
        } differ outside axis ${ax}`,
      );
    }
  }
  const shape = [...first.shape];
  shape[ax] = xs.reduce((s, x) => s + x.shape[ax], 0);
  let out: NDArray;
  try {
    out = first.backend.full(shape, 0, dtype);
  } catch (e) {
    // Its buffer is allocated by full(): the error names the op the caller called.
    if (!(e instanceof RangeError)) throw e;
    throw new RangeError(
      `concat: the result of shape ${fmtShape(shape)}: ${e.message.replace(/^full: /, "")}`,
      { cause: e },
    );
  }
  const strides = stridesOf(shape);
  let offset = 0;
  for (const x of xs) {
    if (x.size > 0) {
      const src = cast(x, dtype);
      out.backend.assign(out, src, { shape: x.shape, strides, offset: offset * strides[ax] });
      src.dispose();
    }
    offset += x.shape[ax];
  }
  return out;
}

/** Inserts an axis of size 1 at `axis`. */
export function expandDims(x: NDArray, axis: number): NDArray {
  const ax = normAxis("expandDims", axis, x.ndim + 1);
  const shape = [...x.shape];
  shape.splice(ax, 0, 1);
  return x.reshape(shape);
}

/** Number of elements of a shape (re-exported for Function code). */
export { sizeOf };
