/**
 * The highlights of the book's steps 1–10: a Function is a class with
 * `forward` (on arrays) and `backward` (on Variables); chaining Square, Exp,
 * Square and calling `backward()` gives the derivative, which agrees with a
 * central-difference numerical derivative.
 *
 * The book prints y = 1.648721270700128 for square(exp(square(0.5))), the
 * numerical derivative 3.2974426293330694 (eps 1e-4) and x.grad =
 * 3.297442541400256.
 *
 * Run: `deno run -A examples/first_steps.ts`
 *
 * @module
 */
import { Function, rand, tensor, utils, type Variable } from "../mod.ts";
import type { NDArray } from "../core/ndarray.ts";
import * as ops from "../core/ops.ts";
import { runExample } from "./_args.ts";

/** y = x² (steps 2 and 6). */
export class Square extends Function {
  forward(x: NDArray): NDArray {
    return ops.mul(x, x);
  }
  backward(gy: Variable): Variable {
    return gy.mul(this.inputs[0]).mul(2);
  }
}

/** y = eˣ (steps 3 and 6). */
export class Exp extends Function {
  forward(x: NDArray): NDArray {
    return ops.unary("exp", x);
  }
  backward(gy: Variable): Variable {
    return gy.mul(this.inputs[0].exp());
  }
}

/** `square(x)` as a plain function (step 9). */
export function square(x: Variable): Variable {
  return new Square().apply(x);
}

/** `exp(x)` as a plain function (step 9). */
export function exp(x: Variable): Variable {
  return new Exp().apply(x);
}

/** The central difference (f(x + eps) - f(x - eps)) / 2eps of a scalar function (step 4). */
export async function numericalDiff(
  f: (x: Variable) => Variable,
  x: Variable,
  eps = 1e-4,
): Promise<number> {
  const v = await x.item();
  const y1 = await f(tensor(v + eps, { dtype: x.dtype })).item();
  const y0 = await f(tensor(v - eps, { dtype: x.dtype })).item();
  return (y1 - y0) / (2 * eps);
}

/** The numbers of steps 1–10. */
export interface FirstStepsResult {
  /** square(exp(square(0.5))) (step 3). */
  y: number;
  /** Numerical derivative of square at 2 (step 4). */
  squareNumerical: number;
  /** Numerical derivative of the composite at 0.5 (step 4). */
  numerical: number;
  /** Its derivative by backprop (steps 7–9). */
  grad: number;
  /** The derivative of square at 3 by backprop (step 10's test: 6). */
  squareGradAt3: number;
  /** Whether backprop matches the numerical gradient at a random point (step 10). */
  gradientCheckOk: boolean;
}

/** Replays steps 1–10 in float64 (as NumPy would). */
export async function firstSteps(): Promise<FirstStepsResult> {
  const f64 = { dtype: "float64" } as const;
  // Steps 1–3: functions are objects; chaining them builds y = C(B(A(x))).
  const A = new Square();
  const B = new Exp();
  const C = new Square();
  const x = tensor(0.5, f64);
  const a = A.apply(x);
  const b = B.apply(a);
  const y = C.apply(b);
  const yValue = await y.item();

  // Step 4: numerical differentiation.
  const squareNumerical = await numericalDiff(square, tensor(2, f64));
  const composite = (x: Variable) => square(exp(square(x)));
  const numerical = await numericalDiff(composite, tensor(0.5, f64));

  // Steps 6–9: backprop, automated through each variable's creator.
  y.backward();
  const grad = await x.grad!.item();

  // Step 10: the tests of square.
  const x3 = tensor(3, f64);
  square(x3).backward();
  const squareGradAt3 = await x3.grad!.item();
  const check = await utils.gradientCheck(square, rand([1], f64));
  return {
    y: yValue,
    squareNumerical,
    numerical,
    grad,
    squareGradAt3,
    gradientCheckOk: check.ok,
  };
}

/** Prints the numbers next to the book's. */
export async function main(): Promise<void> {
  const r = await firstSteps();
  console.log(`y = square(exp(square(0.5)))  = ${r.y}  (book: 1.648721270700128)`);
  console.log(`numerical d/dx x^2 at 2       = ${r.squareNumerical}  (book: 4.000000000004)`);
  console.log(`numerical dy/dx at 0.5        = ${r.numerical}  (book: 3.2974426293330694)`);
  console.log(`backprop  dy/dx at 0.5        = ${r.grad}  (book: 3.297442541400256)`);
  console.log(`backprop  d/dx x^2 at 3       = ${r.squareGradAt3}  (book's test: 6)`);
  console.log(`gradient check of square      : ${r.gradientCheckOk ? "ok" : "FAILED"}`);
}

if (import.meta.main) await runExample(main, { usage: "deno run -A examples/first_steps.ts" });
