/**
 * Higher-order derivatives of tanh and their graphs (the book's step 35).
 *
 * `backward({ createGraph: true })` records the computation of `x.grad`, so
 * backpropagating through it again and again gives the n-th derivative. Each
 * order's graph is much larger than the one before; this writes it as DOT and,
 * when Graphviz's `dot` is installed, renders it to SVG.
 *
 * Run: `deno run -A examples/tanh_higher_order.ts [order=3] [outDir=out]`
 * (writes `tanh_gx<order>.dot` and `tanh_gx<order>.svg` into outDir, which it creates; `out/`
 * is git-ignored)
 *
 * @module
 */
import { F, tensor, utils, type Variable } from "../mod.ts";
// The data module's path joining (internal to it): `out/` and `out` both give `out/tanh_gx3`.
import { joinPath } from "../data/_files.ts";
import { checkArgs, runExample, UsageError } from "./_args.ts";

/** The outcome of {@linkcode tanhDerivative}. */
export interface TanhDerivativeResult {
  /** The n-th derivative of tanh at x, as a Variable named `gx<n>` (its graph is kept). */
  gx: Variable;
  /** Its value. */
  value: number;
  /** The DOT text of its graph (names only, as the book's `verbose=False`). */
  dot: string;
}

/** The n-th derivative of tanh at `x` (1 in the book) by repeated double backprop, in float64. */
export async function tanhDerivative(order: number, x0 = 1): Promise<TanhDerivativeResult> {
  if (!Number.isInteger(order) || order < 1) {
    throw new RangeError(`tanhDerivative: order must be an integer >= 1, got ${order}`);
  }
  const x = tensor(x0, { dtype: "float64", name: "x" });
  const y = F.tanh(x);
  y.name = "y";
  y.backward({ createGraph: true });
  for (let i = 1; i < order; i++) {
    const gx = x.grad!;
    x.cleargrad();
    gx.backward({ createGraph: true });
  }
  const gx = x.grad!;
  gx.name = `gx${order}`;
  return { gx, value: await gx.item(), dot: utils.getDotGraph(gx, { verbose: false }) };
}

/**
 * The n-th derivative of tanh at `x` in closed form: with t = tanh x, the
 * derivatives are polynomials in t, P₀ = t and P_{n+1} = P_n'(t) (1 - t²).
 */
export function tanhDerivativeExact(order: number, x: number): number {
  let p = [0, 1]; // coefficients of t, lowest power first
  for (let n = 0; n < order; n++) {
    const d = p.slice(1).map((c, k) => c * (k + 1)); // P'
    const next = new Array(d.length + 2).fill(0);
    d.forEach((c, k) => {
      next[k] += c;
      next[k + 2] -= c;
    });
    p = next;
  }
  const t = Math.tanh(x);
  return p.reduceRight((acc, c) => acc * t + c, 0);
}

/** Counts the function nodes of a DOT graph written by `utils.getDotGraph`. */
export function countFunctions(dot: string): number {
  return dot.split("\n").filter((l) => l.includes("shape=box")).length;
}

/** The command line, for usage messages. */
export const USAGE = "deno run -A examples/tanh_higher_order.ts [order=3] [outDir=out]";

/**
 * Prints the derivatives up to `order`, writes the last graph as DOT and, with Graphviz, SVG,
 * into `outDir` (created when missing). Throws a {@linkcode UsageError} (a RangeError) with the
 * usage when the order is not a positive integer (`abc`, `0`, `1.5`) or there are more than two
 * arguments, and the file system's error, naming the file, when the DOT file cannot be written.
 */
export async function main(args: readonly string[] = Deno.args): Promise<void> {
  const [arg = "3", outDir = "out"] = checkArgs(args, { usage: USAGE, positionals: 2 });
  const order = Number(arg);
  if (!/^[0-9]+$/.test(arg) || order < 1 || !Number.isSafeInteger(order)) {
    throw new UsageError(
      `Order must be a positive integer, got ${JSON.stringify(arg)} (usage: ${USAGE})`,
    );
  }
  // The folder first: a bad one fails before the work, which grows fast with the order.
  await writing(outDir, () => Deno.mkdir(outDir, { recursive: true }));
  let last: TanhDerivativeResult | null = null;
  for (let n = 1; n <= order; n++) {
    last = await tanhDerivative(n);
    console.log(
      `d^${n}/dx^${n} tanh(1) = ${last.value} (exact ${tanhDerivativeExact(n, 1)}; ${
        countFunctions(last.dot)
      } functions in the graph)`,
    );
  }
  const base = joinPath(outDir, `tanh_gx${order}`);
  await writing(`${base}.dot`, () => Deno.writeTextFile(`${base}.dot`, last!.dot));
  console.log(`wrote ${base}.dot`);
  try {
    await utils.plotDotGraph(last!.gx, { verbose: false, toFile: `${base}.svg` });
    console.log(`wrote ${base}.svg`);
  } catch (e) {
    console.log(`no SVG: ${(e as Error).message}`);
    console.log(`(or render the DOT file by hand: dot -Tsvg ${base}.dot -o ${base}.svg)`);
  }
}

/**
 * Runs `write`; its error keeps its class (NotFound, PermissionDenied, ...) with `path` and the
 * reason in the message, which is all the command line prints.
 */
async function writing(path: string, write: () => Promise<void>): Promise<void> {
  try {
    await write();
  } catch (e) {
    const Class = (e as Error).constructor as ErrorConstructor;
    // "Permission denied (os error 13): mkdir '/x'": the reason is the part the user needs.
    const why = (e as Error).message.replace(/ \(os error \d+\).*$/s, "");
    throw new Class(`Cannot write ${path}: ${why}`, { cause: e });
  }
}

if (import.meta.main) await runExample(main, { usage: USAGE, positionals: 2 });
