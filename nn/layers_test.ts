import {
  deepStrictEqual,
  equal,
  match,
  notDeepStrictEqual,
  ok,
  rejects,
  throws,
} from "node:assert/strict";
import {
  Config,
  F,
  Generator,
  manualSeed,
  memoryStats,
  noGrad,
  ones,
  optimizers,
  Parameter,
  randn,
  tensor,
  testMode,
  tidy,
  utils,
  type Variable,
} from "../mod.ts";
import { encodeSafetensors, saveSafetensors } from "./io.ts";
import { isInitialized } from "./layer.ts";
import { L, Layer, MLP, Model, ResNet, Sequential, VGG16 } from "./mod.ts";
import { gpuTest } from "../shaders/test_util.ts";

const f64 = { dtype: "float64" as const };

class TwoLayerNet extends Model {
  l1 = new L.Linear(5);
  l2 = new L.Linear(2);
  forward(x: Variable): Variable {
    return this.l2.apply(F.sigmoid(this.l1.apply(x)));
  }
}

class ConvNet extends Model {
  conv = new L.Conv2d(3, 3, { pad: 1 });
  bn = new L.BatchNorm();
  fc = new L.Linear(2);
  forward(x: Variable): Variable {
    const h = F.pooling(F.relu(this.bn.apply(this.conv.apply(x))), 2);
    return this.fc.apply(h.reshape(h.shape[0], -1));
  }
}

async function values(layer: Layer): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  for (const [name, p] of layer.namedState()) out[name] = [...await p.data()];
  return out;
}

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Layer.namedParams() lists parameters recursively in declaration order", () => {
  const net = new TwoLayerNet();
  // The lazily sized weights are listed before the first call too, empty until then.
  const before = [...net.namedParams()];
  deepStrictEqual(before.map(([n]) => n), ["l1.W", "l1.b", "l2.W", "l2.b"]);
  deepStrictEqual([isInitialized(net.l1.W), net.l1.W.shape], [false, [0]]);
  net.apply(randn([3, 4]));
  const after = [...net.namedParams()];
  deepStrictEqual(after.map(([n]) => n), ["l1.W", "l1.b", "l2.W", "l2.b"]);
  ok(after.every(([, p], i) => p === before[i][1]), "the same Parameter objects, filled in place");
  deepStrictEqual(net.l1.W.shape, [4, 5]);
  const seq = new Sequential(new L.Linear(3), F.relu, new L.Linear(1, { nobias: true }));
  seq.apply(randn([2, 2]));
  deepStrictEqual([...seq.namedParams()].map(([n]) => n), ["0.W", "0.b", "2.W"]);
  const mlp = new MLP([4, 4, 1]);
  mlp.apply(randn([1, 3]));
  deepStrictEqual(
    [...mlp.namedParams()].map(([n]) => n),
    ["l0.W", "l0.b", "l1.W", "l1.b", "l2.W", "l2.b"],
  );
  equal([...mlp.params()].length, 6);
});

Deno.test("BatchNorm keeps running statistics as buffers: saved, not optimized", () => {
  const net = new ConvNet();
  net.apply(randn([2, 1, 4, 4]));
  deepStrictEqual(
    [...net.namedState()].map(([n]) => n),
    ["conv.W", "conv.b", "bn.avgMean", "bn.avgVar", "bn.gamma", "bn.beta", "fc.W", "fc.b"],
  );
  deepStrictEqual(
    [...net.namedParams()].map(([n]) => n),
    ["conv.W", "conv.b", "bn.gamma", "bn.beta", "fc.W", "fc.b"],
  );
});

Deno.test("Layer.cleargrads() clears every gradient", () => {
  const net = new TwoLayerNet();
  net.apply(randn([3, 4])).sum().backward();
  ok([...net.params()].every((p) => p.grad !== null));
  net.cleargrads();
  ok([...net.params()].every((p) => p.grad === null));
});

Deno.test("Linear initializes like DeZero and infers the input size", async () => {
  manualSeed(0);
  const l = new L.Linear(200, { inSize: 100 });
  const w = await l.W.data();
  const variance = [...w].reduce((s, v) => s + v * v, 0) / w.length;
  ok(Math.abs(variance - 1 / 100) < 1e-3, `variance ${variance}`);
  deepStrictEqual([...await l.b!.data()].every((v) => v === 0), true);
  const lazy = new L.Linear(3, { dtype: "float64" });
  const y = lazy.apply(tensor([[1, 2]], f64));
  deepStrictEqual([y.shape, lazy.W.shape, lazy.W.dtype], [[1, 3], [2, 3], "float64"]);
});

Deno.test("train() / eval() switch dropout and batch norm for the whole tree", async () => {
  const net = new Sequential(new L.Dropout(0.5), new L.BatchNorm());
  const x = randn([8, 3]);
  net.apply(x);
  net.eval();
  ok(!net.layers[0].training && !net.layers[1].training);
  ok(Config.train, "eval() does not change the global flag");
  const bn = net.layers[1] as L.BatchNorm;
  const y = await net.apply(x).data();
  // eval: dropout is the identity and batch norm uses the running statistics
  const mean = await bn.avgMean.data();
  const variance = await bn.avgVar.data();
  const xs = await x.data();
  for (let i = 0; i < 6; i++) {
    const c = i % 3;
    ok(Math.abs(y[i] - (xs[i] - mean[c]) / Math.sqrt(variance[c] + 2e-5)) < 1e-5);
  }
  net.train();
  ok(net.layers[0].training);
});

Deno.test("Layer.apply() runs each layer in its own mode: train() inside an eval() model wins", async () => {
  // Monte-Carlo dropout (PyTorch): the model in eval mode, its dropout switched back on.
  const net = new Sequential(new L.BatchNorm(), new L.Dropout(0.5));
  const x = randn([8, 16]);
  net.apply(x);
  net.eval();
  net.layers[1].train();
  const bn = net.layers[0] as L.BatchNorm;
  const mean = [...await bn.avgMean.data()];
  const y = await net.apply(x).data();
  const yBn = await bn.apply(x).data(); // batch norm alone, in eval mode
  const dropped = y.filter((v) => v === 0).length;
  ok(dropped > 20 && dropped < 108, `dropout in training mode drops about half: ${dropped} of 128`);
  ok(y.every((v, i) => v === 0 || Math.abs(v - 2 * yBn[i]) < 1e-5), "kept values are scaled by 2");
  deepStrictEqual([...await bn.avgMean.data()], mean, "batch norm stays in eval mode");
  ok(Config.train, "the global flag is restored");
  // testMode() is the global switch: every layer runs in test mode under it.
  const yTest = await testMode(() => net.apply(x)).data();
  deepStrictEqual([...yTest], [...yBn]);
  // A testMode() block inside a training layer's forward holds for its sublayers.
  class Inner extends Model {
    drop = new L.Dropout(0.5);
    forward(x: Variable): Variable {
      return testMode(() => this.drop.apply(x));
    }
  }
  deepStrictEqual([...await new Inner().apply(ones([64])).data()], new Array(64).fill(1));
});

Deno.test("loadWeights() gives lazy weights the layer's dtype and rejects int32 as eager ones do", async () => {
  await withTempDir(async (dir) => {
    const path = `${dir}/int.safetensors`;
    await saveSafetensors(path, {
      W: { dtype: "int32", shape: [3, 2], data: new Int32Array([1, 2, 3, 4, 5, 6]) },
      b: { dtype: "float32", shape: [2], data: new Float32Array(2) },
    });
    for (const layer of [new L.Linear(2), new L.Linear(2, { inSize: 3 })]) {
      await rejects(layer.loadWeights(path), /"W" is int32 in the file but float32 in the model/);
    }
    const lazy = new L.Linear(2);
    ok(!isInitialized(lazy.W), "a rejected file leaves the layer untouched");
    // float64 values convert to a float32 layer's dtype, as for eager weights.
    await saveSafetensors(path, {
      W: { dtype: "float64", shape: [3, 2], data: new Float64Array([1, 2, 3, 4, 5, 6]) },
      b: { dtype: "float64", shape: [2], data: new Float64Array(2) },
    });
    await lazy.loadWeights(path);
    deepStrictEqual([lazy.W.dtype, lazy.W.shape, lazy.b!.dtype], ["float32", [3, 2], "float32"]);
    // Without a bias, a lazy weight's float type is open: it takes the file's.
    const open = new L.Linear(2, { nobias: true });
    await saveSafetensors(`${dir}/w.safetensors`, {
      W: { dtype: "float64", shape: [3, 2], data: new Float64Array(6) },
    });
    await open.loadWeights(`${dir}/w.safetensors`);
    equal(open.W.dtype, "float64");
  });
});

Deno.test("loadWeights() requires one size where lazy weights share one (BatchNorm, LayerNorm, LSTM, GRU)", () => {
  const f32 = (...shape: number[]) => ({
    dtype: "float32" as const,
    shape,
    data: new Float32Array(shape.reduce((a, b) => a * b, 1)),
  });
  const bn = new L.BatchNorm();
  throws(
    () => bn.loadTensors({ avgMean: f32(3), avgVar: f32(4), gamma: f32(3), beta: f32(3) }),
    /"avgVar" has shape \[4\] in the file but channels is 3 in "avgMean"/,
  );
  ok(!isInitialized(bn.avgMean) && !isInitialized(bn.gamma), "nothing is loaded");
  bn.loadTensors({ avgMean: f32(3), avgVar: f32(3), gamma: f32(3), beta: f32(3) });
  deepStrictEqual(bn.apply(randn([2, 3])).shape, [2, 3]);
  throws(
    () => new L.LayerNorm().loadTensors({ gamma: f32(5), beta: f32(6) }),
    /"beta" has shape \[6\] in the file but size is 5 in "gamma"/,
  );
  // An LSTM's four input weights take one input size; the hidden ones are sized already.
  const lstm = new L.LSTM(2);
  const weights: Record<string, ReturnType<typeof f32>> = {};
  for (const [name] of lstm.namedState()) {
    weights[name] = name.endsWith(".b") ? f32(2) : name.startsWith("x2") ? f32(3, 2) : f32(2, 2);
  }
  lstm.loadTensors(weights);
  deepStrictEqual(lstm.apply(randn([1, 3])).shape, [1, 2]);
  const other = new L.LSTM(2);
  throws(
    () => other.loadTensors({ ...weights, "x2u.W": f32(4, 2) }),
    /"x2u.W" has shape \[4,2\] in the file but inSize is 3 in "x2f.W"/,
  );
  const gru = new L.GRU(2);
  const gw: Record<string, ReturnType<typeof f32>> = {};
  for (const [name] of gru.namedState()) {
    gw[name] = name.endsWith(".b") ? f32(2) : name.startsWith("x2") ? f32(3, 2) : f32(2, 2);
  }
  throws(() => gru.loadTensors({ ...gw, "x2n.W": f32(5, 2) }), /inSize is 3 in "x2z.W"/);
});

Deno.test("saveWeights() / loadWeights() round trip gives identical outputs", async () => {
  await withTempDir(async (dir) => {
    manualSeed(1);
    const net = new ConvNet();
    const x = randn([2, 1, 4, 4]);
    net.apply(x); // sizes the lazy weights and moves the running statistics
    net.eval();
    const y = await net.apply(x).data();
    const path = `${dir}/net.safetensors`;
    await net.saveWeights(path);
    // A fresh model, never called: its lazy weights take the file's shapes.
    const fresh = new ConvNet();
    await fresh.loadWeights(path);
    fresh.eval();
    deepStrictEqual(await values(fresh), await values(net));
    deepStrictEqual(await fresh.apply(x).data(), y);
  });
});

Deno.test("loadWeights() rejects a corrupted or mismatched file and leaves the model untouched", async () => {
  await withTempDir(async (dir) => {
    const net = new TwoLayerNet();
    net.apply(randn([2, 4]));
    const path = `${dir}/w.safetensors`;
    await net.saveWeights(path);
    const bytes = await Deno.readFile(path);
    const other = new TwoLayerNet();
    other.apply(randn([2, 4]));
    const before = await values(other);

    await Deno.writeFile(`${dir}/trunc.safetensors`, bytes.subarray(0, bytes.length - 4));
    await rejects(
      other.loadWeights(`${dir}/trunc.safetensors`),
      /trunc\.safetensors.*"l2\.b".*run past the end/,
    );

    const big = new TwoLayerNet();
    big.apply(randn([2, 7]));
    await big.saveWeights(`${dir}/shape.safetensors`);
    await rejects(
      other.loadWeights(`${dir}/shape.safetensors`),
      /"l1\.W" has shape \[7,5\] in the file but \[4,5\] in the model/,
    );

    const missing = await encodeSafetensors({ "l1.W": other.l1.W });
    await Deno.writeFile(`${dir}/missing.safetensors`, missing);
    await rejects(
      other.loadWeights(`${dir}/missing.safetensors`),
      /"l1\.b" is missing from the file/,
    );

    const flipped = bytes.slice();
    flipped[8] = 0x5b; // "[" where the header's "{" was: not JSON any more
    await Deno.writeFile(`${dir}/json.safetensors`, flipped);
    await rejects(other.loadWeights(`${dir}/json.safetensors`), /header is not valid JSON/);

    deepStrictEqual(await values(other), before);
    await other.loadWeights(path);
    notDeepStrictEqual(await values(other), before);
    deepStrictEqual(await values(other), await values(net));
  });
});

Deno.test("saveWeights() refuses parameters that were never sized", async () => {
  await rejects(
    new TwoLayerNet().saveWeights("/tmp/never.safetensors"),
    /"l1\.W" is not initialised/,
  );
});

Deno.test("Model.plotToFile() renders with Graphviz where installed", async () => {
  let hasDot = false;
  try {
    hasDot = (await new Deno.Command("dot", { args: ["-V"], stderr: "null" }).output()).success;
  } catch {
    // Graphviz is not installed: plotToFile must say how to get it.
  }
  const path = await Deno.makeTempFile({ suffix: ".svg" });
  try {
    if (hasDot) {
      equal(await new TwoLayerNet().plotToFile([randn([1, 3])], path), path);
      ok((await Deno.readTextFile(path)).includes("<svg"));
    } else {
      await rejects(new TwoLayerNet().plotToFile([randn([1, 3])], path), /install Graphviz/);
    }
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("Model.plot() returns the DOT graph of a forward pass", () => {
  const dot = new TwoLayerNet().plot([randn([1, 3])]);
  ok(dot.startsWith("digraph"), dot.slice(0, 40));
  ok(/MatMul|Linear|matmul/i.test(dot), "the graph names its functions");
});

Deno.test("Conv2d, Deconv2d, LayerNorm, EmbedID produce the expected shapes", () => {
  const x = randn([2, 3, 8, 8]);
  deepStrictEqual(new L.Conv2d(4, 3, { stride: 2, pad: 1 }).apply(x).shape, [2, 4, 4, 4]);
  const de = new L.Deconv2d(5, 4, { stride: 2, pad: 1 });
  deepStrictEqual(de.apply(x).shape, [2, 5, 16, 16]);
  deepStrictEqual(de.W.shape, [3, 5, 4, 4]);
  deepStrictEqual(new L.LayerNorm().apply(randn([2, 6])).shape, [2, 6]);
  deepStrictEqual(new L.EmbedID(10, 4).apply(tensor([[1, 2, 3]], { dtype: "int32" })).shape, [
    1,
    3,
    4,
  ]);
});

Deno.test("RNN, LSTM and GRU carry state, survive backward and reset", () => {
  for (const make of [() => new L.RNN(4), () => new L.LSTM(4), () => new L.GRU(4)]) {
    const rnn = make();
    const head = new L.Linear(1);
    let loss = head.apply(rnn.apply(randn([2, 3]))).sum();
    // Truncated BPTT: the hidden state from step 1 feeds step 2 after step 1's
    // backward freed the graph's intermediates (it must have called retainData()).
    loss.backward();
    loss.unchainBackward();
    loss = head.apply(rnn.apply(randn([2, 3]))).sum();
    loss.backward();
    ok(rnn.h !== null);
    throws(() => rnn.apply(randn([5, 3])), /resetState/);
    rnn.resetState();
    equal(rnn.h, null);
    deepStrictEqual(rnn.apply(randn([5, 3])).shape, [5, 4]);
  }
});

Deno.test("RNN, LSTM and GRU state outlives tidy(): inference loops keep flat memory", async () => {
  const makers = [
    () => new L.RNN(4, { inSize: 3 }),
    () => new L.LSTM(4, { inSize: 3 }),
    () => new L.GRU(4, { inSize: 3 }),
  ];
  for (const make of makers) {
    manualSeed(3);
    const ref = make();
    const xs = Array.from({ length: 6 }, () => randn([2, 3]));
    const want = [];
    for (const x of xs) want.push(await noGrad(() => ref.apply(x)).data());
    // The same steps inside tidy(), under noGrad and with a graph, with a head after the
    // layer so that the state is not what tidy() returns.
    for (const grad of [false, true]) {
      manualSeed(3);
      const rnn = make();
      const head = new L.Linear(2, { inSize: 4 });
      const step = (x: Variable) => {
        const h = rnn.apply(x);
        return { h: h.mul(1), y: head.apply(h) };
      };
      let before = 0;
      for (let i = 0; i < xs.length; i++) {
        const { h, y } = tidy(() => (grad ? step(xs[i]) : noGrad(() => step(xs[i]))));
        ok(await utils.allclose(h, want[i], { rtol: 1e-6 }), `step ${i}`);
        h.dispose();
        y.dispose();
        if (i === 1) before = memoryStats().liveTensors;
      }
      // At most as many (reads give the collector's finalizers a turn for earlier garbage).
      if (!grad) {
        const now = memoryStats().liveTensors;
        ok(now <= before, `noGrad steps free the old state: ${before} -> ${now} live tensors`);
      }
    }
  }
  // A state freed from outside is a clear error.
  const rnn = new L.RNN(2);
  rnn.apply(randn([1, 3])).dispose();
  throws(
    () => rnn.apply(randn([1, 3])),
    /RNN: the state carried from the previous call was freed.*resetState/,
  );
  rnn.resetState();
  deepStrictEqual(rnn.apply(randn([1, 3])).shape, [1, 2]);
});

Deno.test("LSTM and GRU gradients through two steps match numerical", async () => {
  for (
    const make of [
      () => new L.LSTM(3, { dtype: "float64" }),
      () => new L.GRU(3, { dtype: "float64" }),
      () => new L.RNN(3, { dtype: "float64" }),
    ]
  ) {
    const cell = make();
    const f = (x: Variable) => {
      cell.resetState();
      cell.apply(x);
      return cell.apply(x.mul(2));
    };
    const r = await utils.gradientCheck(f, [
      randn([2, 2], { ...f64, generator: new Generator(1) }),
    ]);
    ok(r.ok, `${cell.constructor.name}: ${r.failures.join("\n")}`);
  }
});

Deno.test("ResNet parameter counts match the reference architectures", () => {
  const count = (m: Layer) => [...m.params()].reduce((s, p) => s + p.size, 0);
  // torchvision's resnet18/34/50 (ImageNet heads).
  equal(count(new ResNet(18)), 11_689_512);
  equal(count(new ResNet(50, { numClasses: 10 })), 25_557_032 - 2048 * 990 - 990);
  throws(() => new ResNet(20 as 18), /depth must be 18, 34 or 50/);
});

Deno.test("ResNet and VGG16 run a forward pass", () => {
  manualSeed(0);
  const net = new ResNet(18, { numClasses: 10 });
  deepStrictEqual(net.apply(randn([2, 3, 32, 32])).shape, [2, 10]);
  const names = [...net.namedParams()].map(([n]) => n);
  deepStrictEqual(names.slice(0, 3), ["stem.conv.W", "stem.bn.gamma", "stem.bn.beta"]);
  ok(names.includes("layer2.0.downsample.conv.W"));
  const vgg = new VGG16({ numClasses: 3 }).eval();
  deepStrictEqual(vgg.apply(randn([1, 3, 32, 32])).shape, [1, 3]);
  equal([...vgg.namedParams()].length, 32);
  equal((vgg.fc6 as L.Linear).W.shape[0], 512);
});

Deno.test("Parameter subclasses stay out of scopes", () => {
  const p = new Parameter([1, 2]);
  const b = new L.BatchNorm({ size: 2 });
  ok(p.isAlive && b.avgMean.isAlive);
  deepStrictEqual(ones([2]).shape, [2]);
});

Deno.test("L.Layer and L.Parameter are DeZero's L.Layer and L.Parameter", async () => {
  equal(L.Layer, (await import("./layer.ts")).Layer);
  equal(L.Parameter, Parameter);
  class Net extends L.Layer {
    w = new L.Parameter(ones([2]));
    forward(x: Variable): Variable {
      return x.mul(this.w);
    }
  }
  equal([...new Net().params()].length, 1);
});

Deno.test("Model.plot() writes toFile (DeZero's to_file) and returns the DOT text", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const dotPath = `${dir}/net.dot`;
    const dot = new TwoLayerNet().plot(randn([1, 3]), { toFile: dotPath });
    ok(dot.startsWith("digraph"));
    equal(await Deno.readTextFile(dotPath), dot);
    let hasDot = false;
    try {
      hasDot = (await new Deno.Command("dot", { args: ["-V"], stderr: "null" }).output()).success;
    } catch {
      // Graphviz is not installed: plot must say how to get it.
    }
    const svg = `${dir}/net.svg`;
    if (hasDot) {
      new TwoLayerNet().plot(randn([1, 3]), { toFile: svg });
      ok((await Deno.readTextFile(svg)).includes("<svg"));
    } else {
      throws(() => new TwoLayerNet().plot(randn([1, 3]), { toFile: svg }), /install Graphviz/);
    }
    deepStrictEqual([...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp")), []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Model.plot() rejects an unknown option with a TypeError", () => {
  throws(
    // deno-lint-ignore no-explicit-any
    () => new TwoLayerNet().plot(randn([1, 3]), { to_file: "x.png" } as any),
    { name: "TypeError", message: /unknown option to_file/ },
  );
});

/** A model that exercises what Layer.apply keeps under noGrad: state, buffers, lazy weights. */
class StatefulNet extends Model {
  conv = new L.Conv2d(2, 3, { pad: 1 });
  bn = new L.BatchNorm();
  drop = new L.Dropout(0.5);
  lstm = new L.LSTM(4);
  fc = new L.Linear(3);
  forward(x: Variable): Variable {
    const h = F.relu(this.bn.apply(this.conv.apply(x)));
    return this.fc.apply(this.lstm.apply(this.drop.apply(h.reshape(h.shape[0], -1))));
  }
}

/** Runs `step` `n` times and returns memoryStats() after the warm-up and at the end. */
async function memoryAcross(n: number, step: () => Promise<void>) {
  for (let i = 0; i < 3; i++) await step();
  const start = memoryStats();
  for (let i = 0; i < n; i++) await step();
  return { start, end: memoryStats() };
}

function assertFlat({ start, end }: Awaited<ReturnType<typeof memoryAcross>>): void {
  // Not equal: the collector may free a leftover of an earlier test meanwhile.
  ok(
    end.liveTensors <= start.liveTensors,
    `live tensors ${start.liveTensors} -> ${end.liveTensors}`,
  );
  ok(
    end.cpuLiveBytes <= start.cpuLiveBytes,
    `CPU bytes ${start.cpuLiveBytes} -> ${end.cpuLiveBytes}`,
  );
  ok(
    end.gpuLiveBytes <= start.gpuLiveBytes,
    `GPU bytes ${start.gpuLiveBytes} -> ${end.gpuLiveBytes}`,
  );
}

async function noGradInferenceIsFlat(device: "cpu" | "gpu"): Promise<void> {
  manualSeed(0);
  const model = new StatefulNet();
  if (device === "gpu") model.toGpu();
  const x = randn([2, 2, 4, 4], { device });
  const mlp = new MLP([16, 3], { activation: F.relu });
  if (device === "gpu") mlp.toGpu();
  const x2 = randn([5, 7], { device });
  // Train mode too: batch norm updates its running statistics, dropout draws masks.
  for (const mode of [noGrad, (f: () => Variable) => testMode(() => noGrad(f))]) {
    model.lstm.resetState();
    assertFlat(
      await memoryAcross(20, async () => {
        const y = mode(() => model.apply(x));
        const z = mode(() => mlp.apply(x2));
        await y.data(); // the book's evaluation loop: read the prediction, drop it
        await z.data();
        y.dispose(); // the caller's own output (the collector's part otherwise)
        z.dispose();
      }),
    );
  }
  // What the layers keep is still readable: the carried state and the running statistics.
  deepStrictEqual(model.lstm.h!.shape, [2, 4]);
  ok((await model.bn.avgMean.data()).every(Number.isFinite));
}

Deno.test("Layer.apply() under noGrad frees its intermediates: inference memory is flat (CPU)", () =>
  noGradInferenceIsFlat("cpu"));

gpuTest(
  "Layer.apply() under noGrad frees its intermediates: inference memory is flat (GPU)",
  () => noGradInferenceIsFlat("gpu"),
);

Deno.test("Layer.apply() under noGrad keeps its output, fields and keep()s, frees the rest", async () => {
  let leaked: Variable | null = null;
  let kept: Variable | null = null;
  class Net extends Model {
    l = new L.Linear(2);
    last: Variable | null = null;
    forward(x: Variable): Variable {
      const h = this.l.apply(x);
      leaked = h.mul(2);
      kept = h.mul(3).keep();
      this.last = h.add(1);
      return h.tanh();
    }
  }
  const net = new Net();
  const x = randn([3, 4]);
  const y = noGrad(() => net.apply(x));
  deepStrictEqual(y.shape, [3, 2]);
  deepStrictEqual((await net.last!.data()).length, 6);
  deepStrictEqual((await kept!.data()).length, 6);
  await rejects(() => leaked!.data(), /released by Layer\.apply\(\).*keep\(\)/);
  // With a graph nothing is freed: backward needs it.
  const y2 = net.apply(x);
  deepStrictEqual((await leaked!.data()).length, 6);
  y2.sum().backward();
  ok(net.l.W.grad !== null);
});

async function bpttIsFlat(device: "cpu" | "gpu"): Promise<void> {
  for (const make of [() => new L.RNN(6), () => new L.LSTM(6), () => new L.GRU(6)]) {
    manualSeed(0);
    const rnn = make();
    const fc = new L.Linear(1);
    class Net extends Model {
      rnn = rnn;
      fc = fc;
      forward(x: Variable): Variable {
        return this.fc.apply(this.rnn.apply(x));
      }
    }
    const model = new Net();
    if (device === "gpu") model.toGpu();
    let i = 0;
    // One epoch of the book's step 59: a loss summed over the sequence, backward() and
    // unchainBackward() every 5 steps, per-step inputs (disposed once backward() used them).
    const epoch = async () => {
      rnn.resetState();
      const zero = tensor(0, { device });
      let loss: Variable = zero;
      const inputs: Variable[] = [zero];
      for (let step = 1; step <= 20; step++, i++) {
        const x = tensor([[Math.sin(i * 0.1)]], { device });
        const t = tensor([[Math.sin((i + 1) * 0.1)]], { device });
        inputs.push(x, t);
        loss = loss.add(F.meanSquaredError(model.apply(x), t));
        if (step % 5 === 0) {
          model.cleargrads();
          loss.backward();
          loss.unchainBackward();
          for (const v of inputs.splice(0)) v.dispose();
        }
      }
      await loss.item();
    };
    assertFlat(await memoryAcross(8, epoch));
  }
}

Deno.test("truncated BPTT frees each step's state and gradients: memory is flat (CPU)", () =>
  bpttIsFlat("cpu"));

gpuTest(
  "truncated BPTT frees each step's state and gradients: memory is flat (GPU)",
  () => bpttIsFlat("gpu"),
);

Deno.test("backward() frees at once what a layer made from a batch that needs no gradient (im2col)", () => {
  manualSeed(0);
  const conv = new L.Conv2d(2, 3, { pad: 1 });
  const step = () => {
    const x = randn([2, 1, 5, 5]);
    x.requiresGrad = false; // a DataLoader batch
    const loss = conv.apply(x).sum();
    conv.cleargrads();
    loss.backward();
    loss.dispose();
    x.dispose();
  };
  step(); // creates the weights and their gradients
  const before = memoryStats().liveTensors;
  step();
  // Kept two more steps (as values computed outside layers are), the im2col of the batch would
  // still be alive here.
  equal(memoryStats().liveTensors, before);
});

Deno.test("GRU makes every lazy weight at its first call, in the gates' order: saved and trained after it", async () => {
  const x = randn([2, 3]);
  manualSeed(5);
  const gru = new L.GRU(4);
  gru.apply(x); // no hidden state yet: the reset gate is unused, its weight is made all the same
  ok([...gru.namedState()].every(([, p]) => isInitialized(p)), "every weight after one call");
  // The hidden weights are drawn at construction, the input ones at the first call: z, r, n.
  manualSeed(5);
  const hidden = [0, 1, 2].map(() => new L.Linear(4, { inSize: 4, nobias: true }));
  const input = [0, 1, 2].map(() => new L.Linear(4, { inSize: 3 }));
  const want = [...hidden, ...input].map((l) => l.W);
  const got = [gru.h2z, gru.h2r, gru.h2n, gru.x2z, gru.x2r, gru.x2n].map((l) => l.W);
  for (let i = 0; i < want.length; i++) deepStrictEqual(await got[i].data(), await want[i].data());
  await withTempDir(async (dir) => {
    await gru.saveWeights(`${dir}/gru.safetensors`);
    const fresh = new L.GRU(4);
    await fresh.loadWeights(`${dir}/gru.safetensors`);
    deepStrictEqual(await values(fresh), await values(gru));
    // Two steps of training, and the optimizer state loads into a GRU called once.
    const opt = new optimizers.Adam().setup(fresh);
    fresh.apply(x);
    fresh.apply(x).sum().backward();
    opt.update();
    ok(fresh.x2r.W.grad !== null, "the reset gate is used from the second step");
    await opt.saveState(`${dir}/adam.safetensors`);
    const other = new L.GRU(4);
    other.apply(x);
    const opt2 = new optimizers.Adam().setup(other);
    await opt2.loadState(`${dir}/adam.safetensors`);
    deepStrictEqual((await opt2.stateDict()).tensors, (await opt.stateDict()).tensors);
  });
});

Deno.test("RNN, LSTM and GRU reject an input that is not one time step [N, inSize]", () => {
  for (const make of [() => new L.RNN(4), () => new L.LSTM(4), () => new L.GRU(4)]) {
    const cell = make();
    const op = cell.constructor.name;
    // A PyTorch-style sequence batch [N, T, inSize]: one step per call, as DeZero.
    throws(() => cell.apply(randn([2, 5, 3])), (e: Error) => {
      ok(e instanceof TypeError, String(e));
      ok(
        e.message.startsWith(
          `${op}: expected input [N, inSize], got [2,5,3]: ${op} takes one ` +
            `time step per call`,
        ) && e.message.includes('x.getItem([":", t])'),
        e.message,
      );
      return true;
    });
    throws(
      () => cell.apply(randn([3])),
      new TypeError(
        `${op}: expected input [N, inSize], got [3]: add the batch axis for one sample ` +
          `(x.reshape(1, -1))`,
      ),
    );
    throws(() => cell.apply(randn([1, 2, 2, 3])), /expected input \[N, inSize\], got \[1,2,2,3\]$/);
    // Nothing was made or carried: a right input works after them.
    equal(cell.h, null);
    deepStrictEqual(cell.apply(randn([2, 3])).shape, [2, 4]);
    throws(() => cell.apply(randn([2, 1, 3])), /got \[2,1,3\]/);
  }
});

Deno.test("Conv2d, Deconv2d, BatchNorm and LayerNorm range-check their options at construction", () => {
  const cases: [() => unknown, ErrorConstructor, string][] = [
    [
      () => new L.Conv2d(2, 0),
      RangeError,
      "Conv2d: kernelSize must be a positive integer or a pair of them, got 0",
    ],
    [
      () => new L.Conv2d(2, [3, 0]),
      RangeError,
      "Conv2d: kernelSize must be a positive integer or a pair of them, got an array [3, 0]",
    ],
    [() => new L.Deconv2d(2, -1), RangeError, "Deconv2d: kernelSize must be a positive integer"],
    [
      () => new L.Conv2d(2, 3, { stride: 0 }),
      RangeError,
      'Conv2d: option "stride" must be a positive integer or a pair of them, got 0',
    ],
    [
      () => new L.Deconv2d(2, 3, { stride: [1, 0] }),
      RangeError,
      'Deconv2d: option "stride" must be a positive integer',
    ],
    [
      () => new L.Conv2d(2, 3, { stride: 1.5 }),
      TypeError,
      'Conv2d: option "stride" must be a positive integer or a pair of them, got 1.5',
    ],
    [
      () => new L.Conv2d(2, 3, { pad: -1 }),
      RangeError,
      'Conv2d: option "pad" must be a non-negative integer or a pair of them, got -1',
    ],
    [
      () => new L.Conv2d(2, 2.5),
      TypeError,
      "Conv2d: kernelSize must be a positive integer or a pair of them, got 2.5",
    ],
    [
      () => new L.BatchNorm({ decay: 2 }),
      RangeError,
      'BatchNorm: option "decay" must be in [0, 1], got 2',
    ],
    [
      () => new L.BatchNorm({ decay: -0.1 }),
      RangeError,
      'BatchNorm: option "decay" must be in [0, 1], got -0.1',
    ],
    [() => new L.BatchNorm({ eps: -1 }), RangeError, 'BatchNorm: option "eps" must be > 0'],
    [
      () => new L.BatchNorm({ eps: 0 }),
      RangeError,
      'BatchNorm: option "eps" must be > 0 (equal values have variance 0, which eps 0 would divide by), got 0',
    ],
    [() => new L.LayerNorm({ eps: 0 }), RangeError, 'LayerNorm: option "eps" must be > 0'],
    [() => new L.LayerNorm({ eps: -1e-5 }), RangeError, 'LayerNorm: option "eps" must be > 0'],
  ];
  for (const [make, kind, message] of cases) {
    throws(make, (e: Error) => {
      ok(e instanceof kind && e.message.startsWith(message), `${message}: got ${e}`);
      return true;
    });
  }
  // The ends of the ranges are accepted.
  new L.Conv2d(2, 1, { stride: [1, 2], pad: 0 });
  new L.Deconv2d(2, [1, 3], { stride: 1, pad: [0, 1] });
  new L.BatchNorm({ decay: 0, eps: 1e-12 });
  new L.BatchNorm({ decay: 1 });
  new L.LayerNorm({ eps: 1e-12 });
  new L.Dropout(0);
});

Deno.test("BatchNorm in training rejects an empty batch and keeps its running statistics; a wrong rank leaves it unsized", async () => {
  for (const shape of [[0, 2], [0, 2, 3, 3], [4, 2, 0, 3]]) {
    const bn = new L.BatchNorm({ size: 2 });
    bn.apply(randn([3, 2, ...shape.slice(2).map((d) => d || 1)]));
    const before = await values(bn);
    throws(
      () => bn.apply(randn(shape)),
      new TypeError(
        `batchNorm: input of shape ${JSON.stringify(shape)} has no values per channel to take ` +
          `batch statistics from in training mode: skip empty batches (or use test mode)`,
      ),
    );
    deepStrictEqual(await values(bn), before);
    // In test mode an empty batch is an empty output.
    deepStrictEqual(testMode(() => bn.apply(randn(shape))).shape, shape);
  }
  // A lazy BatchNorm given the wrong rank names it, and stays unsized.
  const lazy = new L.BatchNorm();
  for (const shape of [[3], [3, 2, 4]]) {
    throws(
      () => lazy.apply(randn(shape)),
      new TypeError(`batchNorm: expected [N, C] or [N, C, H, W], got ${JSON.stringify(shape)}`),
    );
  }
  ok(!isInitialized(lazy.gamma) && !isInitialized(lazy.avgMean));
});

Deno.test("toGpu() names a float64 parameter before moving anything", () => {
  // LayerNorm has no dtype option: a float64 file loaded on the CPU makes its weights float64.
  const norm = new L.LayerNorm();
  const net = new Sequential(
    new L.Linear(3, { inSize: 2 }),
    norm,
    new Sequential(new L.Linear(2, { inSize: 3, dtype: "float64" })),
  );
  const f64 = (n: number) => ({ dtype: "float64" as const, shape: [n], data: new Float64Array(n) });
  norm.loadTensors({ gamma: f64(3), beta: f64(3) });
  equal(norm.gamma.dtype, "float64");
  throws(
    () => net.toGpu(),
    new TypeError(
      'toGpu: "1.gamma" (LayerNorm), "1.beta" (LayerNorm), "2.0.W" (Linear), "2.0.b" (Linear) ' +
        'are float64, which device "gpu" does not support (WGSL has no f64): nothing was ' +
        "moved; make the layers float32 (the default), or call toGpu() before loadWeights() " +
        "(which loads a float64 file as float32 on the GPU)",
    ),
  );
  ok([...net.namedState()].every(([, p]) => p.device === "cpu"), "nothing moved");
  // A float32 model whose recurrent state is float64 (float64 input): named too.
  const rnn = new Sequential(new L.RNN(2, { inSize: 2 }));
  rnn.apply(randn([1, 2], { dtype: "float64" }));
  throws(() => rnn.toGpu(), /^TypeError: toGpu: the state carried by "0" \(RNN\) is float64/);
  ok([...rnn.namedState()].every(([, p]) => p.device === "cpu"), "nothing moved");
});

Deno.test("layers in a Map are found (as PyTorch's ModuleDict); a lazy weight prints as such", async () => {
  class Heads extends Layer {
    heads = new Map([["a", new L.Linear(2)], ["b", new L.Linear(3)]]);
    forward(x: Variable): Variable {
      return this.heads.get("a")!.apply(x).add(this.heads.get("b")!.apply(x).sum(1, true));
    }
  }
  const m = new Heads();
  const printed = Deno.inspect(m.heads.get("a"));
  match(
    printed,
    /W: parameter\(<not initialised: shape \[\?, 2\] is inferred from the first input>/,
  );
  m.apply(tensor([[1, 2, 3]]));
  deepStrictEqual([...m.namedParams()].map(([n]) => n), [
    "heads.a.W",
    "heads.a.b",
    "heads.b.W",
    "heads.b.b",
  ]);
  match(String(m.heads.get("a")!.W), /^variable\(\[\[/);
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  try {
    await m.saveWeights(path);
    const copy = new Heads();
    await copy.loadWeights(path);
    const x = tensor([[0.5, -1, 2]]);
    deepStrictEqual(await copy.apply(x).toArray(), await m.apply(x).toArray());
  } finally {
    await Deno.remove(path);
  }
});
