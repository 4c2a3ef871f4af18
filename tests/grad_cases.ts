// Gradient-check cases shared by the CPU (float64) and GPU (float32) test files.
import { type Device, type DType, F, Generator, tensor, type Variable } from "../mod.ts";

/** Makes an input of `shape` on a device/dtype, values drawn in [lo, hi). */
export type Maker = (
  shape: number[],
  opts?: { lo?: number; hi?: number; int?: number },
) => Variable;

/** One differentiable function to check, on inputs that exercise broadcasting. */
export interface GradCase {
  name: string;
  f: (...xs: Variable[]) => Variable;
  inputs: (make: Maker) => Variable[];
  /** Skip the second-order check (only for functions whose 2nd derivative is 0 almost everywhere and noisy). */
  firstOrderOnly?: boolean;
}

export function maker(device: Device, dtype: DType, seed = 1): Maker {
  const g = new Generator(seed);
  return (shape, { lo = -1, hi = 1, int } = {}) => {
    const n = shape.reduce((a, b) => a * b, 1);
    if (int !== undefined) {
      return tensor(Int32Array.from({ length: n }, () => g.int(int)), {
        shape,
        device,
      });
    }
    const data = Float64Array.from({ length: n }, () => lo + (hi - lo) * g.random());
    return tensor(data, { shape, dtype, device });
  };
}

export const GRAD_CASES: GradCase[] = [
  { name: "add", f: (a, b) => F.add(a, b), inputs: (m) => [m([2, 3]), m([3])] },
  { name: "add scalar", f: (a) => F.add(a, 2.5), inputs: (m) => [m([3, 1])] },
  { name: "sub", f: (a, b) => F.sub(a, b), inputs: (m) => [m([2, 1]), m([1, 3])] },
  { name: "rsub", f: (a) => F.sub(1, a), inputs: (m) => [m([4])] },
  { name: "mul", f: (a, b) => F.mul(a, b), inputs: (m) => [m([2, 3]), m([2, 1])] },
  {
    name: "div",
    f: (a, b) => F.div(a, b),
    inputs: (m) => [m([3, 2]), m([2], { lo: 0.5, hi: 2 })],
  },
  { name: "rdiv", f: (a) => F.div(2, a), inputs: (m) => [m([3], { lo: 0.5, hi: 2 })] },
  { name: "neg", f: (a) => F.neg(a), inputs: (m) => [m([2, 2])] },
  { name: "pow", f: (a) => F.pow(a, 3), inputs: (m) => [m([3, 2])] },
  { name: "pow fractional", f: (a) => F.pow(a, 1.5), inputs: (m) => [m([4], { lo: 0.5, hi: 2 })] },
  { name: "sin", f: (a) => F.sin(a), inputs: (m) => [m([2, 3])] },
  { name: "cos", f: (a) => F.cos(a), inputs: (m) => [m([2, 3])] },
  { name: "tanh", f: (a) => F.tanh(a), inputs: (m) => [m([2, 3])] },
  { name: "exp", f: (a) => F.exp(a), inputs: (m) => [m([2, 3])] },
  { name: "log", f: (a) => F.log(a), inputs: (m) => [m([2, 3], { lo: 0.5, hi: 2 })] },
  { name: "sqrt", f: (a) => F.sqrt(a), inputs: (m) => [m([5], { lo: 0.5, hi: 2 })] },
  {
    name: "abs",
    f: (a) => F.abs(a),
    inputs: (m) => [m([2, 3], { lo: 0.2, hi: 1 }).mul(tensorSign(m))],
  },
  {
    name: "clip",
    f: (a) => F.clip(a, -0.5, 0.5),
    inputs: (m) => [nonBoundary(m([3, 4]), [-0.5, 0.5])],
  },
  { name: "reshape", f: (a) => F.reshape(a, [3, -1]), inputs: (m) => [m([2, 3, 2])] },
  { name: "transpose", f: (a) => F.transpose(a), inputs: (m) => [m([2, 3])] },
  { name: "transpose axes", f: (a) => F.transpose(a, [1, 2, 0]), inputs: (m) => [m([2, 3, 4])] },
  { name: "expandDims", f: (a) => F.expandDims(a, 1), inputs: (m) => [m([2, 3])] },
  { name: "flatten", f: (a) => F.flatten(a), inputs: (m) => [m([2, 3, 2])] },
  {
    name: "getItem int/slice",
    f: (a) => F.getItem(a, [1, { start: null, stop: null, step: -2 }]),
    inputs: (m) => [m([3, 5])],
  },
  {
    name: "getItem newaxis/ellipsis",
    f: (a) => F.getItem(a, [null, "...", 0]),
    inputs: (m) => [m([2, 3])],
  },
  {
    name: "getItem integer array with repeats",
    f: (a) => F.getItem(a, [[0, 2, 0, 1]]),
    inputs: (m) => [m([3, 2])],
  },
  {
    name: "getItem two index arrays",
    f: (a) => F.getItem(a, [[0, 1, 1], [2, 0, 2]]),
    inputs: (m) => [m([2, 3])],
  },
  {
    name: "getItem non-adjacent index arrays",
    f: (a) => F.getItem(a, [[1, 0], ":", [2, 2]]),
    inputs: (m) => [m([2, 3, 4])],
  },
  { name: "sum all", f: (a) => F.sum(a), inputs: (m) => [m([2, 3])] },
  { name: "sum axis keepdims", f: (a) => F.sum(a, 1, true), inputs: (m) => [m([2, 3, 2])] },
  { name: "sum axes", f: (a) => F.sum(a, [0, 2]), inputs: (m) => [m([2, 3, 2])] },
  { name: "sumTo", f: (a) => F.sumTo(a, [1, 3]), inputs: (m) => [m([2, 2, 3])] },
  { name: "broadcastTo", f: (a) => F.broadcastTo(a, [2, 3, 2]), inputs: (m) => [m([3, 1])] },
  { name: "mean", f: (a) => F.mean(a, 0), inputs: (m) => [m([4, 3])] },
  { name: "max", f: (a) => F.max(a, 1), inputs: (m) => [m([3, 4])] },
  { name: "min keepdims", f: (a) => F.min(a, 0, true), inputs: (m) => [m([3, 4])] },
  { name: "max all", f: (a) => F.max(a), inputs: (m) => [m([2, 3])] },
  { name: "logsumexp", f: (a) => F.logsumexp(a, 1), inputs: (m) => [m([3, 4], { lo: -3, hi: 3 })] },
  { name: "matmul", f: (a, b) => F.matmul(a, b), inputs: (m) => [m([3, 4]), m([4, 2])] },
  {
    name: "matmul batched broadcast",
    f: (a, b) => F.matmul(a, b),
    inputs: (m) => [m([2, 3, 4]), m([4, 5])],
  },
  { name: "matmul vector", f: (a, b) => F.matmul(a, b), inputs: (m) => [m([4]), m([2, 4, 3])] },
  {
    name: "linear",
    f: (x, W, b) => F.linear(x, W, b),
    inputs: (m) => [m([5, 3]), m([3, 2]), m([2])],
  },
  { name: "concat", f: (a, b) => F.concat([a, b], 1), inputs: (m) => [m([2, 3]), m([2, 1])] },
  { name: "stack", f: (a, b) => F.stack([a, b], 0), inputs: (m) => [m([2, 3]), m([2, 3])] },
  {
    name: "softmaxCrossEntropy with host labels and masked (-Infinity) classes",
    f: (x) => F.softmaxCrossEntropy(F.add(x, masks(x)), [2, 0]),
    inputs: (m) => [m([2, 3], { lo: -2, hi: 2 })],
  },
  {
    name: "meanSquaredError",
    f: (a, b) => F.meanSquaredError(a, b),
    inputs: (m) => [m([3, 2]), m([3, 2])],
  },
  {
    name: "composite tanh(x*2+1)*x",
    f: (x) => F.mul(F.tanh(F.add(F.mul(x, 2), 1)), x),
    inputs: (m) => [m([7])],
  },
];

/** -Infinity at one non-target class per row of a [2, 3] input, on its device and dtype. */
function masks(x: Variable): Variable {
  const data = [[0, -Infinity, 0], [0, 0, -Infinity]];
  return tensor(data, { dtype: x.dtype, device: x.device });
}

// abs and clip are not differentiable at their kinks; keep inputs away from them.
function tensorSign(m: Maker): Variable {
  return m([2, 3]).gt(0).mul(2).sub(1);
}

function nonBoundary(x: Variable, _kinks: number[]): Variable {
  // Shift values so none lies within 0.05 of the kinks at ±0.5.
  return F.add(F.mul(x, 0.8), 0.03);
}

/**
 * The analytic gradients of `sum(f(xs) * r)` (first order) and of the
 * projected gradient norm (second order, via createGraph), for every float
 * input, read back as Float64Arrays. Inputs must be leaves.
 */
export async function analyticGrads(
  f: (...xs: Variable[]) => Variable,
  xs: Variable[],
): Promise<Float64Array[]> {
  const floats = xs.filter((x) => x.dtype !== "int32");
  const proj = (y: Variable, seed: number) => {
    const g = new Generator(seed);
    const r = Float64Array.from({ length: y.size }, () => 0.5 + g.random());
    return F.sum(F.mul(y, tensor(r, { shape: y.shape, dtype: y.dtype, device: y.device })));
  };
  const out: Float64Array[] = [];
  for (const x of xs) x.cleargrad();
  proj(f(...xs), 7).backward({ createGraph: true });
  const firsts = floats.map((x) => x.grad!);
  for (const g of firsts) out.push(Float64Array.from(await g.data()));
  for (const x of xs) x.cleargrad();
  let total: Variable | null = null;
  for (const g of firsts) total = total === null ? proj(g, 8) : F.add(total, proj(g, 8));
  total!.backward();
  for (const x of floats) {
    out.push(x.grad ? Float64Array.from(await x.grad.data()) : new Float64Array(x.size));
  }
  return out;
}
