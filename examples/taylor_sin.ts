/**
 * sin(x) by its Taylor series (the book's step 27), differentiated through the
 * loop that builds it, and compared with `F.sin`.
 *
 * sin(x) = Σ (-1)^i x^(2i+1) / (2i+1)!, summed until a term is below
 * `threshold`. The graph is whatever the loop did: a smaller threshold means
 * more terms and a deeper graph, with a closer value and gradient. The book
 * prints y = 0.7071064695751781 and x.grad = 0.7071032148228457 at x = π/4
 * with threshold 1e-4, against 0.7071067811865476 for both from `F.sin`.
 *
 * Run: `deno run -A examples/taylor_sin.ts`
 *
 * @module
 */
import { F, tensor, utils, type Variable } from "../mod.ts";
import { runExample } from "./_args.ts";

function factorial(n: number): number {
  let r = 1;
  for (let k = 2; k <= n; k++) r *= k;
  return r;
}

/**
 * sin(x) by the Taylor series around 0, stopping after the first term whose
 * absolute value is below `threshold` (the book's `my_sin`). Async because
 * reading a term's value to decide whether to stop is a readback.
 */
export async function mySin(x: Variable, threshold = 1e-4): Promise<Variable> {
  let y: Variable | null = null;
  for (let i = 0; i < 100000; i++) {
    const c = (-1) ** i / factorial(2 * i + 1);
    const t = x.pow(2 * i + 1).mul(c);
    y = y === null ? t : y.add(t);
    if (Math.abs(await t.item()) < threshold) break;
  }
  return y!;
}

/** The outcome of {@linkcode taylorSin}. */
export interface TaylorSinResult {
  /** The Taylor value. */
  y: number;
  /** dy/dx through the Taylor graph. */
  grad: number;
  /** `F.sin(x)`. */
  sinY: number;
  /** dy/dx of `F.sin` (cos x). */
  sinGrad: number;
  /** Number of function nodes in the Taylor graph. */
  graphFunctions: number;
}

/** Compares {@linkcode mySin} with `F.sin` at `x` (π/4 in the book), in float64. */
export async function taylorSin(
  { x: x0 = Math.PI / 4, threshold = 1e-4 }: { x?: number; threshold?: number } = {},
): Promise<TaylorSinResult> {
  const x = tensor(x0, { dtype: "float64", name: "x" });
  const y = await mySin(x, threshold);
  y.name = "y";
  // Count the graph before backward releases it.
  const graphFunctions = utils.getDotGraph(y).split("\n").filter((l) => l.includes("shape=box"))
    .length;
  y.backward();
  const result = { y: await y.item(), grad: await x.grad!.item() };
  x.cleargrad();
  const s = F.sin(x);
  s.backward();
  return { ...result, sinY: await s.item(), sinGrad: await x.grad!.item(), graphFunctions };
}

/** Prints the Taylor values next to `F.sin`'s. */
export async function main(): Promise<void> {
  for (const threshold of [1e-4, 1e-150]) {
    const r = await taylorSin({ threshold });
    console.log(`Taylor series of sin at x = pi/4, threshold ${threshold}:`);
    console.log(`  y = ${r.y}, x.grad = ${r.grad} (${r.graphFunctions} functions in the graph)`);
    console.log(`  F.sin: y = ${r.sinY}, x.grad = ${r.sinGrad}`);
  }
}

if (import.meta.main) await runExample(main, { usage: "deno run -A examples/taylor_sin.ts" });
