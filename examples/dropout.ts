/**
 * Dropout in training and in test mode (the book's step 54). In training,
 * `F.dropout` zeroes each element with probability `ratio` and scales the
 * survivors by `1 / (1 - ratio)` (inverted dropout, so the expected value is
 * unchanged); under `testMode` (or a layer's `eval()`) it is the identity.
 * Then an MLP with a `Dropout` layer learns the spiral: its predictions vary
 * from call to call while training and are deterministic in eval mode.
 *
 * Run: `deno run -A examples/dropout.ts`
 *
 * @module
 */
import { datasets, F, manualSeed, noGrad, ones, tensor, testMode, type Variable } from "../mod.ts";
import { L, Model, optimizers } from "../nn/mod.ts";
import { runExample } from "./_args.ts";

/** What {@linkcode dropoutDemo} measured. */
export interface DropoutResult {
  /** `F.dropout(ones([10]), 0.5)` in training mode: zeros and twos. */
  trainValues: number[];
  /** The same under `testMode`: ones. */
  testValues: number[];
  /** The fraction of zeros among 100,000 dropped-out ones (≈ ratio). */
  zeroFraction: number;
  /** Their mean (≈ 1: inverted dropout keeps the expected value). */
  mean: number;
  /** Spiral training accuracy measured in eval mode after training. */
  evalAccuracy: number;
  /** Whether two training-mode predictions on the same input differed. */
  trainModeVaries: boolean;
  /** Whether two eval-mode predictions on the same input were identical. */
  evalModeDeterministic: boolean;
}

/** 2 → 50 → dropout → 3. */
class DropoutMLP extends Model {
  l1 = new L.Linear(50);
  drop = new L.Dropout(0.3);
  l2 = new L.Linear(3);
  forward(x: Variable): Variable {
    return this.l2.apply(this.drop.apply(F.relu(this.l1.apply(x))));
  }
}

function same(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  return a.length === b.length && Array.from(a).every((v, i) => v === b[i]);
}

/** Runs the demonstrations; `iters` full-batch Adam steps on the spiral (300). */
export async function dropoutDemo({ iters = 300, ratio = 0.5 } = {}): Promise<DropoutResult> {
  manualSeed(0);
  const x = ones([10]);
  const trainValues = Array.from(await F.dropout(x, ratio).data());
  const testValues = Array.from(await testMode(() => F.dropout(x, ratio)).data());

  const big = F.dropout(ones([100000]), ratio);
  const values = Array.from(await big.data());
  const zeroFraction = values.filter((v) => v === 0).length / values.length;
  const mean = values.reduce((s, v) => s + v, 0) / values.length;

  const spiral = new datasets.Spiral();
  const xs = tensor(spiral.data.data as Float32Array, { shape: spiral.data.shape });
  const ts = tensor(spiral.label.data as Int32Array);
  const model = new DropoutMLP();
  const optimizer = new optimizers.Adam({ lr: 0.01 }).setup(model);
  for (let i = 0; i < iters; i++) {
    const loss = F.softmaxCrossEntropy(model.apply(xs), ts);
    model.cleargrads();
    loss.backward();
    optimizer.update();
  }
  const predict = () => noGrad(() => model.apply(xs)).data();
  const trainModeVaries = !same(await predict(), await predict());
  model.eval();
  const first = await predict();
  const evalModeDeterministic = same(first, await predict());
  const evalAccuracy = await noGrad(() => F.accuracy(model.apply(xs), ts)).item();
  model.train();
  return {
    trainValues,
    testValues,
    zeroFraction,
    mean,
    evalAccuracy,
    trainModeVaries,
    evalModeDeterministic,
  };
}

/** Prints the demonstrations. */
export async function main(): Promise<void> {
  const r = await dropoutDemo();
  console.log(`dropout(ones(10), 0.5), training:  [${r.trainValues.join(", ")}]`);
  console.log(`dropout(ones(10), 0.5), testMode:  [${r.testValues.join(", ")}]`);
  console.log(
    `100000 ones in training: ${(r.zeroFraction * 100).toFixed(2)}% zeros, mean ${
      r.mean.toFixed(4)
    }`,
  );
  console.log(
    `spiral MLP with Dropout(0.3): predictions vary in training mode: ${r.trainModeVaries}, ` +
      `deterministic in eval mode: ${r.evalModeDeterministic}, eval accuracy ${
        r.evalAccuracy.toFixed(4)
      }`,
  );
}

if (import.meta.main) await runExample(main, { usage: "deno run -A examples/dropout.ts" });
