import { deepStrictEqual, equal, ok, throws } from "node:assert/strict";
import {
  Config,
  Generator,
  manualSeed,
  ones,
  randn,
  tensor,
  testMode,
  utils,
  type Variable,
  zeros,
} from "../mod.ts";
import * as N from "./functions.ts";
import * as F from "./f.ts";
import { fusedKernels } from "./_fused.ts";

const f64 = { dtype: "float64" as const };

async function check2(
  f: (...xs: Variable[]) => Variable,
  xs: Variable[],
  opts: utils.GradientCheckOptions = {},
): Promise<void> {
  const r = await utils.gradientCheck(f, xs, { order: 2, ...opts });
  ok(r.ok, r.failures.join("\n"));
}

async function close(a: Variable, b: number[] | number[][] | Variable, tol = 1e-6): Promise<void> {
  const r = await utils.compare(a, b as Variable, { rtol: tol, atol: tol });
  ok(r.ok, r.message);
}

function rnd(shape: number[], seed = 0): Variable {
  return randn(shape, { ...f64, generator: new Generator(seed) });
}

/** Values spread apart so max/relu have no ties or kinks within the finite-difference step. */
function spread(shape: number[], seed = 0): Variable {
  const n = shape.reduce((a, b) => a * b, 1);
  const g = new Generator(seed);
  const perm = g.permutation(n);
  const data = Float64Array.from(perm, (p) => (p - n / 2 + 0.37) * 0.3);
  return tensor(data, { shape, ...f64 });
}

Deno.test("sigmoid() values and second derivative match numerical", async () => {
  await close(N.sigmoid(tensor([0, 2], f64)), [0.5, 1 / (1 + Math.exp(-2))]);
  await check2(N.sigmoid, [rnd([3, 4])]);
});

Deno.test("relu() and leakyRelu() values and derivatives match numerical", async () => {
  await close(N.relu(tensor([-1, 2], f64)), [0, 2]);
  await close(N.leakyRelu(tensor([-1, 2], f64), 0.1), [-0.1, 2]);
  await check2(N.relu, [spread([3, 4])]);
  await check2((x) => N.leakyRelu(x, 0.3), [spread([3, 4], 1)]);
});

Deno.test("gelu() matches x·Φ(x) and its derivatives match numerical", async () => {
  // Φ(1) = 0.8413447460685429
  await close(N.gelu(tensor([1, -1, 0], f64)), [0.8413447460685429, -0.15865525393145707, 0]);
  await check2(N.gelu, [rnd([2, 5])]);
  await check2(N.erf, [rnd([5], 2)]);
});

Deno.test("softmax() and logSoftmax() values, fused and composed paths agree", async () => {
  const x = tensor([[1, 2, 3], [1000, 1000, 1000]], f64);
  const e = [Math.exp(-2), Math.exp(-1), 1];
  const s = e[0] + e[1] + e[2];
  await close(N.softmax(x), [e.map((v) => v / s), [1 / 3, 1 / 3, 1 / 3]]);
  await close(N.logSoftmax(x), [e.map((v) => Math.log(v / s)), Array(3).fill(-Math.log(3))]);
  const y = rnd([3, 4, 5]);
  for (const axis of [0, 1, -1]) {
    const fusedS = N.softmax(y, axis);
    const fusedL = N.logSoftmax(y, axis);
    fusedKernels.enabled = false;
    try {
      await close(N.softmax(y, axis), fusedS as Variable, 1e-12);
      await close(N.logSoftmax(y, axis), fusedL as Variable, 1e-12);
    } finally {
      fusedKernels.enabled = true;
    }
  }
});

Deno.test("softmax() and logSoftmax() second derivatives match numerical", async () => {
  await check2((x) => N.softmax(x, 1), [rnd([2, 4])]);
  await check2((x) => N.softmax(x, 0), [rnd([3, 2], 1)]);
  await check2((x) => N.logSoftmax(x, 1), [rnd([2, 4], 2)]);
});

Deno.test("softmaxCrossEntropy() value and second derivative match numerical", async () => {
  const x = tensor([[1, 2, 3], [0, -1, 5]], f64);
  const t = tensor([2, 0], { dtype: "int32" });
  const l0 = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)) - 3;
  const l1 = Math.log(1 + Math.exp(-1) + Math.exp(5)) - 0;
  await close(N.softmaxCrossEntropy(x, t), [(l0 + l1) / 2].flat() as number[]);
  await check2(N.softmaxCrossEntropy, [rnd([3, 4]), tensor([3, 0, 1], { dtype: "int32" })]);
  throws(() => N.softmaxCrossEntropy(x, tensor([0, 1, 2], { dtype: "int32" })), /3 labels/);
  throws(() => N.softmaxCrossEntropy(x, tensor([0, 1], f64)), /labels must be int32/);
});

Deno.test("softmaxCrossEntropy() is finite when a non-target logit is -Infinity (a masked class)", async () => {
  const x = tensor([[0, -Infinity, 0], [1, 2, -Infinity]], f64);
  const t = tensor([0, 1], { dtype: "int32" });
  const s0 = 1 / (1 + Math.E); // softmax of row 1 at class 0
  for (const enabled of [true, false]) {
    fusedKernels.enabled = enabled;
    try {
      const loss = N.softmaxCrossEntropy(x, t);
      // NumPy / PyTorch: (log 2 + log(e + e²) - 2) / 2; a one-hot product would give -inf · 0 = NaN.
      await close(loss, [(Math.LN2 + Math.log(Math.E + Math.E ** 2) - 2) / 2]);
      x.cleargrad();
      loss.backward();
      // (softmax(x) - onehot(t)) / N
      await close(x.grad!, [[-0.25, 0, 0.25], [s0 / 2, -s0 / 2, 0]]);
      // A -Infinity target logit is an infinite loss, not NaN.
      equal(await N.softmaxCrossEntropy(tensor([[-Infinity, 0]], f64), [0]).item(), Infinity);
    } finally {
      fusedKernels.enabled = true;
    }
  }
  const mask = tensor([[0, -Infinity, 0, 0], [0, 0, 0, -Infinity], [-Infinity, 0, 0, 0]], f64);
  await check2((x) => N.softmaxCrossEntropy(x.add(mask), [2, 0, 1]), [rnd([3, 4], 3)]);
});

Deno.test("sigmoidCrossEntropy() and binaryCrossEntropy() agree and differentiate twice", async () => {
  const x = rnd([4, 1]);
  const t = tensor([[1], [0], [1], [0]], f64);
  const p = N.sigmoid(x);
  await close(N.sigmoidCrossEntropy(x, t), N.binaryCrossEntropy(p, t), 1e-9);
  await check2(N.sigmoidCrossEntropy, [x, t]);
  await check2((p, t) => N.binaryCrossEntropy(p, t), [
    tensor([0.2, 0.7, 0.9], f64),
    tensor([0, 1, 1], f64),
  ]);
  // A number target is a scalar of the input's dtype; array targets must match the shape.
  await close(N.binaryCrossEntropy(tensor([0.9, 0.8], f64), 1), [
    -(Math.log(0.9) + Math.log(0.8)) / 2,
  ]);
  await close(
    N.sigmoidCrossEntropy(x, 1),
    N.sigmoidCrossEntropy(x, tensor([[1], [1], [1], [1]], f64)),
  );
  throws(
    () => N.binaryCrossEntropy(p, tensor([1, 0, 1, 0], f64)),
    /binaryCrossEntropy: targets \[4\] must have the shape of the input \[4,1\]/,
  );
  throws(
    () => N.sigmoidCrossEntropy(x, tensor([1, 0, 1, 0], f64)),
    /sigmoidCrossEntropy: targets \[4\] must have the shape of the input \[4,1\]/,
  );
});

Deno.test("meanSquaredError() divides by the batch size and differentiates twice", async () => {
  await close(N.meanSquaredError(tensor([[1, 2], [3, 4]], f64), zeros([2, 2], f64)), [15].flat());
  await check2(N.meanSquaredError, [rnd([3, 2]), rnd([3, 2], 1)]);
});

Deno.test("meanSquaredError() and the binary cross entropies promote int32 inputs to float32", async () => {
  const a = tensor(new Int32Array([1, 2, 3, -4]));
  const b = tensor(new Int32Array([2, 0, 2, 3]));
  const mse = N.meanSquaredError(a, b);
  equal(mse.dtype, "float32");
  equal(await mse.item(), 55 / 4); // not the truncated 13
  equal(await N.meanSquaredError(a, b.astype("float64")).item(), 55 / 4);
  // Fractional targets must not be truncated to the dtype of an int32 input.
  const xi = tensor(new Int32Array([1, -1, 0]));
  const xf = xi.astype("float32");
  const t = tensor([0.5, 1, 0.25]);
  const sce = N.sigmoidCrossEntropy(xi, t);
  equal(sce.dtype, "float32");
  await close(sce, N.sigmoidCrossEntropy(xf, t), 1e-6);
  const p = tensor(new Int32Array([1, 0, 1]));
  await close(N.binaryCrossEntropy(p, t), N.binaryCrossEntropy(p.astype("float32"), t), 1e-6);
  const logits = tensor(new Int32Array([1, 2, 3]), { shape: [1, 3] });
  const ce = N.softmaxCrossEntropy(logits, [0]);
  equal(ce.dtype, "float32");
  await close(ce, [Math.log(Math.E + Math.E ** 2 + Math.E ** 3) - 1]);
  const img = tensor(new Int32Array([1, 2, 3, 5]), { shape: [1, 1, 2, 2] });
  await close(N.averagePooling(img, 2), [[[[2.75]]]] as unknown as number[][]);
});

Deno.test("accuracy() counts argmax hits", async () => {
  const y = tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7]]);
  ok(Math.abs(await N.accuracy(y, tensor([1, 0, 0], { dtype: "int32" })).item() - 2 / 3) < 1e-6);
});

Deno.test("dropout() scales kept elements at train time and is the identity in test mode", async () => {
  manualSeed(0);
  const x = ones([1000], f64);
  const y = await N.dropout(x, 0.25).data();
  const kept = y.filter((v) => v !== 0);
  ok(kept.every((v) => Math.abs(v - 4 / 3) < 1e-12));
  ok(Math.abs(kept.length / 1000 - 0.75) < 0.05, `kept ${kept.length}`);
  const z = testMode(() => N.dropout(x, 0.25));
  deepStrictEqual(await z.data(), await x.data());
  // A fixed mask (same generator seed each call) is differentiable twice.
  await check2((v) => N.dropout(v, 0.5, { generator: new Generator(3) }), [rnd([2, 3])]);
});

Deno.test("batchNorm() normalizes with batch statistics and updates running statistics", async () => {
  const x = tensor([[1, 10], [3, 20], [5, 60]], f64);
  const mean = zeros([2], f64);
  const variance = ones([2], f64);
  const y = N.batchNorm(x, ones([2], f64), zeros([2], f64), mean, variance, { eps: 0 });
  const std0 = Math.sqrt(8 / 3);
  await close(y.getItem([":", 0]), [-2 / std0, 0, 2 / std0]);
  // decay 0.9: 0.1 * batch mean; the variance is unbiased (m / (m - 1)).
  await close(mean, [0.3, 3]);
  await close(variance, [0.9 + 0.1 * 4, 0.9 + 0.1 * 700]);
  const z = testMode(() => N.batchNorm(x, ones([2], f64), zeros([2], f64), mean, variance));
  await close(z.getItem([":", 0]), [0.7, 2.7, 4.7].map((v) => v / Math.sqrt(1.3 + 2e-5)));
});

Deno.test("batchNorm() in training rejects an empty batch and leaves the running statistics", async () => {
  for (const shape of [[0, 3], [0, 3, 2, 2], [2, 3, 2, 0]]) {
    const mean = tensor([1, 2, 3]), variance = tensor([4, 5, 6]);
    throws(
      () => N.batchNorm(zeros(shape), ones([3]), zeros([3]), mean, variance),
      new TypeError(
        `batchNorm: input of shape ${JSON.stringify(shape)} has no values per channel to take ` +
          `batch statistics from in training mode: skip empty batches (or use test mode)`,
      ),
    );
    deepStrictEqual([...await mean.data(), ...await variance.data()], [1, 2, 3, 4, 5, 6]);
    // Test mode needs no batch statistics: an empty batch gives an empty output.
    const y = testMode(() => N.batchNorm(zeros(shape), ones([3]), zeros([3]), mean, variance));
    deepStrictEqual(y.shape, shape);
  }
  // No channels: nothing to compute, nothing to spoil.
  deepStrictEqual(N.batchNorm(zeros([0, 0]), ones([0]), zeros([0]), zeros([0]), ones([0])).shape, [
    0,
    0,
  ]);
});

Deno.test("batchNorm() differentiates twice in train and test mode, for 2-D and 4-D input", async () => {
  const stats = (c: number) => [zeros([c], f64), ones([c], f64)] as const;
  const [m2, v2] = stats(3);
  await check2((x, g, b) => N.batchNorm(x, g, b, m2, v2), [rnd([4, 3]), rnd([3], 1), rnd([3], 2)]);
  const [m4, v4] = stats(2);
  await check2(
    (x, g, b) => N.batchNorm(x, g, b, m4, v4),
    [rnd([2, 2, 2, 3], 3), rnd([2], 4), rnd([2], 5)],
  );
  ok(Config.train);
  // testMode() restores the flag when its callback returns, before an async check finishes.
  Config.train = false;
  try {
    await check2((x, g, b) => N.batchNorm(x, g, b, m2, v2), [
      rnd([4, 3], 6),
      rnd([3], 7),
      rnd([3], 8),
    ]);
  } finally {
    Config.train = true;
  }
});

Deno.test("layerNorm() normalizes the last axes and differentiates twice", async () => {
  const y = N.layerNorm(tensor([[1, 2, 3]], f64), ones([3], f64), zeros([3], f64), { eps: 0 });
  const s = Math.sqrt(2 / 3);
  await close(y, [[-1 / s, 0, 1 / s]]);
  await check2((x, g, b) => N.layerNorm(x, g, b), [rnd([2, 4]), rnd([4], 1), rnd([4], 2)]);
  throws(() => N.layerNorm(rnd([2, 4]), ones([3]), zeros([3])), /gamma of shape \[3\]/);
});

Deno.test("embedId() gathers rows and scatters gradients back, twice", async () => {
  const W = tensor([[1, 2], [3, 4], [5, 6]], f64);
  const ids = tensor([[2, 0, 2]], { dtype: "int32" });
  const y = N.embedId(ids, W);
  deepStrictEqual(y.shape, [1, 3, 2]);
  await close(y, [[5, 6], [1, 2], [5, 6]].map((r) => r) as unknown as number[][]);
  y.sum().backward();
  await close(W.grad!, [[1, 1], [0, 0], [2, 2]]);
  await check2((w) => N.embedId(ids, w).mul(N.embedId(ids, w)), [rnd([3, 2])]);
});

Deno.test("im2col() / col2im() are adjoint and differentiate twice", async () => {
  const x = rnd([1, 2, 4, 4]);
  const col = N.im2col(x, 3, { stride: 1, pad: 1 });
  deepStrictEqual(col.shape, [16, 18]);
  // <im2col(x), c> == <x, col2im(c)>
  const c = rnd([16, 18], 1);
  const lhs = await col.mul(c).sum().item();
  const rhs = await x.mul(N.col2im(c, [1, 2, 4, 4], 3, { stride: 1, pad: 1 })).sum().item();
  ok(Math.abs(lhs - rhs) < 1e-9, `${lhs} vs ${rhs}`);
  await check2((v) => N.im2col(v, 2, { stride: 2, pad: 1 }).pow(2), [rnd([1, 1, 3, 3], 2)]);
  await check2((v) => N.col2im(v, [1, 1, 3, 3], 2, { stride: 1 }).pow(2), [rnd([4, 4], 3)]);
});

/** Direct convolution, the textbook loop, as the reference. */
async function naiveConv(x: Variable, W: Variable, stride: number, pad: number): Promise<number[]> {
  const xs = await x.data();
  const ws = await W.data();
  const [n, c, h, w] = x.shape;
  const [oc, , kh, kw] = W.shape;
  const oh = Math.floor((h + 2 * pad - kh) / stride) + 1;
  const ow = Math.floor((w + 2 * pad - kw) / stride) + 1;
  const out: number[] = [];
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < oc; o++) {
      for (let i = 0; i < oh; i++) {
        for (let j = 0; j < ow; j++) {
          let s = 0;
          for (let ci = 0; ci < c; ci++) {
            for (let p = 0; p < kh; p++) {
              for (let q = 0; q < kw; q++) {
                const yy = i * stride - pad + p;
                const xx = j * stride - pad + q;
                if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                s += xs[((b * c + ci) * h + yy) * w + xx] * ws[((o * c + ci) * kh + p) * kw + q];
              }
            }
          }
          out.push(s);
        }
      }
    }
  }
  return out;
}

Deno.test("conv2d() matches direct convolution and differentiates twice", async () => {
  const x = rnd([2, 3, 5, 6]);
  const W = rnd([4, 3, 3, 2], 1);
  for (const [stride, pad] of [[1, 0], [2, 1], [1, 2]]) {
    const y = N.conv2d(x, W, null, { stride, pad });
    const ref = await naiveConv(x, W, stride, pad);
    const r = await utils.compare(await y.data(), Float64Array.from(ref), {
      rtol: 1e-10,
      atol: 1e-10,
    });
    ok(r.ok, r.message);
  }
  const b = tensor([1, 2, 3, 4], f64);
  const yb = await N.conv2d(x, W, b).data();
  const y0 = await N.conv2d(x, W).data();
  equal(yb[yb.length - 1] - y0[y0.length - 1], 4);
  await check2(
    (x, W, b) => N.conv2d(x, W, b, { stride: 2, pad: 1 }),
    [rnd([1, 2, 4, 4], 2), rnd([3, 2, 3, 3], 3), rnd([3], 4)],
  );
});

Deno.test("deconv2d() is the input-gradient of conv2d and differentiates twice", async () => {
  // <conv2d(x, W), y> == <x, deconv2d(y, W)> with W read as [C, OC, KH, KW] for deconv.
  const x = rnd([1, 2, 5, 5]);
  const W = rnd([3, 2, 3, 3], 1);
  const y = rnd([1, 3, 3, 3], 2);
  const lhs = await N.conv2d(x, W, null, { stride: 2, pad: 1 }).mul(y).sum().item();
  const d = N.deconv2d(y, W, null, { stride: 2, pad: 1, outsize: [5, 5] });
  deepStrictEqual(d.shape, [1, 2, 5, 5]);
  const rhs = await x.mul(d).sum().item();
  ok(Math.abs(lhs - rhs) < 1e-9, `${lhs} vs ${rhs}`);
  throws(() => N.deconv2d(y, W, null, { stride: 2, pad: 1, outsize: [9, 9] }), /outsize/);
  await check2(
    (x, W, b) => N.deconv2d(x, W, b, { stride: 2, pad: 1 }),
    [rnd([1, 2, 2, 2], 3), rnd([2, 3, 3, 3], 4), rnd([3], 5)],
  );
});

Deno.test("conv2d() and deconv2d() name themselves for a wrong bias or an empty output", () => {
  throws(() => N.conv2d(ones([1, 2, 3, 3]), ones([2, 2, 3, 3]), ones([3])), {
    name: "TypeError",
    message: "conv2d: bias of shape [3] does not match filters [2,2,3,3]: expected [2]",
  });
  throws(() => N.conv2d(ones([1, 2, 3, 3]), ones([2, 2, 3, 3]), ones([2, 1])), {
    name: "TypeError",
    message: "conv2d: bias of shape [2,1] does not match filters [2,2,3,3]: expected [2]",
  });
  throws(() => N.deconv2d(ones([1, 2, 3, 3]), ones([2, 4, 1, 1]), ones([2])), {
    name: "TypeError",
    message: "deconv2d: bias of shape [2] does not match filters [2,4,1,1]: expected [4]",
  });
  throws(() => N.deconv2d(ones([1, 2, 1, 1]), ones([2, 1, 1, 1]), null, { pad: 1 }), {
    name: "RangeError",
    message: "deconv2d: output size [-1,-1] of input [1,2,1,1] with kernel 1x1, stride 1,1 " +
      "and pad 1,1 is less than 1",
  });
  throws(
    () => N.deconv2d(ones([1, 2, 1, 1]), ones([2, 1, 1, 1]), null, { pad: 1, outsize: [-1, -1] }),
    {
      name: "RangeError",
      message:
        'deconv2d: option "outsize" must be a pair of positive integers [OH, OW], got an array [-1, -1]',
    },
  );
});

Deno.test("pooling() defaults stride to the kernel, ignores padding and differentiates twice", async () => {
  const x = tensor(
    [[[[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]]],
    f64,
  );
  await close(N.pooling(x, 2), [[[[6, 8], [14, 16]]]] as unknown as number[][]);
  // Negative values with padding: the zero padding must never win.
  const neg = x.neg();
  await close(
    N.pooling(neg, 2, { pad: 1 }),
    [[[[-1, -2, -4], [-5, -6, -8], [-13, -14, -16]]]] as unknown as number[][],
  );
  await check2((v) => N.pooling(v, 2), [spread([1, 2, 4, 4])]);
  await check2((v) => N.pooling(v, 3, { stride: 2, pad: 1 }), [spread([1, 1, 5, 5], 1)]);
});

Deno.test("pooling() routes each gradient to the first maximum of its window, as PyTorch", async () => {
  // Every window has ties: [1 1; 1 0], [0 2; 2 2], [5 5; 5 5], [3 3; 3 3].
  const x = tensor([[[[1, 1, 0, 2], [1, 0, 2, 2], [5, 5, 3, 3], [5, 5, 3, 3]]]]);
  const y = N.pooling(x, 2);
  await close(y, [[[[1, 2], [5, 3]]]] as unknown as number[][]);
  y.mul(tensor([[[[1, 2], [3, 4]]]])).sum().backward();
  await close(
    x.grad!,
    [[[[1, 0, 0, 2], [0, 0, 0, 0], [3, 0, 4, 0], [0, 0, 0, 0]]]] as unknown as number[][],
  );
  // Overlapping windows add up at a shared maximum.
  const z = tensor([[[[0, 9, 0]]]]);
  N.pooling(z, [1, 2], { stride: 1 }).sum().backward();
  await close(z.grad!, [[[[0, 2, 0]]]] as unknown as number[][]);
  // A NaN wins its window.
  const nan = await N.pooling(tensor([[[[1, NaN, 3, 4]]]]), [1, 2]).toArray() as number[][][][];
  ok(Number.isNaN(nan[0][0][0][0]));
  equal(nan[0][0][0][1], 4);
  throws(() => N.pooling(x, 2, { pad: 2 }), {
    name: "RangeError",
    message: "pooling: pad 2,2 must be at most half the kernel size 2x2",
  });
});

Deno.test("averagePooling() averages windows and differentiates twice", async () => {
  const x = tensor([[[[1, 2, 3, 4], [5, 6, 7, 8]]]], f64);
  await close(N.averagePooling(x, 2), [[[[3.5, 5.5]]]] as unknown as number[][]);
  await check2((v) => N.averagePooling(v, 2, { stride: 1, pad: 1 }), [rnd([1, 2, 3, 3])]);
});

Deno.test("Variable methods mirror the activations of F, and F exports DeZero's Function classes", async () => {
  const x = rnd([3, 4], 5);
  const pairs: [Variable, Variable][] = [
    [x.relu(), N.relu(x)],
    [x.sigmoid(), N.sigmoid(x)],
    [x.leakyRelu(), N.leakyRelu(x)],
    [x.leakyRelu(0.1), N.leakyRelu(x, 0.1)],
    [x.gelu(), N.gelu(x)],
    [x.softmax(), N.softmax(x)],
    [x.softmax(0), N.softmax(x, 0)],
    [x.logSoftmax(), N.logSoftmax(x)],
    [x.logSoftmax(-1), N.logSoftmax(x, -1)],
    [x.logsumexp(), F.logsumexp(x)],
    [x.logsumexp(1, true), F.logsumexp(x, 1, true)],
  ];
  for (const [a, b] of pairs) {
    deepStrictEqual(a.shape, b.shape);
    await close(a, b, 0);
  }
  // DeZero's `Sin()(x)` is `new F.Sin().apply(x)`, differentiable twice like F.sin.
  const y = new F.Sin().apply(x);
  await close(y, x.sin(), 0);
  await check2((x) => new F.Sin().apply(x), [rnd([2, 3], 6)]);
  await check2((x) => new F.Pow(3).apply(x), [rnd([2, 3], 7)]);
  await check2((x) => new F.LeakyReLU().apply(x), [spread([2, 3], 8)]);
  await close(new F.Clip(-0.5, 0.5).apply(x), x.clip(-0.5, 0.5), 0);
  await close(
    new F.MeanSquaredError().apply(x, zeros([3, 4], f64)),
    N.meanSquaredError(x, zeros([3, 4], f64)),
    0,
  );
});

// ------------------------------------------------------------ options, as plain JavaScript calls them

/** The functions without their types, as plain JavaScript and notebooks call them. */
// deno-lint-ignore no-explicit-any
const js: any = N;

/** Asserts that `fn` throws an instance of `cls` whose message includes `part`. */
function throwsWith(fn: () => unknown, cls: ErrorConstructor, part: string): void {
  throws(fn, (e: unknown) => {
    ok(e instanceof cls, `expected a ${cls.name}, got ${e}`);
    ok(e.message.includes(part), `expected "${part}" in: ${e.message}`);
    return true;
  });
}

Deno.test("conv2d() rejects positional stride and pad, unknown options and bad values", () => {
  const x = ones([1, 1, 4, 4]), W = ones([2, 1, 3, 3]);
  // DeZero's conv2d(x, W, b, stride, pad): the output was [1,2,2,2], silently.
  throws(() => js.conv2d(x, W, null, 1, 1), {
    name: "TypeError",
    message: "conv2d: options must be an object such as { stride: 1, pad: 1 }, got 1 " +
      "(positional arguments after b are not accepted)",
  });
  throws(() => js.conv2d(x, W, null, { padding: 1 }), {
    name: "TypeError",
    message: 'conv2d: unknown option "padding": expected stride, pad',
  });
  throws(() => js.conv2d(x, W, null, { pad: 1 }, 1), {
    name: "TypeError",
    message: "conv2d: takes at most 4 arguments (x, W, b, options), got 5: " +
      "pass the options as one object such as { stride: 1, pad: 1 }",
  });
  throws(() => js.conv2d(x, W, { pad: 1 }), {
    name: "TypeError",
    message: "conv2d: b must be a tensor or null, got a plain object: " +
      "the options come fourth, as in conv2d(x, W, null, { stride: 1, pad: 1 })",
  });
  throws(() => js.conv2d(x, W, null, { stride: 0 }), {
    name: "RangeError",
    message: 'conv2d: option "stride" must be a positive integer or a pair of them, got 0',
  });
  throws(() => js.conv2d(x, W, null, { pad: -1 }), {
    name: "RangeError",
    message: 'conv2d: option "pad" must be a non-negative integer or a pair of them, got -1',
  });
  throwsWith(() => js.conv2d(x, W, null, { stride: "2" }), TypeError, 'got a string "2"');
  throwsWith(() => js.conv2d(x, W, null, { stride: [1, 1, 1] }), TypeError, 'option "stride"');
  throwsWith(() => js.conv2d(x, W, null, { pad: 0.5 }), TypeError, 'option "pad"');
  throwsWith(() => js.conv2d(x, W, null, "same"), TypeError, 'got a string "same"');
});

Deno.test("conv2d() keeps its valid calls: options, pairs, undefined and a bias", () => {
  const x = ones([1, 1, 4, 4]), W = ones([2, 1, 3, 3]);
  deepStrictEqual(N.conv2d(x, W, null, { stride: 1, pad: 1 }).shape, [1, 2, 4, 4]);
  deepStrictEqual(N.conv2d(x, W, null, { stride: [1, 2], pad: [1, 0] }).shape, [1, 2, 4, 1]);
  deepStrictEqual(N.conv2d(x, W, zeros([2]), { stride: undefined }).shape, [1, 2, 2, 2]);
  deepStrictEqual(N.conv2d(x, W, undefined, undefined).shape, [1, 2, 2, 2]);
  deepStrictEqual(N.conv2d(x, W).shape, [1, 2, 2, 2]);
});

Deno.test("deconv2d() rejects positional stride and pad, unknown options and a bad outsize", () => {
  const y = ones([1, 2, 3, 3]), W = ones([2, 1, 3, 3]);
  throwsWith(
    () => js.deconv2d(y, W, null, 2, 1),
    TypeError,
    "deconv2d: options must be an object such as { stride: 2, pad: 1 }, got 2 " +
      "(positional arguments after b are not accepted)",
  );
  throwsWith(
    () => js.deconv2d(y, W, null, { outputPadding: 1 }),
    TypeError,
    'deconv2d: unknown option "outputPadding": expected stride, pad, outsize',
  );
  throwsWith(() => js.deconv2d(y, W, null, {}, 1), TypeError, "deconv2d: takes at most 4");
  throwsWith(() => js.deconv2d(y, W, null, { stride: 0 }), RangeError, 'deconv2d: option "stride"');
  throws(() => js.deconv2d(y, W, null, { stride: 2, outsize: 7 }), {
    name: "TypeError",
    message: 'deconv2d: option "outsize" must be a pair of positive integers [OH, OW], got 7',
  });
  deepStrictEqual(N.deconv2d(y, W, null, { stride: 2, pad: 1 }).shape, [1, 1, 5, 5]);
  deepStrictEqual(N.deconv2d(y, W, null, { stride: 2, pad: 1, outsize: [6, 6] }).shape, [
    1,
    1,
    6,
    6,
  ]);
});

Deno.test("pooling() and averagePooling() reject a positional stride and unknown options", () => {
  const x = ones([1, 1, 4, 4]);
  for (const op of ["pooling", "averagePooling"]) {
    // DeZero's pooling(x, 2, 1) (stride 1): the stride stayed 2, silently.
    throws(() => js[op](x, 2, 1), {
      name: "TypeError",
      message: `${op}: options must be an object such as { stride: 2, pad: 0 }, got 1 ` +
        "(positional arguments after kernelSize are not accepted)",
    });
    throws(() => js[op](x, 2, { padding: 1 }), {
      name: "TypeError",
      message: `${op}: unknown option "padding": expected stride, pad`,
    });
    throwsWith(() => js[op](x, 2, {}, 1), TypeError, `${op}: takes at most 3 arguments`);
    throwsWith(() => js[op](x, 2, { stride: 0 }), RangeError, `${op}: option "stride"`);
    throwsWith(() => js[op](x, 2, { pad: -1 }), RangeError, `${op}: option "pad"`);
    throws(() => js[op](x, 0), {
      name: "RangeError",
      message: `${op}: kernelSize must be a positive integer or a pair of them, got 0`,
    });
    throwsWith(() => js[op](x, "2"), TypeError, `${op}: kernelSize must be`);
    throwsWith(() => js[op](x, [2, 2, 2]), TypeError, `${op}: kernelSize must be`);
  }
});

Deno.test("pooling() and averagePooling() stride defaults to the kernel size, as documented", () => {
  const x = ones([1, 1, 4, 4]);
  deepStrictEqual(N.pooling(x, 2).shape, [1, 1, 2, 2]);
  deepStrictEqual(N.pooling(x, 2, { stride: 1 }).shape, [1, 1, 3, 3]);
  deepStrictEqual(N.pooling(x, [2, 1], { stride: undefined }).shape, [1, 1, 2, 4]);
  deepStrictEqual(N.averagePooling(x, 2).shape, [1, 1, 2, 2]);
  deepStrictEqual(N.averagePooling(x, 2, { stride: 1 }).shape, [1, 1, 3, 3]);
});

Deno.test("im2col() and col2im() reject positional stride and pad and unknown options", () => {
  const x = ones([1, 1, 4, 4]);
  throwsWith(
    () => js.im2col(x, 2, 2),
    TypeError,
    "im2col: options must be an object such as { stride: 1, pad: 1 }, got 2 " +
      "(positional arguments after kernelSize are not accepted)",
  );
  throwsWith(
    () => js.im2col(x, 2, { strides: 2 }),
    TypeError,
    'im2col: unknown option "strides": expected stride, pad, toMatrix',
  );
  throwsWith(
    () => js.im2col(x, 2, { toMatrix: 0 }),
    TypeError,
    'im2col: option "toMatrix" must be a boolean, got 0',
  );
  throwsWith(() => js.im2col(x, 2, {}, 2), TypeError, "im2col: takes at most 3 arguments");
  throwsWith(() => js.im2col(x, 2, { stride: -2 }), RangeError, 'im2col: option "stride"');
  const col = N.im2col(x, 2, { stride: 2 });
  deepStrictEqual(col.shape, [4, 4]);
  throwsWith(
    () => js.col2im(col, [1, 1, 4, 4], 2, 2),
    TypeError,
    "col2im: options must be an object such as { stride: 1, pad: 1 }, got 2 " +
      "(positional arguments after kernelSize are not accepted)",
  );
  throwsWith(() => js.col2im(col, [1, 1, 4, 4], 2, { padding: 0 }), TypeError, "col2im: unknown");
  throwsWith(() => js.col2im(col, [1, 1, 4, 4], 2, {}, 2), TypeError, "col2im: takes at most 4");
  deepStrictEqual(N.col2im(col, [1, 1, 4, 4], 2, { stride: 2 }).shape, [1, 1, 4, 4]);
  deepStrictEqual(N.im2col(x, 2, { toMatrix: false }).shape, [1, 1, 2, 2, 3, 3]);
});

Deno.test("dropout() rejects a number as options, a bad generator and a bad ratio", async () => {
  const x = ones([4]);
  for (const mode of [(f: () => unknown) => f(), testMode]) {
    throws(() => mode(() => js.dropout(x, 0.5, 123)), {
      name: "TypeError",
      message: "dropout: options must be an object such as { generator: new Generator(0) }, " +
        "got 123 (positional arguments after ratio are not accepted)",
    });
  }
  throws(() => js.dropout(x, 0.5, { seed: 1 }), {
    name: "TypeError",
    message: 'dropout: unknown option "seed": expected generator',
  });
  throws(() => js.dropout(x, 0.5, { generator: 3 }), {
    name: "TypeError",
    message: 'dropout: option "generator" must be a Generator, got 3',
  });
  throwsWith(() => js.dropout(x, 0.5, {}, 1), TypeError, "dropout: takes at most 3 arguments");
  throwsWith(
    () => js.dropout(x, "0.5"),
    TypeError,
    'dropout: ratio must be a finite number, got a string "0.5"',
  );
  throwsWith(() => js.dropout(x, { ratio: 0.5 }), TypeError, "dropout: ratio must be");
  throws(() => N.dropout(x, 1), {
    name: "RangeError",
    message: "dropout: ratio must be in [0, 1), got 1",
  });
  // Valid calls: the generator drives the mask.
  const a = await N.dropout(ones([64]), 0.5, { generator: new Generator(7) }).data();
  const b = await N.dropout(ones([64]), 0.5, { generator: new Generator(7) }).data();
  deepStrictEqual(Array.from(a), Array.from(b));
  deepStrictEqual(await N.dropout(x, 0, undefined).toArray(), [1, 1, 1, 1]);
});

Deno.test("batchNorm(), layerNorm() and binaryCrossEntropy() check their options", async () => {
  const x = randn([4, 3]);
  const mean = zeros([3]), variance = ones([3]);
  const bn = (options: unknown) => js.batchNorm(x, ones([3]), zeros([3]), mean, variance, options);
  throws(() => bn(0.9), {
    name: "TypeError",
    message: "batchNorm: options must be an object such as { decay: 0.9, eps: 2e-5 }, got 0.9 " +
      "(positional arguments after runningVar are not accepted)",
  });
  throwsWith(() => bn({ momentum: 0.1 }), TypeError, 'batchNorm: unknown option "momentum"');
  throwsWith(
    () => bn({ eps: "1e-5" }),
    TypeError,
    'batchNorm: option "eps" must be a finite number',
  );
  throws(() => bn({ decay: 2 }), {
    name: "RangeError",
    message: 'batchNorm: option "decay" must be in [0, 1], got 2',
  });
  throwsWith(() => bn({ eps: -1 }), RangeError, 'batchNorm: option "eps" must be ≥ 0, got -1');
  throwsWith(
    () => js.batchNorm(x, ones([3]), zeros([3]), mean, variance, {}, 1),
    TypeError,
    "batchNorm: takes at most 6 arguments",
  );
  // Nothing was updated by the rejected calls.
  deepStrictEqual(await mean.toArray(), [0, 0, 0]);

  const y = randn([2, 5]);
  throwsWith(
    () => js.layerNorm(y, ones([5]), zeros([5]), 1e-5),
    TypeError,
    "layerNorm: options must be an object such as { eps: 1e-5 }, got 0.00001",
  );
  throws(() => js.layerNorm(y, ones([5]), zeros([5]), { epsilon: 1e-5 }), {
    name: "TypeError",
    message: 'layerNorm: unknown option "epsilon": expected eps',
  });
  throwsWith(() => js.layerNorm(y, ones([5]), zeros([5]), { eps: -1 }), RangeError, "layerNorm:");
  deepStrictEqual(N.layerNorm(y, ones([5]), zeros([5]), { eps: 1e-3 }).shape, [2, 5]);

  const p = tensor([0.9, 0.2]), t = tensor([1, 0]);
  throwsWith(
    () => js.binaryCrossEntropy(p, t, 1e-7),
    TypeError,
    "binaryCrossEntropy: options must",
  );
  throwsWith(
    () => js.binaryCrossEntropy(p, t, { epsilon: 0 }),
    TypeError,
    "binaryCrossEntropy: unknown",
  );
  throwsWith(() => js.binaryCrossEntropy(p, t, { eps: 0.6 }), RangeError, "must be in [0, 0.5]");
  deepStrictEqual(N.binaryCrossEntropy(p, t, { eps: 1e-3 }).shape, []);
});
