/**
 * The neural-network functions of DeZero's stages 4 and 5: activations,
 * losses, normalization, dropout, embeddings, convolution and pooling.
 *
 * Most are compositions of the core functions and need no backward of their
 * own. The few Functions defined here (elementwise kernels, softmax, the
 * gather/scatter and im2col/col2im pairs) write their backward in Variable
 * ops, so every function is differentiable again (DeZero's `create_graph`).
 *
 * @module
 */
import "../core/backend_cpu.ts"; // the CPU backend registers itself
import type { Backend } from "../core/backend.ts";
import { Config } from "../core/config.ts";
import type { DType } from "../core/dtype.ts";
import { NDArray, withScope } from "../core/ndarray.ts";
import * as ops from "../core/ops.ts";
import { fusedKernels } from "./_fused.ts";
import {
  checkArg,
  checkOptions,
  checkPair,
  checkRange,
  isPlainObject,
  type OptionKind,
} from "./_options.ts";
import { Generator } from "../core/random.ts";
import { broadcastShapes, fmtShape, normAxis, sizeOf } from "../core/shape.ts";
import { describeValue, poolOut } from "../core/_validate.ts";
import {
  asVariable,
  Function,
  installNnFunctions,
  type NestedArray,
  type Operand,
  rand,
  stepResult,
  Variable,
} from "../core/variable.ts";

// ------------------------------------------------------------ helpers

function v(x: Operand): Variable {
  return asVariable(x);
}

/**
 * Throws unless the named Variables (nulls skipped) share one device, naming the first two
 * that differ (an inner op's error would name the op, not the caller's arguments).
 */
function sameDevice(op: string, named: Record<string, Variable | null | undefined>): void {
  let first: [string, Variable] | null = null;
  for (const [name, x] of Object.entries(named)) {
    if (!x) continue;
    if (first === null) first = [name, x];
    else if (x.device !== first[1].device) {
      throw new TypeError(
        `${op}: ${first[0]} is on the ${
          first[1].device
        } and ${name} on the ${x.device}; move one with toGpu() or toCpu() (toCpu() is async: await it, as in await model.toCpu())`,
      );
    }
  }
}

function constant(a: NDArray): Variable {
  return new Variable(a);
}

/**
 * `x * c` or `x + c` with a constant array `c` (a dropout mask, a padding
 * penalty, running statistics) that broadcasts to `x`'s shape. The constant is
 * held by the Function and released with the graph; it never gets a gradient.
 */
class ConstantOp extends Function {
  constructor(readonly op: "mul" | "add", readonly c: NDArray) {
    super();
  }
  forward(x: NDArray): NDArray {
    this.save(this.c);
    return ops.binary(this.op, x, this.c);
  }
  backward(gy: Variable): Variable {
    return this.op === "add" ? gy : gy.mul(this.c);
  }
}

/** Applies `x op c` (taking ownership of `c`). */
function constantOp(op: "mul" | "add", x: Variable, c: NDArray): Variable {
  ops.assertSameDevice(op, [x.array, c]);
  const shape = broadcastShapes(op, x.shape, c.shape);
  if (fmtShape(shape) !== fmtShape(x.shape)) {
    c.dispose();
    throw new TypeError(
      `${op}: constant ${fmtShape(c.shape)} would broadcast ${fmtShape(x.shape)}`,
    );
  }
  return new ConstantOp(op, c).apply(x);
}

/** `x * k` for a number `k`, without a constant leaf in the graph. */
function scale(x: Variable, k: number): Variable {
  return constantOp("mul", x, ops.scalar(x.array, k));
}

/** `x + k` for a number `k`, without a constant leaf in the graph. */
function shift(x: Variable, k: number): Variable {
  return constantOp("add", x, ops.scalar(x.array, k));
}

/** The mean over `axes` (kept), without a constant leaf in the graph. */
function meanOver(x: Variable, axes: number[]): Variable {
  const count = axes.reduce((n, a) => n * x.shape[a], 1);
  return constantOp("mul", x.sum(axes, true), ops.scalar(x.array, 1 / count));
}

/** Runs array code, disposing its temporaries: only the returned array survives. */
function arrays(fn: () => NDArray): NDArray {
  return withScope(fn, (r) => [r]);
}

/**
 * `x` as floats: int32 becomes float32 (NumPy's true division, PyTorch's
 * float losses), so that a loss or an average never truncates.
 */
function floating(x: Variable): Variable {
  return x.dtype === "int32" ? x.astype("float32") : x;
}

function assertFloat(op: string, x: Variable): void {
  if (x.dtype === "int32") {
    throw new TypeError(`${op}: expected a float tensor, got int32 of shape ${fmtShape(x.shape)}`);
  }
}

/** A pair from a number or a pair (kernel sizes, strides, paddings). */
export type Pair = number | readonly [number, number];

/**
 * The options of function `op`, whose parameters are `params` with the options
 * last, called with `given` arguments: a plain object (or undefined) with the
 * keys of `spec`, each of its kind (see {@linkcode checkOptions}), and no
 * arguments after it. Plain JavaScript does not type-check, so DeZero's
 * positional `conv2d(x, W, b, 1, 1)` or PyTorch's `{ padding: 1 }` would
 * otherwise be ignored silently. `example` shows the options form.
 */
function fnOptions<T extends object>(
  op: string,
  given: number,
  params: readonly string[],
  options: unknown,
  spec: Record<string, OptionKind>,
  example: string,
): T {
  const checked = checkOptions<T>(op, options, spec, example, params[params.length - 2]);
  if (given > params.length) {
    throw new TypeError(
      `${op}: takes at most ${params.length} arguments (${params.join(", ")}), got ${given}: ` +
        `pass the options as one object such as ${example}`,
    );
  }
  return checked;
}

/**
 * Checks the `stride` and `pad` options (when given) ahead of {@linkcode fnOptions}, whose
 * kind "pair" would allow a stride of 0 and call a negative pad a wrong type.
 */
function checkStridePad(op: string, options: unknown): void {
  if (!isPlainObject(options)) return;
  if (options.stride !== undefined) checkPair(op, 'option "stride"', options.stride, 1);
  if (options.pad !== undefined) checkPair(op, 'option "pad"', options.pad, 0);
}

/** Output size of a convolution along one axis. */
export function convOutSize(size: number, kernel: number, stride: number, pad: number): number {
  return Math.floor((size + 2 * pad - kernel) / stride) + 1;
}

/** Input size of a transposed convolution along one axis (the inverse of {@linkcode convOutSize}). */
export function deconvOutSize(size: number, kernel: number, stride: number, pad: number): number {
  return stride * (size - 1) + kernel - 2 * pad;
}

// ------------------------------------------------------------ activations

/** The logistic sigmoid as a Function (see {@linkcode sigmoid}). */
export class Sigmoid extends Function {
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.unary("sigmoid", x);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    // Recomputed from the input rather than kept from the output, so that the
    // gradient stays a function of x (differentiable again).
    const y = sigmoid(this.inputs[0]);
    return gy.mul(y).mul(y.rsub(1));
  }
}

/**
 * The logistic function `1 / (1 + exp(-x))`.
 *
 * @example
 * ```ts
 * import { sigmoid } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * console.log(await sigmoid(tensor([0])).toArray()); // [0.5]
 * ```
 */
export function sigmoid(x: Operand): Variable {
  return new Sigmoid().apply(v(x));
}

/** `max(x, 0)` as a Function (see {@linkcode relu}). */
export class ReLU extends Function {
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    return ops.unary("relu", x);
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    // The mask is a constant: relu's second derivative is zero almost everywhere.
    return gy.mul(this.inputs[0].gt(0));
  }
}

/**
 * `max(x, 0)`.
 *
 * @example
 * ```ts
 * import { relu } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * console.log(await relu(tensor([-1, 2])).toArray()); // [0, 2]
 * ```
 */
export function relu(x: Operand): Variable {
  return new ReLU().apply(v(x));
}

/** Leaky ReLU as a Function (see {@linkcode leakyRelu}). */
export class LeakyReLU extends Function {
  /** Negative inputs are multiplied by `slope` (default 0.2, as {@linkcode leakyRelu}). */
  constructor(readonly slope = 0.2) {
    super();
  }
  /** The values, on backend arrays. */
  forward(x: NDArray): NDArray {
    const pos = ops.binary("gt", x, 0);
    return ops.where(pos, x, ops.mul(x, this.slope));
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable {
    const x = this.inputs[0].array;
    // 1 where x > 0, slope elsewhere: a constant, as for relu.
    return gy.mul(
      constant(arrays(() => ops.add(ops.mul(ops.binary("gt", x, 0), 1 - this.slope), this.slope))),
    );
  }
}

/**
 * `x` where positive, `slope * x` elsewhere (DeZero's default slope 0.2).
 *
 * @example
 * ```ts
 * import { leakyRelu } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * console.log(await leakyRelu(tensor([-1, 2])).toArray()); // [-0.2, 2] (float32)
 * ```
 */
export function leakyRelu(x: Operand, slope = 0.2): Variable {
  if (typeof slope !== "number" || !Number.isFinite(slope)) {
    throw new TypeError(`leakyRelu: slope must be a finite number, got ${describeValue(slope)}`);
  }
  return new LeakyReLU(slope).apply(v(x));
}

class Erf extends Function {
  forward(x: NDArray): NDArray {
    return ops.unary("erf", x);
  }
  backward(gy: Variable): Variable {
    const x = this.inputs[0];
    return gy.mul(x.mul(x).neg().exp().mul(2 / Math.sqrt(Math.PI)));
  }
}

/**
 * The error function (a primitive of the backends).
 *
 * @example
 * ```ts
 * import { erf } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * console.log(await erf(tensor([0])).toArray()); // [0]
 * ```
 */
export function erf(x: Operand): Variable {
  return new Erf().apply(v(x));
}

/**
 * The Gaussian error linear unit `x · Φ(x) = x/2 · (1 + erf(x/√2))` (PyTorch's exact form).
 *
 * @example
 * ```ts
 * import { gelu } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * const y = gelu(tensor([-1, 0, 1]));
 * ```
 */
export function gelu(x: Operand): Variable {
  const xv = v(x);
  return scale(xv, 0.5).mul(shift(erf(scale(xv, Math.SQRT1_2)), 1));
}

// ------------------------------------------------------------ softmax

/** Softmax in backend primitives: the reference for the fused kernel. */
function softmaxArray(x: NDArray, axis: number): NDArray {
  const m = ops.reduceExtreme("max", x, axis, true);
  const e = ops.unary("exp", ops.sub(x, m));
  return ops.div(e, ops.sum(e, axis, true));
}

/** Log-softmax in backend primitives: `x - max - log(sum(exp(x - max)))`. */
function logSoftmaxArray(x: NDArray, axis: number): NDArray {
  const m = ops.reduceExtreme("max", x, axis, true);
  const xc = ops.sub(x, m);
  const lse = ops.unary("log", ops.sum(ops.unary("exp", xc), axis, true));
  return ops.sub(xc, lse);
}

function fused(b: Backend, name: "softmax" | "logSoftmax"): boolean {
  return fusedKernels.enabled && typeof b[name] === "function";
}

class Softmax extends Function {
  constructor(readonly axis: number) {
    super();
  }
  forward(x: NDArray): NDArray {
    if (fused(x.backend, "softmax")) return x.backend.softmax!(x, this.axis);
    return softmaxArray(x, this.axis);
  }
  backward(gy: Variable): Variable {
    const y = softmax(this.inputs[0], this.axis);
    const gx = y.mul(gy);
    return gx.sub(y.mul(gx.sum(this.axis, true)));
  }
}

class LogSoftmax extends Function {
  constructor(readonly axis: number) {
    super();
  }
  forward(x: NDArray): NDArray {
    if (fused(x.backend, "logSoftmax")) return x.backend.logSoftmax!(x, this.axis);
    return logSoftmaxArray(x, this.axis);
  }
  backward(gy: Variable): Variable {
    const y = softmax(this.inputs[0], this.axis);
    return gy.sub(y.mul(gy.sum(this.axis, true)));
  }
}

/**
 * `exp(x) / sum(exp(x))` along `axis` (1 by default, as in DeZero), computed stably.
 *
 * @example
 * ```ts
 * import { softmax } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * console.log(await softmax(tensor([[0, 0]])).toArray()); // [[0.5, 0.5]]
 * ```
 */
export function softmax(x: Operand, axis = 1): Variable {
  const xv = v(x);
  assertFloat("softmax", xv);
  return new Softmax(normAxis("softmax", axis, xv.ndim)).apply(xv);
}

/**
 * `log(softmax(x))` along `axis` (1 by default), computed stably.
 *
 * @example
 * ```ts
 * import { logSoftmax } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * const y = logSoftmax(tensor([[1, 2, 3]]));
 * ```
 */
export function logSoftmax(x: Operand, axis = 1): Variable {
  const xv = v(x);
  assertFloat("logSoftmax", xv);
  return new LogSoftmax(normAxis("logSoftmax", axis, xv.ndim)).apply(xv);
}

// ------------------------------------------------------------ losses

/**
 * `sum((x0 - x1)²) / len(x0)`, as in DeZero (the sum over every axis divided by the batch size).
 *
 * @example
 * ```ts
 * import { meanSquaredError } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * console.log(await meanSquaredError(tensor([1, 2]), tensor([1, 4])).item()); // 2
 * ```
 */
export function meanSquaredError(x0: Operand, x1: Operand): Variable {
  const a = v(x0);
  const b = x1 instanceof Variable ? x1 : asVariable(x1, a);
  if (fmtShape(a.shape) !== fmtShape(b.shape)) {
    throw new TypeError(
      `meanSquaredError: shapes ${fmtShape(a.shape)} and ${fmtShape(b.shape)} differ`,
    );
  }
  // int32 inputs give a float32 loss: the division by the batch size must not truncate.
  return new MeanSquaredError().apply(floating(a), floating(b));
}

/**
 * A Function (as DeZero's) rather than a composition so that training loops
 * hold no constant operands: only the inputs are kept for backward.
 */
/** The mean squared error as a Function (see {@linkcode meanSquaredError}). */
export class MeanSquaredError extends Function {
  /** The values, on backend arrays. */
  forward(x0: NDArray, x1: NDArray): NDArray {
    const diff = ops.sub(x0, x1);
    return ops.div(ops.sum(ops.mul(diff, diff)), batchSize(x0));
  }
  /** The input gradients, from the output gradient `gy`. */
  backward(gy: Variable): Variable[] {
    const [x0, x1] = this.inputs;
    const gx0 = x0.sub(x1).mul(gy.mul(2 / batchSize(x0.array)));
    return [gx0, gx0.neg()];
  }
}

function batchSize(x: NDArray): number {
  return x.ndim === 0 ? 1 : x.shape[0];
}

/**
 * Integer class labels (or embedding ids): an int32 tensor on the device of the
 * scores, or host integers (a number, nested arrays or a TypedArray, as DeZero's
 * NumPy arrays), which are checked at once and moved to the scores' device.
 *
 * @example
 * ```ts
 * import { accuracy, type Labels } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * const y = tensor([[0.9, 0.1], [0.2, 0.8]]);
 * for (const t of [[0, 1], new Uint8Array([0, 1]), tensor([0, 1], { dtype: "int32" })] as Labels[]) {
 *   console.log(await accuracy(y, t).item()); // 1
 * }
 * ```
 */
export type Labels = Variable | NDArray | NestedArray | ArrayLike<number>;

/** What a label counts: `label … for 3 classes`, `id … for 3 rows`. */
type LabelNoun = readonly [one: string, count: string];

/** How labels are checked: against `count` classes, and optionally their number. */
interface LabelSpec {
  /** Labels must lie in `[0, count)`. */
  count: number;
  /** Nouns of the range error (`label`, `classes` by default). */
  noun?: LabelNoun;
  /** The number of labels expected, and what they label (for the error). */
  size?: { n: number; of: string };
}

/**
 * Labels as a new int32 handle on the device of `like` (the caller owns it),
 * their number checked first, then each value against `[0, count)`: host
 * values and CPU arrays now, GPU arrays at the next readback (see
 * {@linkcode checkLabels}).
 */
function labelsArray(op: string, t: Labels, like: Variable, spec: LabelSpec): NDArray {
  const { count, noun = ["label", "classes"], size } = spec;
  const checkSize = (shape: readonly number[]) => {
    const n = sizeOf(shape);
    if (size && n !== size.n) {
      throw new TypeError(`${op}: ${n} labels of shape ${fmtShape(shape)} for ${size.of}`);
    }
  };
  if (t instanceof Variable || t instanceof NDArray) {
    const arr = t instanceof Variable ? t.array : t;
    ops.assertSameDevice(op, [like.array, arr]);
    if (arr.dtype !== "int32") {
      throw new TypeError(`${op}: labels must be int32, got ${arr.dtype}`);
    }
    checkSize(arr.shape);
    checkLabels(op, arr, count, noun);
    return arr.share();
  }
  const { values, shape } = hostLabels(op, t);
  checkSize(shape);
  checkLabelRange(op, values, count, noun);
  return like.array.backend.fromTyped(Int32Array.from(values), shape);
}

/** The values and shape of host labels, which must be integers. */
function hostLabels(op: string, t: unknown): { values: number[]; shape: number[] } {
  let values: unknown[];
  let shape: number[];
  if (typeof t === "number") {
    values = [t];
    shape = [];
  } else if (Array.isArray(t)) {
    shape = [];
    for (let d: unknown = t; Array.isArray(d); d = d[0]) shape.push(d.length);
    values = [];
    const walk = (d: unknown, depth: number): void => {
      if (depth === shape.length) {
        if (Array.isArray(d)) ragged(op, shape);
        values.push(d);
        return;
      }
      if (!Array.isArray(d) || d.length !== shape[depth]) ragged(op, shape);
      for (const e of d as unknown[]) walk(e, depth + 1);
    };
    walk(t, 0);
  } else if (
    typeof t === "object" && t !== null && !(t instanceof DataView) &&
    typeof (t as ArrayLike<unknown>).length === "number"
  ) {
    // A TypedArray of any integer type (MNIST's labels are bytes), or another array-like.
    values = Array.from(t as ArrayLike<unknown>);
    shape = [values.length];
  } else {
    const got = t === null
      ? "null"
      : typeof t === "object"
      ? t.constructor?.name ?? "an object"
      : typeof t;
    throw new TypeError(
      `${op}: labels must be an int32 tensor, an array or a TypedArray of integers, got ${got}`,
    );
  }
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (typeof x !== "number" || !Number.isInteger(x)) {
      const shown = typeof x === "number" ? String(x) : typeof x === "bigint" ? `${x}n` : typeof x;
      throw new TypeError(`${op}: labels must be integers, got ${shown} at index ${i}`);
    }
  }
  return { values: values as number[], shape };
}

function ragged(op: string, shape: readonly number[]): never {
  throw new TypeError(
    `${op}: labels are a ragged array: expected the shape ${fmtShape(shape)} of its first elements`,
  );
}

/** Throws a RangeError naming the op and the first label outside `[0, count)`. */
function checkLabelRange(op: string, d: ArrayLike<number>, count: number, noun: LabelNoun): void {
  for (let i = 0; i < d.length; i++) {
    if (d[i] < 0 || d[i] >= count) {
      throw new RangeError(
        `${op}: ${noun[0]} ${d[i]} at index ${i} is out of range for ${count} ${noun[1]}`,
      );
    }
  }
}

/**
 * Throws a RangeError naming the op when a label is outside `[0, count)`. On
 * the CPU the labels are checked now. A GPU array cannot be read back here: a
 * gather over `0..count-1` records an index out of range, and the next
 * readback throws; negative labels are out of range there too (no wrap-around).
 */
function checkLabels(op: string, t: NDArray, count: number, noun: LabelNoun): void {
  const read = t.backend.readSync;
  if (read) {
    checkLabelRange(op, read.call(t.backend, t), count, noun);
    return;
  }
  withScope(() => {
    const range = t.backend.full([count], 0, "int32");
    t.backend.gather(range, 0, t.reshape([t.size]), op, "error");
  }, () => []);
}

/** A one-hot float matrix `[N, C]` from int32 labels `[N]` (checked already). */
function oneHot(t: NDArray, classes: number, dtype: DType): NDArray {
  return arrays(() => {
    const range = new Int32Array(classes);
    for (let i = 0; i < classes; i++) range[i] = i;
    const cols = t.backend.fromTyped(range, [1, classes]);
    return ops.cast(ops.binary("eq", t.reshape([t.size, 1]), cols), dtype);
  });
}

/**
 * The mean cross entropy of `softmax(x)` (`x: [N, C]` scores) against integer labels `t: [N]`.
 *
 * @example
 * ```ts
 * import { softmaxCrossEntropy } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * const loss = softmaxCrossEntropy(tensor([[2, 0], [0, 2]]), tensor([0, 1], { dtype: "int32" }));
 * ```
 */
export function softmaxCrossEntropy(x: Operand, t: Labels): Variable {
  const xv = floating(v(x));
  if (xv.ndim !== 2) {
    throw new TypeError(
      `softmaxCrossEntropy: expected scores of shape [N, C], got ${fmtShape(xv.shape)}`,
    );
  }
  const [n, c] = xv.shape;
  const labels = labelsArray("softmaxCrossEntropy", t, xv, {
    count: c,
    size: { n, of: `${n} rows` },
  });
  // The labels are an input of the graph (needing no gradient), so that backward() reaches
  // them: a per-step batch of labels (t.getItem(...)) is then freed as any per-step value.
  if (t instanceof Variable) {
    labels.dispose();
    return new SoftmaxCrossEntropy().apply(xv, t);
  }
  return new SoftmaxCrossEntropy().apply(xv, labels);
}

/**
 * DeZero's SoftmaxCrossEntropy: the loss from the (fused) log-softmax at each
 * row's target, and the gradient `(softmax(x) - onehot(t)) / N`, written in
 * Variable ops so it is differentiable again. The one-hot matrix is saved with
 * the graph and released with it.
 */
class SoftmaxCrossEntropy extends Function {
  #onehot: NDArray | null = null;
  forward(x: NDArray, labels: NDArray): NDArray {
    const [n, c] = x.shape;
    const onehot = this.save(oneHot(labels, c, x.dtype));
    this.#onehot = onehot;
    const logp = fused(x.backend, "logSoftmax")
      ? x.backend.logSoftmax!(x, 1)
      : logSoftmaxArray(x, 1);
    // Select the target column rather than multiply by the one-hot matrix: a
    // masked class (a -Infinity logit) has logp = -Infinity, and -Infinity · 0 is NaN.
    return ops.div(ops.sum(ops.where(onehot, logp, 0)), -n);
  }
  backward(gy: Variable): [Variable, null] {
    const x = this.inputs[0];
    const y = softmax(x, 1).sub(this.#onehot!);
    return [y.mul(gy.div(x.shape[0])), null];
  }
}

/**
 * Binary targets as a Variable of `x`'s dtype and device: a number, or an array of `x`'s
 * shape (no silent broadcast of `[N]` targets against `[N, 1]` inputs into `[N, N]`).
 */
function binaryTargets(op: string, t: Operand, x: Variable): Variable {
  if (typeof t === "number") return asVariable(t, x);
  const tv = v(t);
  sameDevice(op, { input: x, targets: tv });
  if (tv.ndim !== 0 && fmtShape(tv.shape) !== fmtShape(x.shape)) {
    throw new TypeError(
      `${op}: targets ${fmtShape(tv.shape)} must have the shape of the input ${fmtShape(x.shape)}`,
    );
  }
  return tv.dtype === x.dtype ? tv : tv.astype(x.dtype);
}

/**
 * The mean binary cross entropy of `sigmoid(x)` against targets `t` (0 or 1),
 * in the stable form `max(x, 0) - x·t + log(1 + exp(-|x|))`, summed and divided by `len(x)`.
 *
 * @example
 * ```ts
 * import { sigmoidCrossEntropy } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * const loss = sigmoidCrossEntropy(tensor([[3], [-2]]), tensor([[1], [0]]));
 * ```
 */
export function sigmoidCrossEntropy(x: Operand, t: Operand): Variable {
  const xv = floating(v(x));
  const tv = binaryTargets("sigmoidCrossEntropy", t, xv);
  const loss = relu(xv).sub(xv.mul(tv)).add(shift(xv.abs().neg().exp(), 1).log());
  return scale(loss.sum(), 1 / (xv.ndim === 0 ? 1 : xv.length));
}

/**
 * The mean binary cross entropy of probabilities `p` against targets `t`,
 * `-(t·log p + (1-t)·log(1-p))` summed and divided by `len(p)`; `p` is clipped to
 * `[eps, 1 - eps]` as in DeZero.
 *
 * @example
 * ```ts
 * import { binaryCrossEntropy } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * const loss = binaryCrossEntropy(tensor([0.9, 0.2]), tensor([1, 0]));
 * ```
 */
export function binaryCrossEntropy(
  p: Operand,
  t: Operand,
  options: { eps?: number } = {},
): Variable {
  const { eps = 1e-7 } = fnOptions<{ eps?: number }>(
    "binaryCrossEntropy",
    arguments.length,
    ["p", "t", "options"],
    options,
    { eps: "number" },
    "{ eps: 1e-7 }",
  );
  checkRange(
    "binaryCrossEntropy",
    'option "eps"',
    eps,
    eps >= 0 && eps <= 0.5,
    "in [0, 0.5]",
  );
  const pv = floating(v(p)).clip(eps, 1 - eps);
  const tv = binaryTargets("binaryCrossEntropy", t, pv);
  // t·log p + (1 - t)·log(1 - p)
  const oneMinus = (a: Variable) => shift(scale(a, -1), 1);
  const ll = tv.mul(pv.log()).add(oneMinus(tv).mul(oneMinus(pv).log()));
  return scale(ll.sum(), -1 / (pv.ndim === 0 ? 1 : pv.length));
}

/**
 * The fraction of rows of `y: [N, C]` whose argmax equals the label in `t: [N]`
 * (a Variable holding one float; not differentiable).
 *
 * @example
 * ```ts
 * import { accuracy } from "./functions.ts";
 * import { tensor } from "../mod.ts";
 * const acc = accuracy(tensor([[0.9, 0.1], [0.2, 0.8]]), tensor([0, 0], { dtype: "int32" }));
 * console.log(await acc.item()); // 0.5
 * ```
 */
export function accuracy(y: Operand, t: Labels): Variable {
  const yv = v(y);
  if (yv.ndim < 2) {
    throw new TypeError(`accuracy: expected scores of shape [N, C], got ${fmtShape(yv.shape)}`);
  }
  const out = arrays(() => {
    const labels = labelsArray("accuracy", t, yv, {
      count: yv.shape[1],
      size: {
        n: sizeOf([yv.shape[0], ...yv.shape.slice(2)]),
        of: `predictions of shape ${fmtShape(yv.shape)}`,
      },
    });
    const pred = ops.argmax(yv.array, 1);
    const hit = ops.binary("eq", pred, labels.reshape(pred.shape));
    return ops.div(ops.sum(ops.cast(hit, "float32")), pred.size);
  });
  // Freed by the third backward() after it when y is a training step's output.
  return stepResult(new Variable(out), yv);
}

// ------------------------------------------------------------ regularization

/** Options of {@linkcode dropout}. */
export interface DropoutOptions {
  /** The generator of the mask (the default one, seeded by `manualSeed`, otherwise). */
  generator?: Generator;
}

/**
 * Inverted dropout: in training (`Config.train`) zeroes each element with
 * probability `ratio` (a number in `[0, 1)`, 0.5 by default) and scales the
 * rest by `1 / (1 - ratio)`; the identity in test mode. The generator of the
 * mask goes in the options: `dropout(x, 0.5, { generator })`.
 *
 * @example
 * ```ts
 * import { dropout } from "./functions.ts";
 * import { ones, testMode } from "../mod.ts";
 * const y = testMode(() => dropout(ones([4]), 0.5)); // unchanged
 * ```
 */
export function dropout(x: Operand, ratio = 0.5, options: DropoutOptions = {}): Variable {
  checkArg("dropout", "ratio", "number", ratio);
  checkRange("dropout", "ratio", ratio, ratio >= 0 && ratio < 1, "in [0, 1)");
  // No option kind is a Generator: the value is checked here, and checkOptions
  // sees the key only (a value of undefined is skipped there).
  const generator = isPlainObject(options) ? options.generator : undefined;
  if (generator !== undefined && !(generator instanceof Generator)) {
    throw new TypeError(
      `dropout: option "generator" must be a Generator, got ${describeValue(generator)}`,
    );
  }
  fnOptions(
    "dropout",
    arguments.length,
    ["x", "ratio", "options"],
    isPlainObject(options) ? { ...options, generator: undefined } : options,
    { generator: "function" },
    "{ generator: new Generator(0) }",
  );
  const xv = v(x);
  if (!Config.train || ratio === 0) return xv;
  const mask = arrays(() => {
    const u = rand(xv.shape, { device: xv.device, dtype: xv.dtype, generator });
    const keep = ops.binary("ge", u.array, ratio);
    u.dispose();
    return ops.mul(keep, 1 / (1 - ratio));
  });
  return constantOp("mul", xv, mask);
}

/** Options of {@linkcode batchNorm}. */
export interface BatchNormOptions {
  /** Weight of the old running statistics in their moving average (DeZero: 0.9). */
  decay?: number;
  /** Added to the variance (DeZero: 2e-5). */
  eps?: number;
}

/** The keys {@linkcode batchNorm} accepts. */
const BATCH_NORM_OPTIONS: Record<string, OptionKind> = {
  decay: "number",
  eps: "number",
};

function channelShape(x: Variable): number[] {
  const shape = new Array<number>(x.ndim).fill(1);
  shape[1] = x.shape[1];
  return shape;
}

/**
 * Batch normalization over `x: [N, C]` or `[N, C, H, W]` with per-channel
 * `gamma` and `beta` of shape `[C]`. In training it normalizes with the batch
 * statistics and updates `runningMean` / `runningVar` in place (a moving
 * average with `decay`, the variance unbiased); in test mode it uses them.
 * An empty batch in training has no statistics: a TypeError, the running ones unchanged.
 *
 * @example
 * ```ts
 * import { batchNorm } from "./functions.ts";
 * import { ones, randn, zeros } from "../mod.ts";
 * const mean = zeros([3]), variance = ones([3]);
 * const y = batchNorm(randn([8, 3]), ones([3]), zeros([3]), mean, variance);
 * ```
 */
export function batchNorm(
  x: Operand,
  gamma: Operand,
  beta: Operand,
  runningMean: Variable,
  runningVar: Variable,
  options: BatchNormOptions = {},
): Variable {
  const { decay = 0.9, eps = 2e-5 } = fnOptions<BatchNormOptions>(
    "batchNorm",
    arguments.length,
    ["x", "gamma", "beta", "runningMean", "runningVar", "options"],
    options,
    BATCH_NORM_OPTIONS,
    "{ decay: 0.9, eps: 2e-5 }",
  );
  checkRange("batchNorm", 'option "decay"', decay, decay >= 0 && decay <= 1, "in [0, 1]");
  checkRange("batchNorm", 'option "eps"', eps, eps >= 0, "≥ 0");
  const xv = floating(v(x));
  if (xv.ndim !== 2 && xv.ndim !== 4) {
    throw new TypeError(`batchNorm: expected [N, C] or [N, C, H, W], got ${fmtShape(xv.shape)}`);
  }
  const c = xv.shape[1];
  for (const [name, p] of [["runningMean", runningMean], ["runningVar", runningVar]] as const) {
    if (p.size !== c) {
      throw new TypeError(
        `batchNorm: ${name} of shape ${fmtShape(p.shape)} does not match ${c} channels of ${
          fmtShape(xv.shape)
        }`,
      );
    }
  }
  const gv = v(gamma), bv = v(beta);
  for (const [name, p] of [["gamma", gv], ["beta", bv]] as const) {
    if (p.ndim !== 1 || p.size !== c) {
      throw new TypeError(
        `batchNorm: ${name} of shape ${fmtShape(p.shape)} does not match ${c} channels of ${
          fmtShape(xv.shape)
        }: expected [${c}]`,
      );
    }
  }
  sameDevice("batchNorm", { x: xv, gamma: gv, beta: bv, runningMean, runningVar });
  const cs = channelShape(xv);
  const axes = xv.ndim === 2 ? [0] : [0, 2, 3];
  const g = gv.reshape(cs);
  const b = bv.reshape(cs);
  if (!Config.train) {
    const mean = runningMean.array.reshape(cs);
    const std = arrays(() => ops.unary("sqrt", ops.add(runningVar.array.reshape(cs), eps)));
    // (x - mean) / std = x * (1 / std) + (-mean / std), both constants.
    const scale = arrays(() => ops.div(1, std));
    const shift = arrays(() => ops.div(ops.unary("neg", mean), std));
    std.dispose();
    mean.dispose();
    return constantOp("add", constantOp("mul", xv, scale), shift).mul(g).add(b);
  }
  if (xv.size === 0 && c > 0) {
    // The mean of no values is NaN, which would stay in the running statistics for good.
    throw new TypeError(
      `batchNorm: input of shape ${fmtShape(xv.shape)} has no values per channel to take ` +
        `batch statistics from in training mode: skip empty batches (or use test mode)`,
    );
  }
  const mu = meanOver(xv, axes);
  const xc = xv.sub(mu);
  const variance = meanOver(xc.mul(xc), axes);
  const y = xc.div(shift(variance, eps).sqrt()).mul(g).add(b);
  // Running statistics: plain array arithmetic, outside the graph.
  const m = xv.size / c;
  const adjust = m > 1 ? m / (m - 1) : 1;
  runningMean.array = arrays(() =>
    ops.add(ops.mul(runningMean.array, decay), ops.mul(mu.array.reshape([c]), 1 - decay))
  );
  runningVar.array = arrays(() => {
    const unbiased = ops.mul(variance.array.reshape([c]), adjust);
    return ops.add(ops.mul(runningVar.array, decay), ops.mul(unbiased, 1 - decay));
  });
  return y;
}

/**
 * Layer normalization over the last `gamma.ndim` axes: `(x - mean) / sqrt(var + eps) · gamma + beta`.
 *
 * @example
 * ```ts
 * import { layerNorm } from "./functions.ts";
 * import { ones, randn, zeros } from "../mod.ts";
 * const y = layerNorm(randn([2, 5]), ones([5]), zeros([5]));
 * ```
 */
export function layerNorm(
  x: Operand,
  gamma: Operand,
  beta: Operand,
  options: { eps?: number } = {},
): Variable {
  const { eps = 1e-5 } = fnOptions<{ eps?: number }>(
    "layerNorm",
    arguments.length,
    ["x", "gamma", "beta", "options"],
    options,
    { eps: "number" },
    "{ eps: 1e-5 }",
  );
  checkRange("layerNorm", 'option "eps"', eps, eps >= 0, "≥ 0");
  const xv = floating(v(x));
  const g = v(gamma);
  const k = g.ndim;
  const tail = xv.shape.slice(xv.ndim - k);
  if (k === 0 || k > xv.ndim || tail.some((d, i) => d !== g.shape[i])) {
    throw new TypeError(
      `layerNorm: gamma of shape ${fmtShape(g.shape)} does not match the trailing axes of ${
        fmtShape(xv.shape)
      }`,
    );
  }
  const bv = v(beta);
  if (fmtShape(bv.shape) !== fmtShape(g.shape)) {
    throw new TypeError(
      `layerNorm: beta of shape ${fmtShape(bv.shape)} does not match gamma ${
        fmtShape(g.shape)
      } (the normalized trailing axes of ${fmtShape(xv.shape)})`,
    );
  }
  sameDevice("layerNorm", { x: xv, gamma: g, beta: bv });
  const axes = Array.from({ length: k }, (_, i) => xv.ndim - k + i);
  const mu = meanOver(xv, axes);
  const xc = xv.sub(mu);
  const variance = meanOver(xc.mul(xc), axes);
  return xc.div(shift(variance, eps).sqrt()).mul(g).add(bv);
}

// ------------------------------------------------------------ gather / embedding

class Gather extends Function {
  /** `op` is the name index errors give (the public function using it). */
  constructor(readonly axis: number, readonly indices: NDArray, readonly op = "gather") {
    super();
  }
  forward(x: NDArray): NDArray {
    this.save(this.indices);
    return x.backend.gather(x, this.axis, this.indices, this.op);
  }
  backward(gy: Variable): Variable {
    const { axis, op } = this;
    return new ScatterAdd(this.inputs[0].shape, axis, this.indices.share(), op).apply(gy);
  }
}

class ScatterAdd extends Function {
  constructor(
    readonly shape: readonly number[],
    readonly axis: number,
    readonly indices: NDArray,
    readonly op = "scatterAdd",
  ) {
    super();
  }
  forward(updates: NDArray): NDArray {
    this.save(this.indices);
    return updates.backend.scatterAdd(this.shape, this.axis, this.indices, updates, this.op);
  }
  backward(gx: Variable): Variable {
    return new Gather(this.axis, this.indices.share(), this.op).apply(gx);
  }
}

/**
 * Rows of the embedding matrix `W: [V, D]` at the int32 ids `x` (any shape):
 * the result has shape `[...x.shape, D]`. The gradient scatters back into `W`.
 *
 * @example
 * ```ts
 * import { embedId } from "./functions.ts";
 * import { randn, tensor } from "../mod.ts";
 * const y = embedId(tensor([[0, 2]], { dtype: "int32" }), randn([3, 4]));
 * console.log(y.shape); // [1, 2, 4]
 * ```
 */
export function embedId(x: Labels, W: Operand): Variable {
  const w = v(W);
  if (w.ndim < 1) throw new TypeError(`embedId: expected an embedding matrix [V, D], got a scalar`);
  // Ids must lie in [0, V): PyTorch's embedding rejects negative ids, which a
  // NumPy-style gather would wrap to the last rows.
  const ids = labelsArray("embedId", x, w, { count: w.shape[0], noun: ["id", "rows"] });
  // The Function holds its own handle on the ids (released with the graph).
  return new Gather(0, ids, "embedId").apply(w);
}

// ------------------------------------------------------------ im2col / col2im

/** Convolution geometry options. */
export interface ConvOptions {
  /** Stride (1 by default). */
  stride?: Pair;
  /** Zero padding on each side (0 by default). */
  pad?: Pair;
}

interface Geometry {
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
}

function geometry(op: string, kernel: Pair, stride: Pair, pad: Pair): Geometry {
  const [kh, kw] = checkPair(op, "kernelSize", kernel, 1);
  const [sh, sw] = checkPair(op, "stride", stride, 1);
  const [ph, pw] = checkPair(op, "pad", pad, 0);
  return { kh, kw, sh, sw, ph, pw };
}

function assertNCHW(op: string, x: Variable, g: Geometry): [number, number] {
  if (x.ndim !== 4) {
    throw new TypeError(`${op}: expected an NCHW input of rank 4, got shape ${fmtShape(x.shape)}`);
  }
  const oh = convOutSize(x.shape[2], g.kh, g.sh, g.ph);
  const ow = convOutSize(x.shape[3], g.kw, g.sw, g.pw);
  if (oh < 1 || ow < 1) {
    throw new RangeError(
      `${op}: kernel ${g.kh}x${g.kw} with pad ${g.ph},${g.pw} does not fit input ${
        fmtShape(x.shape)
      }`,
    );
  }
  return [oh, ow];
}

class Im2col extends Function {
  constructor(readonly g: Geometry) {
    super();
  }
  forward(x: NDArray): NDArray {
    return x.backend.im2col(x, this.g);
  }
  backward(gy: Variable): Variable {
    return new Col2im(this.inputs[0].shape, this.g).apply(gy);
  }
}

class Col2im extends Function {
  constructor(readonly shape: readonly number[], readonly g: Geometry) {
    super();
  }
  forward(col: NDArray): NDArray {
    return col.backend.col2im(col, this.shape, this.g);
  }
  backward(gx: Variable): Variable {
    return new Im2col(this.g).apply(gx);
  }
}

/** Patches `[N, C, KH, KW, OH, OW]` of an NCHW input. */
function patches(op: string, x: Variable, g: Geometry): Variable {
  assertNCHW(op, x, g);
  return new Im2col(g).apply(x);
}

/** Options of {@linkcode im2col} and {@linkcode col2im}. */
export interface Im2colOptions extends ConvOptions {
  /** Return DeZero's matrix `[N·OH·OW, C·KH·KW]` (default) instead of `[N, C, KH, KW, OH, OW]`. */
  toMatrix?: boolean;
}

const CONV_OPTIONS: Record<keyof ConvOptions, OptionKind> = { stride: "pair", pad: "pair" };
const IM2COL_OPTIONS: Record<keyof Im2colOptions, OptionKind> = {
  ...CONV_OPTIONS,
  toMatrix: "boolean",
};

/**
 * Extracts the convolution patches of `x: [N, C, H, W]`. Differentiable (its
 * gradient is {@linkcode col2im}, and back).
 *
 * @example
 * ```ts
 * import { im2col } from "./functions.ts";
 * import { randn } from "../mod.ts";
 * const col = im2col(randn([1, 3, 7, 7]), 5, { stride: 1, pad: 0 });
 * console.log(col.shape); // [9, 75]
 * ```
 */
export function im2col(x: Operand, kernelSize: Pair, options: Im2colOptions = {}): Variable {
  checkStridePad("im2col", options);
  const { stride = 1, pad = 0, toMatrix = true } = fnOptions<Im2colOptions>(
    "im2col",
    arguments.length,
    ["x", "kernelSize", "options"],
    options,
    IM2COL_OPTIONS,
    "{ stride: 1, pad: 1 }",
  );
  const g = geometry("im2col", kernelSize, stride, pad);
  const col = patches("im2col", v(x), g);
  if (!toMatrix) return col;
  const [n, c, kh, kw, oh, ow] = col.shape;
  return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * kh * kw);
}

/**
 * The adjoint of {@linkcode im2col}: sums patches back into an image of `inputShape`.
 *
 * @example
 * ```ts
 * import { col2im, im2col } from "./functions.ts";
 * import { randn } from "../mod.ts";
 * const col = im2col(randn([1, 1, 4, 4]), 2, { stride: 2 });
 * const x = col2im(col, [1, 1, 4, 4], 2, { stride: 2 }); // the original image
 * ```
 */
export function col2im(
  col: Operand,
  inputShape: readonly number[],
  kernelSize: Pair,
  options: Im2colOptions = {},
): Variable {
  checkStridePad("col2im", options);
  const { stride = 1, pad = 0, toMatrix = true } = fnOptions<Im2colOptions>(
    "col2im",
    arguments.length,
    ["col", "inputShape", "kernelSize", "options"],
    options,
    IM2COL_OPTIONS,
    "{ stride: 1, pad: 1 }",
  );
  const g = geometry("col2im", kernelSize, stride, pad);
  if (inputShape.length !== 4) {
    throw new TypeError(`col2im: expected an NCHW shape, got ${fmtShape(inputShape)}`);
  }
  const [n, c, h, w] = inputShape;
  const oh = convOutSize(h, g.kh, g.sh, g.ph);
  const ow = convOutSize(w, g.kw, g.sw, g.pw);
  let cv = v(col);
  const want = toMatrix ? [n * oh * ow, c * g.kh * g.kw] : [n, c, g.kh, g.kw, oh, ow];
  if (toMatrix ? cv.size !== sizeOf(want) : fmtShape(cv.shape) !== fmtShape(want)) {
    throw new TypeError(
      `col2im: patches of shape ${fmtShape(cv.shape)} do not match input shape ${
        fmtShape(inputShape)
      } with kernel ${g.kh}x${g.kw}, stride ${g.sh},${g.sw} and pad ${g.ph},${g.pw}: expected ${
        fmtShape(want)
      }${toMatrix ? " (toMatrix)" : ""}`,
    );
  }
  if (toMatrix) {
    cv = cv.reshape(n, oh, ow, c, g.kh, g.kw).transpose(0, 3, 4, 5, 1, 2);
  }
  return new Col2im(inputShape, g).apply(cv);
}

// ------------------------------------------------------------ convolution

/** Checks a bias `[OC]` against the filters `w` (`oc` output channels) before any work. */
function channelBias(
  op: string,
  b: Operand | null | undefined,
  w: Variable,
  oc: number,
): Variable | null {
  if (b === null || b === undefined) return null;
  const bv = v(b);
  if (bv.ndim !== 1 || bv.shape[0] !== oc) {
    throw new TypeError(
      `${op}: bias of shape ${fmtShape(bv.shape)} does not match filters ${
        fmtShape(w.shape)
      }: expected [${oc}]`,
    );
  }
  return bv;
}

/**
 * Throws when the bias is an options object: `conv2d(x, W, { stride: 2 })` leaves
 * out the bias, which would otherwise fail later as a tensor that cannot be made.
 */
function checkBias(op: string, b: unknown): void {
  if (isPlainObject(b)) {
    throw new TypeError(
      `${op}: b must be a tensor or null, got ${describeValue(b)}: ` +
        `the options come fourth, as in ${op}(x, W, null, { stride: 1, pad: 1 })`,
    );
  }
}

/** Checks deconv2d's option `outsize`, which (unlike stride and pad) must be a pair. */
function checkOutsize(outsize: unknown): void {
  const message = `deconv2d: option "outsize" must be a pair of positive integers [OH, OW], got ${
    describeValue(outsize)
  }`;
  if (!Array.isArray(outsize) || outsize.length !== 2 || !outsize.every(Number.isInteger)) {
    throw new TypeError(message);
  }
  if (outsize.some((d) => d < 1)) throw new RangeError(message);
}

function addChannelBias(y: Variable, b: Variable | null): Variable {
  return b === null ? y : y.add(b.reshape(1, b.size, 1, 1));
}

/**
 * 2-D convolution of `x: [N, C, H, W]` with filters `W: [OC, C, KH, KW]` and
 * an optional bias `b: [OC]`, as im2col followed by one batched matrix product
 * (so it is differentiable twice, as in DeZero).
 *
 * @example
 * ```ts
 * import { conv2d } from "./functions.ts";
 * import { randn } from "../mod.ts";
 * const y = conv2d(randn([1, 3, 8, 8]), randn([4, 3, 3, 3]), null, { stride: 1, pad: 1 });
 * console.log(y.shape); // [1, 4, 8, 8]
 * ```
 */
export function conv2d(
  x: Operand,
  W: Operand,
  b: Operand | null = null,
  options: ConvOptions = {},
): Variable {
  checkBias("conv2d", b);
  checkStridePad("conv2d", options);
  const { stride = 1, pad = 0 } = fnOptions<ConvOptions>(
    "conv2d",
    arguments.length,
    ["x", "W", "b", "options"],
    options,
    CONV_OPTIONS,
    "{ stride: 1, pad: 1 }",
  );
  const xv = v(x);
  const w = v(W);
  if (w.ndim !== 4 || xv.ndim !== 4 || w.shape[1] !== xv.shape[1]) {
    throw new TypeError(
      `conv2d: filters ${fmtShape(w.shape)} ([OC, C, KH, KW]) do not match input ${
        fmtShape(xv.shape)
      } ([N, C, H, W])`,
    );
  }
  const [oc, c, kh, kw] = w.shape;
  const bias = channelBias("conv2d", b, w, oc);
  sameDevice("conv2d", { x: xv, W: w, b: bias });
  const g = geometry("conv2d", [kh, kw], stride, pad);
  const [oh, ow] = assertNCHW("conv2d", xv, g);
  const n = xv.shape[0];
  const col = patches("conv2d", xv, g).reshape(n, c * kh * kw, oh * ow);
  // [OC, C·KH·KW] @ [N, C·KH·KW, OH·OW] -> [N, OC, OH·OW]: no transposes needed.
  const y = w.reshape(oc, c * kh * kw).matmul(col).reshape(n, oc, oh, ow);
  return addChannelBias(y, bias);
}

/** Options of {@linkcode deconv2d}. */
export interface Deconv2dOptions extends ConvOptions {
  /** The output size `[OH, OW]` (the smallest that fits by default). */
  outsize?: readonly [number, number];
}

/**
 * Transposed 2-D convolution (the gradient of {@linkcode conv2d} with respect
 * to its input) of `x: [N, C, H, W]` with `W: [C, OC, KH, KW]` and optional `b: [OC]`.
 *
 * @example
 * ```ts
 * import { deconv2d } from "./functions.ts";
 * import { randn } from "../mod.ts";
 * const y = deconv2d(randn([1, 4, 4, 4]), randn([4, 2, 2, 2]), null, { stride: 2 });
 * console.log(y.shape); // [1, 2, 8, 8]
 * ```
 */
export function deconv2d(
  x: Operand,
  W: Operand,
  b: Operand | null = null,
  options: Deconv2dOptions = {},
): Variable {
  checkBias("deconv2d", b);
  checkStridePad("deconv2d", options);
  if (isPlainObject(options) && options.outsize !== undefined) checkOutsize(options.outsize);
  const { stride = 1, pad = 0, outsize } = fnOptions<Deconv2dOptions>(
    "deconv2d",
    arguments.length,
    ["x", "W", "b", "options"],
    options,
    { ...CONV_OPTIONS, outsize: "pair" },
    "{ stride: 2, pad: 1 }",
  );
  const xv = v(x);
  const w = v(W);
  if (w.ndim !== 4 || xv.ndim !== 4 || w.shape[0] !== xv.shape[1]) {
    throw new TypeError(
      `deconv2d: filters ${fmtShape(w.shape)} ([C, OC, KH, KW]) do not match input ${
        fmtShape(xv.shape)
      } ([N, C, H, W])`,
    );
  }
  const [c, oc, kh, kw] = w.shape;
  const [n, , h, wd] = xv.shape;
  const bias = channelBias("deconv2d", b, w, oc);
  sameDevice("deconv2d", { x: xv, W: w, b: bias });
  const g = geometry("deconv2d", [kh, kw], stride, pad);
  const [oh, ow] = outsize ?? [deconvOutSize(h, kh, g.sh, g.ph), deconvOutSize(wd, kw, g.sw, g.pw)];
  if (oh < 1 || ow < 1) {
    throw new RangeError(
      `deconv2d: output size [${oh},${ow}] of input ${
        fmtShape(xv.shape)
      } with kernel ${kh}x${kw}, ` +
        `stride ${g.sh},${g.sw} and pad ${g.ph},${g.pw} is less than 1`,
    );
  }
  if (convOutSize(oh, kh, g.sh, g.ph) !== h || convOutSize(ow, kw, g.sw, g.pw) !== wd) {
    throw new RangeError(
      `deconv2d: outsize [${oh},${ow}] is not consistent with input ${fmtShape(xv.shape)}, ` +
        `kernel ${kh}x${kw}, stride ${g.sh},${g.sw} and pad ${g.ph},${g.pw}`,
    );
  }
  // [OC·KH·KW, C] @ [N, C, H·W] -> patches [N, OC, KH, KW, H, W], summed back by col2im.
  const col = w.reshape(c, oc * kh * kw).transpose().matmul(xv.reshape(n, c, h * wd))
    .reshape(n, oc, kh, kw, h, wd);
  const y = new Col2im([n, oc, oh, ow], g).apply(col);
  return addChannelBias(y, bias);
}

// ------------------------------------------------------------ pooling

/** Options of the pooling functions. */
export interface PoolingOptions {
  /**
   * Stride: the kernel size by default (non-overlapping windows), as PyTorch's
   * `max_pool2d`; DeZero's `pooling` defaults to 1.
   */
  stride?: Pair;
  /** Padding on each side (0 by default). */
  pad?: Pair;
}

/** The checked options of pooling function `op`, called with `given` arguments. */
function poolingOptions(op: string, given: number, options: unknown): PoolingOptions {
  checkStridePad(op, options);
  return fnOptions<PoolingOptions>(
    op,
    given,
    ["x", "kernelSize", "options"],
    options,
    CONV_OPTIONS,
    "{ stride: 2, pad: 0 }",
  );
}

function windows(op: string, x: Operand, kernelSize: Pair, options: PoolingOptions) {
  const xv = floating(v(x));
  const g = geometry(op, kernelSize, options.stride ?? kernelSize, options.pad ?? 0);
  const col = patches(op, xv, g);
  const [n, c, kh, kw, oh, ow] = col.shape;
  return { xv, g, col: col.reshape(n, c, kh * kw, oh, ow) };
}

class MaxPool2d extends Function {
  #index: NDArray | null = null;
  constructor(readonly g: Geometry) {
    super();
  }
  forward(x: NDArray): NDArray {
    const [y, index] = x.backend.maxPool2d(x, this.g);
    this.#index = this.save(index);
    return y;
  }
  backward(gy: Variable): Variable {
    // The gradient goes to the one element each maximum came from (PyTorch's and
    // DeZero's argmax routing: on ties, the first in the window), and a scatter's
    // own gradient is a gather: differentiable again.
    const shape = this.inputs[0].shape;
    const flat = [sizeOf(shape)];
    return new ScatterAdd(flat, 0, this.#index!.share()).apply(gy).reshape(...shape);
  }
}

/**
 * Max pooling over `kernelSize` windows of `x: [N, C, H, W]`. The stride is
 * the kernel size unless `options.stride` says otherwise (PyTorch's default;
 * DeZero's is 1, so write DeZero's `pooling(x, 2, 1)` as
 * `pooling(x, 2, { stride: 1 })`). Padding, at most half the kernel, never
 * wins. The gradient flows to the first maximum of each window, as in
 * PyTorch. Differentiable twice.
 *
 * @example
 * ```ts
 * import { pooling } from "./functions.ts";
 * import { randn } from "../mod.ts";
 * console.log(pooling(randn([1, 1, 4, 4]), 2).shape); // [1, 1, 2, 2]
 * ```
 */
export function pooling(x: Operand, kernelSize: Pair, options: PoolingOptions = {}): Variable {
  const { stride = kernelSize, pad = 0 } = poolingOptions("pooling", arguments.length, options);
  const xv = v(x);
  const g = geometry("pooling", kernelSize, stride, pad);
  assertNCHW("pooling", xv, g);
  poolOut("pooling", xv.shape[2], xv.shape[3], g);
  return new MaxPool2d(g).apply(xv);
}

/**
 * Average pooling over `kernelSize` windows of `x: [N, C, H, W]`. The stride
 * is the kernel size unless `options.stride` says otherwise (PyTorch's
 * default; DeZero's is 1: write `averagePooling(x, 2, { stride: 1 })`). Zero
 * padding counts in the average, as PyTorch's default.
 *
 * @example
 * ```ts
 * import { averagePooling } from "./functions.ts";
 * import { ones } from "../mod.ts";
 * console.log(await averagePooling(ones([1, 1, 2, 2]), 2).toArray()); // [[[[1]]]]
 * ```
 */
export function averagePooling(
  x: Operand,
  kernelSize: Pair,
  options: PoolingOptions = {},
): Variable {
  const checked = poolingOptions("averagePooling", arguments.length, options);
  return windows("averagePooling", x, kernelSize, checked).col.mean(2);
}

installNnFunctions({ sigmoid, relu, leakyRelu, gelu, softmax, logSoftmax });
