// Gradient-check coverage audit: the differentiable functions of F (core and nn) and the
// Variable methods that tests/grad_cases.ts and nn/*_test.ts do not gradient-check at order 2
// with utils.gradientCheck on both devices, on awkward small shapes (size-1 axes, odd sizes,
// broadcasting), with inputs kept away from kinks (abs at 0, clip bounds, max/min ties).
//
// CPU: float64, default gradientCheck tolerances. GPU: float32, the default float32
// gradientCheck tolerances (rtol 2e-2, atol 2e-3, eps 1e-2), as nn/gpu_test.ts uses them.
//
// tests/functions_gpu_test.ts checks the core functions' GPU derivatives against the CPU's
// analytic ones; here they are checked against numerical differentiation on the GPU itself.
import assert from "node:assert/strict";
import {
  type Device,
  type DType,
  F,
  Generator,
  ones,
  slice,
  tensor,
  testMode,
  utils,
  type Variable,
  zeros,
} from "../mod.ts";
import { gpuTest } from "../shaders/test_util.ts";

/** Input makers on one device and dtype. */
interface Make {
  /** Uniform values in [lo, hi). */
  r(shape: number[], lo?: number, hi?: number): Variable;
  /** Distinct values, at least 0.25 apart (no max/min ties within a finite-difference step). */
  s(shape: number[]): Variable;
  /** Given values. */
  v(data: number[], shape: number[]): Variable;
  /** Given int32 values (labels, ids: no gradient). */
  i(data: number[], shape: number[]): Variable;
}

function make(device: Device, dtype: DType, seed = 3): Make {
  const g = new Generator(seed);
  const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
  return {
    r: (shape, lo = -1, hi = 1) =>
      tensor(Float64Array.from({ length: size(shape) }, () => lo + (hi - lo) * g.random()), {
        shape,
        dtype,
        device,
      }),
    s: (shape) => {
      const n = size(shape);
      const data = Float64Array.from(g.permutation(n), (p) => (p - n / 2 + 0.37) * 0.25);
      return tensor(data, { shape, dtype, device });
    },
    v: (data, shape) => tensor(Float64Array.from(data), { shape, dtype, device }),
    i: (data, shape) => tensor(Int32Array.from(data), { shape, device }),
  };
}

interface Case {
  name: string;
  f: (...xs: Variable[]) => Variable;
  inputs: (m: Make) => Variable[];
  /** Run on the CPU only, with the reason. */
  cpuOnly?: string;
  /** Finite-difference step on the CPU (only where float64 differences cannot work). */
  cpuEps?: number;
}

const CASES: Case[] = [
  // ------------------------------------------------------------ arithmetic (broadcasting)
  { name: "add [1,3]+[2,1]", f: F.add, inputs: (m) => [m.r([1, 3]), m.r([2, 1])] },
  { name: "add number+x", f: (a) => F.add(2.5, a), inputs: (m) => [m.r([3, 1])] },
  { name: "sub [3,1,2]-[2]", f: F.sub, inputs: (m) => [m.r([3, 1, 2]), m.r([2])] },
  { name: "sub x-number", f: (a) => F.sub(a, 0.5), inputs: (m) => [m.r([1, 3])] },
  { name: "mul [1]*[2,3]", f: F.mul, inputs: (m) => [m.r([1]), m.r([2, 3])] },
  { name: "mul x*x (one input twice)", f: (a) => F.mul(a, a), inputs: (m) => [m.r([3, 1])] },
  {
    name: "div [2,1]/[1,3]",
    f: F.div,
    inputs: (m) => [m.r([2, 1]), m.r([1, 3], 0.5, 2)],
  },
  { name: "div number/x", f: (a) => F.div(2, a), inputs: (m) => [m.r([1, 3], 0.5, 2)] },
  { name: "neg", f: F.neg, inputs: (m) => [m.r([1, 3])] },
  { name: "pow 2", f: (a) => F.pow(a, 2), inputs: (m) => [m.r([3, 1])] },
  { name: "pow -1.5", f: (a) => F.pow(a, -1.5), inputs: (m) => [m.r([1, 3], 0.5, 2)] },
  { name: "pow 0.5", f: (a) => F.pow(a, 0.5), inputs: (m) => [m.r([3], 0.5, 2)] },
  // ------------------------------------------------------------ elementwise math
  { name: "sin", f: F.sin, inputs: (m) => [m.r([1, 5], -2, 2)] },
  { name: "cos", f: F.cos, inputs: (m) => [m.r([5, 1], -2, 2)] },
  { name: "tanh", f: F.tanh, inputs: (m) => [m.r([1, 3, 1], -2, 2)] },
  { name: "exp", f: F.exp, inputs: (m) => [m.r([3, 1])] },
  { name: "log", f: F.log, inputs: (m) => [m.r([1, 3], 0.5, 2)] },
  { name: "sqrt", f: F.sqrt, inputs: (m) => [m.r([3, 1], 0.5, 2)] },
  {
    name: "abs (away from 0)",
    f: F.abs,
    inputs: (m) => [m.v([0.7, -0.3, 0.45, -1.2, 0.2], [5, 1])],
  },
  {
    name: "clip (inside, below and above, away from the bounds)",
    f: (a) => F.clip(a, -0.5, 0.25),
    inputs: (m) => [m.v([-0.9, -0.4, 0.1, 0.6, -0.1, 0.3, -0.7], [1, 7])],
  },
  {
    name: "astype float64 -> float32 (quadratic, so float32-sized steps are exact)",
    f: (a) => F.astype(a, "float32").pow(2),
    inputs: (m) => [m.r([3, 1])],
    cpuOnly: "the GPU has no float64, and float32 -> float32 is the identity",
    cpuEps: 1e-2,
  },
  // ------------------------------------------------------------ shapes
  {
    name: "reshape [1,6] -> [3,2,1]",
    f: (a) => F.reshape(a, [3, 2, 1]),
    inputs: (m) => [m.r([1, 6])],
  },
  { name: "reshape -1", f: (a) => F.reshape(a, [-1, 1]), inputs: (m) => [m.r([3, 1, 1])] },
  { name: "transpose default", f: (a) => F.transpose(a), inputs: (m) => [m.r([1, 3, 2])] },
  {
    name: "transpose [2,0,1]",
    f: (a) => F.transpose(a, [2, 0, 1]).mul(a.transpose([2, 0, 1]).sin()),
    inputs: (m) => [m.r([3, 1, 2])],
  },
  { name: "expandDims -1", f: (a) => F.expandDims(a, -1).pow(2), inputs: (m) => [m.r([3])] },
  {
    name: "flatten [3,1,2] -> [3,2]",
    f: (a) => F.flatten(a).pow(2),
    inputs: (m) => [m.r([3, 1, 2])],
  },
  {
    name: "broadcastTo [1,3] -> [2,2,3]",
    f: (a) => F.broadcastTo(a, [2, 2, 3]).pow(2),
    inputs: (m) => [m.r([1, 3])],
  },
  {
    name: "sumTo [2,3,1] -> [3,1]",
    f: (a) => F.sumTo(a.pow(2), [3, 1]),
    inputs: (m) => [m.r([2, 3, 1])],
  },
  { name: "sumTo -> [1,1]", f: (a) => F.sumTo(a, [1, 1]).pow(2), inputs: (m) => [m.r([3, 1])] },
  // ------------------------------------------------------------ reductions
  { name: "sum size-1 axis", f: (a) => F.sum(a.pow(2), -1), inputs: (m) => [m.r([3, 1])] },
  {
    name: "sum axes [0,2] keepdims",
    f: (a) => F.sum(a, [0, 2], true).pow(2),
    inputs: (m) => [m.r([2, 1, 3])],
  },
  { name: "mean all", f: (a) => F.mean(a).pow(2), inputs: (m) => [m.r([3, 1])] },
  {
    name: "mean axes [0,2] keepdims",
    f: (a) => F.mean(a, [0, 2], true).pow(2),
    inputs: (m) => [m.r([2, 1, 3])],
  },
  { name: "max axis 0 (distinct)", f: (a) => F.max(a.pow(2), 0), inputs: (m) => [m.s([3, 2])] },
  { name: "max size-1 axis", f: (a) => F.max(a, -1).pow(2), inputs: (m) => [m.s([3, 1])] },
  {
    name: "max all keepdims",
    f: (a) => F.max(a, null, true).pow(2),
    inputs: (m) => [m.s([1, 5])],
  },
  {
    name: "min axes [0,1] (distinct)",
    f: (a) => F.min(a, [0, 1]).pow(2),
    inputs: (m) => [m.s([2, 3, 1])],
  },
  { name: "min axis 1", f: (a) => F.min(a, 1).pow(3), inputs: (m) => [m.s([2, 3])] },
  {
    name: "logsumexp axes [0,2] keepdims",
    f: (a) => F.logsumexp(a, [0, 2], true),
    inputs: (m) => [m.r([2, 1, 3], -2, 2)],
  },
  { name: "logsumexp all", f: (a) => F.logsumexp(a), inputs: (m) => [m.r([3, 1], -2, 2)] },
  // ------------------------------------------------------------ products
  { name: "matmul [1,3]@[3,1]", f: F.matmul, inputs: (m) => [m.r([1, 3]), m.r([3, 1])] },
  {
    name: "matmul batch broadcast [2,1,2,3]@[3,3,1]",
    f: F.matmul,
    inputs: (m) => [m.r([2, 1, 2, 3]), m.r([3, 3, 1])],
  },
  { name: "matmul [2,3]@[3] (vector)", f: F.matmul, inputs: (m) => [m.r([2, 3]), m.r([3])] },
  { name: "matmul [3]@[3] (dot)", f: F.matmul, inputs: (m) => [m.r([3]), m.r([3])] },
  {
    name: "matmul squared (x@x, nonzero 2nd derivative)",
    f: (a) => F.matmul(a, a),
    inputs: (m) => [m.r([3, 3])],
  },
  {
    name: "linear [1,3]@[3,1]+[1]",
    f: (x, W, b) => F.linear(x, W, b).pow(2),
    inputs: (m) => [m.r([1, 3]), m.r([3, 1]), m.r([1])],
  },
  {
    name: "linear no bias",
    f: (x, W) => F.linear(x, W).pow(2),
    inputs: (m) => [m.r([3, 2]), m.r([2, 1])],
  },
  // ------------------------------------------------------------ indexing and joining
  {
    name: "getItem negative int, negative step",
    f: (a) => F.getItem(a, [-1, slice(null, null, -2)]).pow(2),
    inputs: (m) => [m.r([2, 5])],
  },
  {
    name: "getItem integer array with negative repeats on a size-1 axis",
    f: (a) => F.getItem(a, [[0, -1, 0], 0]).pow(2),
    inputs: (m) => [m.r([3, 1])],
  },
  {
    name: "getItem slice + index array",
    f: (a) => F.getItem(a, [slice(1, null), [1, 1, 0]]).pow(2),
    inputs: (m) => [m.r([3, 2])],
  },
  {
    name: "concat 3 inputs axis -1",
    f: (a, b, c) => F.concat([a, b, c], -1).pow(2),
    inputs: (m) => [m.r([2, 1]), m.r([2, 3]), m.r([2, 2])],
  },
  {
    name: "concat axis 0 with a size-1 part",
    f: (a, b) => F.concat([a, b], 0).pow(2),
    inputs: (m) => [m.r([1, 2]), m.r([2, 2])],
  },
  {
    name: "stack axis -1",
    f: (a, b) => F.stack([a, b], -1).pow(2),
    inputs: (m) => [m.r([3]), m.r([3])],
  },
  // ------------------------------------------------------------ nn, awkward shapes
  // (nn/functions_test.ts and nn/gpu_test.ts check every nn function at order 2 on both
  // devices; these add size-1 axes, pairs of unequal kernel/stride/pad and option variants.)
  { name: "sigmoid [1,3,1]", f: F.sigmoid, inputs: (m) => [m.r([1, 3, 1], -2, 2)] },
  { name: "relu [3,1,2] (no kinks)", f: (a) => F.relu(a).pow(2), inputs: (m) => [m.s([3, 1, 2])] },
  {
    name: "leakyRelu default slope [1,5] (no kinks)",
    f: (a) => F.leakyRelu(a).pow(2),
    inputs: (m) => [m.s([1, 5])],
  },
  { name: "gelu [3,1]", f: F.gelu, inputs: (m) => [m.r([3, 1], -2, 2)] },
  { name: "erf [1,3]", f: F.erf, inputs: (m) => [m.r([1, 3], -1.5, 1.5)] },
  { name: "softmax axis 2 of [2,1,3]", f: (a) => F.softmax(a, 2), inputs: (m) => [m.r([2, 1, 3])] },
  {
    name: "logSoftmax axis 0 of [3,1,2]",
    f: (a) => F.logSoftmax(a, 0),
    inputs: (m) => [m.r([3, 1, 2])],
  },
  {
    name: "softmaxCrossEntropy batch of 1, device labels",
    f: (x, t) => F.softmaxCrossEntropy(x, t),
    inputs: (m) => [m.r([1, 4], -2, 2), m.i([3], [1])],
  },
  {
    name: "sigmoidCrossEntropy number target, [3,1]",
    f: (x) => F.sigmoidCrossEntropy(x, 1),
    inputs: (m) => [m.r([3, 1], -2, 2)],
  },
  {
    name: "sigmoidCrossEntropy soft targets [1,3], both differentiated",
    f: (x, t) => F.sigmoidCrossEntropy(x, t),
    inputs: (m) => [m.r([1, 3], -2, 2), m.r([1, 3], 0.1, 0.9)],
  },
  {
    name: "binaryCrossEntropy [1,3]",
    f: (p, t) => F.binaryCrossEntropy(p, t),
    inputs: (m) => [m.r([1, 3], 0.2, 0.8), m.r([1, 3], 0.1, 0.9)],
  },
  {
    name: "meanSquaredError [1,3]",
    f: F.meanSquaredError,
    inputs: (m) => [m.r([1, 3]), m.r([1, 3])],
  },
  {
    name: "dropout 0.3 fixed mask [1,5]",
    f: (x) => F.dropout(x, 0.3, { generator: new Generator(5) }).pow(2),
    inputs: (m) => [m.r([1, 5])],
  },
  {
    name: "batchNorm train 4-D [2,3,1,2]",
    f: (x, g, b) =>
      F.batchNorm(
        x,
        g,
        b,
        zeros([3], { dtype: x.dtype, device: x.device }),
        ones([3], {
          dtype: x.dtype,
          device: x.device,
        }),
      ),
    inputs: (m) => [m.r([2, 3, 1, 2], -2, 2), m.r([3], 0.5, 1.5), m.r([3])],
  },
  {
    name: "batchNorm test mode 4-D [1,3,2,1]",
    f: (x, g, b) =>
      testMode(() =>
        F.batchNorm(
          x,
          g,
          b,
          tensor([0.1, -0.2, 0.3], { dtype: x.dtype, device: x.device }),
          tensor(
            [0.5, 1.5, 2],
            { dtype: x.dtype, device: x.device },
          ),
        )
      ),
    inputs: (m) => [m.r([1, 3, 2, 1]), m.r([3], 0.5, 1.5), m.r([3])],
  },
  {
    name: "layerNorm over 2 trailing axes [2,1,3]",
    f: (x, g, b) => F.layerNorm(x, g, b),
    inputs: (m) => [m.r([2, 1, 3], -2, 2), m.r([1, 3], 0.5, 1.5), m.r([1, 3])],
  },
  {
    name: "embedId 2-D ids, size-1 embedding",
    f: (W, ids) => F.embedId(ids, W).pow(2),
    inputs: (m) => [m.r([3, 1]), m.i([2, 0, 2, 2], [2, 2])],
  },
  {
    name: "im2col kernel [2,1] stride [1,2] pad [1,0]",
    f: (x) => F.im2col(x, [2, 1], { stride: [1, 2], pad: [1, 0] }).pow(2),
    inputs: (m) => [m.r([1, 1, 3, 4])],
  },
  {
    name: "im2col toMatrix false",
    f: (x) => F.im2col(x, [1, 2], { toMatrix: false }).pow(2),
    inputs: (m) => [m.r([2, 1, 1, 3])],
  },
  {
    name: "col2im kernel [2,1] into [1,1,3,4]",
    f: (c) => F.col2im(c, [1, 1, 3, 4], [2, 1]).pow(2),
    inputs: (m) => [m.r([8, 2])],
  },
  {
    name: "conv2d kernel 2x3 stride [2,1] pad [1,0], batch 2, 1 channel",
    f: (x, W, b) => F.conv2d(x, W, b, { stride: [2, 1], pad: [1, 0] }),
    inputs: (m) => [m.r([2, 1, 3, 4]), m.r([3, 1, 2, 3]), m.r([3])],
  },
  {
    name: "conv2d no bias, 1x1 kernel",
    f: (x, W) => F.conv2d(x, W).pow(2),
    inputs: (m) => [m.r([1, 2, 1, 3]), m.r([1, 2, 1, 1])],
  },
  {
    name: "deconv2d kernel 3x2 stride [2,1] pad [1,0] outsize [4,2]",
    f: (x, W, b) => F.deconv2d(x, W, b, { stride: [2, 1], pad: [1, 0], outsize: [4, 2] }),
    inputs: (m) => [m.r([1, 2, 2, 1]), m.r([2, 1, 3, 2]), m.r([1])],
  },
  {
    name: "pooling kernel [2,3] stride [1,2] (distinct)",
    f: (x) => F.pooling(x, [2, 3], { stride: [1, 2] }).pow(2),
    inputs: (m) => [m.s([1, 2, 3, 5])],
  },
  {
    name: "averagePooling kernel [1,2] stride [2,1] pad [0,1]",
    f: (x) => F.averagePooling(x, [1, 2], { stride: [2, 1], pad: [0, 1] }).pow(2),
    inputs: (m) => [m.r([2, 1, 3, 4])],
  },
  // ------------------------------------------------------------ Variable methods
  {
    name: "Variable arithmetic methods add/sub/rsub/mul/div/rdiv/neg/pow",
    f: (a, b) =>
      a.add(b).mul(a).sub(b.pow(2)).div(b.rsub(3)).add(b.rsub(3).rdiv(2)).neg()
        .add(a.rsub(1).mul(b)),
    inputs: (m) => [m.r([2, 1]), m.r([1, 3], 0.5, 1)],
  },
  {
    name: "Variable shape methods reshape/transpose/T/flatten/expandDims/broadcastTo/sumTo",
    f: (a) =>
      a.reshape(3, 2).T.transpose(1, 0).reshape([2, 3]).transpose().flatten().expandDims(0)
        .broadcastTo([2, 3, 2]).pow(2).sumTo([1, 3, 2]).getItem([0, slice(1, null)]),
    inputs: (m) => [m.r([1, 6])],
  },
  {
    name: "Variable math methods sin/cos/tanh/exp/log/sqrt/abs/clip",
    f: (a) =>
      a.sin().add(a.cos()).mul(a.tanh()).add(a.exp()).add(a.log()).mul(a.sqrt()).add(
        a.abs().clip(0.3, 1.5),
      ),
    inputs: (m) => [m.v([0.6, 1.2, 0.9, 1.8, 0.45], [5, 1])],
  },
  {
    name: "Variable reduction methods sum/mean/max/min/logsumexp/matmul",
    f: (a) =>
      a.sum(0).mul(a.mean(1, true)).add(a.max(0)).mul(a.min(1, true)).add(a.logsumexp(0))
        .matmul(a.T),
    inputs: (m) => [m.s([3, 2])],
  },
  {
    name: "Variable activation methods sigmoid/relu/leakyRelu/gelu/softmax/logSoftmax",
    f: (a) =>
      a.sigmoid().mul(a.relu()).add(a.leakyRelu(0.1).pow(2)).add(a.gelu()).mul(a.softmax(0))
        .add(a.logSoftmax().mul(a.softmax())),
    inputs: (m) => [m.s([3, 1])],
  },
];

for (const c of CASES) {
  Deno.test(`${c.name}: order-2 gradient check (cpu, float64)`, async () => {
    const xs = c.inputs(make("cpu", "float64"));
    const r = await utils.gradientCheck(c.f, xs, { order: 2, eps: c.cpuEps });
    assert.ok(r.ok, r.failures.join("\n"));
  });
  if (c.cpuOnly) continue;
  gpuTest(`${c.name}: order-2 gradient check (gpu, float32)`, async () => {
    const xs = c.inputs(make("gpu", "float32"));
    const r = await utils.gradientCheck(c.f, xs, { order: 2 });
    assert.ok(r.ok, r.failures.join("\n"));
  });
}
