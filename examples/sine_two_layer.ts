/**
 * A two-layer network fitting a noisy sine (the book's step 43).
 *
 * 100 points y = sin(2πx) + noise (x and the noise uniform in [0, 1)), a
 * 1-10-1 network with a sigmoid written by hand as 1 / (1 + exp(-x)), the mean
 * squared error written by hand, 10000 iterations of gradient descent at lr 0.2.
 *
 * The data and the initial weights come from a NumPy-compatible
 * `np.random.seed(0)` generator, so the run follows the book's: the loss falls
 * from 0.8473695850105871 to about 0.0772 (printed every 1000 iterations).
 *
 * Run: `deno run -A examples/sine_two_layer.ts`
 *
 * @module
 */
import { F, noGrad, tensor, type Variable, zeros } from "../mod.ts";
// NumPy's legacy np.random, bit for bit (internal to the data module): the book's data and weights.
import { LegacyRandomState } from "../data/_numpy_random.ts";
import { runExample } from "./_args.ts";

/** The sigmoid, written with core functions as the book does first: 1 / (1 + exp(-x)). */
export function sigmoid(x: Variable): Variable {
  return F.exp(x.neg()).add(1).rdiv(1);
}

/** The mean squared error, written with core functions: sum((x0 - x1)²) / N. */
export function meanSquaredError(x0: Variable, x1: Variable): Variable {
  const diff = x0.sub(x1);
  return F.sum(diff.pow(2)).div(diff.length);
}

/** Options of {@linkcode sineTwoLayer}. */
export interface SineTwoLayerOptions {
  /** Seed of the NumPy-compatible generator (0 in the book). */
  seed?: number;
  /** Iterations (10000). */
  iters?: number;
  /** Learning rate (0.2). */
  lr?: number;
  /** Hidden units (10). */
  hidden?: number;
  /** Record the loss every this many iterations (1000). */
  every?: number;
}

/** The loss during training and the fitted model. */
export interface SineTwoLayerResult {
  /** [iteration, loss] every `every` iterations, as the book prints them. */
  checkpoints: [number, number][];
  /** The loss of the last iteration. */
  finalLoss: number;
  /** The trained network (no graph is recorded when called under `noGrad`). */
  predict: (x: Variable) => Variable;
}

/** Trains the network in float64. */
export async function sineTwoLayer(
  { seed = 0, iters = 10000, lr = 0.2, hidden = 10, every = 1000 }: SineTwoLayerOptions = {},
): Promise<SineTwoLayerResult> {
  const rs = new LegacyRandomState(seed);
  const n = 100;
  const xs = Float64Array.from({ length: n }, () => rs.random());
  const noise = Float64Array.from({ length: n }, () => rs.random());
  const x = tensor(xs, { shape: [n, 1] });
  const y = tensor(xs.map((v, i) => Math.sin(2 * Math.PI * v) + noise[i]), { shape: [n, 1] });

  const I = 1, H = hidden, O = 1;
  const randn = (rows: number, cols: number) =>
    tensor(Float64Array.from({ length: rows * cols }, () => 0.01 * rs.randn()), {
      shape: [rows, cols],
    });
  const W1 = randn(I, H);
  const b1 = zeros([H], { dtype: "float64" });
  const W2 = randn(H, O);
  const b2 = zeros([O], { dtype: "float64" });
  const params = [W1, b1, W2, b2];

  const predict = (x: Variable) => F.linear(sigmoid(F.linear(x, W1, b1)), W2, b2);

  const checkpoints: [number, number][] = [];
  let finalLoss = NaN;
  for (let i = 0; i < iters; i++) {
    const loss = meanSquaredError(y, predict(x));
    for (const p of params) p.cleargrad();
    loss.backward();
    // p.data -= lr * p.grad.data
    for (const p of params) p.array = noGrad(() => p.sub(p.grad!.mul(lr))).array;
    if (i % every === 0 || i === iters - 1) {
      finalLoss = await loss.item();
      if (i % every === 0) checkpoints.push([i, finalLoss]);
    }
  }
  return { checkpoints, finalLoss, predict };
}

/** Prints the loss every 1000 iterations and a few predictions. */
export async function main(): Promise<void> {
  console.log("2-layer net (1-10-1, hand-written sigmoid) fitting sin(2 pi x) + U[0,1) noise");
  const start = performance.now();
  const { checkpoints, finalLoss, predict } = await sineTwoLayer();
  for (const [i, loss] of checkpoints) console.log(`iter ${String(i).padStart(4)}: loss ${loss}`);
  console.log(`final loss ${finalLoss} (${((performance.now() - start) / 1000).toFixed(1)} s)`);
  const grid = [0, 0.25, 0.5, 0.75, 1];
  const out = await noGrad(() => predict(tensor(grid, { dtype: "float64", shape: [5, 1] })))
    .data();
  grid.forEach((g, i) =>
    console.log(
      `  x = ${g.toFixed(2)}: net ${out[i].toFixed(3)}, sin(2 pi x) + 0.5 = ${
        (Math.sin(2 * Math.PI * g) + 0.5).toFixed(3)
      }`,
    )
  );
}

if (import.meta.main) await runExample(main, { usage: "deno run -A examples/sine_two_layer.ts" });
