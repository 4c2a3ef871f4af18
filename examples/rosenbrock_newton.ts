/**
 * Newton's method on the Rosenbrock function, with the Hessian from double
 * backprop (a companion to the book's steps 28, 33 and 36).
 *
 * The point is one Variable x = (x0, x1). `backward({ createGraph: true })`
 * gives the gradient g as a Variable with a graph; backpropagating each of its
 * components g[i] (a `getItem`, whose backward is itself differentiable) gives
 * row i of the Hessian H. The update x ← x - H⁻¹ g reaches (1, 1) from (0, 2)
 * in 6 steps, where gradient descent (rosenbrock_gd.ts) needs tens of
 * thousands.
 *
 * Run: `deno run -A examples/rosenbrock_newton.ts`
 *
 * @module
 */
import { noGrad, tensor, type Variable } from "../mod.ts";
import { runExample } from "./_args.ts";

/** The Rosenbrock function of a point x = (x0, x1): 100 (x1 - x0²)² + (x0 - 1)². */
export function rosenbrock(x: Variable): Variable {
  const x0 = x.getItem(0);
  const x1 = x.getItem(1);
  return x1.sub(x0.pow(2)).pow(2).mul(100).add(x0.sub(1).pow(2));
}

/** One Newton iterate: the point, the gradient and the Hessian there. */
export interface NewtonStep {
  /** The point (x0, x1). */
  x: [number, number];
  /** The gradient at x. */
  grad: [number, number];
  /** The Hessian at x, row by row. */
  hessian: [[number, number], [number, number]];
}

/** Runs `iters` Newton updates from (0, 2) in float64 and returns every iterate. */
export async function rosenbrockNewton(
  { iters = 8 }: { iters?: number } = {},
): Promise<NewtonStep[]> {
  const x = tensor([0, 2], { dtype: "float64", name: "x" });
  const steps: NewtonStep[] = [];
  for (let i = 0; i < iters; i++) {
    const y = rosenbrock(x);
    x.cleargrad();
    y.backward({ createGraph: true });
    const g = x.grad!;
    // Read g now: the last backward below releases the intermediate values of
    // its graph, g included (pass retainGraph: true to keep them).
    const [ga, gb] = await g.data();
    const rows: number[][] = [];
    for (let k = 0; k < 2; k++) {
      x.cleargrad();
      g.getItem(k).backward({ retainGraph: k === 0 });
      rows.push([...await x.grad!.data()]);
    }
    const [[h00, h01], [h10, h11]] = rows;
    const pt = await x.data();
    steps.push({ x: [pt[0], pt[1]], grad: [ga, gb], hessian: [[h00, h01], [h10, h11]] });
    // Solve H d = g (2x2) and step x ← x - d.
    const det = h00 * h11 - h01 * h10;
    const d = tensor([(h11 * ga - h01 * gb) / det, (h00 * gb - h10 * ga) / det], {
      dtype: "float64",
    });
    x.array = noGrad(() => x.sub(d)).array;
  }
  return steps;
}

/** Prints the iterates. */
export async function main(): Promise<void> {
  console.log("Newton's method on Rosenbrock from (0, 2), Hessian by double backprop");
  for (const [i, { x, hessian }] of (await rosenbrockNewton()).entries()) {
    console.log(
      `iter ${i}: x0 = ${x[0]}, x1 = ${x[1]}   H = [[${hessian[0].join(", ")}], [${
        hessian[1].join(", ")
      }]]`,
    );
  }
}

if (import.meta.main) {
  await runExample(main, { usage: "deno run -A examples/rosenbrock_newton.ts" });
}
