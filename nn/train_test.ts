/**
 * Convergence: the networks of the book's steps actually learn (CPU). Sizes are
 * the book's where that stays fast, reduced (and said so) where not.
 */
import { ok } from "node:assert/strict";
import { F, Generator, manualSeed, noGrad, tensor, type Variable } from "../mod.ts";
import { L, MLP, Model, optimizers } from "./mod.ts";

/** DeZero's `get_spiral`: three interleaved arms of 100 points. */
function spiral(g: Generator): { x: Float32Array; t: Int32Array } {
  const n = 100;
  const x = new Float32Array(3 * n * 2);
  const t = new Int32Array(3 * n);
  for (let j = 0; j < 3; j++) {
    for (let i = 0; i < n; i++) {
      const rate = i / n;
      const theta = j * 4 + 4 * rate + g.normal() * 0.2;
      const k = n * j + i;
      x[2 * k] = rate * Math.sin(theta);
      x[2 * k + 1] = rate * Math.cos(theta);
      t[k] = j;
    }
  }
  return { x, t };
}

Deno.test("MLP learns the spiral to DeZero's ~97% train accuracy (step 48)", async () => {
  manualSeed(0);
  const { x, t } = spiral(new Generator(1));
  const model = new MLP([10, 3]);
  const opt = new optimizers.SGD({ lr: 1 }).setup(model);
  const g = new Generator(0);
  const batch = 30;
  for (let epoch = 0; epoch < 300; epoch++) {
    const perm = g.permutation(300);
    for (let b = 0; b < 300 / batch; b++) {
      const xb = new Float32Array(batch * 2);
      const tb = new Int32Array(batch);
      for (let i = 0; i < batch; i++) {
        const k = perm[b * batch + i];
        xb[2 * i] = x[2 * k];
        xb[2 * i + 1] = x[2 * k + 1];
        tb[i] = t[k];
      }
      const loss = F.softmaxCrossEntropy(
        model.apply(tensor(xb, { shape: [batch, 2] })),
        tensor(tb),
      );
      model.cleargrads();
      loss.backward();
      opt.update();
    }
  }
  const acc = await noGrad(() => F.accuracy(model.apply(tensor(x, { shape: [300, 2] })), tensor(t)))
    .item();
  ok(acc >= 0.96, `train accuracy ${acc}`);
});

class BetterRNN extends Model {
  rnn: L.LSTM;
  fc: L.Linear;
  constructor(hidden: number) {
    super();
    this.rnn = new L.LSTM(hidden);
    this.fc = new L.Linear(1);
  }
  resetState(): void {
    this.rnn.resetState();
  }
  forward(x: Variable): Variable {
    return this.fc.apply(this.rnn.apply(x));
  }
}

Deno.test("LSTM fits the sine curve and predicts the cosine (step 60, hidden 30, 40 epochs)", async () => {
  manualSeed(0);
  const n = 1000;
  const g = new Generator(0);
  const xs = Array.from({ length: n }, (_, i) => (2 * Math.PI * i) / (n - 1));
  const y = xs.map((x) => Math.sin(x) + (g.random() - 0.5) * 0.1);
  const batch = 30;
  const jump = Math.floor((n - 1) / batch);
  const model = new BetterRNN(30);
  const opt = new optimizers.Adam({ lr: 0.005 }).setup(model);
  let last = Infinity;
  for (let epoch = 0; epoch < 40; epoch++) {
    model.resetState();
    let loss: Variable | null = null;
    let sum = 0;
    for (let it = 0; it < jump; it++) {
      // SeqDataLoader's layout: batch row b reads the series from b * jump.
      const xb = Float32Array.from({ length: batch }, (_, b) => y[b * jump + it]);
      const tb = Float32Array.from({ length: batch }, (_, b) => y[b * jump + it + 1]);
      const l = F.meanSquaredError(
        model.apply(tensor(xb, { shape: [batch, 1] })),
        tensor(tb, { shape: [batch, 1] }),
      );
      loss = loss === null ? l : loss.add(l);
      if ((it + 1) % 30 === 0 || it === jump - 1) {
        model.cleargrads();
        loss.backward();
        loss.unchainBackward();
        opt.update();
        sum += await loss.item();
        loss = null;
      }
    }
    last = sum / jump;
  }
  ok(last < 0.01, `final epoch loss ${last}`);
  model.resetState();
  let mse = 0;
  for (let i = 0; i < n - 1; i++) {
    const p = noGrad(() => model.apply(tensor([[Math.cos(xs[i])]])));
    mse += ((await p.item()) - Math.cos(xs[i + 1])) ** 2;
  }
  ok(mse / (n - 1) < 0.005, `cosine prediction MSE ${mse / (n - 1)}`);
});

class TinyCNN extends Model {
  conv = new L.Conv2d(4, 3, { pad: 1 });
  bn = new L.BatchNorm();
  fc = new L.Linear(2);
  forward(x: Variable): Variable {
    const h = F.pooling(F.relu(this.bn.apply(this.conv.apply(x))), 2);
    return this.fc.apply(h.reshape(h.shape[0], -1));
  }
}

/** 8×8 images holding one horizontal (class 0) or vertical (class 1) bar, plus noise. */
function bars(count: number, g: Generator): { x: Float32Array; t: Int32Array } {
  const x = new Float32Array(count * 64);
  const t = new Int32Array(count);
  for (let k = 0; k < count; k++) {
    const cls = g.int(2);
    const pos = g.int(8);
    t[k] = cls;
    for (let i = 0; i < 64; i++) x[k * 64 + i] = g.normal() * 0.3;
    for (let j = 0; j < 8; j++) x[k * 64 + (cls === 0 ? pos * 8 + j : j * 8 + pos)] += 1;
  }
  return { x, t };
}

Deno.test("a small CNN learns to tell horizontal from vertical bars", async () => {
  manualSeed(0);
  const g = new Generator(5);
  const train = bars(64, g);
  const test = bars(64, g);
  const model = new TinyCNN();
  const opt = new optimizers.Adam({ lr: 0.02 }).setup(model);
  const xt = tensor(train.x, { shape: [64, 1, 8, 8] });
  const tt = tensor(train.t);
  for (let step = 0; step < 40; step++) {
    const loss = F.softmaxCrossEntropy(model.apply(xt), tt);
    model.cleargrads();
    loss.backward();
    opt.update();
  }
  model.eval();
  const acc = await noGrad(() =>
    F.accuracy(model.apply(tensor(test.x, { shape: [64, 1, 8, 8] })), tensor(test.t))
  ).item();
  ok(acc >= 0.95, `test accuracy ${acc}`);
});
