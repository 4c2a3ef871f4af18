/**
 * A recurrent network learns the noisy sine curve (the book's step 59) and
 * then predicts the cosine one step ahead. The series comes from
 * `datasets.SinCurve` through a `SeqDataLoader` (30 parallel streams, as step
 * 60), and the loss of 30 consecutive steps is back-propagated at once, then
 * the graph is cut with `unchainBackward()`: truncated backpropagation
 * through time.
 *
 * `examples/lstm_sine.ts` runs the same with an LSTM (step 60).
 *
 * Run: `deno run -A examples/rnn_sine.ts [--gpu]`
 *
 * @module
 */
import {
  datasets,
  type Device,
  F,
  manualSeed,
  noGrad,
  SeqDataLoader,
  tensor,
  type Variable,
} from "../mod.ts";
import { L, Model, optimizers } from "../nn/mod.ts";
import { initGpu } from "../shaders/mod.ts";
import { runExample } from "./_args.ts";

/** A recurrent layer (`RNN` or `LSTM`) and a linear read-out of one value. */
export class SeqRegressor extends Model {
  /** The recurrent layer. */
  rnn: L.RNN | L.LSTM;
  /** Hidden state → prediction. */
  fc: L.Linear;

  /** `cell` with `hidden` units. */
  constructor(cell: "rnn" | "lstm", hidden: number) {
    super();
    this.rnn = cell === "lstm"
      ? new L.LSTM(hidden, { inSize: 1 })
      : new L.RNN(hidden, { inSize: 1 });
    this.fc = new L.Linear(1, { inSize: hidden });
  }

  /** Forgets the hidden state. */
  resetState(): void {
    this.rnn.resetState();
  }

  /** One time step: `[N, 1]` → `[N, 1]`. */
  forward(x: Variable): Variable {
    return this.fc.apply(this.rnn.apply(x));
  }
}

/** Options of {@linkcode sineSeq}. */
export interface SineSeqOptions {
  /** `"rnn"` (default) or `"lstm"`. */
  cell?: "rnn" | "lstm";
  /** Hidden units (100, as the book). */
  hidden?: number;
  /** Epochs (the book runs 100). */
  epochs?: number;
  /** Parallel streams per batch (30). */
  batchSize?: number;
  /** Steps per truncated backpropagation (30). */
  bpttLength?: number;
  /** Adam's learning rate (0.001). */
  lr?: number;
  /** Where to train (`"gpu"` needs `await initGpu()` first). */
  device?: Device;
  /** Called with each epoch's mean loss. */
  onEpoch?: (epoch: number, loss: number) => void;
}

/** What {@linkcode sineSeq} returns. */
export interface SineSeqResult {
  /** The mean loss of each epoch. */
  losses: number[];
  /** Mean squared error of the one-step-ahead predictions of the cosine (the test split). */
  cosMse: number;
  /** The predictions of `cos(x_{i+1})` from `cos(x_0..x_i)`. */
  predictions: number[];
}

/** Trains on the sine curve and predicts the cosine. */
export async function sineSeq(
  {
    cell = "rnn",
    hidden = 100,
    epochs = 100,
    batchSize = 30,
    bpttLength = 30,
    lr = 0.001,
    device = "cpu",
    onEpoch,
  }: SineSeqOptions = {},
): Promise<SineSeqResult> {
  manualSeed(0);
  const train = new datasets.SinCurve({ train: true });
  // The graph of `bpttLength` steps is back-propagated after the batches were produced, so the
  // loader must not dispose them: they are released after each backward instead.
  const loader = new SeqDataLoader(train, batchSize, { device, autoDispose: false });
  const model = new SeqRegressor(cell, hidden);
  if (device === "gpu") model.toGpu();
  const optimizer = new optimizers.Adam({ lr }).setup(model);

  const losses: number[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    model.resetState();
    let loss: Variable | null = null;
    let batches: Variable[] = [];
    let sum = 0, count = 0;
    for (const [x, t] of loader) {
      const l = F.meanSquaredError(model.apply(x), t);
      loss = loss === null ? l : loss.add(l);
      batches.push(x, t);
      count++;
      if (count % bpttLength === 0 || count === loader.length) {
        model.cleargrads();
        loss.backward();
        loss.unchainBackward();
        optimizer.update();
        sum += await loss.item();
        loss = null;
        for (const b of batches) b.dispose();
        batches = [];
      }
    }
    losses.push(sum / count);
    onEpoch?.(epoch, sum / count);
  }

  // Predict cos(x_{i+1}) from the cosine seen so far, one step at a time.
  const test = new datasets.SinCurve({ train: false });
  const xs = test.data.data as Float32Array;
  const ts = test.label.data as Float32Array;
  model.resetState();
  const outputs: Variable[] = [];
  noGrad(() => {
    for (let i = 0; i < xs.length; i++) {
      outputs.push(model.apply(tensor(xs.subarray(i, i + 1), { shape: [1, 1], device })));
    }
  });
  const predictions: number[] = [];
  let mse = 0;
  for (let i = 0; i < outputs.length; i++) {
    predictions.push(await outputs[i].item());
    mse += (predictions[i] - ts[i]) ** 2;
  }
  return { losses, cosMse: mse / outputs.length, predictions };
}

/** Trains and prints the loss every 10 epochs and a few predictions. */
export async function runSineExample(cell: "rnn" | "lstm", args: readonly string[]): Promise<void> {
  const device: Device = args.includes("--gpu") ? "gpu" : "cpu";
  if (device === "gpu") await initGpu();
  const epochs = 60;
  console.log(
    `${cell.toUpperCase()}(100) + Linear(1) on the noisy sine, truncated BPTT of 30 steps, ` +
      `30 streams, Adam, ${epochs} epochs, on the ${device}`,
  );
  const start = performance.now();
  const r = await sineSeq({
    cell,
    epochs,
    device,
    onEpoch: (e, loss) => {
      if (e === 1 || e % 10 === 0) {
        console.log(`epoch ${String(e).padStart(3)}: loss ${loss.toFixed(6)}`);
      }
    },
  });
  console.log(`one-step-ahead cosine prediction: MSE ${r.cosMse.toFixed(6)}`);
  for (const i of [0, 250, 500, 750, 997]) {
    console.log(
      `  step ${i}: predicted ${r.predictions[i].toFixed(4)}, cos ${
        Math.cos((i + 1) * 2 * Math.PI / 999).toFixed(4)
      }`,
    );
  }
  console.log(`${((performance.now() - start) / 1000).toFixed(1)} s`);
}

if (import.meta.main) {
  await runExample((args) => runSineExample("rnn", args), {
    usage: "deno run -A examples/rnn_sine.ts [--gpu]",
    flags: ["--gpu"],
  });
}
