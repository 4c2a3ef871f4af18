/**
 * The differentiable functions of DeZero's stages 1–3. Each op's forward (on
 * backend arrays) and backward (on Variables, hence differentiable again) sit
 * side by side. Composite functions (mean, logsumexp, linear, stack, ...) are
 * written in the primitive ones and need no backward of their own.
 *
 * @module
 */
import { assertDType, type DType, isFloat } from "./dtype.ts";
import { describeValue } from "./_validate.ts";
import { type Index, Indexer } from "./indexing.ts";
import type { NDArray } from "./ndarray.ts";
import * as ops from "./ops.ts";
import {
  fmtShape,
  normAxes,
  normAxis,
  reducedShape,
  resolveReshape,
  shapesEqual,
} from "./shape.ts";
import { Function, installFunctions, type Operand, operandArray, Variable } from "./variable.ts";

export type { Index, IndexItem, IndexList, Slice } from "./indexing.ts";
export { slice } from "./indexing.ts";

/** A Variable, backend array or number. */
type Input = Operand;
/** An axis option: one axis, several, or all (undefined / null). */
export type Axis = number | readonly number[] | null | undefined;

/**
 * The input of `op` as a Variable: numbers become scalars of `like`'s dtype, nested arrays
 * and TypedArrays tensors (on `like`'s device); anything else is a TypeError naming `op`.
 */
function v(op: string, x: Input, like?: Variable): Variable {
  if (x instanceof Variable) return x;
  return new Variable(operandArray(x, like?.array, `${op}: the input`));
}

/** A constant (no graph) Variable wrapping an array. */
function constant(a: NDArray): Variable {
  return new Variable(a);
}

// ------------------------------------------------------------ arithmetic

/** Reduces a broadcast gradient back to an input's shape. */
function unbroadcast(gx: Variable, shape: readonly number[]): Variable {
  return shapesEqual(gx.shape, shape) ? gx : sumTo(gx, shape);
}

/** `a + b` as a Function (see {@linkcode add}). */
export class Add extends Function {
  /** The values, on backend arrays. */
  forward(a: NDArray, b: NDArray): NDArray {
    return ops.add(a, b);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): (Variable | null)[] {
    const [a, b] = this.inputs;
    return [
      this.needsInputGrad(0) ? unbroadcast(gy, a.shape) : null,
      this.needsInputGrad(1) ? unbroadcast(gy, b.shape) : null,
    ];
  }
}

/** `a - b` as a Function (see {@linkcode sub}). */
export class Sub extends Function {
  /** The values, on backend arrays. */
  forward(a: NDArray, b: NDArray): NDArray {
    return ops.sub(a, b);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): (Variable | null)[] {
    const [a, b] = this.inputs;
    return [
      this.needsInputGrad(0) ? unbroadcast(gy, a.shape) : null,
      this.needsInputGrad(1) ? unbroadcast(neg(gy), b.shape) : null,
    ];
  }
}

/** `a * b` as a Function (see {@linkcode mul}). */
export class Mul extends Function {
  /** The values, on backend arrays. */
  forward(a: NDArray, b: NDArray): NDArray {
    return ops.mul(a, b);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): (Variable | null)[] {
    const [a, b] = this.inputs;
    return [
      this.needsInputGrad(0) ? unbroadcast(mul(gy, b), a.shape) : null,
      this.needsInputGrad(1) ? unbroadcast(mul(gy, a), b.shape) : null,
    ];
  }
}

/** `a / b` as a Function (see {@linkcode div}). */
export class Div extends Function {
  /** The values, on backend arrays. */
  forward(a: NDArray, b: NDArray): NDArray {
    if (a.dtype !== "int32" || b.dtype !== "int32") return ops.div(a, b);
    // True division, as `/` in NumPy and PyTorch: int32 operands give float32.
    const fa = ops.cast(a, "float32");
    const fb = ops.cast(b, "float32");
    const out = ops.div(fa, fb);
    fa.dispose();
    fb.dispose();
    return out;
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): (Variable | null)[] {
    const [a, b] = this.inputs;
    const ga = this.needsInputGrad(0) ? unbroadcast(div(gy, b), a.shape) : null;
    const gb = this.needsInputGrad(1)
      ? unbroadcast(mul(gy, div(neg(a), mul(b, b))), b.shape)
      : null;
    return [ga, gb];
  }
}

/** `-x` as a Function (see {@linkcode neg}). */
export class Neg extends Function {
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.unary("neg", x);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    return neg(gy);
  }
}

/** `x ** c` for a number `c`, as a Function (see {@linkcode pow}). */
export class Pow extends Function {
  /** The Function with its fixed arguments. */
  constructor(readonly c: number) {
    super();
  }
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.pow(x, this.c);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    const x = this.inputs[0];
    if (this.c === 0) return mul(gy, 0);
    return mul(mul(pow(x, this.c - 1), this.c), gy);
  }
}

/**
 * `a + b` with NumPy broadcasting (numbers take the other operand's dtype).
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.add(tensor([1, 2]), 10).toArray()); // [11, 12]
 * ```
 */
export function add(a: Input, b: Input): Variable {
  return new Add().apply(a, b);
}
/**
 * `a - b` with broadcasting.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.sub(5, tensor([1, 2])).toArray()); // [4, 3]
 * ```
 */
export function sub(a: Input, b: Input): Variable {
  return new Sub().apply(a, b);
}
/**
 * `a * b` with broadcasting.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.mul(tensor([1, 2]), tensor([[3], [4]])).toArray()); // [[3, 6], [4, 8]]
 * ```
 */
export function mul(a: Input, b: Input): Variable {
  return new Mul().apply(a, b);
}
/**
 * `a / b` with broadcasting.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.div(tensor([1, 2]), 2).toArray()); // [0.5, 1]
 * ```
 */
export function div(a: Input, b: Input): Variable {
  return new Div().apply(a, b);
}
/**
 * `-x`.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.neg(tensor([1, -2])).toArray()); // [-1, 2]
 * ```
 */
export function neg(x: Input): Variable {
  return new Neg().apply(x);
}
/**
 * `x ** c` for a constant exponent `c`.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.pow(tensor([2, 3]), 2).toArray()); // [4, 9]
 * ```
 */
export function pow(x: Input, c: number): Variable {
  if (typeof c !== "number") {
    throw new TypeError(`pow: the exponent must be a number, got ${describeValue(c)}`);
  }
  const xv = v("pow", x);
  ops.assertIntPow("pow", xv.dtype, c);
  return new Pow(c).apply(xv);
}

// ------------------------------------------------------------ elementwise

/** Elementwise sine as a Function, as DeZero's `Sin()(x)`: `new Sin().apply(x)`. */
export class Sin extends Function {
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.unary("sin", x);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    return mul(gy, cos(this.inputs[0]));
  }
}

/** Elementwise cosine as a Function (see {@linkcode cos}). */
export class Cos extends Function {
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.unary("cos", x);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    return mul(gy, neg(sin(this.inputs[0])));
  }
}

/** Elementwise tanh as a Function (see {@linkcode tanh}). */
export class Tanh extends Function {
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.unary("tanh", x);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    const y = this.output();
    return mul(gy, sub(1, mul(y, y)));
  }
}

/** Elementwise exp as a Function (see {@linkcode exp}). */
export class Exp extends Function {
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.unary("exp", x);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    return mul(gy, this.output());
  }
}

/** Elementwise natural log as a Function (see {@linkcode log}). */
export class Log extends Function {
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.unary("log", x);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    return div(gy, this.inputs[0]);
  }
}

/** Elementwise square root as a Function (see {@linkcode sqrt}). */
export class Sqrt extends Function {
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.unary("sqrt", x);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    return div(gy, mul(this.output(), 2));
  }
}

/** Elementwise absolute value as a Function (see {@linkcode abs}). */
export class Abs extends Function {
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.unary("abs", x);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    return mul(gy, constant(ops.unary("sign", this.inputs[0].array)));
  }
}

/**
 * Elementwise sine.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.sin(tensor(0)).item()); // 0
 * ```
 */
export function sin(x: Input): Variable {
  return new Sin().apply(x);
}
/**
 * Elementwise cosine.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.cos(tensor(0)).item()); // 1
 * ```
 */
export function cos(x: Input): Variable {
  return new Cos().apply(x);
}
/**
 * Elementwise hyperbolic tangent.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.tanh(tensor(0)).item()); // 0
 * ```
 */
export function tanh(x: Input): Variable {
  return new Tanh().apply(x);
}
/**
 * Elementwise `e ** x`.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.exp(tensor(0)).item()); // 1
 * ```
 */
export function exp(x: Input): Variable {
  return new Exp().apply(x);
}
/**
 * Elementwise natural logarithm.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.log(tensor(1)).item()); // 0
 * ```
 */
export function log(x: Input): Variable {
  return new Log().apply(x);
}
/**
 * Elementwise square root.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.sqrt(tensor(4)).item()); // 2
 * ```
 */
export function sqrt(x: Input): Variable {
  return new Sqrt().apply(x);
}
/**
 * Elementwise absolute value (gradient `sign(x)`, 0 at 0).
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.abs(tensor([-1, 2])).toArray()); // [1, 2]
 * ```
 */
export function abs(x: Input): Variable {
  return new Abs().apply(x);
}

/** Clipping to [lo, hi] as a Function (see {@linkcode clip}). */
export class Clip extends Function {
  /** The Function with its fixed arguments. */
  constructor(readonly lo: number, readonly hi: number) {
    super();
  }
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.minimum(ops.maximum(x, this.lo), this.hi);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    const x = this.inputs[0].array;
    const mask = ops.mul(ops.binary("ge", x, this.lo), ops.binary("le", x, this.hi));
    return mul(gy, constant(mask));
  }
}

/**
 * Clips values to `[lo, hi]`; the gradient is 0 outside.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.clip(tensor([-2, 0.5, 3]), 0, 1).toArray()); // [0, 0.5, 1]
 * ```
 */
export function clip(x: Input, lo: number, hi: number): Variable {
  for (const [name, b] of [["lo", lo], ["hi", hi]] as const) {
    if (typeof b !== "number" || Number.isNaN(b)) {
      throw new TypeError(
        `clip: ${name} must be a number (±Infinity for no bound), got ${describeValue(b)}`,
      );
    }
  }
  if (lo > hi) throw new RangeError(`clip: lo ${lo} is greater than hi ${hi}`);
  return new Clip(lo, hi).apply(x);
}

class AsType extends Function {
  constructor(readonly dtype: DType) {
    super();
  }
  forward(x: NDArray): NDArray {
    return ops.cast(x, this.dtype);
  }
  backward(gy: Variable): Variable | null {
    const src = this.inputs[0].dtype;
    if (src === "int32") return null;
    return astype(gy, src);
  }
}

/**
 * Converts the dtype; gradients flow between float types only.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * const x = F.astype(tensor([1.7, -1.7]), "int32");
 * console.log(await x.toArray()); // [1, -1]
 * ```
 */
export function astype(x: Input, dtype: DType): Variable {
  assertDType("astype", dtype);
  const xv = v("astype", x);
  if (xv.dtype === dtype) return xv;
  return new AsType(dtype).apply(xv);
}

// ------------------------------------------------------------ shapes

class Reshape extends Function {
  constructor(readonly shape: readonly number[]) {
    super();
  }
  forward(x: NDArray): NDArray {
    return x.reshape(this.shape);
  }
  backward(gy: Variable): Variable {
    return reshape(gy, this.inputs[0].shape);
  }
}

/**
 * Same values, another shape (one axis may be -1).
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(F.reshape(tensor([1, 2, 3, 4]), [2, -1]).shape); // [2, 2]
 * ```
 */
export function reshape(x: Input, shape: readonly number[]): Variable {
  const xv = v("reshape", x);
  const target = resolveReshape("reshape", xv.shape, shape);
  if (shapesEqual(target, xv.shape)) return xv;
  return new Reshape(target).apply(xv);
}

class Transpose extends Function {
  constructor(readonly axes: readonly number[]) {
    super();
  }
  forward(x: NDArray): NDArray {
    return ops.transpose(x, this.axes);
  }
  backward(gy: Variable): Variable {
    return transpose(gy, ops.invertPermutation(this.axes));
  }
}

/**
 * Permutes axes (reverses them by default).
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(F.transpose(tensor([[1, 2, 3]])).shape); // [3, 1]
 * ```
 */
export function transpose(x: Input, axes?: readonly number[]): Variable {
  const xv = v("transpose", x);
  const n = xv.ndim;
  const perm = axes ? axes.map((a) => normAxis("transpose", a, n)) : [...Array(n).keys()].reverse();
  if (perm.length !== n || new Set(perm).size !== n) {
    throw new TypeError(
      `transpose: axes ${JSON.stringify(axes)} are not a permutation of the ${n} axes of shape ${
        fmtShape(xv.shape)
      }`,
    );
  }
  return new Transpose(perm).apply(xv);
}

/**
 * Inserts an axis of size 1 at `axis`.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(F.expandDims(tensor([1, 2]), 0).shape); // [1, 2]
 * ```
 */
export function expandDims(x: Input, axis: number): Variable {
  const xv = v("expandDims", x);
  const ax = normAxis("expandDims", axis, xv.ndim + 1);
  const shape = [...xv.shape];
  shape.splice(ax, 0, 1);
  return reshape(xv, shape);
}

/**
 * Flattens all axes after the first, as DeZero's `flatten` (`[N, ...] → [N, -1]`);
 * rank ≤ 1 inputs become rank 1.
 *
 * @example
 * ```ts
 * import { F, zeros } from "../mod.ts";
 * console.log(F.flatten(zeros([2, 3, 4])).shape); // [2, 12]
 * ```
 */
export function flatten(x: Input): Variable {
  const xv = v("flatten", x);
  if (xv.ndim <= 1) return reshape(xv, [xv.size]);
  // Not [N, -1]: an empty batch ([0, 3, 4]) flattens to [0, 12], as in PyTorch.
  return reshape(xv, [xv.shape[0], xv.shape.slice(1).reduce((a, b) => a * b, 1)]);
}

class BroadcastTo extends Function {
  constructor(readonly shape: readonly number[]) {
    super();
  }
  forward(x: NDArray): NDArray {
    return ops.broadcastTo(x, this.shape);
  }
  backward(gy: Variable): Variable {
    return sumTo(gy, this.inputs[0].shape);
  }
}

class SumTo extends Function {
  constructor(readonly shape: readonly number[]) {
    super();
  }
  forward(x: NDArray): NDArray {
    return ops.sumTo(x, this.shape);
  }
  backward(gy: Variable): Variable {
    return broadcastTo(gy, this.inputs[0].shape);
  }
}

/**
 * Broadcasts `x` to `shape` (gradient: `sumTo`).
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.broadcastTo(tensor([1, 2]), [2, 2]).toArray()); // [[1, 2], [1, 2]]
 * ```
 */
export function broadcastTo(x: Input, shape: readonly number[]): Variable {
  const xv = v("broadcastTo", x);
  if (shapesEqual(xv.shape, shape)) return xv;
  return new BroadcastTo([...shape]).apply(xv);
}

/**
 * Sums `x` down to `shape`, the adjoint of broadcasting.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.sumTo(tensor([[1, 2], [3, 4]]), [1, 2]).toArray()); // [[4, 6]]
 * ```
 */
export function sumTo(x: Input, shape: readonly number[]): Variable {
  const xv = v("sumTo", x);
  if (shapesEqual(xv.shape, shape)) return xv;
  return new SumTo([...shape]).apply(xv);
}

// ------------------------------------------------------------ reductions

class Sum extends Function {
  constructor(readonly axes: readonly number[], readonly keepdims: boolean) {
    super();
  }
  forward(x: NDArray): NDArray {
    return ops.sum(x, this.axes, this.keepdims);
  }
  backward(gy: Variable): Variable {
    const xShape = this.inputs[0].shape;
    const kept = reshape(gy, reducedShape(xShape, this.axes, true));
    return broadcastTo(kept, xShape);
  }
}

/**
 * Sum over `axis` (all axes by default), optionally keeping reduced axes.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.sum(tensor([[1, 2], [3, 4]]), 0).toArray()); // [4, 6]
 * ```
 */
export function sum(x: Input, axis?: Axis, keepdims = false): Variable {
  const xv = v("sum", x);
  return new Sum(normAxes("sum", axis, xv.ndim), keepdims).apply(xv);
}

/**
 * Mean over `axis` (all axes by default). The mean of int32 values is float32 (summed in
 * float32, so no int32 overflow), as NumPy's is a float; `sum` of int32 stays int32.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.mean(tensor([1, 2, 3, 4])).item()); // 2.5
 * console.log(F.mean(tensor([1, 2], { dtype: "int32" })).dtype); // float32
 * ```
 */
export function mean(x: Input, axis?: Axis, keepdims = false): Variable {
  const xv = v("mean", x);
  const axes = normAxes("mean", axis, xv.ndim);
  const n = axes.reduce((p, a) => p * xv.shape[a], 1);
  const xf = xv.dtype === "int32" ? astype(xv, "float32") : xv;
  return div(sum(xf, axes, keepdims), n);
}

class Extreme extends Function {
  constructor(
    readonly op: "max" | "min",
    readonly axes: readonly number[],
    readonly keepdims: boolean,
  ) {
    super();
  }
  forward(x: NDArray): NDArray {
    return ops.reduceExtreme(this.op, x, this.axes, this.keepdims);
  }
  backward(gy: Variable): Variable {
    const x = this.inputs[0];
    const keptShape = reducedShape(x.shape, this.axes, true);
    const y = this.output().array.reshape(keptShape);
    let cond = ops.binary("eq", x.array, y);
    if (isFloat(x.dtype)) {
      // A NaN is the extreme of its row (NaN == NaN is false): the gradient goes to the NaNs.
      const xNan = ops.binary("ne", x.array, x.array);
      const yNan = ops.binary("ne", y, y);
      const both = ops.binary("mul", xNan, yNan);
      const withNan = ops.binary("add", cond, both);
      for (const t of [cond, xNan, yNan, both]) t.dispose();
      cond = withNan;
    }
    y.dispose();
    return mul(broadcastTo(reshape(gy, keptShape), x.shape), constant(cond));
  }
}

/**
 * Maximum over `axis` (all by default); the gradient flows to the maxima.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.max(tensor([[1, 5], [7, 2]]), 1).toArray()); // [5, 7]
 * ```
 */
export function max(x: Input, axis?: Axis, keepdims = false): Variable {
  const xv = v("max", x);
  return new Extreme("max", normAxes("max", axis, xv.ndim), keepdims).apply(xv);
}

/**
 * Minimum over `axis` (all by default).
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.min(tensor([3, 1, 2])).item()); // 1
 * ```
 */
export function min(x: Input, axis?: Axis, keepdims = false): Variable {
  const xv = v("min", x);
  return new Extreme("min", normAxes("min", axis, xv.ndim), keepdims).apply(xv);
}

/**
 * `log(sum(exp(x), axis))`, computed stably (the max is subtracted first).
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(await F.logsumexp(tensor([1000, 1000])).item()); // 1000.6931...
 * ```
 */
export function logsumexp(x: Input, axis: Axis = null, keepdims = false): Variable {
  const xv = v("logsumexp", x);
  const axes = normAxes("logsumexp", axis, xv.ndim);
  if (axes.some((a) => xv.shape[a] === 0)) {
    // An empty sum is 0, its log -Infinity (as SciPy and PyTorch); there is no max to shift by.
    const y = log(sum(exp(xv), axes, true));
    return keepdims ? y : reshape(y, reducedShape(xv.shape, axes, false));
  }
  // The shift is a constant: the result does not depend on it, so no gradient flows through it.
  // An infinite max shifts by 0 instead (as SciPy), so a row of -Infinity gives -Infinity, not NaN.
  const max = ops.reduceExtreme("max", xv.array, axes, true);
  const absMax = ops.unary("abs", max);
  const finite = ops.binary("lt", absMax, Infinity);
  const m = constant(ops.where(finite, max, 0));
  for (const a of [max, absMax, finite]) a.dispose();
  const s = log(sum(exp(sub(xv, m)), axes, true));
  const y = add(s, m);
  return keepdims ? y : reshape(y, reducedShape(xv.shape, axes, false));
}

// ------------------------------------------------------------ matmul

class MatMul extends Function {
  constructor(readonly transA = false, readonly transB = false) {
    super();
  }
  forward(a: NDArray, b: NDArray): NDArray {
    return ops.matmul(a, b, { transA: this.transA, transB: this.transB });
  }
  backward(gy: Variable): (Variable | null)[] {
    const [a, b] = this.inputs;
    const { transA, transB } = this;
    let ga: Variable | null = null;
    let gb: Variable | null = null;
    if (this.needsInputGrad(0)) {
      ga = transA ? matmulT(b, gy, transB, true) : matmulT(gy, b, false, !transB);
      ga = unbroadcast(ga, a.shape);
    }
    if (this.needsInputGrad(1)) {
      gb = transB ? matmulT(gy, a, true, transA) : matmulT(a, gy, !transA, false);
      gb = unbroadcast(gb, b.shape);
    }
    return [ga, gb];
  }
}

function matmulT(a: Variable, b: Variable, transA: boolean, transB: boolean): Variable {
  return new MatMul(transA, transB).apply(a, b);
}

/**
 * Matrix product with NumPy's rules: batched over leading axes (which
 * broadcast); 1-D operands are promoted and the added axis removed.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * const y = F.matmul(tensor([[1, 2]]), tensor([[3], [4]]));
 * console.log(await y.toArray()); // [[11]]
 * ```
 */
export function matmul(a: Input, b: Input): Variable {
  let av = v("matmul", a);
  let bv = v("matmul", b, av);
  if (av.ndim === 0 || bv.ndim === 0) {
    throw new TypeError(
      `matmul: operands must have rank ≥ 1, got shapes ${fmtShape(av.shape)} and ${
        fmtShape(bv.shape)
      }`,
    );
  }
  // Checked here, on the shapes the caller passed (1-D operands are reshaped below).
  const ka = av.shape[av.ndim - 1];
  const kb = bv.shape[bv.ndim === 1 ? 0 : bv.ndim - 2];
  if (ka !== kb) {
    throw new TypeError(
      `matmul: shapes ${fmtShape(av.shape)} and ${
        fmtShape(bv.shape)
      } are not aligned: ${ka} vs ${kb}`,
    );
  }
  const a1 = av.ndim === 1;
  const b1 = bv.ndim === 1;
  if (a1) av = reshape(av, [1, av.shape[0]]);
  if (b1) bv = reshape(bv, [bv.shape[0], 1]);
  let y = matmulT(av, bv, false, false);
  if (a1 || b1) {
    const s = [...y.shape];
    if (b1) s.pop();
    if (a1) s.splice(s.length - (b1 ? 1 : 2), 1);
    y = reshape(y, s);
  }
  return y;
}

/**
 * `x @ W + b`, the affine map of a linear layer (`W: [in, out]`).
 *
 * @example
 * ```ts
 * import { F, ones, tensor } from "../mod.ts";
 * const y = F.linear(tensor([[1, 2]]), ones([2, 3]), tensor([0, 1, 2]));
 * console.log(await y.toArray()); // [[3, 4, 5]]
 * ```
 */
export function linear(x: Input, W: Input, b: Input | null = null): Variable {
  const y = matmul(x, W);
  return b === null ? y : add(y, b);
}

// ------------------------------------------------------------ indexing

class GetItem extends Function {
  #indexer: Indexer | null = null;
  constructor(readonly index: Index, indexer?: Indexer) {
    super();
    this.#indexer = indexer ?? null;
  }
  get indexer(): Indexer {
    return this.#indexer!;
  }
  forward(x: NDArray): NDArray {
    this.#indexer ??= Indexer.parse(this.index, x);
    if (this.#indexer.linear) this.save(this.#indexer.linear);
    return this.#indexer.apply(x);
  }
  backward(gy: Variable): Variable {
    return new GetItemGrad(this.indexer.share()).apply(gy);
  }
}

class GetItemGrad extends Function {
  constructor(readonly indexer: Indexer) {
    super();
  }
  forward(gy: NDArray): NDArray {
    if (this.indexer.linear) this.save(this.indexer.linear);
    return this.indexer.applyAdjoint(gy);
  }
  backward(ggx: Variable): Variable {
    return new GetItem(null, this.indexer.share()).apply(ggx);
  }
}

/**
 * NumPy-style indexing: integers, slices (`slice(start, stop, step)` or
 * `{ start, stop, step }`, negative values count from the end), `null` for a
 * new axis, `"..."`, and integer arrays (a Variable/Int32Array, or a nested
 * list such as `[[0, 2]]`). The top-level list holds one item per axis. The
 * backward is a scatter-add, differentiable again.
 *
 * @example
 * ```ts
 * import { F, slice, tensor } from "../mod.ts";
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * console.log(await F.getItem(x, 1).toArray()); // [4, 5, 6]
 * console.log(await F.getItem(x, [":", slice(null, null, -1)]).toArray()); // [[3, 2, 1], [6, 5, 4]]
 * console.log(await F.getItem(x, [[0, 1, 1], [2, 0, 2]]).toArray()); // [3, 4, 6]
 * ```
 */
export function getItem(x: Input, index: Index): Variable {
  return new GetItem(index).apply(v("getItem", x));
}

// ------------------------------------------------------------ joining

class Concat extends Function {
  constructor(readonly axis: number) {
    super();
  }
  forward(...xs: NDArray[]): NDArray {
    return ops.concat(xs, this.axis);
  }
  backward(gy: Variable): Variable[] {
    const out: Variable[] = [];
    let start = 0;
    for (const x of this.inputs) {
      const n = x.shape[this.axis];
      const index = gy.shape.map((_, i) =>
        i === this.axis ? { start, stop: start + n } : ":" as const
      );
      out.push(getItem(gy, index));
      start += n;
    }
    return out;
  }
}

/**
 * Joins variables along an existing axis.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(F.concat([tensor([[1, 2]]), tensor([[3, 4]])], 0).shape); // [2, 2]
 * ```
 */
export function concat(xs: readonly Input[], axis = 0): Variable {
  if (xs.length === 0) throw new TypeError("concat: expected at least one variable");
  const vs = xs.map((x) => v("concat", x));
  const ax = normAxis("concat", axis, vs[0].ndim);
  return new Concat(ax).apply(...vs);
}

/**
 * Stacks variables of one shape along a new axis.
 *
 * @example
 * ```ts
 * import { F, tensor } from "../mod.ts";
 * console.log(F.stack([tensor([1, 2]), tensor([3, 4])], 1).shape); // [2, 2]
 * ```
 */
export function stack(xs: readonly Input[], axis = 0): Variable {
  if (xs.length === 0) throw new TypeError("stack: expected at least one variable");
  const vs = xs.map((x) => v("stack", x));
  for (const x of vs) {
    if (!shapesEqual(x.shape, vs[0].shape)) {
      throw new TypeError(
        `stack: all inputs must have one shape, got ${fmtShape(vs[0].shape)} and ${
          fmtShape(x.shape)
        }`,
      );
    }
  }
  const ax = normAxis("stack", axis, vs[0].ndim + 1);
  return concat(vs.map((x) => expandDims(x, ax)), ax);
}

installFunctions({
  add,
  sub,
  mul,
  div,
  neg,
  pow,
  sin,
  cos,
  tanh,
  exp,
  log,
  sqrt,
  abs,
  clip,
  astype,
  reshape,
  transpose,
  expandDims,
  flatten,
  broadcastTo,
  sumTo,
  sum,
  mean,
  max,
  min,
  logsumexp,
  matmul,
  linear,
  getItem,
  concat,
  stack,
});
