/**
 * Newton's method with double backprop (the book's step 33).
 *
 * f(x) = x⁴ - 2x² has minima at x = ±1. Newton's update x ← x - f'(x) / f''(x)
 * needs the second derivative: `backward({ createGraph: true })` records the
 * graph of f'(x), so backpropagating through `x.grad` gives f''(x).
 *
 * Run: `deno run -A examples/newton_double_backprop.ts`
 *
 * The book prints 2.0, 1.4545454545454546, 1.1510467893775467,
 * 1.0253259289766978, 1.0009084519430513, 1.0000012353089454,
 * 1.000000000002289, 1.0, 1.0, 1.0.
 *
 * @module
 */
import { noGrad, tensor, tidy, type Variable } from "../mod.ts";
import { runExample } from "./_args.ts";

/** The function to minimise: y = x⁴ - 2x². */
export function f(x: Variable): Variable {
  return x.pow(4).sub(x.pow(2).mul(2));
}

/** Options of {@linkcode newton}. */
export interface NewtonOptions {
  /** Starting point (2 in the book). */
  x0?: number;
  /** Number of updates (10 in the book). */
  iters?: number;
}

/**
 * Runs Newton's method on {@linkcode f} in float64 and returns x before each
 * update, as the book prints it.
 */
export async function newton({ x0 = 2, iters = 10 }: NewtonOptions = {}): Promise<number[]> {
  const x = tensor(x0, { dtype: "float64", name: "x" });
  const iterates: number[] = [];
  for (let i = 0; i < iters; i++) {
    iterates.push(await x.item());
    const y = f(x);
    x.cleargrad();
    y.backward({ createGraph: true });
    const gx = x.grad!; // f'(x), itself a node of a graph
    x.cleargrad();
    gx.backward();
    const gx2 = x.grad!; // f''(x)
    // x.data -= gx.data / gx2.data (tidy() frees the quotient now, not when collected)
    x.array = tidy(() => noGrad(() => x.sub(gx.div(gx2))).array);
  }
  return iterates;
}

/** Prints the iterates as the book does. */
export async function main(): Promise<void> {
  const iterates = await newton();
  console.log(
    "Newton's method on f(x) = x^4 - 2x^2 from x = 2 (second derivative by double backprop)",
  );
  iterates.forEach((x, i) => console.log(i, x));
}

if (import.meta.main) {
  await runExample(main, { usage: "deno run -A examples/newton_double_backprop.ts" });
}
