/**
 * Gradient descent on the Rosenbrock function (the book's step 28).
 *
 * y = 100 (x1 - x0²)² + (x0 - 1)² has its minimum at (1, 1), at the bottom of a
 * long curved valley, so plain gradient descent from (0, 2) with lr = 0.001
 * creeps: the book reaches (0.99449, 0.98900) after 10000 iterations and
 * (1, 1) to 8 digits after 50000.
 *
 * Run: `deno run -A examples/rosenbrock_gd.ts` (50000 iterations, some seconds)
 *
 * @module
 */
import { noGrad, tensor, type Variable } from "../mod.ts";
import { runExample } from "./_args.ts";

/** The Rosenbrock function: 100 (x1 - x0²)² + (x0 - 1)². */
export function rosenbrock(x0: Variable, x1: Variable): Variable {
  return x1.sub(x0.pow(2)).pow(2).mul(100).add(x0.sub(1).pow(2));
}

/** Options of {@linkcode rosenbrockGd}. */
export interface RosenbrockGdOptions {
  /** Number of updates (50000 here; the book shows 1000, 10000 and 50000). */
  iters?: number;
  /** Learning rate (0.001 in the book). */
  lr?: number;
  /** Iterations at which to record (x0, x1); 0 is the starting point. */
  checkpoints?: readonly number[];
}

/** The outcome of {@linkcode rosenbrockGd}. */
export interface RosenbrockGdResult {
  /** The final point. */
  x0: number;
  /** The final point. */
  x1: number;
  /** (x0, x1) after each checkpoint's number of updates. */
  trajectory: Map<number, [number, number]>;
}

/** The checkpoints printed by default. */
export const BOOK_CHECKPOINTS: readonly number[] = [0, 1, 2, 3, 1000, 10000, 50000];

/** Runs gradient descent from (0, 2) in float64. */
export async function rosenbrockGd(
  { iters = 50000, lr = 0.001, checkpoints = BOOK_CHECKPOINTS }: RosenbrockGdOptions = {},
): Promise<RosenbrockGdResult> {
  const x0 = tensor(0, { dtype: "float64", name: "x0" });
  const x1 = tensor(2, { dtype: "float64", name: "x1" });
  const wanted = new Set(checkpoints);
  const trajectory = new Map<number, [number, number]>();
  const record = async (i: number) => {
    if (wanted.has(i)) trajectory.set(i, [await x0.item(), await x1.item()]);
  };
  await record(0);
  for (let i = 1; i <= iters; i++) {
    const y = rosenbrock(x0, x1);
    x0.cleargrad();
    x1.cleargrad();
    y.backward();
    // x.data -= lr * x.grad.data
    for (const x of [x0, x1]) x.array = noGrad(() => x.sub(x.grad!.mul(lr))).array;
    await record(i);
  }
  return { x0: await x0.item(), x1: await x1.item(), trajectory };
}

/** Prints the trajectory at the book's checkpoints. */
export async function main(): Promise<void> {
  console.log("Gradient descent on Rosenbrock from (0, 2), lr 0.001");
  const start = performance.now();
  const { trajectory } = await rosenbrockGd();
  for (const [i, [a, b]] of trajectory) {
    console.log(`iter ${String(i).padStart(5)}: x0 = ${a}, x1 = ${b}`);
  }
  console.log(`(${((performance.now() - start) / 1000).toFixed(1)} s; the minimum is (1, 1))`);
}

if (import.meta.main) await runExample(main, { usage: "deno run -A examples/rosenbrock_gd.ts" });
