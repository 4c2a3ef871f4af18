/**
 * The noisy sine of step 43 again, now with the stage-4 tools (the book's
 * steps 45–46): `MLP([10, 1])` holds the parameters, `F.meanSquaredError`
 * is the loss and an optimizer (`optimizers.SGD`, lr 0.2) updates them, so the
 * training loop is the familiar `cleargrads` / `backward` / `update`. The same
 * 100 points as the book (`np.random.seed(0)`); the loss falls to about 0.08.
 *
 * Run: `deno run -A examples/sine_mlp.ts`
 *
 * @module
 */
import { F, manualSeed, noGrad, tensor } from "../mod.ts";
import { MLP, optimizers } from "../nn/mod.ts";
// NumPy's legacy np.random, bit for bit (internal to the data module): the book's data set.
import { LegacyRandomState } from "../data/_numpy_random.ts";
import { runExample } from "./_args.ts";

/** Options of {@linkcode sineMlp}. */
export interface SineMlpOptions {
  /** Iterations (10000, as the book). */
  iters?: number;
  /** Learning rate (0.2). */
  lr?: number;
  /** `"sgd"` (the book's step 46) or `"momentum"` (MomentumSGD, momentum 0.9). */
  optimizer?: "sgd" | "momentum";
  /** Record the loss every this many iterations (1000). */
  every?: number;
}

/** The recorded losses and the fitted network's predictions on a grid. */
export interface SineMlpResult {
  /** [iteration, loss] every `every` iterations. */
  checkpoints: [number, number][];
  /** The loss of the last iteration. */
  finalLoss: number;
  /** `x` of the grid. */
  grid: number[];
  /** The network's output on the grid. */
  predictions: number[];
}

/** Trains the MLP on the book's sine data. */
export async function sineMlp(
  { iters = 10000, lr = 0.2, optimizer = "sgd", every = 1000 }: SineMlpOptions = {},
): Promise<SineMlpResult> {
  const rs = new LegacyRandomState(0);
  const n = 100;
  const xs = Float32Array.from({ length: n }, () => rs.random());
  const noise = Float32Array.from({ length: n }, () => rs.random());
  const x = tensor(xs, { shape: [n, 1] });
  const y = tensor(xs.map((v, i) => Math.sin(2 * Math.PI * v) + noise[i]), { shape: [n, 1] });

  manualSeed(0);
  const model = new MLP([10, 1]); // sigmoid between the layers, as DeZero's MLP
  const opt = optimizer === "sgd"
    ? new optimizers.SGD({ lr }).setup(model)
    : new optimizers.MomentumSGD({ lr, momentum: 0.9 }).setup(model);

  const checkpoints: [number, number][] = [];
  let finalLoss = NaN;
  for (let i = 0; i < iters; i++) {
    const loss = F.meanSquaredError(model.apply(x), y);
    model.cleargrads();
    loss.backward();
    opt.update();
    if (i % every === 0 || i === iters - 1) {
      finalLoss = await loss.item();
      if (i % every === 0) checkpoints.push([i, finalLoss]);
    }
  }
  const grid = [0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1];
  const out = await noGrad(() => model.apply(tensor(grid, { shape: [grid.length, 1] }))).data();
  return { checkpoints, finalLoss, grid, predictions: Array.from(out) };
}

/** Prints the loss every 1000 iterations and the fit on a grid. */
export async function main(): Promise<void> {
  console.log("MLP([10, 1]) with SGD (lr 0.2) on the noisy sine of step 43");
  const start = performance.now();
  const r = await sineMlp();
  for (const [i, loss] of r.checkpoints) {
    console.log(`iter ${String(i).padStart(4)}: loss ${loss.toFixed(6)}`);
  }
  console.log(`final loss ${r.finalLoss.toFixed(6)}`);
  r.grid.forEach((g, i) =>
    console.log(
      `  x = ${g.toFixed(3)}: net ${r.predictions[i].toFixed(3)}, sin(2 pi x) + 0.5 = ${
        (Math.sin(2 * Math.PI * g) + 0.5).toFixed(3)
      }`,
    )
  );
  console.log(`${((performance.now() - start) / 1000).toFixed(1)} s`);
}

if (import.meta.main) await runExample(main, { usage: "deno run -A examples/sine_mlp.ts" });
