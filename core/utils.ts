/**
 * Numeric helpers for tests and users (`numericalGrad`, `gradientCheck`,
 * `allclose`) and graph visualisation (`getDotGraph`, `plotDotGraph`).
 *
 * @module
 */
import { describeValue } from "./_validate.ts";
import { usingConfig } from "./config.ts";
import type { TypedArray } from "./dtype.ts";
import { Generator } from "./random.ts";
import { broadcastShapes, broadcastStrides, fmtShape, sizeOf } from "./shape.ts";
import { type Function, type NestedArray, tensor, Variable } from "./variable.ts";
import * as F from "./functions.ts";

/** Something `allclose` can compare. */
export type Comparable = Variable | TypedArray | NestedArray;

/** Values and shape; a TypedArray is flat and takes the shape of what it meets (`null`). */
async function flat(
  x: Comparable,
): Promise<{ data: ArrayLike<number>; shape: readonly number[] | null }> {
  if (x instanceof Variable) return { data: await x.data(), shape: x.shape };
  if (ArrayBuffer.isView(x)) return { data: x, shape: null };
  if (typeof x === "number") return { data: [x], shape: [] };
  const shape: number[] = [];
  let d: NestedArray = x;
  while (Array.isArray(d)) {
    shape.push(d.length);
    d = d[0];
  }
  return { data: (x as unknown[]).flat(Infinity as 1) as number[], shape };
}

/** Tolerances: `|a - b| <= atol + rtol * |b|`, NumPy's rule. */
export interface Tolerance {
  /** Relative tolerance (default 1e-5). */
  rtol?: number;
  /** Absolute tolerance (default 1e-8). */
  atol?: number;
  /** Whether NaN equals NaN (default false, as in NumPy). */
  equalNan?: boolean;
}

/**
 * Whether two tensors (or arrays) have close values and shapes that broadcast
 * together, as NumPy's `allclose`. A TypedArray is read as a flat view of the
 * other operand's shape (its length must match); NaNs are unequal unless
 * `equalNan`; an infinity is close only to the same infinity, as in NumPy.
 *
 * @example
 * ```ts
 * import { tensor, utils } from "../mod.ts";
 * console.log(await utils.allclose(tensor([1, 2]), [1, 2.0000001])); // true
 * console.log(await utils.allclose(tensor([[1, 2]]), [[1], [2]])); // false: [[1,2],[1,2]] vs [[1,1],[2,2]]
 * ```
 */
export async function allclose(
  a: Comparable,
  b: Comparable,
  tol: Tolerance = {},
): Promise<boolean> {
  return (await compare(a, b, tol)).ok;
}

/** Like {@linkcode allclose}, but reports the worst element (a flat index of the broadcast). */
export async function compare(
  a: Comparable,
  b: Comparable,
  { rtol = 1e-5, atol = 1e-8, equalNan = false }: Tolerance = {},
): Promise<{ ok: boolean; maxError: number; at: number; message: string }> {
  const x = await flat(a);
  const y = await flat(b);
  const xShape = x.shape ??
    (y.shape && sizeOf(y.shape) === x.data.length ? y.shape : [x.data.length]);
  const yShape = y.shape ?? (sizeOf(xShape) === y.data.length ? xShape : [y.data.length]);
  let shape: number[];
  try {
    shape = broadcastShapes("allclose", xShape, yShape);
  } catch {
    const message = `shapes differ: ${fmtShape(xShape)} vs ${fmtShape(yShape)}`;
    return { ok: false, maxError: Infinity, at: -1, message };
  }
  const xs = broadcastStrides(xShape, shape);
  const ys = broadcastStrides(yShape, shape);
  const n = sizeOf(shape);
  const index = new Array<number>(shape.length).fill(0);
  let worst = 0;
  let at = -1;
  let worstPair = [0, 0];
  let ok = true;
  for (let i = 0, p = 0, q = 0; i < n; i++) {
    const u = x.data[p];
    const v = y.data[q];
    // Equal values are close (inf vs inf included, whose difference is NaN); an
    // infinity is close to nothing else (inf - 1e308 <= rtol * inf would say it is).
    const same = u === v;
    const err = same ? 0 : Math.abs(u - v);
    const nanOk = equalNan && Number.isNaN(u) && Number.isNaN(v);
    const infinite = !same && (!Number.isFinite(u) || !Number.isFinite(v));
    const bad = !same && !nanOk && (infinite || !(err <= atol + rtol * Math.abs(v)));
    if (bad) ok = false;
    const excess = nanOk || same
      ? -Infinity
      : infinite || Number.isNaN(err)
      ? Infinity
      : err - (atol + rtol * Math.abs(v));
    if (at === -1 || excess > worst) {
      worst = excess;
      at = i;
      worstPair = [u, v];
    }
    // Next index of the broadcast, odometer style.
    for (let d = shape.length - 1; d >= 0; d--) {
      p += xs[d];
      q += ys[d];
      if (++index[d] < shape[d]) break;
      p -= xs[d] * shape[d];
      q -= ys[d] * shape[d];
      index[d] = 0;
    }
  }
  const [u, v] = worstPair;
  const message = ok
    ? "ok"
    : `element ${at}: ${u} vs ${v} (|diff| ${Math.abs(u - v)}, rtol ${rtol}, atol ${atol})`;
  return {
    ok,
    maxError: n === 0 || u === v || (equalNan && Number.isNaN(u)) ? 0 : Math.abs(u - v),
    at,
    message,
  };
}

/**
 * Central-difference gradient of `sum(f(...xs))` with respect to `xs[index]`,
 * evaluated on copies (the inputs are not modified). `xs` may be one Variable,
 * as DeZero's `numerical_diff(f, x)`.
 *
 * @example
 * ```ts
 * import { F, tensor, utils } from "../mod.ts";
 * const g = await utils.numericalGrad((x) => F.mul(x, x), [tensor([3], { dtype: "float64" })]);
 * console.log(g[0]); // ≈ 6
 * ```
 */
export async function numericalGrad(
  f: (...xs: Variable[]) => Variable,
  inputs: Variable | readonly Variable[],
  { index = 0, eps }: { index?: number; eps?: number } = {},
): Promise<Float64Array> {
  // DeZero's numerical_diff(f, x) takes one Variable.
  const xs: readonly Variable[] = inputs instanceof Variable ? [inputs] : inputs;
  if (!Array.isArray(xs)) {
    throw new TypeError(
      `numericalGrad: inputs must be a Variable or an array of Variables, got ${
        describeValue(inputs)
      }`,
    );
  }
  if (!Number.isInteger(index) || index < 0 || index >= xs.length) {
    throw new RangeError(
      `numericalGrad: index ${describeValue(index)} is not an input index: ` +
        `there ${xs.length === 1 ? "is 1 input" : `are ${xs.length} inputs`} (0 to ${
          xs.length - 1
        })`,
    );
  }
  const x = xs[index];
  if (!(x instanceof Variable)) {
    throw new TypeError(`numericalGrad: input ${index} is ${describeValue(x)}, not a Variable`);
  }
  if (x.dtype === "int32") {
    throw new TypeError(
      `numericalGrad: input ${index} is int32: it has no gradient (differentiate a float input)`,
    );
  }
  const h = eps ?? (x.dtype === "float64" ? 1e-6 : 1e-2);
  const base = await x.data();
  const grad = new Float64Array(base.length);
  const evalAt = async (i: number, value: number): Promise<number> => {
    const copy = base.slice();
    copy[i] = value;
    const xi = tensor(copy, { shape: x.shape, dtype: x.dtype, device: x.device });
    const args = xs.map((v, j) => (j === index ? xi : v));
    const y = returned("numericalGrad", f(...args));
    const s = await F.sum(y).item();
    xi.dispose();
    return s;
  };
  for (let i = 0; i < base.length; i++) {
    const xi = base[i];
    const yp = await evalAt(i, xi + h);
    const ym = await evalAt(i, xi - h);
    grad[i] = (yp - ym) / (2 * h);
  }
  return grad;
}

/** `y`, which `f` returned, unless it is not a Variable: then a TypeError naming `op`. */
function returned(op: string, y: unknown): Variable {
  if (y instanceof Variable) return y;
  const hint = y instanceof Promise
    ? ": f must be synchronous (build the graph, read values after)"
    : Array.isArray(y)
    ? ": return one Variable (combine several with F.add or sum them)"
    : "";
  throw new TypeError(`${op}: f returned ${describeValue(y)}, not a Variable${hint}`);
}

/** Options of {@linkcode gradientCheck}. */
export interface GradientCheckOptions extends Tolerance {
  /** 1 checks gradients, 2 checks gradients of gradients too (default 1). */
  order?: 1 | 2;
  /** Finite-difference step (default 1e-6 for float64, 1e-2 for float32). */
  eps?: number;
  /** Seed of the random projection of the output. */
  seed?: number;
}

/** The outcome of a gradient check. */
export interface GradientCheckResult {
  /** Whether every checked gradient matched. */
  ok: boolean;
  /** One line per failing comparison. */
  failures: string[];
}

function projector(seed: number) {
  // A fixed random projection catches gradient errors that a plain sum hides.
  const cache = new Map<string, Variable>();
  return (y: Variable): Variable => {
    const key = `${y.shape.join(",")}:${y.dtype}:${y.device}`;
    let r = cache.get(key);
    if (!r) {
      const g = new Generator(seed);
      const data = new Float64Array(y.size).map(() => 0.5 + g.random());
      r = tensor(data, { shape: y.shape, dtype: y.dtype, device: y.device });
      cache.set(key, r);
    }
    return F.mul(y, r);
  };
}

/**
 * Checks the analytic gradients of `f` against central differences, for every
 * float input; with `order: 2`, also the gradients of the gradients (built with
 * `createGraph`).
 *
 * @example
 * ```ts
 * import { F, tensor, utils } from "../mod.ts";
 * const x = tensor([0.5, -1.2], { dtype: "float64" });
 * const r = await utils.gradientCheck((x) => F.tanh(x), [x], { order: 2 });
 * console.log(r.ok); // true
 * ```
 */
export async function gradientCheck(
  f: (...xs: Variable[]) => Variable,
  inputs: Variable | readonly Variable[],
  opts: GradientCheckOptions = {},
): Promise<GradientCheckResult> {
  const iterable = typeof (inputs as Partial<Iterable<unknown>> | null)?.[Symbol.iterator] ===
    "function";
  if (!(inputs instanceof Variable) && !iterable) {
    throw new TypeError(
      `gradientCheck: inputs must be a Variable or a list of Variables, got ${
        describeValue(inputs)
      }`,
    );
  }
  const given: unknown[] = inputs instanceof Variable ? [inputs] : [...inputs];
  given.forEach((x, i) => {
    if (!(x instanceof Variable)) {
      throw new TypeError(
        `gradientCheck: input ${i} is ${describeValue(x)}, not a Variable (wrap it: tensor(x))`,
      );
    }
  });
  // Leaf copies: the check's backward passes must not release the caller's graph.
  const xs = (given as Variable[]).map((x) => x.detach());
  const f64 = xs.every((x) => x.dtype !== "float32");
  const rtol = opts.rtol ?? (f64 ? 1e-4 : 2e-2);
  const atol = opts.atol ?? (f64 ? 1e-6 : 2e-3);
  const proj = projector(opts.seed ?? 7);
  const failures: string[] = [];
  const floats = xs.map((x, i) => (x.dtype === "int32" ? -1 : i)).filter((i) => i >= 0);
  const objective = (...vs: Variable[]) => F.sum(proj(returned("gradientCheck", f(...vs))));

  const check = async (g: (...vs: Variable[]) => Variable, label: string) => {
    for (const x of xs) x.cleargrad();
    const y = usingConfig({ enableBackprop: true }, () => g(...xs));
    y.backward();
    const analytic = await Promise.all(floats.map((i) => xs[i].grad?.data() ?? null));
    for (const x of xs) x.cleargrad();
    for (let k = 0; k < floats.length; k++) {
      const i = floats[k];
      const numeric = await numericalGrad(g, xs, { index: i, eps: opts.eps });
      const a = analytic[k] ?? new Float64Array(numeric.length);
      const r = await compare(a, numeric, { rtol, atol });
      if (!r.ok) {
        failures.push(`${label} of input ${i} (shape ${fmtShape(xs[i].shape)}): ${r.message}`);
      }
    }
  };

  await check(objective, "gradient");
  if ((opts.order ?? 1) >= 2) {
    const proj2 = projector((opts.seed ?? 7) + 1);
    const gradNorm = (...vs: Variable[]) => {
      for (const v of vs) v.cleargrad();
      const y = objective(...vs);
      y.backward({ createGraph: true });
      let total: Variable | null = null;
      for (const i of floats) {
        const g = vs[i].grad;
        if (g === null) continue;
        const t = F.sum(proj2(g));
        total = total === null ? t : F.add(total, t);
      }
      for (const v of vs) v.grad = null;
      return total ?? F.mul(F.sum(vs[floats[0]]), 0);
    };
    await check(gradNorm, "second derivative");
  }
  return { ok: failures.length === 0, failures };
}

// ------------------------------------------------------------------ graphs

/** Options of {@linkcode getDotGraph}. */
export interface DotOptions {
  /** Show names with shapes and dtypes on variable nodes (default true). */
  verbose?: boolean;
}

/**
 * The DOT text of the graph that produced `output` (variables as orange
 * ellipses with name, shape and dtype; functions as blue boxes).
 *
 * `backward()` frees the graph it ran through (unless `retainGraph: true`),
 * so call this before `backward()` (or backward with `{ retainGraph: true }`):
 * where the graph was freed, a grey note node "graph released by backward()"
 * marks the cut instead of the inputs.
 *
 * @example
 * ```ts
 * import { F, tensor, utils } from "../mod.ts";
 * const x = tensor([1, 2], { name: "x" });
 * const dot = utils.getDotGraph(F.tanh(x).sum());
 * console.log(dot.startsWith("digraph g {")); // true
 * ```
 */
export function getDotGraph(output: Variable, { verbose = true }: DotOptions = {}): string {
  const ids = new Map<object, number>();
  const id = (o: object) => {
    let i = ids.get(o);
    if (i === undefined) ids.set(o, i = ids.size + 1);
    return i;
  };
  const esc = (s: string) => s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
  const lines: string[] = [];
  const varNode = (v: Variable) => {
    let label = v.name ?? "";
    if (verbose) {
      const meta = v.isAlive ? `${fmtShape(v.shape)} ${v.dtype}` : "(released)";
      label = label ? `${label}: ${meta}` : meta;
    }
    lines.push(`${id(v)} [label="${esc(label)}", color=orange, style=filled]`);
  };
  const funcNode = (f: Function) => {
    lines.push(`${id(f)} [label="${esc(f.name)}", color=lightblue, style=filled, shape=box]`);
    if (f.released) {
      const cut = id({});
      lines.push(
        `${cut} [label="graph released by backward(); plot before backward() or call backward({ retainGraph: true })", color=gray, shape=note]`,
        `${cut} -> ${id(f)} [style=dashed]`,
      );
    }
    for (const x of f.inputs) lines.push(`${id(x)} -> ${id(f)}`);
    for (const w of f.outputs) {
      const y = w.deref();
      if (y) lines.push(`${id(f)} -> ${id(y)}`);
    }
  };
  const seenVars = new Set<Variable>();
  const seenFuncs = new Set<Function>();
  const stack: Function[] = [];
  const visitVar = (v: Variable) => {
    if (seenVars.has(v)) return;
    seenVars.add(v);
    varNode(v);
    if (v.creator && !seenFuncs.has(v.creator)) {
      seenFuncs.add(v.creator);
      stack.push(v.creator);
    }
  };
  visitVar(output);
  while (stack.length > 0) {
    const f = stack.pop()!;
    funcNode(f);
    for (const x of f.inputs) visitVar(x);
  }
  return `digraph g {\n${lines.join("\n")}\n}\n`;
}

/**
 * Renders the graph of `output` with Graphviz's `dot` into `toFile` (format
 * from the extension: svg, png, pdf). Says how to install Graphviz when `dot`
 * is missing. Returns the path written.
 *
 * @example
 * ```ts ignore
 * import { F, tensor, utils } from "../mod.ts";
 * await utils.plotDotGraph(F.tanh(tensor([1, 2])).sum(), { toFile: "graph.svg" });
 * ```
 */
export function plotDotGraph(
  output: Variable,
  { verbose = true, toFile = "graph.png" }: DotOptions & { toFile?: string } = {},
): Promise<string> {
  const dot = getDotGraph(output, { verbose });
  // A promise, as DeZero users await it; a failure rejects it.
  return Promise.resolve().then(() => {
    writeDotFile("plotDotGraph", dot, toFile);
    return toFile;
  });
}

/**
 * Writes `dot` to `toFile` (for `op`'s errors) through a temporary file renamed into
 * place: the DOT text for `.dot` / `.gv`, else rendered by Graphviz's `dot` in the format of
 * the extension (see {@linkcode graphFormat}). Says how to install Graphviz when `dot` is
 * missing. @internal
 */
export function writeDotFile(op: string, dot: string, toFile: string): void {
  const format = graphFormat(op, toFile);
  const tmp = `${toFile}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (format === "dot") {
      Deno.writeTextFileSync(tmp, dot);
    } else {
      const src = `${tmp}.dot`;
      Deno.writeTextFileSync(src, dot);
      let out: Deno.CommandOutput;
      try {
        out = new Deno.Command("dot", { args: [`-T${format}`, "-o", tmp, src], stderr: "piped" })
          .outputSync();
      } catch (e) {
        if (e instanceof Deno.errors.NotFound) {
          throw new Error(
            `${op}: Graphviz \`dot\` was not found: install Graphviz (apt-get install ` +
              "graphviz, brew install graphviz or https://graphviz.org/download), or write " +
              "the DOT text with toFile: 'graph.dot'",
          );
        }
        throw e;
      } finally {
        Deno.removeSync(src);
      }
      if (out.code !== 0) {
        throw new Error(
          `${op}: dot exited with ${out.code} writing ${toFile}: ` +
            new TextDecoder().decode(out.stderr).trim(),
        );
      }
    }
    Deno.renameSync(tmp, toFile);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // not created
    }
    throw e;
  }
}

/** The formats {@linkcode plotDotGraph} and `Model.plot` write, by extension. */
const GRAPH_FORMATS = ["svg", "png", "pdf", "jpg", "jpeg", "gif", "ps", "eps", "dot", "gv"];

/**
 * The Graphviz output format of `toFile`, from its extension (case-insensitive;
 * `.dot` and `.gv` are the DOT text itself, as `"dot"`): a TypeError naming `op`
 * for a name without one (a dot in a folder name is no extension) or an unknown one.
 * @internal
 */
export function graphFormat(op: string, toFile: string): string {
  const base = toFile.split(/[\\/]/).pop() ?? "";
  const dot = base.lastIndexOf(".");
  const ext = dot > 0 ? base.slice(dot + 1).toLowerCase() : "";
  if (!GRAPH_FORMATS.includes(ext)) {
    throw new TypeError(
      `${op}: cannot tell the image format of ${JSON.stringify(toFile)} ${
        ext ? `(unknown extension .${ext})` : "(no extension)"
      }: end it in one of ${GRAPH_FORMATS.map((f) => `.${f}`).join(", ")}`,
    );
  }
  return ext === "gv" ? "dot" : ext;
}
