/**
 * Reductions: sum/max/min over any axes, argmax/argmin over one axis, and the
 * fused softmax / logSoftmax. Two variants each: a workgroup tree (one
 * workgroup per output, a shared-memory tree) for long reductions, and one
 * invocation per output with a serial loop for short ones.
 *
 * @module
 */
import type { ArgReduceOp, ReduceOp } from "../core/backend.ts";
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
  const C = nOut < 64 && R >= 16384 ? Math.min(1024, Math.ceil(R / 4096)) : 1;
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
  const better = op === "argmax" ? ">" : "<";
  // (v, i) beats (bv, bi): a NaN wins over a number, then the better value, then the lower index.
  const beats = `fn beats(v: ${t}, i: u32, bv: ${t}, bi: u32) -> bool {
  let vn = ${t === "f32" ? "isnan_f32(v)" : "false"};
  let bn = ${t === "f32" ? "isnan_f32(bv)" : "false"};
  if (vn || bn) { return vn && (!bn || i < bi); }
  return v ${better} bv || (v == bv && i < bi);
}`;
  const params = [nOut, n, inner];
  const decl = storageDecl(0, "x", t, false) + storageDecl(1, "out", "i32", true) +
    paramsDecl(2, params.length) + (t === "f32" ? NAN_HELPERS : "");
  const rowBase = `let base = (o / ${P(2)}) * ${P(1)} * ${P(2)} + o % ${P(2)};`;
  let wgsl: string;
  let groups: number;
  if (forced.variant !== "tree" && (n <= SERIAL_MAX || preferSerial())) {
    wgsl = `// ${op} (serial)\n${decl}${beats}
@compute @workgroup_size(${SERIAL_WG})
fn main(${ENTRY_ARGS}) {
  let o = ${linearIndex(SERIAL_WG)};
  if (o >= ${P(0)}) { return; }
  ${rowBase}
  var bv = x[base];
  var bi = 0u;
  for (var j = 1u; j < ${P(1)}; j++) {
    let v = x[base + j * ${P(2)}];
    if (beats(v, j, bv, bi)) { bv = v; bi = j; }
  }
  out[o] = i32(bi);
}
`;
    groups = Math.ceil(nOut / SERIAL_WG);
  } else {
    wgsl = `// ${op} (tree)\n${decl}${beats}
var<workgroup> shv: array<${t}, ${TREE_WG}>;
var<workgroup> shi: array<u32, ${TREE_WG}>;
@compute @workgroup_size(${TREE_WG})
fn main(${ENTRY_ARGS}) {
  let o = ${LINEAR_GROUP};
  if (o >= ${P(0)}) { return; }
  ${rowBase}
  var bv = x[base + min(lid, ${P(1)} - 1u) * ${P(2)}];
  var bi = min(lid, ${P(1)} - 1u);
  for (var j = lid + ${TREE_WG}u; j < ${P(1)}; j += ${TREE_WG}u) {
    let v = x[base + j * ${P(2)}];
    if (beats(v, j, bv, bi)) { bv = v; bi = j; }
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
  if (lid == 0u) { out[o] = i32(shi[0]); }
}
`;
    groups = nOut;
  }
  const rt = runtime();
  const k = rt.kernel(op, wgsl, ["r", "w"], params.length);
  rt.dispatch(k, [bufferOf(op, x), bufferOf(op, out)], params, groups);
  return out;
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
  const params = [nRows, n, inner];
  const decl = storageDecl(0, "x", "f32", false) + storageDecl(1, "out", "f32", true) +
    paramsDecl(2, params.length);
  const rowBase = `let base = (o / ${P(2)}) * ${P(1)} * ${P(2)} + o % ${P(2)};\n  let st = ${
    P(2)
  };`;
  const write = log ? "x[base + j * st] - lse" : "exp(x[base + j * st] - mx) / sum";
  const lse = log ? "let lse = mx + log(sum);" : "";
  const NEG_INF = "bitcast<f32>(0xff800000u)";
  let wgsl: string;
  let groups: number;
  if (forced.variant !== "tree" && (n <= SERIAL_MAX || preferSerial())) {
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
