/**
 * Shared by the convergence tests on the CPU (`train_test.ts`) and the GPU
 * (`gpu_test.ts`): the book's toy problems and the small models that learn them.
 *
 * @module
 */
import { F, Generator, manualSeed, noGrad, tensor, type Variable } from "../mod.ts";
import type { Device } from "../core/backend.ts";
import { L, MLP, Model, optimizers } from "./mod.ts";

/** DeZero's `get_spiral`: three interleaved arms of 100 points. */
export function spiral(g: Generator): { x: Float32Array; t: Int32Array } {
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

/** Step 48: MLP((10, 3)), SGD lr 1, batch 30; returns the final train accuracy. */
export async function trainSpiral(epochs: number, device: Device = "cpu"): Promise<number> {
  manualSeed(0);
  const { x, t } = spiral(new Generator(1));
  const model = new MLP([10, 3]);
  model.apply(tensor(x.subarray(0, 2), { shape: [1, 2] })); // size the weights on the CPU
  if (device === "gpu") model.toGpu();
  const opt = new optimizers.SGD({ lr: 1 }).setup(model);
  const g = new Generator(0);
  const batch = 30;
  for (let epoch = 0; epoch < epochs; epoch++) {
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
      const xv = tensor(xb, { shape: [batch, 2], device });
      const loss = F.softmaxCrossEntropy(model.apply(xv), tensor(tb, { device }));
      model.cleargrads();
      loss.backward();
      opt.update();
    }
  }
  const all = tensor(x, { shape: [300, 2], device });
  return await noGrad(() => F.accuracy(model.apply(all), tensor(t, { device }))).item();
}

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

/**
 * Step 60: an LSTM learns the noisy sine series with truncated BPTT (30
 * steps, batch 30 in SeqDataLoader's layout), then predicts the cosine one
 * step ahead. Returns the last epoch's mean loss and the cosine MSE.
 */
export async function trainSine(
  opts: { hidden: number; epochs: number; lr: number; device?: Device; iters?: number },
): Promise<{ loss: number; cosMse: number; losses: number[] }> {
  const device = opts.device ?? "cpu";
  manualSeed(0);
  const n = 1000;
  const g = new Generator(0);
  const xs = Array.from({ length: n }, (_, i) => (2 * Math.PI * i) / (n - 1));
  const y = xs.map((x) => Math.sin(x) + (g.random() - 0.5) * 0.1);
  const batch = 30;
  const jump = Math.floor((n - 1) / batch);
  const iters = Math.min(jump, opts.iters ?? jump);
  const losses: number[] = [];
  const model = new BetterRNN(opts.hidden);
  if (device === "gpu") model.toGpu();
  const opt = new optimizers.Adam({ lr: opts.lr }).setup(model);
  let last = Infinity;
  for (let epoch = 0; epoch < opts.epochs; epoch++) {
    model.resetState();
    let loss: Variable | null = null;
    let sum = 0;
    for (let it = 0; it < iters; it++) {
      const xb = Float32Array.from({ length: batch }, (_, b) => y[b * jump + it]);
      const tb = Float32Array.from({ length: batch }, (_, b) => y[b * jump + it + 1]);
      const pred = model.apply(tensor(xb, { shape: [batch, 1], device }));
      const l = F.meanSquaredError(pred, tensor(tb, { shape: [batch, 1], device }));
      loss = loss === null ? l : loss.add(l);
      if ((it + 1) % 30 === 0 || it === iters - 1) {
        model.cleargrads();
        loss.backward();
        loss.unchainBackward();
        opt.update();
        losses.push(await loss.item());
        sum += losses[losses.length - 1];
        loss = null;
      }
    }
    last = sum / iters;
  }
  if (opts.iters !== undefined) return { loss: last, cosMse: NaN, losses };
  // Predict the cosine one step ahead, all points at once as a batch of one long sequence.
  model.resetState();
  const cos = xs.map(Math.cos);
  const preds: Variable[] = [];
  noGrad(() => {
    for (let i = 0; i < n - 1; i++) preds.push(model.apply(tensor([[cos[i]]], { device })));
  });
  let mse = 0;
  for (let i = 0; i < n - 1; i++) mse += ((await preds[i].item()) - cos[i + 1]) ** 2;
  return { loss: last, cosMse: mse / (n - 1), losses };
}

class TinyCNN extends Model {
  conv = new L.Conv2d(4, 3, { pad: 1, inChannels: 1 });
  bn = new L.BatchNorm({ size: 4 });
  fc = new L.Linear(2, { inSize: 64 });
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

/** A conv + batch norm + pooling net learns the bars; returns the held-out accuracy. */
export async function trainBars(steps: number, device: Device = "cpu"): Promise<number> {
  manualSeed(0);
  const g = new Generator(5);
  const train = bars(64, g);
  const test = bars(64, g);
  const model = new TinyCNN();
  if (device === "gpu") model.toGpu();
  const opt = new optimizers.Adam({ lr: 0.02 }).setup(model);
  const xt = tensor(train.x, { shape: [64, 1, 8, 8], device });
  const tt = tensor(train.t, { device });
  for (let step = 0; step < steps; step++) {
    const loss = F.softmaxCrossEntropy(model.apply(xt), tt);
    model.cleargrads();
    loss.backward();
    opt.update();
  }
  model.eval();
  const xv = tensor(test.x, { shape: [64, 1, 8, 8], device });
  return await noGrad(() => F.accuracy(model.apply(xv), tensor(test.t, { device }))).item();
}
