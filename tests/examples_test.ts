/**
 * The book's stage 1–3 demos (examples/) reproduce its numbers. The expected
 * values are the ones printed in "Deep Learning from Scratch 3" (NumPy,
 * float64), and where useful an independent plain-number reimplementation.
 */
import assert from "node:assert/strict";
import { firstSteps } from "../examples/first_steps.ts";
import { linearRegression } from "../examples/linear_regression.ts";
import { f, newton } from "../examples/newton_double_backprop.ts";
import { rosenbrockGd } from "../examples/rosenbrock_gd.ts";
import { rosenbrockNewton } from "../examples/rosenbrock_newton.ts";
import { sineTwoLayer } from "../examples/sine_two_layer.ts";
import {
  countFunctions,
  main as tanhMain,
  tanhDerivative,
  tanhDerivativeExact,
} from "../examples/tanh_higher_order.ts";
import { mySin, taylorSin } from "../examples/taylor_sin.ts";
import { checkArgs } from "../examples/_args.ts";
import { LegacyRandomState } from "../data/_numpy_random.ts";
import { tensor } from "../mod.ts";

function assertClose(actual: number, expected: number, tol: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what}: ${actual} vs ${expected} (|diff| ${Math.abs(actual - expected)} > ${tol})`,
  );
}

Deno.test("firstSteps() matches the book's steps 1-10", async () => {
  const r = await firstSteps();
  assertClose(r.y, 1.648721270700128, 1e-15, "square(exp(square(0.5)))");
  assertClose(r.squareNumerical, 4.000000000004, 1e-12, "numerical derivative of x^2 at 2");
  assertClose(r.numerical, 3.2974426293330694, 1e-12, "numerical derivative at 0.5");
  assertClose(r.grad, 3.297442541400256, 1e-14, "backprop derivative at 0.5");
  assert.equal(r.squareGradAt3, 6);
  assert.ok(r.gradientCheckOk);
});

Deno.test("newton() with double backprop gives the book's iterates (step 33)", async () => {
  const book = [
    2.0,
    1.4545454545454546,
    1.1510467893775467,
    1.0253259289766978,
    1.0009084519430513,
    1.0000012353089454,
    1.000000000002289,
    1.0,
    1.0,
    1.0,
  ];
  const iterates = await newton();
  assert.equal(iterates.length, book.length);
  iterates.forEach((x, i) => assertClose(x, book[i], 1e-12, `iterate ${i}`));
});

Deno.test("newton() second derivative is f''(x) = 12x^2 - 4 at the start", async () => {
  // One step from x0 is x0 - f'(x0)/f''(x0); check it for a start the book does not use.
  const x0 = -0.7;
  const [, x1] = await newton({ x0, iters: 2 });
  const expected = x0 - (4 * x0 ** 3 - 4 * x0) / (12 * x0 ** 2 - 4);
  assertClose(x1, expected, 1e-14, "first Newton step from -0.7");
  assertClose(await f(tensor(2, { dtype: "float64" })).item(), 8, 0, "f(2)");
});

Deno.test("rosenbrockGd() follows the book's trajectory (step 28)", async () => {
  const { trajectory, x0, x1 } = await rosenbrockGd({
    iters: 10000,
    checkpoints: [0, 1, 2, 3, 1000, 10000],
  });
  // The same updates on plain numbers, for the intermediate checkpoints.
  const ref = new Map<number, [number, number]>([[0, [0, 2]]]);
  let a = 0, b = 2;
  for (let i = 1; i <= 10000; i++) {
    const ga = -400 * a * (b - a * a) + 2 * (a - 1);
    const gb = 200 * (b - a * a);
    a -= 0.001 * ga;
    b -= 0.001 * gb;
    ref.set(i, [a, b]);
  }
  for (const [i, [p, q]] of trajectory) {
    const [ra, rb] = ref.get(i)!;
    assertClose(p, ra, 1e-12, `x0 after ${i}`);
    assertClose(q, rb, 1e-12, `x1 after ${i}`);
  }
  assert.deepEqual(trajectory.get(1), [0.002, 1.6]);
  // The book: after 10000 iterations, variable(0.9944984367782456) variable(0.9890050527419593).
  assertClose(x0, 0.9944984367782456, 1e-12, "x0 after 10000");
  assertClose(x1, 0.9890050527419593, 1e-12, "x1 after 10000");
});

Deno.test("rosenbrockNewton() Hessian by double backprop is exact and reaches (1, 1)", async () => {
  const steps = await rosenbrockNewton({ iters: 7 });
  let a = 0, b = 2;
  for (const [i, { x, grad, hessian }] of steps.entries()) {
    assertClose(x[0], a, 1e-12, `x0 at ${i}`);
    assertClose(x[1], b, 1e-12, `x1 at ${i}`);
    const ga = -400 * a * (b - a * a) + 2 * (a - 1), gb = 200 * (b - a * a);
    const h00 = 2 - 400 * (b - 3 * a * a), h01 = -400 * a, h11 = 200;
    assertClose(grad[0], ga, 1e-9, `gradient 0 at ${i}`);
    assertClose(grad[1], gb, 1e-9, `gradient 1 at ${i}`);
    assertClose(hessian[0][0], h00, 1e-9, `H00 at ${i}`);
    assertClose(hessian[0][1], h01, 1e-9, `H01 at ${i}`);
    assertClose(hessian[1][0], h01, 1e-9, `H10 at ${i}`);
    assertClose(hessian[1][1], h11, 1e-9, `H11 at ${i}`);
    const det = h00 * h11 - h01 * h01;
    [a, b] = [a - (h11 * ga - h01 * gb) / det, b - (h00 * gb - h01 * ga) / det];
  }
  assert.deepEqual(steps[6].x, [1, 1]);
});

Deno.test("mySin() Taylor series gives the book's values at pi/4 (step 27)", async () => {
  const r = await taylorSin({ threshold: 1e-4 });
  assertClose(r.y, 0.7071064695751781, 1e-15, "Taylor sin(pi/4)");
  assertClose(r.grad, 0.7071032148228457, 1e-15, "Taylor d/dx sin at pi/4");
  assertClose(r.sinY, Math.SQRT1_2, 1e-15, "F.sin(pi/4)");
  assertClose(r.sinGrad, Math.SQRT1_2, 1e-15, "F.sin gradient at pi/4");
  assert.equal(r.graphFunctions, 11); // 4 terms: 4 pow, 4 mul, 3 add
});

Deno.test("mySin() with a tiny threshold converges to sin and cos", async () => {
  const x = tensor(2.5, { dtype: "float64" });
  const y = await mySin(x, 1e-150);
  y.backward();
  assertClose(await y.item(), Math.sin(2.5), 1e-15, "sin(2.5)");
  assertClose(await x.grad!.item(), Math.cos(2.5), 1e-14, "cos(2.5)");
});

Deno.test("tanhDerivative() matches the closed form up to the 6th order (step 35)", async () => {
  let previous = 0;
  for (let n = 1; n <= 6; n++) {
    const r = await tanhDerivative(n);
    const exact = tanhDerivativeExact(n, 1);
    assertClose(r.value, exact, 1e-12 * Math.max(1, Math.abs(exact)), `order ${n}`);
    assert.ok(r.dot.startsWith("digraph g {"));
    assert.ok(r.dot.includes(`label="gx${n}"`), `graph of order ${n} names gx${n}`);
    const size = countFunctions(r.dot);
    assert.ok(size > previous, `order ${n}: ${size} functions, not more than ${previous}`);
    previous = size;
  }
  // Known values: tanh'(1) = 1 - tanh(1)^2, tanh''(1) = -2 tanh(1) (1 - tanh(1)^2).
  const t = Math.tanh(1);
  assertClose(tanhDerivativeExact(1, 1), 1 - t * t, 1e-16, "closed form 1");
  assertClose(tanhDerivativeExact(2, 1), -2 * t * (1 - t * t), 1e-16, "closed form 2");
  await assert.rejects(() => tanhDerivative(0), RangeError);
});

Deno.test("tanh example main() writes the DOT file (and SVG only with Graphviz)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dezero_tanh_" });
  const log = console.log;
  const lines: string[] = [];
  console.log = (...a: unknown[]) => lines.push(a.join(" "));
  try {
    await tanhMain(["2", dir]);
  } finally {
    console.log = log;
  }
  try {
    const dot = await Deno.readTextFile(`${dir}/tanh_gx2.dot`);
    assert.ok(dot.includes('label="gx2"'));
    const svg = await Deno.readTextFile(`${dir}/tanh_gx2.svg`).catch(() => null);
    if (svg !== null) {
      assert.ok(svg.includes("<svg"), "the SVG file is an SVG");
    } else {
      assert.ok(
        lines.some((l) => l.includes("install Graphviz")),
        `neither an SVG nor install instructions: ${lines.join("\n")}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tanh example main() rejects an order that is not a positive integer, with the usage", async () => {
  for (const order of ["abc", "0", "-1", "1.5", "", "2x", "0x2"]) {
    await assert.rejects(() => tanhMain([order, "/nonexistent"]), {
      name: "RangeError",
      message: `Order must be a positive integer, got ${JSON.stringify(order)} ` +
        "(usage: deno run -A examples/tanh_higher_order.ts [order=3] [outDir=out])",
    });
  }
  await assert.rejects(() => tanhMain(["2", ".", "extra"]), {
    name: "RangeError",
    message: /^Expected at most 2 arguments, got 3 \(usage: deno run -A examples/,
  });
});

Deno.test("tanh example on the command line: a bad order is the usage line and exit code 2", async () => {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../examples/tanh_higher_order.ts", import.meta.url).pathname,
      "abc",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 2);
  assert.equal(new TextDecoder().decode(stdout), "");
  assert.equal(
    new TextDecoder().decode(stderr).trim(),
    'Order must be a positive integer, got "abc" ' +
      "(usage: deno run -A examples/tanh_higher_order.ts [order=3] [outDir=out])",
  );
});

Deno.test("linearRegression() reproduces the book's fit (step 42)", async () => {
  const { W, b, history } = await linearRegression();
  assert.equal(history.length, 100);
  // The book: W = [[2.11807369]], b = [5.46608905].
  assertClose(W, 2.11807369, 5e-9, "W");
  assertClose(b, 5.46608905, 5e-9, "b");
  // The first update from W = b = 0: W = lr * 2 mean(x y), b = lr * 2 mean(y).
  const rs = new LegacyRandomState(0);
  const x = Array.from({ length: 100 }, () => rs.random());
  const y = x.map((v) => 5 + 2 * v + rs.random());
  const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
  // The last loss is the error of the parameters after 99 updates.
  const { W: W99, b: b99 } = history[98];
  const last = mean(x.map((v, i) => (v * W99 + b99 - y[i]) ** 2));
  assertClose(history[99].loss, last, 1e-14, "last loss");
  assert.ok(last < 0.08, `last loss ${last}`);
  assertClose(history[0].W, 0.2 * mean(x.map((v, i) => v * y[i])), 1e-12, "first W");
  assertClose(history[0].b, 0.2 * mean(y), 1e-12, "first b");
  assertClose(history[0].loss, mean(y.map((v) => v * v)), 1e-12, "first loss");
});

Deno.test("linearRegression() converges to the least-squares line within the noise", async () => {
  const rs = new LegacyRandomState(0);
  const x = Array.from({ length: 100 }, () => rs.random());
  const y = x.map((v) => 5 + 2 * v + rs.random());
  const mx = x.reduce((s, v) => s + v, 0) / 100;
  const my = y.reduce((s, v) => s + v, 0) / 100;
  const sxy = x.reduce((s, v, i) => s + (v - mx) * (y[i] - my), 0);
  const sxx = x.reduce((s, v) => s + (v - mx) ** 2, 0);
  const slope = sxy / sxx;
  const intercept = my - slope * mx;
  const { W, b } = await linearRegression({ iters: 3000 });
  assertClose(W, slope, 1e-6, "W vs least squares");
  assertClose(b, intercept, 1e-6, "b vs least squares");
  // The truth is y = 5 + 2x + U[0,1): slope 2, intercept 5.5, up to the noise.
  assertClose(W, 2, 0.3, "W vs 2");
  assertClose(b, 5.5, 0.2, "b vs 5.5");
});

Deno.test("sineTwoLayer() follows the book's loss curve (step 43)", async () => {
  const book = [
    0.8473695850105871,
    0.2514286285183607,
    0.24759485466749878,
    0.23786120447054832,
    0.21222231333102953,
    0.16742181117834223,
    0.09681932619992642,
    0.07849528290602333,
    0.07749729552991157,
    0.07722132399559317,
  ];
  const { checkpoints, finalLoss } = await sineTwoLayer();
  assert.deepEqual(checkpoints.map(([i]) => i), book.map((_, k) => k * 1000));
  checkpoints.forEach(([i, loss], k) => assertClose(loss, book[k], 1e-10, `loss at ${i}`));
  assert.ok(finalLoss < 0.1, `final loss ${finalLoss}`);
});

/** Runs `examples/<name>.ts` with `args` in `cwd` (default: here). */
async function runExample(
  name: string,
  args: string[],
  cwd?: string,
): Promise<{ code: number; out: string; err: string }> {
  const file = new URL(`../examples/${name}.ts`, import.meta.url).pathname;
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", file, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

Deno.test("tanh example writes into out/ by default and creates a missing output folder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dezero_tanh_out_" });
  try {
    // As the README runs it: from the repository root, which must stay clean (out/ is ignored).
    const r = await runExample("tanh_higher_order", ["1"], dir);
    assert.equal(r.code, 0, r.err);
    assert.ok(r.out.includes("wrote out/tanh_gx1.dot"), r.out);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["out"]);
    assert.ok(Deno.statSync(`${dir}/out/tanh_gx1.dot`).isFile);
    // A folder that does not exist yet is created, with the folders above it.
    const log = console.log;
    console.log = () => {};
    try {
      await tanhMain(["1", `${dir}/new/deeper/`]);
    } finally {
      console.log = log;
    }
    assert.ok(Deno.statSync(`${dir}/new/deeper/tanh_gx1.dot`).isFile);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tanh example on the command line: an output folder it cannot make is one line, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dezero_tanh_bad_" });
  try {
    await Deno.writeTextFile(`${dir}/a_file`, "x");
    const r = await runExample("tanh_higher_order", ["2", `${dir}/a_file/sub`]);
    assert.equal(r.code, 1, r.err);
    assert.equal(r.err.trim(), `Cannot write ${dir}/a_file/sub: Not a directory`);
    assert.equal(r.out, "", "it fails before the work");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkArgs() takes the known flags and positionals, and names anything else with the usage", () => {
  const spec = { usage: "deno run -A examples/x.ts [--gpu] [n]", flags: ["--gpu"], positionals: 1 };
  assert.deepEqual(checkArgs([], spec), []);
  assert.deepEqual(checkArgs(["--gpu", "3"], spec), ["3"]);
  // A negative number is a value, for the example to judge.
  assert.deepEqual(checkArgs(["-1"], spec), ["-1"]);
  assert.throws(() => checkArgs(["--bogus"], spec), {
    name: "RangeError",
    message: 'Unknown option "--bogus" (usage: deno run -A examples/x.ts [--gpu] [n])',
  });
  assert.throws(() => checkArgs(["1", "2"], spec), {
    message: /^Expected at most 1 argument, got 2 \(usage: /,
  });
  assert.throws(() => checkArgs(["--gpu"], { usage: "u" }), {
    message: 'Unknown option "--gpu" (usage: u)',
  });
  assert.throws(() => checkArgs(["extra"], { usage: "u" }), {
    message: "Expected no arguments, got 1 (usage: u)",
  });
});

Deno.test("every example rejects an unknown flag with its usage and exit code 2, before any work", async () => {
  const names = [...Deno.readDirSync(new URL("../examples/", import.meta.url))]
    .map((e) => e.name)
    .filter((n) => n.endsWith(".ts") && !n.startsWith("_"))
    .map((n) => n.slice(0, -3))
    .sort();
  assert.ok(names.length >= 15, `${names}`);
  const runs = await Promise.all(names.map((name) => runExample(name, ["--bogus"])));
  runs.forEach((r, i) => {
    assert.equal(r.code, 2, `${names[i]}: ${r.err}`);
    assert.equal(r.out, "", `${names[i]} ran: ${r.out}`);
    assert.match(
      r.err.trim(),
      new RegExp(`^Unknown option "--bogus" \\(usage: deno run -A examples/${names[i]}\\.ts`),
    );
  });
  // --gpu where the example has no GPU path is not ignored either; --help prints the usage.
  const gpu = await runExample("sine_mlp", ["--gpu"]);
  assert.equal(gpu.code, 2);
  assert.equal(gpu.err.trim(), 'Unknown option "--gpu" (usage: deno run -A examples/sine_mlp.ts)');
  const help = await runExample("mnist_mlp", ["--help"]);
  assert.equal(help.code, 0);
  assert.equal(help.out.trim(), "usage: deno run -A examples/mnist_mlp.ts [--gpu]");
});
