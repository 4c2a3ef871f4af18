import assert from "node:assert/strict";
import {
  arange,
  asVariable,
  Config,
  F,
  full,
  Function,
  initGpu,
  manualSeed,
  memoryStats,
  type NDArray,
  noGrad,
  ones,
  Parameter,
  randn,
  slice,
  tensor,
  testMode,
  tidy,
  usingConfig,
  utils,
  Variable,
  zeros,
} from "../mod.ts";
import * as ops from "../core/ops.ts";
import { gpuTest } from "../shaders/test_util.ts";

const f64 = { dtype: "float64" as const };

Deno.test("tensor() infers shapes from nested arrays and TypedArrays", async () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.deepEqual(x.shape, [2, 3]);
  assert.equal(x.dtype, "float32");
  assert.equal(x.length, 2);
  assert.deepEqual(await x.toArray(), [[1, 2, 3], [4, 5, 6]]);
  const s = tensor(3.5, f64);
  assert.deepEqual(s.shape, []);
  assert.equal(await s.item(), 3.5);
  const t = tensor(new Int32Array([1, 2, 3, 4]), { shape: [2, 2] });
  assert.equal(t.dtype, "int32");
  assert.deepEqual(await t.toArray(), [[1, 2], [3, 4]]);
});

Deno.test("tensor() rejects ragged arrays, bad dtypes and mismatched shapes", () => {
  assert.throws(
    () => tensor([[1, 2], [3]]),
    /tensor: ragged nested array: expected length 2 at index \[1\] but got 1/,
  );
  assert.throws(() => tensor([[1, 2], 3]), /ragged/);
  assert.throws(
    () => tensor([1], { dtype: "float16" as never }),
    /tensor: unknown dtype "float16"/,
  );
  assert.throws(
    () => tensor(new Float32Array(3), { shape: [2, 2] }),
    /shape \[2,2\] does not match 3 elements/,
  );
  assert.throws(() => tensor(new Uint8Array(3) as never), /unsupported TypedArray Uint8Array/);
});

Deno.test("toString() and inspect show values, shape and dtype", () => {
  const x = tensor([[1, 2], [3, 4]]);
  assert.equal(String(x), "variable([[1, 2],\n          [3, 4]], shape=[2,2], dtype=float32)");
  assert.equal(Deno.inspect(tensor([1.5, 2])), "variable([1.5, 2], shape=[2], dtype=float32)");
  const big = arange(5000).reshape(50, 100);
  assert.match(String(big), /\.\.\./);
});

Deno.test("backward() handles a diamond graph and shared inputs", async () => {
  // y = (x^2)^2 + (x^2)^2 = 2x^4, dy/dx = 8x^3
  const x = tensor(2, f64);
  const a = x.pow(2);
  const y = F.add(a.pow(2), a.pow(2));
  y.backward();
  assert.equal(await x.grad!.item(), 64);
  // shared input: y = x + x
  const z = tensor(3, f64);
  F.add(z, z).backward();
  assert.equal(await z.grad!.item(), 2);
});

Deno.test("backward() accumulates gradients until cleargrad()", async () => {
  const x = tensor(3, f64);
  F.mul(x, x).backward();
  F.mul(x, x).backward();
  assert.equal(await x.grad!.item(), 12);
  x.cleargrad();
  assert.equal(x.grad, null);
  F.mul(x, 2).backward();
  assert.equal(await x.grad!.item(), 2);
});

Deno.test("backward() drops intermediate grads unless retainGrad", async () => {
  const x = tensor(1, f64);
  const a = F.mul(x, 2);
  const y = F.mul(a, 3);
  y.backward();
  assert.equal(a.grad, null);
  assert.equal(y.grad, null);
  const x2 = tensor(1, f64);
  const a2 = F.mul(x2, 2);
  const y2 = F.mul(a2, 3);
  y2.backward({ retainGrad: true });
  assert.equal(await a2.grad!.item(), 3);
  assert.equal(await y2.grad!.item(), 1);
});

Deno.test("backward() releases activations at once and says how to keep them", async () => {
  const x = tensor([1, 2, 3]);
  const W = new Parameter([0.5, 1, 2]);
  const h = F.tanh(F.mul(x, W));
  const y = F.sum(F.mul(h, 2));
  y.backward();
  assert.deepEqual(await x.data(), new Float32Array([1, 2, 3]));
  assert.equal((await y.data()).length, 1);
  await assert.rejects(
    () => h.data(),
    /released by backward\(\): call backward\(\{ retainGraph: true \}\).*retainData\(\)/,
  );
  assert.throws(() => y.backward(), /graph was already freed.*retainGraph/);
  // retainGraph keeps them; retainData protects one value
  const h2 = F.tanh(F.mul(x, W));
  const y2 = F.sum(h2);
  y2.backward({ retainGraph: true });
  assert.equal((await h2.data()).length, 3);
  const expected = F.mul(F.sub(1, F.mul(h2, h2)), x);
  W.cleargrad();
  y2.backward();
  assert.ok(await utils.allclose(W.grad!, expected));
  const h3 = F.exp(F.mul(x, W)).retainData();
  F.sum(F.mul(h3, h3)).backward();
  assert.equal((await h3.data()).length, 3);
});

Deno.test("values computed from no Parameter live until two backward() calls miss them", async () => {
  // Built once and reused by every step, as `tensor(data).reshape(...)` often is.
  const x = tensor([1, 2, 3, 4, 5, 6]).reshape(3, 2);
  const W = new Parameter([[1], [-1]]);
  for (let step = 0; step < 3; step++) {
    const loss = F.sum(F.matmul(x, W));
    W.cleargrad();
    loss.backward();
    assert.deepEqual(await W.grad!.toArray(), [[9], [12]], `step ${step}`);
    assert.deepEqual(await x.toArray(), [[1, 2], [3, 4], [5, 6]]);
  }
  // A Parameter-free graph as in the book's first stages: its intermediates stay readable
  // after backward() and are freed once two backward() calls in a row have not reached them.
  const a = tensor([0.5, 1]);
  const t = F.tanh(a);
  F.sum(t).backward();
  assert.equal((await t.data()).length, 2);
  const b = tensor([2]);
  F.sum(F.mul(b, b)).backward();
  assert.equal((await t.data()).length, 2, "kept through one backward() that does not use it");
  F.sum(F.mul(b, b)).backward();
  await assert.rejects(() => t.data(), /released by backward/);
  assert.equal(t.creator, null);
  // Two graphs alternating (a GAN's two losses): what only one of them uses stays.
  const real = tensor([1, 2, 3, 4]).reshape(2, 2);
  const D = new Parameter([[1], [1]]);
  const G = new Parameter([[2, 0], [0, 2]]);
  for (let step = 0; step < 3; step++) {
    D.cleargrad();
    F.sum(F.matmul(real, D)).backward();
    assert.deepEqual(await D.grad!.toArray(), [[4], [6]], `D step ${step}`);
    G.cleargrad();
    F.sum(F.matmul(G, D)).backward();
  }
  assert.deepEqual(await real.toArray(), [[1, 2], [3, 4]]);
  // unchainBackward() cuts such a graph at once.
  const u = F.tanh(F.mul(a, 3)).retainData();
  const loss = F.sum(u);
  loss.backward();
  assert.notEqual(u.creator, null);
  loss.unchainBackward();
  assert.equal(u.creator, null);
});

Deno.test("createGraph makes grads differentiable: tanh derivatives up to 4th order", async () => {
  // d/dx tanh = 1 - t^2; d2 = -2t(1-t^2); d3 = -2(1-t^2)(1-3t^2); d4 = 8t(1-t^2)(2-3t^2)
  const x0 = 0.7;
  const t = Math.tanh(x0);
  const expected = [
    1 - t * t,
    -2 * t * (1 - t * t),
    -2 * (1 - t * t) * (1 - 3 * t * t),
    8 * t * (1 - t * t) * (2 - 3 * t * t),
  ];
  const x = tensor(x0, f64);
  let y = F.tanh(x);
  for (let order = 0; order < 4; order++) {
    x.cleargrad();
    y.backward({ createGraph: true });
    const gx = x.grad!;
    assert.ok(Math.abs((await gx.item()) - expected[order]) < 1e-10, `order ${order + 1}`);
    y = gx;
  }
});

Deno.test("Newton's method with double backprop converges as in the book", async () => {
  const x = tensor(2, f64);
  const iterates: number[] = [];
  for (let i = 0; i < 6; i++) {
    iterates.push(await x.item());
    const y = F.sub(x.pow(4), x.pow(2).mul(2));
    x.cleargrad();
    y.backward({ createGraph: true });
    const gx = x.grad!;
    x.cleargrad();
    gx.backward();
    const gx2 = x.grad!;
    x.array = ops.sub(x.array, ops.div(gx.array, gx2.array));
  }
  const book = [
    2,
    1.4545454545454546,
    1.1510467893775467,
    1.0253259289766978,
    1.0009084519430513,
    1.0000012353089454,
  ];
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(iterates[i] - book[i]) < 1e-12, `iterate ${i}`);
});

Deno.test("unchainBackward() cuts the graph above a variable", () => {
  const x = tensor(1);
  const a = F.mul(x, 2);
  const y = F.mul(a, 3);
  y.unchainBackward();
  assert.equal(y.creator, null);
  assert.equal(a.creator, null);
  y.backward();
  assert.equal(x.grad, null);
});

Deno.test("noGrad records nothing and usingConfig restores flags when fn throws", () => {
  const x = tensor(1);
  const y = noGrad(() => F.mul(x, 2));
  assert.equal(y.creator, null);
  assert.equal(Config.enableBackprop, true);
  assert.throws(() =>
    usingConfig({ enableBackprop: false, train: false }, () => {
      throw new Error("boom");
    }), /boom/);
  assert.equal(Config.enableBackprop, true);
  assert.equal(Config.train, true);
  assert.equal(testMode(() => Config.train), false);
  assert.equal(Config.train, true);
});

Deno.test("noGrad, testMode and usingConfig hold across the awaits of an async fn", async () => {
  const x = tensor([1, 2]);
  const seen: boolean[] = [];
  const y = await noGrad(async () => {
    await x.data();
    const y = x.mul(2);
    seen.push(Config.enableBackprop);
    await new Promise((r) => setTimeout(r, 1));
    return y.mul(3);
  });
  assert.equal(y.creator, null);
  assert.deepEqual(await y.toArray(), [6, 12]);
  assert.equal(
    await testMode(async () => {
      await x.data();
      return F.dropout(ones([64]), 0.5).min().item();
    }),
    1,
  );
  assert.deepEqual(seen, [false]);
  assert.equal(Config.enableBackprop, true);
  assert.equal(Config.train, true);
  // A rejection restores the flags too.
  await assert.rejects(
    usingConfig({ enableBackprop: false, train: false }, async () => {
      await x.data();
      throw new Error("boom");
    }),
    /boom/,
  );
  assert.equal(Config.enableBackprop, true);
  assert.equal(Config.train, true);
});

Deno.test("custom Functions: forward on arrays, backward on Variables, multiple outputs", async () => {
  class SplitHalves extends Function {
    forward(x: NDArray): NDArray[] {
      const n = x.shape[0] / 2;
      return [ops.mul(x.reshape([2, n]), 1), ops.mul(x.reshape([2, n]), 2)];
    }
    backward(g1: Variable, g2: Variable): Variable {
      return F.reshape(F.add(g1, F.mul(g2, 2)), this.inputs[0].shape);
    }
  }
  const x = tensor([1, 2, 3, 4], f64);
  const [a, b] = new SplitHalves().applyAll(x);
  assert.deepEqual(b.shape, [2, 2]);
  F.add(F.sum(a), F.sum(b)).backward();
  assert.deepEqual([...await x.grad!.data()], [3, 3, 3, 3]);
});

Deno.test("functions name the op and the shapes on bad input", () => {
  assert.throws(() => F.add(zeros([2, 3]), zeros([4, 3])), {
    name: "TypeError",
    message: "add: cannot broadcast shapes [2,3] and [4,3]: axis 0 is 2 vs 4",
  });
  assert.throws(
    () => F.matmul(zeros([2, 3]), zeros([4, 5])),
    /matmul: shapes \[2,3\] and \[4,5\] are not aligned: 3 vs 4/,
  );
  assert.throws(() => F.sum(zeros([2, 3]), 2), {
    name: "RangeError",
    message: "sum: axis 2 is out of range for a tensor of rank 2",
  });
  // From plain JavaScript: an axis that is not an integer says so (it read "axis 0 is out of range").
  assert.throws(() => zeros([2, 3]).sum("0" as any), {
    name: "TypeError",
    message: 'sum: an axis must be an integer, got a string "0"',
  });
  assert.throws(
    () => F.softmax(zeros([2, 3]), 0.5),
    /softmax: an axis must be an integer, got 0.5/,
  );
  assert.throws(
    () => F.reshape(zeros([2, 3]), [4, 2]),
    /reshape: cannot reshape \[2,3\] \(size 6\) to \[4,2\]/,
  );
  assert.throws(
    () => F.transpose(zeros([2, 3]), [0, 0]),
    /transpose: axes \[0,0\] are not a permutation/,
  );
  assert.throws(
    () => F.getItem(zeros([2, 3]), [0, 5]),
    /getItem: index 5 is out of bounds for axis 1 with size 3/,
  );
  assert.throws(
    () => F.getItem(zeros([2, 3]), [0, 0, 0]),
    /getItem: too many indices for shape \[2,3\]/,
  );
  assert.throws(
    () => F.concat([zeros([2, 3]), zeros([3, 3])], 1),
    /concat: shapes \[2,3\] and \[3,3\] differ outside axis 1/,
  );
  assert.throws(() => F.stack([zeros([2]), zeros([3])]), /stack: all inputs must have one shape/);
  assert.throws(() => F.clip(zeros([1]), 1, 0), /clip: lo 1 is greater than hi 0/);
  assert.throws(() => zeros([2, -1]), /full: invalid shape \[2,-1\]/);
  assert.throws(() => F.max(zeros([0, 2]), 0), /max: cannot reduce an empty axis 0/);
});

Deno.test("numbers take the dtype of the other operand; mixed dtypes promote", () => {
  const i = tensor(new Int32Array([7, -7]));
  assert.equal(F.add(i, 1).dtype, "int32");
  assert.equal(F.add(i, tensor([0.5, 0.5])).dtype, "float32");
  assert.equal(F.add(tensor([1], f64), tensor([1])).dtype, "float64");
});

Deno.test("int32 meets a fraction or `/` as in NumPy and PyTorch: float32, not truncation", async () => {
  const i = (a: number[]) => tensor(new Int32Array(a));
  const cases: [Variable, number[]][] = [
    [i([0, 128, 255]).div(255), [0, 128 / 255, 1]],
    [i([7]).mul(0.5), [3.5]],
    [i([1, 2]).add(1.5), [2.5, 3.5]],
    [i([1]).sub(NaN), [NaN]],
    [i([1]).add(2 ** 31), [2 ** 31 + 1]],
    [i([7, -7]).div(2), [3.5, -3.5]],
    [i([7, -7]).div(i([2, 2])), [3.5, -3.5]],
    [F.div(6, i([4])), [1.5]],
    [i([2, 3]).mean().reshape(1), [2.5]],
    [i([-2, -3]).gt(-2.5), [1, 0]],
    [i([0, 1]).eq(0.5), [0, 0]],
  ];
  for (const [y, want] of cases) {
    assert.equal(y.dtype, "float32");
    assert.ok(await utils.allclose(y, want, { equalNan: true }), `${await y.data()}`);
  }
  // Integers int32 holds keep int32, and so does `+ - *` between int32 tensors.
  assert.equal(i([1]).add(-3).dtype, "int32");
  assert.equal(i([5]).mul(i([3])).dtype, "int32");
  assert.deepEqual(await i([5]).mul(i([3])).toArray(), [15]);
});

Deno.test("creation functions: full, ones, arange, randn seeded", async () => {
  assert.deepEqual(await full([2], 7).toArray(), [7, 7]);
  assert.deepEqual(await ones([2, 1]).toArray(), [[1], [1]]);
  assert.deepEqual(await arange(1, 2, 0.25).toArray(), [1, 1.25, 1.5, 1.75]);
  manualSeed(3);
  const a = await randn([5]).data();
  manualSeed(3);
  const b = await randn([5]).data();
  assert.deepEqual(a, b);
  const big = [...await randn([20000], f64).data()];
  const mean = big.reduce((s, v) => s + v, 0) / big.length;
  const sd = Math.sqrt(big.reduce((s, v) => s + (v - mean) ** 2, 0) / big.length);
  assert.ok(Math.abs(mean) < 0.03 && Math.abs(sd - 1) < 0.03, `mean ${mean} sd ${sd}`);
});

Deno.test("getItem() follows NumPy for slices, steps and index arrays", async () => {
  const x = arange(24).reshape(2, 3, 4);
  assert.deepEqual(await F.getItem(x, [1, { start: 1 }, { step: 2 }]).toArray(), [[16, 18], [
    20,
    22,
  ]]);
  assert.deepEqual(await F.getItem(x, [-1, -1, { start: -1, stop: null, step: -3 }]).toArray(), [
    23,
    20,
  ]);
  assert.deepEqual(F.getItem(x, ["...", null]).shape, [2, 3, 4, 1]);
  assert.deepEqual(await F.getItem(x, [0, [2, 0], 1]).toArray(), [9, 1]);
  // non-adjacent index arrays move to the front
  assert.deepEqual(F.getItem(x, [[0, 1], ":", [1, 2]]).shape, [2, 3]);
  assert.deepEqual(await F.getItem(x, [[0, 1], ":", [1, 2]]).toArray(), [[1, 5, 9], [14, 18, 22]]);
  assert.deepEqual(await F.getItem(x, [0, 0, { start: 3, stop: 1 }]).toArray(), []);
});

Deno.test("tidy() frees the graphs recorded inside, with what they saved for backward", () => {
  const W = new Parameter(randn([1, 1, 6, 6]).array);
  // Dropout keeps its mask and max pooling its indices for backward.
  const step = () => F.pooling(F.dropout(W.mul(2), 0.5), 2).sum();
  tidy(step).dispose();
  const before = memoryStats().liveTensors;
  for (let i = 0; i < 20; i++) tidy(step).dispose();
  assert.equal(memoryStats().liveTensors, before);
  // It returns values: the result is a leaf, and a backward inside works as usual.
  const y = tidy(step);
  assert.equal(y.creator, null);
  const grad = tidy(() => {
    W.cleargrad();
    step().backward();
    return W.grad!;
  });
  assert.deepEqual(grad.shape, [1, 1, 6, 6]);
  y.dispose();
  grad.dispose();
  W.cleargrad();
});

Deno.test("a training-style loop does not grow memory", () => {
  const W = new Variable(randn([20, 10]).array);
  const forward = () => {
    const x = randn([8, 20]);
    const y = F.sum(F.tanh(F.matmul(x, W)));
    W.cleargrad();
    y.backward();
    W.array = tidy(() => ops.sub(W.array, ops.mul(W.grad!.array, 0.01)));
    x.dispose();
    y.dispose();
  };
  for (let i = 0; i < 5; i++) forward();
  const before = memoryStats();
  for (let i = 0; i < 50; i++) forward();
  const after = memoryStats();
  assert.equal(after.liveTensors, before.liveTensors);
  assert.equal(after.cpuLiveBytes, before.cpuLiveBytes);
});

Deno.test("getDotGraph() shows functions, names, shapes and dtypes", () => {
  const x = tensor([1, 2], { name: "x" });
  const y = F.sum(F.tanh(x));
  y.name = "y";
  const dot = utils.getDotGraph(y);
  assert.match(dot, /^digraph g \{/);
  assert.match(dot, /label="x: \[2\] float32"/);
  assert.match(dot, /label="Tanh", color=lightblue/);
  assert.match(dot, /label="y: \[\] float32"/);
  assert.equal((dot.match(/->/g) ?? []).length, 4);
});

Deno.test("gradientCheck() reports a wrong gradient", async () => {
  class BadSquare extends Function {
    forward(x: NDArray): NDArray {
      return ops.mul(x, x);
    }
    backward(gy: Variable): Variable {
      return F.mul(gy, this.inputs[0]); // should be 2x
    }
  }
  const r = await utils.gradientCheck((x) => new BadSquare().apply(x), [tensor([1, 2], f64)]);
  assert.equal(r.ok, false);
  assert.match(r.failures[0], /gradient of input 0/);
});

Deno.test("allclose() compares values and shapes", async () => {
  assert.ok(await utils.allclose(tensor([1, 2]), [1, 2]));
  assert.equal(await utils.allclose(tensor([1, 2]), [1, 2.1]), false);
  assert.equal(await utils.allclose(tensor([1, 2]), [1, 2, 3]), false);
  assert.equal(await utils.allclose(tensor([NaN]), [NaN]), false);
  assert.ok(await utils.allclose(tensor([NaN, 1]), [NaN, 1], { equalNan: true }));
  assert.equal(await utils.allclose(tensor([NaN, 1]), [1, 1], { equalNan: true }), false);
  // Shapes broadcast as in NumPy; a TypedArray is a flat view of the other operand.
  const a23 = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.equal(await utils.allclose(a23, tensor([[1, 2], [3, 4], [5, 6]])), false);
  assert.equal(await utils.allclose(a23, [1, 2, 3, 4, 5, 6]), false);
  assert.ok(await utils.allclose(a23, new Float32Array([1, 2, 3, 4, 5, 6])));
  assert.equal(await utils.allclose(a23, new Float32Array([1, 2, 3])), false);
  assert.equal(await utils.allclose(tensor([[1], [2]]), tensor([1, 2])), false);
  assert.ok(await utils.allclose(tensor([[1], [1]]), tensor([1, 1, 1])));
  assert.ok(await utils.allclose(tensor([[1, 2], [1, 2]]), [1, 2]));
  assert.equal(await utils.allclose(tensor([[1, 2], [1, 3]]), [1, 2]), false);
  assert.ok(await utils.allclose(a23.sub(a23), 0));
  const r = await utils.compare(tensor([[0, 0], [0, 5]]), [0, 0]);
  assert.equal(r.at, 3);
  assert.match(r.message, /element 3: 5 vs 0/);
  assert.match((await utils.compare(a23, [1, 2])).message, /shapes differ: \[2,3\] vs \[2\]/);
});

Deno.test("numbers and arrays passed to functions are constants freed with the graph", () => {
  const x = tensor([1, 2, 3]);
  const step = () => {
    const y = x.mul(2).add(1).sum();
    y.backward();
    x.cleargrad();
    y.dispose();
  };
  // Parameter-free values live two backward() calls longer: flat from the second step on.
  step();
  step();
  const before = memoryStats().liveTensors;
  for (let i = 0; i < 20; i++) step();
  assert.equal(memoryStats().liveTensors, before);
  // under noGrad nothing is kept either
  const n0 = memoryStats().liveTensors;
  const z = noGrad(() => x.mul(3));
  assert.equal(memoryStats().liveTensors, n0 + 1);
  z.dispose();
});

Deno.test("a retained intermediate becomes a leaf after backward (truncated BPTT)", async () => {
  const W = tensor(0.5, f64);
  let h = tensor(1, f64);
  for (let segment = 0; segment < 3; segment++) {
    let loss = tensor(0, f64);
    for (let t = 0; t < 2; t++) {
      h = F.tanh(F.mul(h, W)).retainData();
      loss = F.add(loss, h);
    }
    W.cleargrad();
    loss.backward();
    loss.unchainBackward();
    assert.ok(Number.isFinite(await W.grad!.item()));
    assert.equal(h.creator, null);
  }
});

Deno.test("requiresGrad: false skips a variable's gradient and records no graph without others", async () => {
  const x = tensor([[1, 2]], { requiresGrad: false });
  const W = tensor([[1], [1]]);
  const y = F.matmul(x, W);
  assert.equal(y.requiresGrad, true);
  F.sum(y).backward();
  assert.equal(x.grad, null);
  assert.deepEqual(await W.grad!.toArray(), [[1], [2]]);
  const z = F.mul(x, 2);
  assert.equal(z.creator, null);
  assert.equal(z.requiresGrad, false);
});

Deno.test("the previous backward()'s root is released by the next one unless retained", async () => {
  const W = tensor([[1], [2], [3]]);
  const x = tensor([[1, 2, 3]]);
  const step = () => {
    const loss = F.sum(F.matmul(x, W));
    W.cleargrad();
    loss.backward();
    return loss;
  };
  const first = step();
  assert.equal(await first.item(), 14);
  const kept = step().retainData();
  step();
  const n = memoryStats().liveTensors;
  for (let i = 0; i < 10; i++) step();
  assert.equal(memoryStats().liveTensors, n);
  await assert.rejects(() => first.item(), /root of an earlier backward\(\).*retainData\(\)/);
  assert.equal(await kept.item(), 14);
});

Deno.test("a loss carried across backward() and unchainBackward() (DeZero's truncated BPTT) stays usable", async () => {
  // DeZero step 59: `loss += ...; if (...) { loss.backward(); loss.unchainBackward(); }`. The
  // earlier root is an input of the next graph; here it also enters a product whose backward
  // reads it. d(loss6)/dW must be what the same sums give without the carried loss.
  const W = tensor([2], f64);
  let loss: Variable = tensor(0, f64);
  const grads: number[] = [];
  for (let step = 1; step <= 6; step++) {
    loss = F.add(F.mul(loss, 0.5), F.mul(loss, loss).mul(0.1)).add(F.mul(W, step).sum());
    if (step % 2 === 0) {
      W.cleargrad();
      loss.backward();
      loss.unchainBackward();
      grads.push((await W.grad!.data())[0]);
    }
  }
  // c_k = 0.5·c_{k-1} + 0.1·c_{k-1}² + W·k; each truncation treats c_{k-2} as a constant, so
  // dc_k/dW = (0.5 + 0.2·c_{k-1})·(k - 1) + k.
  const c = [0];
  for (let k = 1; k <= 6; k++) c.push(0.5 * c[k - 1] + 0.1 * c[k - 1] ** 2 + 2 * k);
  const expected = [2, 4, 6].map((k) => (0.5 + 0.2 * c[k - 1]) * (k - 1) + k);
  assert.ok(await utils.allclose(new Float64Array(grads), expected), `${grads} vs ${expected}`);
  assert.ok(await utils.allclose(loss, c[6]));
});

Deno.test("backward() frees per-step results of inputs that need no gradient: memory stays flat", () => {
  const W = tensor([[1], [2], [3]]);
  const step = () => {
    const x = tensor([[1, 2, 3]], { requiresGrad: false });
    const xs = F.mul(F.exp(x), 2); // no graph: x needs no gradient
    const loss = F.sum(F.matmul(xs, W));
    W.cleargrad();
    loss.backward();
    x.dispose();
  };
  step();
  step();
  const n = memoryStats().liveTensors;
  for (let i = 0; i < 10; i++) step();
  assert.equal(memoryStats().liveTensors, n);
});

Deno.test("arrays and TypedArrays beside a Variable become tensors of its device, then promote", async () => {
  const x = tensor([1, 2]);
  assert.deepEqual(await x.add([10, 20] as any).toArray(), [11, 22]);
  assert.deepEqual(await F.mul(x, [[1], [2]] as any).toArray(), [[1, 2], [2, 4]]);
  assert.deepEqual(await F.sub(x, new Float32Array([1, 1]) as any).toArray(), [0, 1]);
  assert.deepEqual(await F.sub([5, 5] as any, x).toArray(), [4, 3]);
  // dtype as tensor() infers it, then the usual promotion
  const i = tensor([1, 2], { dtype: "int32" });
  assert.equal(i.add(new Int32Array([3, 4]) as any).dtype, "int32");
  assert.equal(i.add([3, 4] as any).dtype, "float32");
  assert.equal(x.add(new Float64Array([3, 4]) as any).dtype, "float64");
  assert.deepEqual(await x.add(true as any).toArray(), [2, 3]);
  assert.deepEqual(await x.gt([0, 5] as any).toArray(), [1, 0]);
  assert.deepEqual(await F.matmul(tensor([[1, 2]]), [[3], [4]] as any).toArray(), [[11]]);
  assert.deepEqual(F.reshape([1, 2, 3, 4] as any, [2, 2]).shape, [2, 2]);
  assert.deepEqual(asVariable([[1, 2]], i).shape, [1, 2]);
  // gradients flow to the Variable only
  const w = tensor([1, 2]);
  F.sum(w.mul([3, 4] as any)).backward();
  assert.deepEqual(await w.grad!.toArray(), [3, 4]);
  // anything else is a TypeError naming the op and the type
  assert.throws(() => x.add("3" as any), {
    name: "TypeError",
    message:
      'add: operand 2 must be a Variable, a number, nested arrays or a TypedArray, got a string "3"',
  });
  assert.throws(() => F.mul({} as any, x), /mul: operand 1 must be .*, got a plain object/);
  assert.throws(() => x.sub(undefined as any), /sub: operand 2 must be .*, got undefined/);
  assert.throws(() => F.reshape(null as any, [1]), /reshape: the input must be .*, got null/);
  assert.throws(() => x.lt(new Map() as any), /lt: the operand must be .*, got a Map/);
  assert.throws(() => x.add([1, [2]] as any), /add: ragged nested array/);
});

Deno.test("tensor(), new Variable() and new Parameter() copy a Variable into a new leaf", async () => {
  const a = F.mul(tensor([[1, 2], [3, 4]]), 0.5);
  const p = new Parameter(a, { name: "W" });
  assert.deepEqual(await p.toArray(), [[0.5, 1], [1.5, 2]]);
  assert.equal(p.creator, null);
  assert.equal(p.name, "W");
  // values of its own: replacing or disposing the source leaves it alone
  a.array = ops.fullLike(a.array, 7);
  assert.deepEqual(await p.toArray(), [[0.5, 1], [1.5, 2]]);
  a.dispose();
  assert.deepEqual(await p.toArray(), [[0.5, 1], [1.5, 2]]);
  const t = tensor(p, { dtype: "float64", shape: [4] });
  assert.equal(t.dtype, "float64");
  assert.deepEqual(await t.toArray(), [0.5, 1, 1.5, 2]);
  const i = tensor(tensor([1.9, -1.9, 3e9]), { dtype: "int32" });
  assert.deepEqual(await i.toArray(), [1, -1, 2147483520]);
  assert.deepEqual(await new Variable(i).toArray(), [1, -1, 2147483520]);
  assert.throws(() => tensor(p, { shape: [3] }), /tensor: shape \[3\] does not match 4 elements/);
  // a released Variable says why
  const r = tensor([1]);
  r.dispose();
  assert.throws(() => tensor(r), /Variable was disposed/);
});

Deno.test("mean() of int32 is float32 without int32 overflow; sum() of int32 stays int32", async () => {
  const big = tensor([2 ** 30, 2 ** 30, 2 ** 30, 2147483647], { dtype: "int32" });
  const m = big.mean();
  assert.equal(m.dtype, "float32");
  assert.equal(await m.item(), Math.fround(1342177279.75));
  const x = tensor([[1, 2], [3, 5]], { dtype: "int32" });
  assert.deepEqual(await x.mean(0).toArray(), [2, 3.5]);
  assert.deepEqual(await x.mean(1, true).toArray(), [[1.5], [4]]);
  const s = big.sum();
  assert.equal(s.dtype, "int32");
  assert.equal(await s.item(), (3 * 2 ** 30 + 2147483647) | 0); // wraps, as NumPy's int32 sum
  assert.equal(x.sum(0).dtype, "int32");
  assert.equal(tensor([1, 2]).mean().dtype, "float32");
  assert.equal(tensor([1, 2], f64).mean().dtype, "float64");
});

Deno.test("pow() of int32 to a negative integer is a RangeError, as in NumPy", async () => {
  const a = tensor([1, 2, 3, -4], { dtype: "int32" });
  assert.throws(() => a.pow(-1), {
    name: "RangeError",
    message:
      'pow: integers to negative integer powers are not allowed: got int32 ** -1; cast to float32 first (x.astype("float32"))',
  });
  assert.throws(() => F.pow(a, -2), /integers to negative integer powers/);
  assert.throws(() => ops.pow(a.array, -3), /integers to negative integer powers/);
  assert.deepEqual(await a.pow(2).toArray(), [1, 4, 9, 16]);
  assert.equal(a.pow(2).dtype, "int32");
  assert.deepEqual(await a.pow(0).toArray(), [1, 1, 1, 1]);
  const h = a.pow(-0.5); // a fraction promotes to float32
  assert.equal(h.dtype, "float32");
  assert.deepEqual(
    await a.astype("float32").pow(-1).toArray(),
    [1, 0.5, 1 / 3, -0.25].map(Math.fround),
  );
});

Deno.test("an input prepared once with requiresGrad: false stays readable across steps", async () => {
  const x = tensor([0.1, 0.2, 0.3, 0.4], { requiresGrad: false }).reshape(4, 1);
  const W = new Parameter([[2]]);
  for (let step = 0; step < 4; step++) {
    W.cleargrad();
    F.sum(F.matmul(x, W)).backward();
    assert.ok(Math.abs((await W.grad!.item()) - 1) < 1e-6, `step ${step}`);
    assert.deepEqual(await x.data(), new Float32Array([0.1, 0.2, 0.3, 0.4]));
  }
  // a per-step one goes two backward() calls later, saying why (no retainGraph advice)
  const once = tensor([1, 2], { requiresGrad: false }).mul(2);
  F.sum(F.mul(once, W)).backward();
  const b = new Parameter([1]);
  F.sum(b.mul(2)).backward();
  assert.deepEqual(await once.toArray(), [2, 4]);
  F.sum(b.mul(2)).backward();
  await once.data().then(
    () => assert.fail("expected a ReferenceError"),
    (e: Error) => {
      assert.ok(e instanceof ReferenceError);
      assert.match(e.message, /requiresGrad: false.*retainData\(\)/);
      assert.doesNotMatch(e.message, /retainGraph/);
    },
  );
});

Deno.test("values prepared once and reused stay readable when another model trains in between", async () => {
  const xa = tensor([[0.1], [0.2], [0.3], [0.4]]).mul(2).sub(0.5);
  const ya = F.sin(xa);
  const xb = tensor([[1], [2], [3], [4]]).div(4);
  const Wa = new Parameter([[1]]);
  const Wb = new Parameter([[1]]);
  const lossA = () => F.sum(F.sub(F.matmul(xa, Wa), ya));
  for (let i = 0; i < 3; i++) {
    Wa.cleargrad();
    lossA().backward();
  }
  for (let i = 0; i < 3; i++) {
    Wb.cleargrad();
    F.sum(F.matmul(xb, Wb)).backward();
  }
  assert.ok(await utils.allclose(xa, [[-0.3], [-0.1], [0.1], [0.3]]));
  assert.equal((await ya.data()).length, 4);
  Wa.cleargrad();
  lossA().backward();
  assert.ok(Math.abs(await Wa.grad!.item()) < 1e-6);
  // a value only one backward() used is still freed, and the message says what happened
  const t = F.tanh(tensor([0.5, 1]));
  F.sum(t).backward();
  F.sum(F.matmul(xb, Wb)).backward();
  F.sum(F.matmul(xb, Wb)).backward();
  await t.data().then(
    () => assert.fail("expected a ReferenceError"),
    (e: Error) => {
      assert.match(
        e.message,
        /computed from no Parameter, one backward\(\) used it and the two after it did not.*retainData\(\)/,
      );
      assert.doesNotMatch(e.message, /retainGraph/);
    },
  );
});

Deno.test("reading a value that tidy() released says so and how to keep it; keep() keeps it", async () => {
  const x = tensor([1, 2, 3]);
  let stashed: Variable | null = null;
  let kept: Variable | null = null;
  const y = tidy(() => {
    stashed = x.mul(3);
    kept = x.mul(4).keep();
    return x.add(1);
  });
  await assert.rejects(
    () => stashed!.toArray(),
    /was released by tidy\(\): .*return it from the callback .* or call keep\(\)/,
  );
  assert.match(
    String(stashed),
    /^variable\(<Array of shape \[3\] \(float32\) was released by tidy\(\)/,
  );
  assert.deepEqual(await kept!.toArray(), [4, 8, 12]);
  assert.deepEqual(await y.toArray(), [2, 3, 4]);
  const d = tensor([1]);
  d.dispose();
  await assert.rejects(() => d.toArray(), /was disposed/);
});

Deno.test("shape errors and edge cases name the op and the caller's shapes", async () => {
  assert.throws(() => F.broadcastTo(ones([3]), [-1, 3]), {
    name: "TypeError",
    message:
      "broadcastTo: cannot broadcast shape [3] to [-1,3]: the target must be non-negative integers",
  });
  assert.throws(() => F.matmul(ones([3]), ones([4])), {
    name: "TypeError",
    message: "matmul: shapes [3] and [4] are not aligned: 3 vs 4",
  });
  assert.throws(() => F.matmul(ones([2, 3, 4]), ones([3, 4, 5])), {
    name: "TypeError",
    message: "matmul: the batch axes [2] and [3] of shapes [2,3,4] and [3,4,5] do not broadcast",
  });
  assert.throws(() => tensor([1.5], { dtype: "float64", device: "gpu" }), {
    name: "TypeError",
    message:
      'tensor: dtype float64 is not supported on device "gpu" (WGSL has no f64): use float32',
  });
  assert.throws(() => zeros([2], { dtype: "float64", device: "gpu" }), /full: dtype float64/);
  // argmax keeps every axis (of length 1) when keepdims and no axis, as NumPy
  const m = tensor([[1, 2], [4, 3]]);
  assert.deepEqual(m.argmax(undefined, true).shape, [1, 1]);
  assert.deepEqual(await m.argmax(undefined, true).toArray(), [[2]]);
  assert.deepEqual(m.argmax().shape, []);
  // an empty batch flattens as in PyTorch
  assert.deepEqual(F.flatten(zeros([0, 3, 4])).shape, [0, 12]);
  assert.deepEqual(F.flatten(zeros([2, 3, 4])).shape, [2, 12]);
  // logsumexp over an empty axis is -Infinity (an empty sum is 0), as SciPy and PyTorch
  assert.deepEqual(await F.logsumexp(zeros([3, 0]), 1).toArray(), [
    -Infinity,
    -Infinity,
    -Infinity,
  ]);
  assert.deepEqual(F.logsumexp(zeros([3, 0]), 1, true).shape, [3, 1]);
});

Deno.test("float to int32 saturates and maps NaN to 0, as on the GPU", async () => {
  const src = [3e9, -3e9, NaN, Infinity, -Infinity, 2.9, -2.9, 2147483520, -2147483648];
  const want32 = [
    2147483520,
    -2147483648,
    0,
    2147483520,
    -2147483648,
    2,
    -2,
    2147483520,
    -2147483648,
  ];
  assert.deepEqual(await tensor(src).astype("int32").toArray(), want32);
  assert.deepEqual(await tensor(new Float32Array(src), { dtype: "int32" }).toArray(), want32);
  const want64 = [
    2147483647,
    -2147483648,
    0,
    2147483647,
    -2147483648,
    2,
    -2,
    2147483520,
    -2147483648,
  ];
  assert.deepEqual(await tensor(src, f64).astype("int32").toArray(), want64);
  assert.deepEqual(await tensor(src, { dtype: "int32" }).toArray(), want64);
  assert.deepEqual(await tensor(new Float64Array(src), { dtype: "int32" }).toArray(), want64);
});

Deno.test("getDotGraph() after backward() marks where backward released the graph", () => {
  const build = () => {
    const x = tensor(1, { name: "x" }), y = tensor(2, { name: "y" });
    return x.mul(y).add(x).mul(3);
  };
  const labels = (dot: string) => dot.split("\n").filter((l) => l.includes("label=")).length;
  const before = utils.getDotGraph(build());
  assert.ok(!before.includes("released by backward"));
  assert.equal(labels(before), 9); // x, y, Mul, t, Add, t, the constant 3, Mul, z

  const z = build();
  z.backward();
  const after = utils.getDotGraph(z);
  assert.match(after, /label="graph released by backward\(\); .*retainGraph: true/);

  const kept = build();
  kept.backward({ retainGraph: true });
  assert.equal(labels(utils.getDotGraph(kept)), 9);
});

Deno.test("tidy() keeps what it stores into a Variable made outside it: a gradient, a value", async () => {
  // A fixed full-batch input (book steps 42-44) and a tidy()'d training step: the input's
  // gradient is made inside the callback but belongs to the input, made outside.
  const x = tensor([[0.5, -1], [2, 0.25]]);
  const W = new Parameter(tensor([[1, 2], [3, 4]]));
  for (let i = 0; i < 3; i++) {
    const loss = tidy(() => {
      W.cleargrad();
      const l = F.matmul(x, W).sum();
      l.backward();
      return l;
    });
    assert.equal(await loss.item(), 2.25);
    // DeZero accumulates an input's gradient over steps: 3, 7 per row, i + 1 times.
    assert.deepEqual(await x.grad!.toArray(), [[3 * (i + 1), 7 * (i + 1)], [
      3 * (i + 1),
      7 * (i + 1),
    ]]);
  }
  // A value replaced inside: it belongs to the Variable too.
  const z = tensor([1, 2, 3]);
  tidy(() => {
    z.array = ops.mul(z.array, 2);
    return null;
  });
  assert.deepEqual(await z.toArray(), [2, 4, 6]);
  // Nested: what a Variable made in an outer tidy() receives in an inner one lives until the
  // outer one ends (then it goes with the Variable, not returned).
  const before = memoryStats().liveTensors;
  const made: Variable[] = [];
  tidy(() => {
    const v = tensor([1, 2]);
    made.push(v);
    tidy(() => {
      v.grad = tensor([5, 6]);
      return null;
    });
    assert.equal(v.grad!.array.disposed, false);
    return null;
  });
  assert.equal(made[0].grad!.array.disposed, true);
  assert.equal(memoryStats().liveTensors, before);
});

Deno.test("disposing the last of a chain frees the chain's graph now: constants, saved values", async () => {
  const x = tensor([1, 2, 3]);
  const before = memoryStats().liveTensors;
  for (let i = 0; i < 100; i++) {
    using y = x.mul(2); // the 2 becomes a tensor the graph holds
    using a = y.add(1);
    using _z = F.exp(a); // exp saves its output
  }
  assert.equal(memoryStats().liveTensors, before);
  // A disposed intermediate that a live value still consumes keeps its graph: backward works.
  const y = x.mul(2);
  const z = y.add(1).sum();
  y.dispose();
  z.backward();
  assert.deepEqual(await x.grad!.toArray(), [2, 2, 2]);
  x.cleargrad();
  z.dispose();
  // A long chain disposed link by link, then at its end, unwinds without a deep stack.
  const start = memoryStats().liveTensors;
  let v = x.mul(1);
  for (let i = 0; i < 30_000; i++) {
    const next = v.add(1);
    v.dispose();
    v = next;
  }
  assert.ok(memoryStats().liveTensors > start + 30_000);
  v.dispose();
  assert.equal(memoryStats().liveTensors, start);
});

Deno.test("retainGrad keeps the gradients of values made by ops that pass a gradient on", async () => {
  const x = tensor([1, 2]);
  const makers: [string, (x: Variable) => Variable][] = [
    ["add", (x) => x.add(1)],
    ["sub", (x) => x.sub(tensor([0, 0]))],
    ["neg", (x) => x.neg()],
    ["reshape", (x) => x.reshape(2, 1).reshape(2)],
    ["getItem", (x) => x.getItem(slice(0, 2))],
    ["concat", (x) => F.concat([x.getItem(slice(0, 1)), x.getItem(slice(1, 2))])],
  ];
  for (const [name, make] of makers) {
    const h = make(x);
    const want = (await h.data()).map((v) => 2 * v);
    h.mul(h).sum().backward({ retainGrad: true });
    assert.deepEqual(Array.from(await h.grad!.data()), Array.from(want), name);
    x.cleargrad();
  }
});

Deno.test("a gradient held past cleargrad() says cleargrad() released it", async () => {
  const x = tensor([1, 2]);
  x.mul(x).sum().backward();
  const g = x.grad!;
  assert.deepEqual(await g.toArray(), [2, 4]);
  x.cleargrad();
  await assert.rejects(
    () => g.toArray(),
    /Variable of shape \[2\] \(a gradient\) was released by cleargrad\(\).*tensor\(x\.grad\)/,
  );
});

Deno.test("a gradient has its input's dtype when an op promoted it, with createGraph too", async () => {
  const x = tensor([1, 2], { dtype: "float32" });
  const c = tensor([3, 4], { dtype: "float64" });
  const y = F.mul(F.mul(x, x), c); // float64
  assert.equal(y.dtype, "float64");
  y.sum().backward({ createGraph: true });
  const gx = x.grad!;
  assert.equal(gx.dtype, "float32");
  assert.deepEqual(await gx.toArray(), [6, 16]);
  x.cleargrad();
  gx.sum().backward();
  assert.equal(x.grad!.dtype, "float32");
  assert.deepEqual(await x.grad!.toArray(), [6, 8]);
  // Broadcast and accumulated: still the input's dtype.
  const w = tensor([2], { dtype: "float32" });
  F.add(F.mul(w, c), F.mul(w, tensor([1, 1], { dtype: "float64" }))).sum().backward();
  assert.equal(w.grad!.dtype, "float32");
  assert.deepEqual(await w.grad!.toArray(), [9]);
});

async function newtonLoop(device: "cpu" | "gpu"): Promise<void> {
  if (device === "gpu") await initGpu();
  const f = (x: Variable) => F.sub(F.pow(x, 4), F.mul(F.pow(x, 2), 2));
  const x = full([5], 2, { device });
  let before = 0;
  for (let i = 0; i < 30; i++) {
    const y = F.sum(f(x));
    x.cleargrad();
    y.backward({ createGraph: true });
    const gx = x.grad!;
    x.cleargrad();
    F.sum(gx).backward();
    const gx2 = x.grad!;
    x.array = tidy(() => noGrad(() => x.sub(gx.div(gx2))).array);
    if (i === 9) before = memoryStats().liveTensors;
  }
  // The book's step 33: the kept graph of each createGraph backward() goes two steps later
  // (it grew by 14 tensors a step until the collector ran).
  assert.equal(memoryStats().liveTensors, before);
  assert.ok(await utils.allclose(x, [1, 1, 1, 1, 1]));
}

Deno.test("Newton's method by double backprop stays flat (CPU)", () => newtonLoop("cpu"));
gpuTest("Newton's method by double backprop stays flat (GPU)", () => newtonLoop("gpu"));

/** Steps of the tanh higher-order loop (the book's step 35), each in tidy(): nothing grows. */
async function higherOrderInTidy(device: "cpu" | "gpu"): Promise<void> {
  if (device === "gpu") await initGpu();
  const x = tensor([-1, 0, 0.5, 2], { device });
  const counts: number[] = [];
  let last: number[] = [];
  for (let step = 0; step < 6; step++) {
    const g = tidy(() => {
      F.tanh(x).backward({ createGraph: true });
      for (let i = 1; i < 3; i++) {
        const gx = x.grad!;
        x.cleargrad();
        gx.backward({ createGraph: true });
      }
      const g = x.grad!;
      x.grad = null;
      return g;
    });
    last = await g.toArray() as number[];
    g.dispose();
    counts.push(memoryStats().liveTensors);
  }
  // Each createGraph gradient that cleargrad() took from x went with the tidy (two a step grew
  // before: the gradients stored into x, a Variable made outside, escaped it for good).
  assert.deepEqual(counts, counts.map(() => counts[0]), `live tensors per step: ${counts}`);
  const t = [-1, 0, 0.5, 2].map(Math.tanh);
  // The third derivative of tanh: -2(1 - t²)(1 - 3t²).
  assert.ok(
    await utils.allclose(last, t.map((v) => -2 * (1 - v * v) * (1 - 3 * v * v)), {
      rtol: 1e-5,
      atol: 1e-6,
    }),
  );
}

Deno.test("higher-order gradients in tidy() stay flat (CPU)", () => higherOrderInTidy("cpu"));
gpuTest("higher-order gradients in tidy() stay flat (GPU)", () => higherOrderInTidy("gpu"));

Deno.test("a createGraph backward(): no gradient for its seed, its graph kept until used", async () => {
  const x = tensor([0.5, -1], { dtype: "float64" });
  const y = F.tanh(x);
  y.backward({ createGraph: true });
  const gx = x.grad!;
  x.cleargrad();
  // The graph is kept: backward() through the gradient works after another backward().
  F.sum(F.mul(tensor([1, 2], { dtype: "float64" }), 3)).backward();
  gx.backward();
  const t = Math.tanh(0.5);
  assert.ok(
    await utils.allclose(x.grad!, [
      -2 * t * (1 - t * t),
      -2 * Math.tanh(-1) * (1 - Math.tanh(-1) ** 2),
    ]),
  );
  // Explicit retainGraph keeps every value; y stays readable after many backward() calls.
  const z = F.tanh(x);
  z.backward({ createGraph: true, retainGraph: true });
  for (let i = 0; i < 3; i++) F.sum(F.mul(tensor([1], { dtype: "float64" }), 3)).backward();
  assert.ok(await utils.allclose(z, [t, Math.tanh(-1)]));
  // Without it the graph's values go two backward() calls later, with a clear message.
  const w = F.tanh(F.mul(x, 2));
  const h = F.mul(x, 2);
  const v = F.tanh(h);
  v.backward({ createGraph: true });
  for (let i = 0; i < 3; i++) F.sum(F.mul(tensor([1], { dtype: "float64" }), 3)).backward();
  await assert.rejects(
    () => h.data(),
    /backward\(\{ createGraph: true \}\) kept.*retainGraph: true/,
  );
  assert.ok(await utils.allclose(w, [Math.tanh(1), Math.tanh(-2)]), "not in that graph: kept");
  // The seed of ones is no input that needs a gradient (as PyTorch's grad_output).
  const r = F.tanh(x);
  x.cleargrad();
  r.backward({ createGraph: true, retainGrad: true });
  const seed = r.grad!;
  assert.equal(seed.requiresGrad, false);
  const g = x.grad!;
  x.cleargrad();
  g.backward();
  assert.equal(seed.grad, null);
});
