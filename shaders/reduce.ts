/**
 * Reductions: sum/max/min over any axes, argmax/argmin over one axis, and the
 * fused softmax / logSoftmax. Two variants each: a workgroup tree (one
 * workgroup per output, a shared-memory tree) for long reductions, and one
 * invocation per output with a serial loop for short ones. Rows longer than
 * one invocation may loop over (see `LOOP_BUDGET`) are cut into chunks whose
 * results a second pass combines.
 *
 * @module
 */
import type { ArgReduceOp, ReduceOp } from "../core/backend.ts";
import type { DType } from "../core/dtype.ts";
import type { NDArray } from "../core/ndarray.ts";
import { fmtShape, normAxis, reducedShape, sizeOf, stridesOf } from "../core/shape.ts";
import {
  bufferOf,
  collapse,
  dot,
  ENTRY_ARGS,
  fastDiv,
  LINEAR_GROUP,
  linearIndex,
  newArray,
  P,
  paramsDecl,
  runtime,
  storageDecl,
  udivHelper,
  unravel,
  wgslType,
} from "./_context.ts";
import type { Access } from "./runtime.ts";

/** Workgroup size of the tree variants. */
const TREE_WG = 64;
/**
 * Whether to use the serial variants whatever the sizes: on CPU-emulated
 * adapters (llvmpipe) workgroup barriers are expensive and the serial loops
 * measured 4–20× faster than the trees on every shape tried.
 */
function preferSerial(): boolean {
  return forced.variant === "serial" || (forced.variant === null && runtime().software);
}

const forced: { variant: "serial" | "tree" | null } = { variant: null };

/**
 * Forces the serial or the tree variant of every reduction kernel (null: choose by
 * adapter and size). For tests, so that both variants run on any adapter.
 */
export function forceReduceVariant(variant: "serial" | "tree" | null): void {
  forced.variant = variant;
}

/**
 * Most loop iterations one invocation may run, all its loops together. Mesa's llvmpipe (and
 * lavapipe) ends every loop of an invocation once its loops have run 65,535 iterations in all
 * (LP_MAX_TGSI_LOOP_ITERATIONS; an inner loop counts each of its iterations, a loop of a few
 * constant iterations unrolled by the compiler none) and the shader goes on with partial
 * results. So a kernel whose invocations would loop longer splits the work into chunks for
 * separate invocations and combines their results in a second pass. A quarter of the cap
 * leaves room for the small loops around the long one. Real GPUs have no such cap, but the
 * chunks only apply to rows this long, which they spread over more invocations.
 */
const LOOP_BUDGET = 16384;
const budget: { value: number } = { value: LOOP_BUDGET };

/** The loop budget per invocation (see `LOOP_BUDGET`), for kernels here and in matmul. */
export function loopBudget(): number {
  return budget.value;
}

/**
 * Sets the loop budget per invocation (null: the default, 16,384). For tests, so that a
 * small budget exercises the chunked paths on small arrays.
 */
export function setLoopBudget(value: number | null): void {
  if (value !== null && !(Number.isInteger(value) && value >= 16)) {
    throw new RangeError(`setLoopBudget: expected an integer >= 16 or null, got ${value}`);
  }
  budget.value = value ?? LOOP_BUDGET;
}

/** Reductions at most this long use the serial variant. */
const SERIAL_MAX = 64;
const SERIAL_WG = 64;
/** Reductions with at least this many outputs use the serial variant whatever their length. */
const SERIAL_MIN_OUTPUTS = 2048;

function initValue(op: ReduceOp, t: "f32" | "i32"): string {
  if (op === "sum") return t === "f32" ? "0.0" : "0";
  if (t === "f32") return op === "max" ? "bitcast<f32>(0xff800000u)" : "bitcast<f32>(0x7f800000u)";
  return op === "max" ? "i32(-2147483647 - 1)" : "2147483647";
}

function combine(op: ReduceOp, acc: string, v: string, t: "f32" | "i32"): string {
  if (op === "sum") return `${acc} + ${v}`;
  if (t === "i32") return `${op}(${acc}, ${v})`;
  // NaN propagates like Math.max / Math.min on the CPU.
  return `nan_${op}(${acc}, ${v})`;
}

// NaNs are tested by bits: drivers that assume no NaNs (NVIDIA) fold x != x to false.
const NAN_HELPERS = `
fn isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn nan_max(a: f32, b: f32) -> f32 { return select(max(a, b), a + b, isnan_f32(a) || isnan_f32(b)); }
fn nan_min(a: f32, b: f32) -> f32 { return select(min(a, b), a + b, isnan_f32(a) || isnan_f32(b)); }
`;

const NEG_INF = "bitcast<f32>(0xff800000u)";

/** Splits `shape` around `axis` into [outer, size of axis, inner]. */
function splitAt(shape: readonly number[], axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}

/** Reduces over `axes` (sorted, unique). */
export function reduce(
  op: ReduceOp,
  x: NDArray,
  axes: readonly number[],
  keepdims: boolean,
): NDArray {
  const t = wgslType(op, x.dtype);
  for (let i = 0; i < axes.length; i++) {
    const a = axes[i];
    if (!Number.isInteger(a) || a < 0 || a >= x.ndim || (i > 0 && a <= axes[i - 1])) {
      throw new RangeError(
        `${op}: axes ${JSON.stringify(axes)} must be sorted, unique and in [0, ${x.ndim})`,
      );
    }
  }
  const shape = reducedShape(x.shape, axes, keepdims);
  const nOut = sizeOf(shape);
  let R = 1;
  for (const a of axes) R *= x.shape[a];
  if (R === 0 && op !== "sum" && nOut > 0) {
    throw new RangeError(
      `${op}: cannot reduce an empty axis of shape ${fmtShape(x.shape)} (axes ${
        JSON.stringify(axes)
      }): ${op} has no identity`,
    );
  }
  const rt = runtime();
  if (nOut === 0 || R === 0) {
    const out = newArray(op, shape, x.dtype);
    if (nOut > 0) rt.clear(bufferOf(op, out), nOut * 4);
    return out;
  }
  // Serial (one invocation per output) when rows are short or there are enough outputs
  // to fill the device; a workgroup tree per output otherwise, split into up to 1024
  // partial trees (then reduced again) when a few outputs each reduce very many elements.
  const serial = forced.variant !== "tree" &&
    (preferSerial() || R <= SERIAL_MAX || nOut >= SERIAL_MIN_OUTPUTS);
  // Rows longer than an invocation may loop (a serial invocation loops over its whole part,
  // a tree's over a 64th of it) are split into parts as well.
  const C = Math.max(
    nOut < 64 && R >= 16384 ? Math.min(1024, Math.ceil(R / 4096)) : 1,
    Math.ceil(R / ((serial ? 1 : TREE_WG) * loopBudget())),
  );
  const chunk = Math.ceil(R / C);
  const out = newArray(op, C > 1 ? [nOut, C] : shape, x.dtype);
  const xs = stridesOf(x.shape);
  const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
  const ck = collapse(kept.map((i) => x.shape[i]), [kept.map((i) => xs[i])]);
  const cr = collapse(axes.map((i) => x.shape[i]), [axes.map((i) => xs[i])]);
  const rk = ck.shape.length, rr = cr.shape.length;
  // params: nOut, R, keptShape[rk], keptStrides[rk], redShape[rr], redStrides[rr]
  const params = [nOut, R, ...ck.shape, ...ck.strides[0], ...cr.shape, ...cr.strides[0], C, chunk];
  const pk = 2, pr = 2 + 2 * rk, pc = 2 + 2 * rk + 2 * rr;
  const base = `${unravel("o", rk, pk, "k")}  let base = ${dot(rk, pk + rk, "0", "k")};`;
  const redIdx = rr === 1 && cr.strides[0][0] === 1
    ? "base + i32(j)"
    : `base + ${dot(rr, pr + rr, "0", "r").replace(/^0 \+ /, "")}`;
  const loadR = `{\n    ${unravel("j", rr, pr, "r")}    acc = ${
    combine(op, "acc", `x[u32(${redIdx})]`, t)
  };\n  }`;
  const decl = storageDecl(0, "x", t, false) + storageDecl(1, "out", t, true) +
    paramsDecl(2, params.length) + (t === "f32" ? NAN_HELPERS : "") +
    udivHelper(fastDiv(Math.max(nOut * C, R)));
  let wgsl: string;
  let groups: number;
  if (serial) {
    wgsl = `// ${op} (serial)\n${decl}
@compute @workgroup_size(${SERIAL_WG})
fn main(${ENTRY_ARGS}) {
  let g = ${linearIndex(SERIAL_WG)};
  if (g >= ${P(0)} * ${P(pc)}) { return; }
  let o = g / ${P(pc)};
  let part = g % ${P(pc)};
  ${base}
  var acc: ${t} = ${initValue(op, t)};
  let jEnd = min(${P(1)}, (part + 1u) * ${P(pc + 1)});
  for (var j = part * ${P(pc + 1)}; j < jEnd; j++) ${loadR}
  out[g] = acc;
}
`;
    groups = Math.ceil((nOut * C) / SERIAL_WG);
  } else {
    wgsl = `// ${op} (tree)\n${decl}
var<workgroup> sh: array<${t}, ${TREE_WG}>;
@compute @workgroup_size(${TREE_WG})
fn main(${ENTRY_ARGS}) {
  let g = ${LINEAR_GROUP};
  if (g >= ${P(0)} * ${P(pc)}) { return; }
  let o = g / ${P(pc)};
  let part = g % ${P(pc)};
  ${base}
  var acc: ${t} = ${initValue(op, t)};
  let jEnd = min(${P(1)}, (part + 1u) * ${P(pc + 1)});
  for (var j = part * ${P(pc + 1)} + lid; j < jEnd; j += ${TREE_WG}u) ${loadR}
  sh[lid] = acc;
  workgroupBarrier();
  for (var s = ${TREE_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { sh[lid] = ${combine(op, "sh[lid]", "sh[lid + s]", t)}; }
    workgroupBarrier();
  }
  if (lid == 0u) { out[g] = sh[0]; }
}
`;
    groups = nOut * C;
  }
  const k = rt.kernel(op, wgsl, ["r", "w"], params.length);
  rt.dispatch(k, [bufferOf(op, x), bufferOf(op, out)], params, groups);
  if (C === 1) return out;
  const partial = reduce(op, out, [1], false);
  out.dispose();
  const result = partial.reshape(shape);
  partial.dispose();
  return result;
}

/** Index of the max / min along `axis` (first on ties, a NaN wins), int32. */
/**
 * WGSL placing invocation `g` over params `[rows, n, inner, parts, per chunk]`: its row `o`,
 * the row's first element `base` and stride `st`, and the range `[jBeg, jEnd)` of its chunk
 * (the whole row when `split` is false, one invocation a row).
 */
function chunkPlacement(split: boolean): string {
  return (split ? [`let o = g / ${P(3)};`, `let part = g % ${P(3)};`] : ["let o = g;"])
    .concat(
      `let base = (o / ${P(2)}) * ${P(1)} * ${P(2)} + o % ${P(2)};`,
      `let st = ${P(2)};`,
      split ? `let jBeg = part * ${P(4)};` : "let jBeg = 0u;",
      split ? `let jEnd = min(${P(1)}, jBeg + ${P(4)});` : `let jEnd = ${P(1)};`,
    ).join("\n  ");
}

export function argReduce(op: ArgReduceOp, x: NDArray, axis: number, keepdims: boolean): NDArray {
  if (op !== "argmax" && op !== "argmin") {
    throw new TypeError(`argReduce: unknown op ${JSON.stringify(op)}`);
  }
  const t = wgslType(op, x.dtype);
  const ax = normAxis(op, axis, x.ndim);
  const [outer, n, inner] = splitAt(x.shape, ax);
  const shape = reducedShape(x.shape, [ax], keepdims);
  const nOut = outer * inner;
  if (n === 0 && nOut > 0) {
    throw new RangeError(`${op}: cannot take ${op} of an empty axis ${ax} of ${fmtShape(x.shape)}`);
  }
  const out = newArray(op, shape, "int32");
  if (nOut === 0) return out;
  const tree = forced.variant === "tree" || (n > SERIAL_MAX && !preferSerial());
  // Rows longer than an invocation may loop are cut into chunks, each writing its best value
  // and that value's index; serial passes then pick the best chunk of each row, the first on
  // ties (chunks keep the row's order and their indices count along the row).
  let parts = Math.ceil(n / ((tree ? TREE_WG : 1) * loopBudget()));
  if (parts === 1) {
    argPass(op, t, { tree, x, idx: null, out, vals: null, nOut, n, inner, parts });
    return out;
  }
  const temps: NDArray[] = [];
  const temp = (dtype: DType) => {
    temps.push(newArray(op, [nOut, parts], dtype));
    return temps[temps.length - 1];
  };
  try {
    let vals = temp(x.dtype), idx = temp("int32");
    argPass(op, t, { tree, x, idx: null, out: idx, vals, nOut, n, inner, parts });
    while (parts > 1) {
      const len = parts;
      parts = Math.ceil(len / loopBudget());
      const last = parts === 1;
      const nextVals = last ? null : temp(x.dtype);
      const nextIdx = last ? out : temp("int32");
      argPass(op, t, {
        tree: false,
        x: vals,
        idx,
        out: nextIdx,
        vals: nextVals,
        nOut,
        n: len,
        inner: 1,
        parts,
      });
      if (nextVals) [vals, idx] = [nextVals, nextIdx];
    }
  } finally {
    for (const a of temps) a.dispose();
  }
  return out;
}

/** One pass of {@linkcode argReduce}. */
interface ArgPass {
  tree: boolean;
  /** The values: the input, or the best value of each chunk of a previous pass. */
  x: NDArray;
  /** The index along the row of each value (null: its position in `x`). */
  idx: NDArray | null;
  /** Output: the index of the best value of each chunk (int32). */
  out: NDArray;
  /** Output: the best value of each chunk (null: not needed). */
  vals: NDArray | null;
  /** Rows, their length and the stride between their elements. */
  nOut: number;
  n: number;
  inner: number;
  /** Chunks of each row (each its own invocation or workgroup). */
  parts: number;
}

/** Dispatches one pass of {@linkcode argReduce}: the best of each chunk of each row. */
function argPass(op: ArgReduceOp, t: "f32" | "i32", p: ArgPass): void {
  const better = op === "argmax" ? ">" : "<";
  // (v, i) beats (bv, bi): a NaN wins over a number, then the better value, then the lower index.
  const beats = `fn beats(v: ${t}, i: u32, bv: ${t}, bi: u32) -> bool {
  let vn = ${t === "f32" ? "isnan_f32(v)" : "false"};
  let bn = ${t === "f32" ? "isnan_f32(bv)" : "false"};
  if (vn || bn) { return vn && (!bn || i < bi); }
  return v ${better} bv || (v == bv && i < bi);
}`;
  const split = p.parts > 1;
  const params = [p.nOut, p.n, p.inner, p.parts, Math.ceil(p.n / p.parts)];
  const access: Access[] = ["r"];
  let decl = storageDecl(0, "x", t, false);
  if (p.idx) decl += storageDecl(access.push("r") - 1, "xi", "i32", false);
  decl += storageDecl(access.push("w") - 1, "out", "i32", true);
  if (p.vals) decl += storageDecl(access.push("w") - 1, "vals", t, true);
  decl += paramsDecl(access.length, params.length) + (t === "f32" ? NAN_HELPERS : "");
  const place = chunkPlacement(split);
  const at = (j: string) => p.idx ? `u32(xi[base + ${j} * st])` : j;
  const title = `// ${op} (${p.tree ? "tree" : "serial"}${split ? ", chunks" : ""}${
    p.idx ? " of chunks" : ""
  })`;
  let wgsl: string;
  let groups: number;
  if (!p.tree) {
    wgsl = `${title}\n${decl}${beats}
@compute @workgroup_size(${SERIAL_WG})
fn main(${ENTRY_ARGS}) {
  let g = ${linearIndex(SERIAL_WG)};
  if (g >= ${split ? `${P(0)} * ${P(3)}` : P(0)}) { return; }
  ${place}
  var bv = x[base + jBeg * st];
  var bi = ${at("jBeg")};
  for (var j = jBeg + 1u; j < jEnd; j++) {
    let v = x[base + j * st];
    let i = ${at("j")};
    if (beats(v, i, bv, bi)) { bv = v; bi = i; }
  }
  out[g] = i32(bi);${p.vals ? "\n  vals[g] = bv;" : ""}
}
`;
    groups = Math.ceil((p.nOut * p.parts) / SERIAL_WG);
  } else {
    wgsl = `${title}\n${decl}${beats}
var<workgroup> shv: array<${t}, ${TREE_WG}>;
var<workgroup> shi: array<u32, ${TREE_WG}>;
@compute @workgroup_size(${TREE_WG})
fn main(${ENTRY_ARGS}) {
  let g = ${LINEAR_GROUP};
  if (g >= ${split ? `${P(0)} * ${P(3)}` : P(0)}) { return; }
  ${place}
  let j0 = min(jBeg + lid, jEnd - 1u);
  var bv = x[base + j0 * st];
  var bi = ${at("j0")};
  for (var j = jBeg + lid + ${TREE_WG}u; j < jEnd; j += ${TREE_WG}u) {
    let v = x[base + j * st];
    let i = ${at("j")};
    if (beats(v, i, bv, bi)) { bv = v; bi = i; }
  }
  shv[lid] = bv;
  shi[lid] = bi;
  workgroupBarrier();
  for (var s = ${TREE_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s && beats(shv[lid + s], shi[lid + s], shv[lid], shi[lid])) {
      shv[lid] = shv[lid + s];
      shi[lid] = shi[lid + s];
    }
    workgroupBarrier();
  }
  if (lid == 0u) {
    out[g] = i32(shi[0]);${p.vals ? "\n    vals[g] = shv[0];" : ""}
  }
}
`;
    groups = p.nOut * p.parts;
  }
  const rt = runtime();
  const k = rt.kernel(op, wgsl, access, params.length);
  const bufs = [p.x, p.idx, p.out, p.vals].filter((a) => a !== null).map((a) => bufferOf(op, a));
  rt.dispatch(k, bufs, params, groups);
}

/** Fused softmax (or log-softmax) along `axis`. */
export function softmax(x: NDArray, axis: number, log: boolean): NDArray {
  const op = log ? "logSoftmax" : "softmax";
  if (x.dtype === "int32") {
    throw new TypeError(`${op}: dtype int32 is not supported: expected float32 or float64`);
  }
  wgslType(op, x.dtype);
  const ax = normAxis(op, axis, x.ndim);
  const [outer, n, inner] = splitAt(x.shape, ax);
  const out = newArray(op, x.shape, x.dtype);
  const nRows = outer * inner;
  if (nRows === 0 || n === 0) return out;
  const tree = forced.variant === "tree" || (n > SERIAL_MAX && !preferSerial());
  // Each invocation loops over its row three times (serial), or over a 64th of it three times
  // plus two 6-step trees (tree): longer rows take the chunked passes.
  if ((tree ? 3 * Math.ceil(n / TREE_WG) + 16 : 3 * n) > loopBudget()) {
    softmaxChunked(x, out, { outer, n, inner, log });
    return out;
  }
  const params = [nRows, n, inner];
  const decl = storageDecl(0, "x", "f32", false) + storageDecl(1, "out", "f32", true) +
    paramsDecl(2, params.length);
  const rowBase = `let base = (o / ${P(2)}) * ${P(1)} * ${P(2)} + o % ${P(2)};\n  let st = ${
    P(2)
  };`;
  // log: (x - max) - log(sum), not x - (max + log(sum)), whose rounding to the magnitude of
  // max loses log(sum) for large logits.
  const write = log ? "(x[base + j * st] - mx) - lse" : "exp(x[base + j * st] - mx) / sum";
  const lse = log ? "let lse = log(sum);" : "";
  let wgsl: string;
  let groups: number;
  if (!tree) {
    wgsl = `// ${op} (serial)\n${decl}
@compute @workgroup_size(${SERIAL_WG})
fn main(${ENTRY_ARGS}) {
  let o = ${linearIndex(SERIAL_WG)};
  if (o >= ${P(0)}) { return; }
  ${rowBase}
  var mx = ${NEG_INF};
  for (var j = 0u; j < ${P(1)}; j++) { mx = max(mx, x[base + j * st]); }
  var sum = 0.0;
  for (var j = 0u; j < ${P(1)}; j++) { sum += exp(x[base + j * st] - mx); }
  ${lse}
  for (var j = 0u; j < ${P(1)}; j++) { out[base + j * st] = ${write}; }
}
`;
    groups = Math.ceil(nRows / SERIAL_WG);
  } else {
    wgsl = `// ${op} (tree)\n${decl}
var<workgroup> sh: array<f32, ${TREE_WG}>;
@compute @workgroup_size(${TREE_WG})
fn main(${ENTRY_ARGS}) {
  let o = ${LINEAR_GROUP};
  if (o >= ${P(0)}) { return; }
  ${rowBase}
  var m = ${NEG_INF};
  for (var j = lid; j < ${P(1)}; j += ${TREE_WG}u) { m = max(m, x[base + j * st]); }
  sh[lid] = m;
  workgroupBarrier();
  for (var s = ${TREE_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { sh[lid] = max(sh[lid], sh[lid + s]); }
    workgroupBarrier();
  }
  let mx = sh[0];
  workgroupBarrier();
  var acc = 0.0;
  for (var j = lid; j < ${P(1)}; j += ${TREE_WG}u) { acc += exp(x[base + j * st] - mx); }
  sh[lid] = acc;
  workgroupBarrier();
  for (var s = ${TREE_WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { sh[lid] = sh[lid] + sh[lid + s]; }
    workgroupBarrier();
  }
  let sum = sh[0];
  ${lse}
  for (var j = lid; j < ${P(1)}; j += ${TREE_WG}u) { out[base + j * st] = ${write}; }
}
`;
    groups = nRows;
  }
  const rt = runtime();
  const k = rt.kernel(op, wgsl, ["r", "w"], params.length);
  rt.dispatch(k, [bufferOf(op, x), bufferOf(op, out)], params, groups);
  return out;
}

/**
 * Softmax over rows too long for one invocation to loop over. Chunks of each row get their
 * max `m` and `s = Σ exp(x - m)`; chunks of those pairs combine into the row's max `M` and
 * `S = Σ s·exp(m - M)` (repeated while more than one is left), and one invocation per chunk
 * writes `exp(x - M) / S` or `(x - M) - log(S)`.
 */
function softmaxChunked(
  x: NDArray,
  out: NDArray,
  { outer, n, inner, log }: { outer: number; n: number; inner: number; log: boolean },
): void {
  const op = log ? "logSoftmax" : "softmax";
  const rt = runtime();
  const nRows = outer * inner;
  // Each pass loops twice over its chunk.
  const per = Math.floor(loopBudget() / 2);
  let stats: [NDArray, NDArray] | null = null;
  let len = n;
  try {
    while (stats === null || len > 1) {
      const parts = Math.ceil(len / per);
      const next: [NDArray, NDArray] = [
        newArray(op, [nRows, parts], "float32"),
        newArray(op, [nRows, parts], "float32"),
      ];
      const pairs = stats !== null;
      // From x, an element -inf adds nothing (a chunk of them all would add exp(NaN)); from
      // pairs, a chunk whose max is the max adds its sum as it is (both may be ±inf).
      const add = pairs
        ? `{ let v = xm[base + j * st];\n    let s = xs[base + j * st];\n    ` +
          `sum += select(s * exp(v - mx), s, bitcast<u32>(v) == bitcast<u32>(mx)); }`
        : `{ let v = x[base + j * st];\n    ` +
          `sum += select(exp(v - mx), 0.0, bitcast<u32>(v) == 0xff800000u); }`;
      const decl = (pairs
        ? storageDecl(0, "xm", "f32", false) + storageDecl(1, "xs", "f32", false)
        : storageDecl(0, "x", "f32", false)) +
        storageDecl(pairs ? 2 : 1, "om", "f32", true) +
        storageDecl(pairs ? 3 : 2, "os", "f32", true) + paramsDecl(pairs ? 4 : 3, 5);
      const wgsl = `// ${op} (chunks: max and sum${pairs ? " of chunks" : ""})\n${decl}
@compute @workgroup_size(${SERIAL_WG})
fn main(${ENTRY_ARGS}) {
  let g = ${linearIndex(SERIAL_WG)};
  if (g >= ${P(0)} * ${P(3)}) { return; }
  ${chunkPlacement(true)}
  var mx = ${NEG_INF};
  for (var j = jBeg; j < jEnd; j++) { mx = max(mx, ${pairs ? "xm" : "x"}[base + j * st]); }
  var sum = 0.0;
  for (var j = jBeg; j < jEnd; j++) ${add}
  om[g] = mx;
  os[g] = sum;
}
`;
      const k = rt.kernel(op, wgsl, pairs ? ["r", "r", "w", "w"] : ["r", "w", "w"], 5);
      const from = stats ?? [x];
      const params = pairs
        ? [nRows, len, 1, parts, Math.ceil(len / parts)]
        : [nRows, n, inner, parts, Math.ceil(n / parts)];
      rt.dispatch(
        k,
        [...from, ...next].map((a) =>
          bufferOf(op, a)
        ),
        params,
        Math.ceil((nRows * parts) / SERIAL_WG),
      );
      if (stats) stats.forEach((a) => a.dispose());
      stats = next;
      len = parts;
    }
    // The write: each chunk of the first pass again, one invocation each.
    const parts = Math.ceil(n / per);
    const write = log ? "(x[i] - mx) - ls" : "exp(x[i] - mx) / sum";
    const wgsl = `// ${op} (chunks: write)
${storageDecl(0, "x", "f32", false)}${storageDecl(1, "m", "f32", false)}${
      storageDecl(2, "s", "f32", false)
    }${storageDecl(3, "out", "f32", true)}${paramsDecl(4, 5)}
@compute @workgroup_size(${SERIAL_WG})
fn main(${ENTRY_ARGS}) {
  let g = ${linearIndex(SERIAL_WG)};
  if (g >= ${P(0)} * ${P(3)}) { return; }
  ${chunkPlacement(true)}
  let mx = m[o];
  ${log ? "let ls = log(s[o]);" : "let sum = s[o];"}
  for (var j = jBeg; j < jEnd; j++) {
    let i = base + j * st;
    out[i] = ${write};
  }
}
`;
    const k = rt.kernel(op, wgsl, ["r", "r", "r", "w"], 5);
    rt.dispatch(
      k,
      [x, ...stats, out].map((a) => bufferOf(op, a)),
      [nRows, n, inner, parts, Math.ceil(n / parts)],
      Math.ceil((nRows * parts) / SERIAL_WG),
    );
  } finally {
    stats?.forEach((a) => a.dispose());
  }
}
