/**
 * Linear regression by gradient descent (the book's step 42).
 *
 * 100 points y = 5 + 2x + noise, with x and the noise uniform in [0, 1) (so the
 * best fit has intercept near 5.5), fitted by y = xW + b with the mean squared
 * error written by hand, 100 iterations at lr 0.1.
 *
 * The data come from a NumPy-compatible `np.random.seed(0)` generator, so they
 * are the book's points and the run reproduces the book's numbers: W =
 * [[2.11807369]], b = [5.46608905] (loss about 0.0791).
 *
 * Run: `deno run -A examples/linear_regression.ts`
 *
 * @module
 */
import { F, noGrad, tensor, type Variable, zeros } from "../mod.ts";
// NumPy's legacy np.random, bit for bit (internal to the data module): the book's data set.
import { LegacyRandomState } from "../data/_numpy_random.ts";
import { runExample } from "./_args.ts";

/** The mean squared error, written with core functions as the book does first. */
export function meanSquaredError(x0: Variable, x1: Variable): Variable {
  const diff = x0.sub(x1);
  return F.sum(diff.pow(2)).div(diff.length);
}

/** `np.random.rand(n, 1)` from `rs`, as float64 values. */
function randColumn(rs: LegacyRandomState, n: number): Float64Array {
  return Float64Array.from({ length: n }, () => rs.random());
}

/** Options of {@linkcode linearRegression}. */
export interface LinearRegressionOptions {
  /** Seed of the NumPy-compatible generator (0 in the book). */
  seed?: number;
  /** Number of points (100). */
  n?: number;
  /** Iterations (100). */
  iters?: number;
  /** Learning rate (0.1). */
  lr?: number;
}

/** One iteration: the parameters after its update and the loss computed before it (as the book prints). */
export interface LinearRegressionStep {
  /** The slope. */
  W: number;
  /** The intercept. */
  b: number;
  /** The loss. */
  loss: number;
}

/** The fitted line and the history of the run. */
export interface LinearRegressionResult {
  /** The slope. */
  W: number;
  /** The intercept. */
  b: number;
  /** Every iteration. */
  history: LinearRegressionStep[];
}

/** Fits y = xW + b in float64. */
export async function linearRegression(
  { seed = 0, n = 100, iters = 100, lr = 0.1 }: LinearRegressionOptions = {},
): Promise<LinearRegressionResult> {
  const rs = new LegacyRandomState(seed);
  const xs = randColumn(rs, n);
  const noise = randColumn(rs, n);
  const x = tensor(xs, { shape: [n, 1] });
  const y = tensor(xs.map((v, i) => 5 + 2 * v + noise[i]), { shape: [n, 1] });

  const W = zeros([1, 1], { dtype: "float64" });
  const b = zeros([1], { dtype: "float64" });
  const predict = (x: Variable) => F.matmul(x, W).add(b);

  const history: LinearRegressionStep[] = [];
  for (let i = 0; i < iters; i++) {
    const yPred = predict(x);
    const loss = meanSquaredError(y, yPred);
    W.cleargrad();
    b.cleargrad();
    loss.backward();
    // p.data -= lr * p.grad.data
    for (const p of [W, b]) p.array = noGrad(() => p.sub(p.grad!.mul(lr))).array;
    history.push({ W: await W.item(), b: await b.item(), loss: await loss.item() });
  }
  return { W: await W.item(), b: await b.item(), history };
}

/** Prints the fit every 10 iterations. */
export async function main(): Promise<void> {
  console.log("Linear regression on y = 5 + 2x + U[0,1) noise (np.random.seed(0) data)");
  const { history } = await linearRegression();
  history.forEach(({ W, b, loss }, i) => {
    if (i % 10 === 0 || i === history.length - 1) {
      console.log(`iter ${String(i).padStart(2)}: W = ${W}, b = ${b}, loss = ${loss}`);
    }
  });
  console.log("(book, after 100 updates: W = 2.11807369, b = 5.46608905)");
}

if (import.meta.main) {
  await runExample(main, { usage: "deno run -A examples/linear_regression.ts" });
}
