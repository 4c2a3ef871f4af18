/**
 * The nn functions, layers and optimizers on the WebGPU backend: values and
 * gradients match the CPU reference on awkward shapes, first- and second-order
 * gradient checks pass with float32 tolerances, and training steps agree.
 */
import { deepStrictEqual, ok, rejects, throws } from "node:assert/strict";
import { F, Generator, manualSeed, randn, tensor, utils, type Variable } from "../mod.ts";
import { assertAllClose, gpuTest, randomTyped } from "../shaders/test_util.ts";
import { L, MLP, optimizers, Sequential } from "./mod.ts";
import * as N from "./functions.ts";
import { getBackend } from "../core/backend.ts";
import { saveSafetensors } from "./io.ts";
import { isInitialized } from "./layer.ts";
import { trainBars, trainSine, trainSpiral } from "./_train_fixtures.ts";

interface Case {
  name: string;
  f: (...xs: Variable[]) => Variable;
  shapes: number[][];
  /** Int32 label inputs appended after the float inputs. */
  labels?: number[][];
  /** Keep values apart (max / relu kinks). */
  distinct?: boolean;
  /** Skip the second-order check (first-order only), with the reason. */
  firstOrderOnly?: string;
}

/** Running statistics for batchNorm, one pair per device. */
const stats = new Map<string, Variable[]>();
function runningStats(x: Variable): Variable[] {
  let s = stats.get(x.device);
  if (!s) {
    const device = x.device;
    s = [tensor(new Float32Array(3), { device }), tensor(new Float32Array(3).fill(1), { device })];
    stats.set(device, s);
  }
  return s;
}

/** -Infinity at a non-target class of each row (masked classes), on `x`'s device. */
function masks(x: Variable): Variable {
  const m = new Float32Array(15);
  m[1] = m[9] = m[10] = -Infinity;
  return tensor(m, { shape: [3, 5], device: x.device });
}

const CASES: Case[] = [
  { name: "sigmoid", f: N.sigmoid, shapes: [[3, 5]] },
  { name: "relu", f: N.relu, shapes: [[3, 5]], distinct: true },
  { name: "leakyRelu", f: (x) => N.leakyRelu(x, 0.1), shapes: [[3, 5]], distinct: true },
  { name: "gelu", f: N.gelu, shapes: [[7]] },
  { name: "erf", f: N.erf, shapes: [[2, 3]] },
  { name: "softmax", f: (x) => N.softmax(x, 1), shapes: [[3, 5]] },
  { name: "softmax axis 0", f: (x) => N.softmax(x, 0), shapes: [[5, 3]] },
  { name: "logSoftmax", f: (x) => N.logSoftmax(x, 1), shapes: [[3, 5]] },
  {
    name: "softmaxCrossEntropy",
    f: (x, t) => N.softmaxCrossEntropy(x, t),
    shapes: [[3, 5]],
    labels: [[4, 0, 2]],
  },
  {
    name: "softmaxCrossEntropy (host labels, masked classes)",
    f: (x) => N.softmaxCrossEntropy(x.add(masks(x)), [4, 0, 2]),
    shapes: [[3, 5]],
  },
  {
    name: "sigmoidCrossEntropy",
    f: (x, t) => N.sigmoidCrossEntropy(x, t.mul(0.5).add(0.5)),
    shapes: [[4, 1], [4, 1]],
  },
  {
    name: "binaryCrossEntropy",
    f: (x, t) => N.binaryCrossEntropy(N.sigmoid(x), N.sigmoid(t.mul(3))),
    shapes: [[5], [5]],
  },
  { name: "meanSquaredError", f: N.meanSquaredError, shapes: [[3, 2], [3, 2]] },
  {
    name: "dropout (fixed mask)",
    f: (x) => N.dropout(x, 0.4, { generator: new Generator(3) }).pow(2),
    shapes: [[3, 4]],
  },
  { name: "layerNorm", f: (x, g, b) => N.layerNorm(x, g, b), shapes: [[3, 5], [5], [5]] },
  {
    name: "batchNorm",
    f: (x, g, b) => N.batchNorm(x, g, b, runningStats(x)[0], runningStats(x)[1]),
    shapes: [[4, 3], [3], [3]],
  },
  {
    name: "conv2d",
    f: (x, W, b) => N.conv2d(x, W, b, { stride: 2, pad: 1 }),
    shapes: [[1, 2, 5, 4], [3, 2, 3, 3], [3]],
  },
  {
    name: "deconv2d",
    f: (x, W, b) => N.deconv2d(x, W, b, { stride: 2, pad: 1 }),
    shapes: [[1, 2, 2, 3], [2, 3, 3, 3], [3]],
  },
  {
    name: "pooling",
    f: (x) => N.pooling(x, 3, { stride: 2, pad: 1 }),
    shapes: [[1, 2, 5, 5]],
    distinct: true,
  },
  { name: "averagePooling", f: (x) => N.averagePooling(x, 2), shapes: [[1, 2, 4, 6]] },
  {
    name: "im2col",
    f: (x) => N.im2col(x, 2, { stride: 1, pad: 1 }).pow(2),
    shapes: [[1, 2, 3, 3]],
  },
  {
    name: "col2im",
    f: (c) => N.col2im(c, [1, 1, 3, 4], 2, { stride: 1 }).pow(2),
    shapes: [[6, 4]],
  },
  {
    name: "embedId",
    f: (W, ids) => N.embedId(ids, W).pow(2),
    shapes: [[4, 3]],
    labels: [[3, 0, 3]],
  },
];

function inputs(c: Case, device: "cpu" | "gpu", seed: number): Variable[] {
  const xs = c.shapes.map((shape, i) => {
    const size = shape.reduce((a, b) => a * b, 1);
    let data = randomTyped(size, { seed: seed + i, lo: -1.5, hi: 1.5 }) as Float32Array;
    if (c.distinct) {
      const g = new Generator(seed + i);
      data = Float32Array.from(g.permutation(size), (p) => (p - size / 2 + 0.37) * 0.25);
    }
    return tensor(data, { shape, device });
  });
  const ls = (c.labels ?? []).map((l) => tensor(new Int32Array(l), { device }));
  return [...xs, ...ls];
}

async function valuesAndGrads(c: Case, device: "cpu" | "gpu"): Promise<Float32Array[]> {
  const xs = inputs(c, device, 11);
  const y = c.f(...xs);
  const proj = tensor(randomTyped(y.size, { seed: 99, lo: 0.5, hi: 1.5 }), {
    shape: y.shape,
    device,
  });
  const out = [await y.data() as Float32Array];
  F.sum(y.mul(proj)).backward();
  for (const x of xs) if (x.dtype !== "int32") out.push(await x.grad!.data() as Float32Array);
  return out;
}

gpuTest("nn functions on the GPU match the CPU in values and gradients", async () => {
  const failures: string[] = [];
  for (const c of CASES) {
    try {
      const cpu = await valuesAndGrads(c, "cpu");
      const gpu = await valuesAndGrads(c, "gpu");
      cpu.forEach((ref, i) =>
        assertAllClose(gpu[i], ref, {
          rtol: 1e-4,
          atol: 1e-5,
          what: `${c.name} ${i === 0 ? "value" : `gradient ${i - 1}`}`,
        })
      );
    } catch (e) {
      failures.push(`${c.name}: ${(e as Error).message}`);
    }
  }
  ok(failures.length === 0, failures.join("\n"));
});

gpuTest("binary cross entropies take a number target on the GPU", async () => {
  for (const device of ["cpu", "gpu"] as const) {
    const p = tensor([0.9, 0.8], { device });
    const bce = await N.binaryCrossEntropy(p, 1).item();
    ok(Math.abs(bce + (Math.log(0.9) + Math.log(0.8)) / 2) < 1e-6, `${device}: ${bce}`);
    const sce = await N.sigmoidCrossEntropy(p, 0).item();
    ok(
      Math.abs(sce - (Math.log1p(Math.exp(0.9)) + Math.log1p(Math.exp(0.8))) / 2) < 1e-6,
      `${device}: ${sce}`,
    );
  }
});

gpuTest("accuracy() on the GPU matches the CPU", async () => {
  const y = randomTyped(7 * 4, { seed: 8 });
  const t = new Int32Array([0, 1, 2, 3, 0, 1, 2]);
  const acc = async (device: "cpu" | "gpu") =>
    await N.accuracy(tensor(y, { shape: [7, 4], device }), tensor(t, { device })).item();
  const cpu = await acc("cpu");
  ok(cpu > 0 && cpu < 1, `a mixed case: ${cpu}`);
  ok(Math.abs((await acc("gpu")) - cpu) < 1e-7);
});

gpuTest(
  "softmaxCrossEntropy() with a -Infinity logit and meanSquaredError() of int32 match NumPy on the GPU",
  async () => {
    const device = "gpu";
    const x = tensor([[0, -Infinity, 0], [1, 2, -Infinity]], { device });
    const loss = N.softmaxCrossEntropy(x, tensor(new Int32Array([0, 1]), { device }));
    loss.backward();
    const want = (Math.LN2 + Math.log(Math.E + Math.E ** 2) - 2) / 2;
    ok(Math.abs((await loss.item()) - want) < 1e-6, `loss ${await loss.item()}`);
    const s0 = 1 / (1 + Math.E);
    assertAllClose(await x.grad!.data(), [-0.25, 0, 0.25, s0 / 2, -s0 / 2, 0], {
      rtol: 1e-5,
      atol: 1e-6,
      what: "gradient with a masked class",
    });
    const inf = N.softmaxCrossEntropy(tensor([[-Infinity, 0]], { device }), [0]);
    ok((await inf.item()) === Infinity);
    const a = tensor(new Int32Array([1, 2, 3, -4]), { device });
    const b = tensor(new Int32Array([2, 0, 2, 3]), { device });
    const mse = N.meanSquaredError(a, b);
    deepStrictEqual([mse.dtype, await mse.item()], ["float32", 13.75]);
  },
);

gpuTest(
  "nn functions on the GPU pass first and second order gradient checks (float32)",
  async () => {
    const failures: string[] = [];
    for (const c of CASES) {
      const xs = inputs(c, "gpu", 5);
      const r = await utils.gradientCheck(c.f, xs, { order: c.firstOrderOnly ? 1 : 2 });
      if (!r.ok) failures.push(`${c.name}: ${r.failures.join("; ")}`);
    }
    ok(failures.length === 0, failures.join("\n"));
  },
);

gpuTest("MLP training steps on the GPU match the CPU, and weights save from the GPU", async () => {
  const run = async (device: "cpu" | "gpu") => {
    manualSeed(4);
    const model = new MLP([16, 3]);
    const x = tensor(randomTyped(40, { seed: 3 }), { shape: [20, 2] });
    model.apply(x); // size the weights on the CPU with the same random numbers
    if (device === "gpu") model.toGpu();
    const opt = new optimizers.Adam({ lr: 0.01 }).setup(model).addHook(new optimizers.ClipGrad(1));
    const t = tensor(new Int32Array(20).map((_, i) => i % 3), { device });
    const xd = device === "gpu" ? tensor(await x.data(), { shape: [20, 2], device }) : x;
    const losses: number[] = [];
    for (let i = 0; i < 10; i++) {
      const loss = F.softmaxCrossEntropy(model.apply(xd), t);
      model.cleargrads();
      loss.backward();
      opt.update();
      losses.push(await loss.item());
    }
    const path = await Deno.makeTempFile({ suffix: ".safetensors" });
    await model.saveWeights(path);
    const back = new MLP([16, 3]);
    await back.loadWeights(path);
    // Loading into a model already on the GPU keeps it there.
    const onGpu = new MLP([16, 3]);
    onGpu.apply(x);
    await onGpu.toGpu().loadWeights(path);
    ok((onGpu.l1 as L.Linear).W.device === "gpu");
    assertAllClose(
      await (onGpu.l1 as L.Linear).W.data(),
      await (back.l1 as L.Linear).W.data(),
      { what: "weights loaded on the GPU" },
    );
    await Deno.remove(path);
    const w = await (back.l0 as L.Linear).W.data();
    await model.toCpu();
    assertAllClose(w, await (model.l0 as L.Linear).W.data(), { what: `${device} saved weights` });
    return { losses, w };
  };
  const cpu = await run("cpu");
  const gpu = await run("gpu");
  assertAllClose(Float32Array.from(gpu.losses), cpu.losses, {
    rtol: 1e-4,
    atol: 1e-5,
    what: "losses",
  });
  assertAllClose(gpu.w, cpu.w, { rtol: 1e-3, atol: 1e-5, what: "trained weights" });
  ok(gpu.losses[9] < gpu.losses[0]);
});

gpuTest(
  "loadWeights() into a never-called model after toGpu() puts every weight on the GPU",
  async () => {
    manualSeed(5);
    const src = new MLP([10, 3]);
    const x = tensor(randomTyped(8, { seed: 5 }), { shape: [2, 4] });
    const y = await src.apply(x).data();
    const path = await Deno.makeTempFile({ suffix: ".safetensors" });
    try {
      await src.saveWeights(path);
      // PyTorch's model.to(device); model.load_state_dict(...): the lazy weights follow the model.
      const model = new MLP([10, 3]).toGpu();
      await model.loadWeights(path);
      const devices = [...model.namedState()].map(([name, p]) => `${name} ${p.device}`);
      deepStrictEqual(devices, ["l0.W gpu", "l0.b gpu", "l1.W gpu", "l1.b gpu"]);
      const xg = tensor(await x.data(), { shape: [2, 4], device: "gpu" });
      assertAllClose(await model.apply(xg).data(), y, { what: "outputs of the loaded model" });
      // Moved back to the CPU before loading: the weights stay on the CPU.
      const back = await new MLP([10, 3]).toGpu().toCpu();
      await back.loadWeights(path);
      ok([...back.namedState()].every(([, p]) => p.device === "cpu"));
    } finally {
      await Deno.remove(path);
    }
  },
);

gpuTest("MLP learns the spiral on the GPU to DeZero's ~97% train accuracy", async () => {
  const acc = await trainSpiral(300, "gpu");
  ok(acc >= 0.96, `train accuracy ${acc}`);
});

gpuTest("a small CNN with batch norm learns the bars on the GPU", async () => {
  const acc = await trainBars(40, "gpu");
  ok(acc >= 0.95, `test accuracy ${acc}`);
});

gpuTest("LSTM truncated-BPTT steps on the GPU match the CPU (sine, 60 steps)", async () => {
  const opts = { hidden: 16, epochs: 1, lr: 0.01, iters: 60 };
  const cpu = await trainSine(opts);
  const gpu = await trainSine({ ...opts, device: "gpu" });
  assertAllClose(Float32Array.from(gpu.losses), cpu.losses, {
    rtol: 1e-3,
    atol: 1e-5,
    what: "losses",
  });
  ok(gpu.losses[1] < gpu.losses[0]);
});

gpuTest("lazily sized Linear and Conv2d put every parameter on the input's device", () => {
  const lin = new L.Linear(3);
  const y = lin.apply(randn([2, 4], { device: "gpu" }));
  ok(y.device === "gpu" && lin.b!.device === "gpu", `${y.device} ${lin.b!.device}`);
  const conv = new L.Conv2d(2, 3, { pad: 1 });
  const z = conv.apply(randn([1, 1, 5, 5], { device: "gpu" }));
  ok(z.device === "gpu" && conv.b!.device === "gpu", `${z.device} ${conv.b!.device}`);
});

gpuTest(
  "an out-of-range id or label on the GPU is reported at readback, naming the op",
  async () => {
    const W = randn([3, 2], { device: "gpu" });
    const ids = tensor(new Int32Array([0, 5]), { device: "gpu" });
    const y = N.embedId(ids, W);
    await rejects(() => y.data(), {
      name: "RangeError",
      message: /^embedId: index 5 is out of range for axis 0 of size 3/,
    });
    const x = randn([2, 3], { device: "gpu" });
    const t = tensor(new Int32Array([1, 3]), { device: "gpu" });
    const loss = N.softmaxCrossEntropy(x, t);
    await rejects(() => loss.item(), {
      name: "RangeError",
      message: /^softmaxCrossEntropy: index 3 is out of range for axis 0 of size 3/,
    });
  },
);

gpuTest("toGpu() and toCpu() move a recurrent layer's state with its parameters", async () => {
  const makers = [
    () => new L.RNN(3, { inSize: 4 }),
    () => new L.LSTM(3, { inSize: 4 }),
    () => new L.GRU(3, { inSize: 4 }),
  ];
  const gen = new Generator(5);
  const xs = [0, 1, 2, 3].map(() => randn([2, 4], { generator: gen }));
  for (const make of makers) {
    manualSeed(7);
    const ref = make();
    const want = [];
    for (const x of xs) want.push(await ref.apply(x).data());
    // Inside a model, so that the move has to reach a sublayer's state.
    manualSeed(7);
    const model = new Sequential(make());
    const got = [await model.apply(xs[0]).data(), await model.apply(xs[1]).data()];
    model.toGpu();
    got.push(await model.apply(xs[2].detach().toGpu()).data());
    await model.toCpu();
    got.push(await model.apply(xs[3]).data());
    for (let i = 0; i < 4; i++) {
      assertAllClose(got[i], want[i], { rtol: 1e-5, atol: 1e-6, what: `step ${i}` });
    }
  }
});

gpuTest(
  "loadWeights() on the GPU: a float64 file fills lazy weights as float32, and a failure changes nothing",
  async () => {
    const path = await Deno.makeTempFile({ suffix: ".safetensors" });
    const f64 = (n: number, v: number) => ({ data: new Float64Array(n).fill(v) });
    await saveSafetensors(path, {
      "0.W": { dtype: "float64", shape: [3, 4], ...f64(12, 7) },
      "0.b": { dtype: "float64", shape: [4], ...f64(4, 7) },
      "1.W": { dtype: "float64", shape: [4, 2], ...f64(8, 7) },
    });
    const make = () =>
      new Sequential(new L.Linear(4, { inSize: 3 }), new L.Linear(2, { nobias: true }));
    const model = make().toGpu();
    await model.loadWeights(path);
    for (const [name, p] of model.namedParams()) {
      deepStrictEqual([p.device, p.dtype], ["gpu", "float32"], name);
      ok((await p.data()).every((v) => v === 7), name);
    }
    // The arrays are all made before any is assigned: a failure on the last leaves the model as it was.
    const other = make().toGpu();
    const before = await other.layers[0].params().next().value!.data();
    const gpu = getBackend("gpu");
    const fromTyped = gpu.fromTyped;
    let calls = 0;
    gpu.fromTyped = function (...args) {
      if (++calls === 3) throw new Error("out of memory (injected)");
      return fromTyped.apply(this, args);
    };
    try {
      await rejects(() => other.loadWeights(path), /injected/);
    } finally {
      gpu.fromTyped = fromTyped;
    }
    deepStrictEqual(await other.layers[0].params().next().value!.data(), before);
    await Deno.remove(path);
  },
);

gpuTest(
  "toGpu() with a float64 LayerNorm moves nothing; toGpu() before loadWeights() loads it as float32",
  async () => {
    const path = await Deno.makeTempFile({ suffix: ".safetensors" });
    const f64 = (shape: number[]) => ({
      dtype: "float64" as const,
      shape,
      data: new Float64Array(shape.reduce((a, b) => a * b, 1)).fill(0.5),
    });
    await saveSafetensors(path, {
      "0.W": f64([2, 3]),
      "0.b": f64([3]),
      "1.gamma": f64([3]),
      "1.beta": f64([3]),
      "2.W": f64([3, 2]),
      "2.b": f64([2]),
    });
    const make = () =>
      new Sequential(
        new L.Linear(3, { inSize: 2 }),
        new L.LayerNorm(),
        new L.Linear(2, { inSize: 3 }),
      );
    const model = make();
    await model.loadWeights(path); // on the CPU the LayerNorm takes the file's float64
    const x = randn([4, 2]);
    const want = await model.apply(x).data();
    throws(
      () => model.toGpu(),
      /^TypeError: toGpu: "1.gamma" \(LayerNorm\), "1.beta" \(LayerNorm\) are float64.*nothing was moved/,
    );
    ok([...model.namedState()].every(([, p]) => p.device === "cpu"), "nothing moved");
    assertAllClose(await model.apply(x).data(), want, { what: "still runs on the CPU" });
    // The way out the message gives: move first, then load (float64 becomes float32).
    const onGpu = make().toGpu();
    await onGpu.loadWeights(path);
    for (const [name, p] of onGpu.namedState()) {
      deepStrictEqual([p.device, p.dtype], ["gpu", "float32"], name);
    }
    const got = await onGpu.apply(x.detach().toGpu()).data();
    assertAllClose(got, want, { rtol: 1e-5, atol: 1e-6, what: "GPU vs CPU" });
    await Deno.remove(path);
  },
);

gpuTest(
  "BatchNorm on the GPU rejects an empty batch in training and keeps its statistics",
  async () => {
    const bn = new L.BatchNorm({ size: 2 }).toGpu();
    bn.apply(tensor([[1, 2], [3, 4]], { device: "gpu" }));
    const mean = await bn.avgMean.data(), variance = await bn.avgVar.data();
    throws(
      () => bn.apply(randn([0, 2], { device: "gpu" })),
      /^TypeError: batchNorm: input of shape \[0,2\] has no values per channel/,
    );
    deepStrictEqual([await bn.avgMean.data(), await bn.avgVar.data()], [mean, variance]);
    ok((await bn.avgMean.data()).every(Number.isFinite));
  },
);

gpuTest(
  "lazily sized RNN, LSTM and GRU put every weight on the input's device at the first call",
  async () => {
    for (const make of [() => new L.RNN(3), () => new L.LSTM(3), () => new L.GRU(3)]) {
      const cell = make();
      const op = cell.constructor.name;
      cell.apply(randn([2, 4], { device: "gpu" }));
      for (const [name, p] of cell.namedState()) {
        deepStrictEqual([p.device, isInitialized(p)], ["gpu", true], `${op}.${name}`);
      }
      deepStrictEqual(cell.apply(randn([2, 4], { device: "gpu" })).device, "gpu");
      const path = await Deno.makeTempFile({ suffix: ".safetensors" });
      await cell.saveWeights(path); // after one call: the GRU's reset-gate weight exists
      await Deno.remove(path);
    }
  },
);
