/**
 * Movement kernels: fill, strided copies (asStrided / assign), gather,
 * scatter-add (a compare-and-swap loop on atomic<u32> for float32, since WGSL
 * has no float atomics), and the convolution helpers im2col / col2im (col2im
 * as a gather: each output pixel sums the patches that cover it), and max
 * pooling straight from the image, with the index of each maximum.
 *
 * @module
 */
import type { ConvGeometry, NegativeIndex, StridedView } from "../core/backend.ts";
import type { DType } from "../core/dtype.ts";
import type { NDArray } from "../core/ndarray.ts";
import { checkView, convOut, poolOut } from "../core/_validate.ts";
import { assertShape, fmtShape, normAxis, sizeOf, stridesOf } from "../core/shape.ts";
import {
  bufferOf,
  ENTRY_ARGS,
  f32Bits,
  fastDiv,
  linearIndex,
  newArray,
  operandTexture,
  P,
  paramsDecl,
  runtime,
  storageDecl,
  texelLoad,
  textureDecl,
  textureOperand,
  udivHelper,
  wgslType,
} from "./_context.ts";
import { runElementwise } from "./elementwise.ts";
import { loopBudget } from "./reduce.ts";
import { type Access, kernelErrorCode } from "./runtime.ts";

const WG = 256;

function run1d(
  op: string,
  wgsl: string,
  access: Access[],
  buffers: (GPUBuffer | GPUTexture)[],
  params: number[],
  n: number,
): void {
  run1dWith(op, wgsl, access, buffers, params, n, WG);
}

function run1dWith(
  op: string,
  wgsl: string,
  access: Access[],
  buffers: (GPUBuffer | GPUTexture)[],
  params: number[],
  n: number,
  wg: number,
): void {
  const rt = runtime();
  const k = rt.kernel(op, wgsl, access, params.length);
  rt.dispatch(k, buffers, params, Math.ceil(n / wg));
}

/** A new array with every element `value`. */
export function full(shape: readonly number[], value: number, dtype: DType): NDArray {
  assertShape("full", shape);
  const t = wgslType("full", dtype);
  const out = newArray("full", shape, dtype);
  const n = out.size;
  if (n === 0) return out;
  const buf = bufferOf("full", out);
  // All-zero bits: +0 (not -0, whose sign bit is set), or an int32 zero.
  if (Object.is(value, 0) || (t === "i32" && (value | 0) === 0)) {
    runtime().clear(buf, n * 4);
    return out;
  }
  const bits = t === "f32" ? f32Bits(value) : value | 0;
  const wgsl = `// full\n${storageDecl(0, "out", "u32", true)}${paramsDecl(1, 2)}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(WG)};
  if (i >= ${P(0)}) { return; }
  out[i] = ${P(1)};
}
`;
  run1d("full", wgsl, ["w"], [buf], [n, bits], n);
  return out;
}

/** A contiguous copy of a strided view of `x`. */
export function asStrided(x: NDArray, view: StridedView): NDArray {
  const t = wgslType("asStrided", x.dtype);
  checkView("asStrided", view, x.size);
  const out = newArray("asStrided", view.shape, x.dtype);
  runElementwise(
    "asStrided",
    [{ buffer: bufferOf("asStrided", x), type: t, strides: view.strides, offset: view.offset }],
    ["x"],
    "x",
    view.shape,
    { buffer: bufferOf("asStrided", out), type: t },
  );
  return out;
}

/** Writes `src` into the strided view of `dst`, in place. */
export function assign(dst: NDArray, src: NDArray, view: StridedView): void {
  if (dst.dtype !== src.dtype) {
    throw new TypeError(`assign: dtypes ${dst.dtype} and ${src.dtype} differ`);
  }
  const t = wgslType("assign", dst.dtype);
  checkView("assign", view, dst.size);
  if (sizeOf(view.shape) !== src.size) {
    throw new TypeError(
      `assign: source of shape ${fmtShape(src.shape)} does not match the view of shape ${
        fmtShape(view.shape)
      }`,
    );
  }
  const rt = runtime();
  const dstBuf = bufferOf("assign", dst);
  let srcBuf = bufferOf("assign", src);
  // `src` sharing `dst`'s storage (x[1:] = x[:-1]): read from a copy, both because the
  // kernel would race with itself and because WebGPU forbids binding one buffer as
  // read-only and writable storage in one dispatch.
  const copy = srcBuf === dstBuf ? rt.alloc("assign", src.size * 4) : null;
  if (copy) {
    rt.copy(srcBuf, copy, src.size * 4);
    srcBuf = copy;
  }
  runElementwise(
    "assign",
    [{ buffer: srcBuf, type: t, strides: stridesOf(view.shape), offset: 0 }],
    ["x"],
    "x",
    view.shape,
    { buffer: dstBuf, type: t, strides: view.strides, offset: view.offset },
  );
  if (copy) rt.free(copy);
}

/** Splits `shape` around `axis` into [outer, size of axis, inner]. */
function splitAt(shape: readonly number[], axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}

/**
 * Runs the kernel of gather and scatterAdd, around `body`, over `total`
 * threads. Bindings: 0 `src` (read), 1 `idx`, 2 `dst` (written), 3 the
 * runtime's error record; params `[total, m, inner, n, axis, error code]`. Thread `i` is one element of the gathered
 * shape `[outer, m, inner]`, split into `(p, j, q)`; index `idx[j]` (negative
 * counts from the end) becomes `c`, and `body` gets `k`, the flat position of
 * `(p, c, q)` in the indexed shape `[outer, n, inner]`. An index out of range
 * is clamped and recorded (under `errorOp`'s code, a uniform: one pipeline for
 * every op name), so that the next readback throws a RangeError naming the op and it.
 */
function runIndexed(opts: {
  op: string;
  src: string;
  dst: string;
  errorOp: string;
  body: string;
  /** What an invocation whose index is out of range does instead of `body`. */
  outOfRange: string;
  buffers: [src: GPUBuffer, idx: GPUBuffer, dst: GPUBuffer];
  /** Threads: elements of the gathered shape `[outer, m, inner]`. */
  total: number;
  m: number;
  inner: number;
  n: number;
  axis: number;
  /** Negative indices count from the end (true) or are out of range. */
  wrap: boolean;
}): void {
  const wgsl = `// ${opts.op}
${opts.src}${storageDecl(1, "idx", "i32", false)}${opts.dst}${storageDecl(3, "errs", "i32", true)}${
    paramsDecl(4, 7)
  }${udivHelper(fastDiv(opts.total))}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(WG)};
  if (i >= ${P(0)}) { return; }
  let inner = ${P(2)};
  let n = ${P(3)};
  let r = udiv(i, inner);
  let q = i - r * inner;
  let p = udiv(r, ${P(1)});
  let j = r - p * ${P(1)};
  var v = idx[j];
  if (v < 0 && ${P(6)} == 1u) { v += i32(n); }
  if (v < 0 || v >= i32(n)) {
    // Reported at the next readback; until then an index out of range reads 0 and
    // adds nothing, so that no other row takes its place.
    errs[0] = i32(${P(5)});
    errs[1] = idx[j];
    errs[2] = i32(n);
    errs[3] = i32(${P(4)});
    ${opts.outOfRange}
    return;
  }
  let k = (p * n + u32(v)) * inner + q;
  ${opts.body}
}
`;
  run1d(
    opts.op,
    wgsl,
    ["r", "r", "w", "w"],
    [...opts.buffers, runtime().errorBuffer],
    [
      opts.total,
      opts.m,
      opts.inner,
      opts.n,
      opts.axis,
      kernelErrorCode(opts.errorOp),
      opts.wrap ? 1 : 0,
    ],
    opts.total,
  );
}

function checkIndices(op: string, indices: NDArray): void {
  if (indices.dtype !== "int32") {
    throw new TypeError(`${op}: indices must be int32, got ${indices.dtype}`);
  }
}

/**
 * `take` along `axis`. Negative indices count from the end. An index out of
 * range cannot throw here (that would need a readback): it is clamped, and
 * the next readback throws a RangeError naming it and `op`.
 */
export function gather(
  x: NDArray,
  axis: number,
  indices: NDArray,
  op = "gather",
  negative: NegativeIndex = "wrap",
): NDArray {
  const t = wgslType("gather", x.dtype);
  checkIndices("gather", indices);
  const ax = normAxis("gather", axis, x.ndim);
  const [, n, inner] = splitAt(x.shape, ax);
  const shape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
  const out = newArray("gather", shape, x.dtype);
  const total = out.size;
  if (total === 0) return out;
  runIndexed({
    op: "gather",
    src: storageDecl(0, "x", t, false),
    dst: storageDecl(2, "out", t, true),
    errorOp: op,
    body: "out[i] = x[k];",
    outOfRange: "out[i] = 0;",
    wrap: negative === "wrap",
    buffers: [bufferOf("gather", x), bufferOf("gather", indices), bufferOf("gather", out)],
    total,
    m: indices.size,
    inner,
    n,
    axis: ax,
  });
  return out;
}

/** The adjoint of gather: zeros of `shape`, then `updates` added at the gathered positions. */
export function scatterAdd(
  shape: readonly number[],
  axis: number,
  indices: NDArray,
  updates: NDArray,
  op = "scatterAdd",
): NDArray {
  assertShape("scatterAdd", shape);
  checkIndices("scatterAdd", indices);
  const t = wgslType("scatterAdd", updates.dtype);
  const ax = normAxis("scatterAdd", axis, shape.length);
  const [, n, inner] = splitAt(shape, ax);
  const expected = [...shape.slice(0, ax), ...indices.shape, ...shape.slice(ax + 1)];
  if (sizeOf(expected) !== updates.size || expected.length !== updates.ndim) {
    throw new TypeError(
      `scatterAdd: updates of shape ${fmtShape(updates.shape)} do not match ${
        fmtShape(expected)
      } (shape ${fmtShape(shape)}, axis ${ax}, indices ${fmtShape(indices.shape)})`,
    );
  }
  const out = newArray("scatterAdd", shape, updates.dtype);
  const rt = runtime();
  rt.clear(bufferOf("scatterAdd", out), out.size * 4);
  const total = updates.size;
  if (total === 0 || out.size === 0) return out;
  const add = t === "i32" ? "atomicAdd(&out[k], u[i]);" : `var old = atomicLoad(&out[k]);
  loop {
    let nv = bitcast<u32>(bitcast<f32>(old) + u[i]);
    let r = atomicCompareExchangeWeak(&out[k], old, nv);
    if (r.exchanged) { break; }
    old = r.old_value;
  }`;
  runIndexed({
    op: "scatterAdd",
    src: storageDecl(0, "u", t, false),
    dst: storageDecl(2, "out", t === "i32" ? "atomic<i32>" : "atomic<u32>", true),
    errorOp: op,
    body: add,
    outOfRange: "",
    wrap: true,
    buffers: [
      bufferOf("scatterAdd", updates),
      bufferOf("scatterAdd", indices),
      bufferOf("scatterAdd", out),
    ],
    total,
    m: indices.size,
    inner,
    n,
    axis: ax,
  });
  return out;
}

/** `x: [N,C,H,W]` to patches `[N,C,KH,KW,OH,OW]` (zero padding). */
export function im2col(x: NDArray, g: ConvGeometry): NDArray {
  if (x.ndim !== 4) {
    throw new TypeError(`im2col: expected an NCHW input of rank 4, got shape ${fmtShape(x.shape)}`);
  }
  const t = wgslType("im2col", x.dtype);
  const [N, C, H, W] = x.shape;
  const [OH, OW] = convOut("im2col", H, W, g);
  const out = newArray("im2col", [N, C, g.kh, g.kw, OH, OW], x.dtype);
  const total = out.size;
  if (total === 0) return out;
  // Each invocation fills 4 neighbours along OW (one vec4 store where rows are 4-aligned):
  // on CPU-emulated adapters every scattered store and index division costs a lane loop.
  const vec = OW % 4 === 0;
  const quads = Math.ceil(OW / 4);
  const n = (total / OW) * quads;
  const zero = t === "f32" ? "0.0" : "0";
  // A large float32 image is read through a texture where storage loads are slow (one texel
  // fetch and a component a value: the conv step's im2col ran ~2× faster on llvmpipe).
  const xb = bufferOf("im2col", x);
  const tex = textureOperand(xb, x.size, t);
  const load = (i: string) => tex ? `${texelLoad("x", `(${i}) / 4u`)}[(${i}) % 4u]` : `x[${i}]`;
  const value = (e: number) => `
  var v${e} = ${zero};
  let xx${e} = i32((ow0 + ${e}u) * ${P(8)} + kw) - i32(${P(10)});
  if (rowOk && ow0 + ${e}u < OW && xx${e} >= 0 && xx${e} < i32(W)) { v${e} = ${
    load(`base + u32(xx${e})`)
  }; }`;
  const store = vec
    ? `  out[(row * OW + ow0) / 4u] = vec4<${t}>(v0, v1, v2, v3);`
    : [0, 1, 2, 3].map((e) => `  if (ow0 + ${e}u < OW) { out[row * OW + ow0 + ${e}u] = v${e}; }`)
      .join("\n");
  const wgsl = `// im2col${vec ? " (vec4)" : ""}${tex ? " (texture)" : ""}
${tex ? textureDecl(0, "x") : storageDecl(0, "x", t, false)}${
    storageDecl(1, "out", vec ? `vec4<${t}>` : t, true)
  }${paramsDecl(2, 12)}${udivHelper(fastDiv(n))}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(WG)};
  if (i >= ${P(0)}) { return; }
  let OW = ${P(1)}; let OH = ${P(2)}; let KW = ${P(3)}; let KH = ${P(4)};
  let H = ${P(5)}; let W = ${P(6)}; let quads = ${P(11)};
  var q = udiv(i, quads);
  let ow0 = (i - q * quads) * 4u;
  let row = q;
  var r = q;
  q = udiv(r, OH); let oh = r - q * OH; r = q;
  q = udiv(r, KW); let kw = r - q * KW; r = q;
  q = udiv(r, KH); let kh = r - q * KH; r = q;
  let y = i32(oh * ${P(7)} + kh) - i32(${P(9)});
  let rowOk = y >= 0 && y < i32(H);
  let base = (r * H + u32(max(y, 0))) * W;${[0, 1, 2, 3].map(value).join("")}
${store}
}
`;
  run1d(
    "im2col",
    wgsl,
    [tex ? "t" : "r", "w"],
    [tex ? operandTexture(0, xb, x.size) : xb, bufferOf("im2col", out)],
    [n, OW, OH, g.kw, g.kh, H, W, g.sh, g.sw, g.ph, g.pw, quads],
    n,
  );
  return out;
}

/** The adjoint of im2col: each output pixel sums the patch entries that cover it. */
export function col2im(col: NDArray, shape: readonly number[], g: ConvGeometry): NDArray {
  assertShape("col2im", shape);
  if (shape.length !== 4) {
    throw new TypeError(`col2im: expected an NCHW output shape of rank 4, got ${fmtShape(shape)}`);
  }
  const t = wgslType("col2im", col.dtype);
  const [N, C, H, W] = shape;
  const [OH, OW] = convOut("col2im", H, W, g);
  const expected = [N, C, g.kh, g.kw, OH, OW];
  if (col.ndim !== 6 || !col.shape.every((d, i) => d === expected[i])) {
    throw new TypeError(
      `col2im: patches of shape ${fmtShape(col.shape)} do not match ${
        fmtShape(expected)
      } for output ${fmtShape(shape)}`,
    );
  }
  const out = newArray("col2im", shape, col.dtype);
  const total = out.size;
  if (total === 0) return out;
  // As im2col: each invocation sums the patches of 4 neighbours along W (one vec4 store
  // where rows are 4-aligned); they share the loop over KH.
  const vec = W % 4 === 0;
  const quads = Math.ceil(W / 4);
  const n = (total / W) * quads;
  const zero = t === "f32" ? "0.0" : "0";
  const lanes = [0, 1, 2, 3];
  const perLane = lanes.map((e) => `
  let wp${e} = w0 + ${e}u + ${P(10)};
  let qw${e} = udiv(wp${e}, sw);
  var acc${e} = ${zero};`).join("");
  const sumLane = (e: number) => `
      var ow${e} = qw${e};
      for (var kw = wp${e} - qw${e} * sw; kw < KW && kw <= wp${e}; kw += sw) {
        if (ow${e} < OW && w0 + ${e}u < W) { acc${e} += col[rowBase + kw * OH * OW + ow${e}]; }
        ow${e} -= 1u;
      }`;
  const store = vec
    ? `  out[(q * W + w0) / 4u] = vec4<${t}>(acc0, acc1, acc2, acc3);`
    : lanes.map((e) => `  if (w0 + ${e}u < W) { out[q * W + w0 + ${e}u] = acc${e}; }`).join("\n");
  const wgsl = `// col2im${vec ? " (vec4)" : ""}
${storageDecl(0, "col", t, false)}${storageDecl(1, "out", vec ? `vec4<${t}>` : t, true)}${
    paramsDecl(2, 12)
  }${udivHelper(fastDiv(Math.max(n, H + g.ph, W + g.pw + 3)))}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(WG)};
  if (i >= ${P(0)}) { return; }
  let W = ${P(1)}; let H = ${P(2)}; let KW = ${P(3)}; let KH = ${P(4)};
  let OW = ${P(5)}; let OH = ${P(6)};
  let sh = ${P(7)}; let sw = ${P(8)}; let quads = ${P(11)};
  var q = udiv(i, quads);
  let w0 = (i - q * quads) * 4u;
  let nc = udiv(q, H);
  let h = q - nc * H;
  // Patches covering (h, w): kh ≡ h + ph (mod sh) with oh = (h + ph - kh) / sh < OH.
  let hp = h + ${P(9)};
  let qh = udiv(hp, sh);${perLane}
  var oh = qh;
  for (var kh = hp - qh * sh; kh < KH && kh <= hp; kh += sh) {
    if (oh < OH) {
      let rowBase = ((nc * KH + kh) * KW * OH + oh) * OW;${lanes.map(sumLane).join("")}
    }
    oh -= 1u;
  }
${store}
}
`;
  run1d(
    "col2im",
    wgsl,
    ["r", "w"],
    [bufferOf("col2im", col), bufferOf("col2im", out)],
    [n, W, H, g.kw, g.kh, OW, OH, g.sh, g.sw, g.ph, g.pw, quads],
    n,
  );
  return out;
}

/** Workgroup size of maxPool2d: one output per invocation, a few loads each. */
const POOL_WG = 64;

/**
 * Max pooling of `x: [N,C,H,W]`: the maxima `[N,C,OH,OW]` and their flat
 * indices into `x` (int32; the first in window order on ties, a NaN wins).
 * Each invocation scans one window of the image: no patches are materialised.
 */
export function maxPool2d(x: NDArray, g: ConvGeometry): [NDArray, NDArray] {
  if (x.ndim !== 4) {
    throw new TypeError(
      `maxPool2d: expected an NCHW input of rank 4, got shape ${fmtShape(x.shape)}`,
    );
  }
  const t = wgslType("maxPool2d", x.dtype);
  const [N, C, H, W] = x.shape;
  const [OH, OW] = poolOut("maxPool2d", H, W, g);
  const y = newArray("maxPool2d", [N, C, OH, OW], x.dtype);
  const index = newArray("maxPool2d", [N, C, OH, OW], "int32");
  const n = y.size;
  if (n === 0) return [y, index];
  // Once `best` is a NaN nothing replaces it; before that a NaN replaces anything.
  const wins = t === "f32" ? "!isnan_f32(best) && (v > best || isnan_f32(v))" : "v > best";
  const header = `${storageDecl(0, "x", t, false)}${storageDecl(1, "y", t, true)}${
    storageDecl(2, "index", "i32", true)
  }${paramsDecl(3, 13)}${udivHelper(fastDiv(Math.max(n, g.kh * g.kw)))}${
    t === "f32"
      ? "fn isnan_f32(v: f32) -> bool { return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u; }\n"
      : ""
  }
@compute @workgroup_size(${POOL_WG})
fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(POOL_WG)};
  if (i >= ${P(0)}) { return; }
  let OW = ${P(1)}; let OH = ${P(2)}; let KW = ${P(3)}; let KH = ${P(4)};
  let H = i32(${P(5)}); let W = i32(${P(6)});
  var q = udiv(i, OW);
  let ow = i - q * OW;
  let nc = udiv(q, OH);
  let oh = q - nc * OH;
  let y0 = i32(oh * ${P(7)}) - i32(${P(9)});
  let x0 = i32(ow * ${P(8)}) - i32(${P(10)});
  let base = i32(nc) * H * W;`;
  const params = [n, OW, OH, g.kw, g.kh, H, W, g.sh, g.sw, g.ph, g.pw];
  const buffers = [
    bufferOf("maxPool2d", x),
    bufferOf("maxPool2d", y),
    bufferOf("maxPool2d", index),
  ];
  // An invocation scans its whole window when that stays within the loop budget (see
  // `loopBudget`: llvmpipe ends an invocation's loops after 65,535 iterations and goes on
  // with what it has); a larger window is scanned in window order by several passes, each
  // over the next run of window positions, carrying the best so far in `y` and `index`
  // (-1 while no position of the window lay inside the image).
  const window = g.kh * g.kw;
  const budget = loopBudget();
  if (window + g.kh <= budget) {
    const wgsl = `// maxPool2d
${header}
  // Every window holds an image element (padding at most half the kernel).
  let ky0 = u32(max(-y0, 0));
  let ky1 = u32(min(i32(KH), H - y0));
  let kx0 = u32(max(-x0, 0));
  let kx1 = u32(min(i32(KW), W - x0));
  var at = base + (y0 + i32(ky0)) * W + x0 + i32(kx0);
  var best = x[at];
  for (var ky = ky0; ky < ky1; ky++) {
    let row = base + (y0 + i32(ky)) * W + x0;
    for (var kx = kx0; kx < kx1; kx++) {
      let k = row + i32(kx);
      let v = x[k];
      if (${wins}) { best = v; at = k; }
    }
  }
  y[i] = best;
  index[i] = at;
}
`;
    run1dWith("maxPool2d", wgsl, ["r", "w", "w"], buffers, [...params, 0, window], n, POOL_WG);
    return [y, index];
  }
  const wgsl = `// maxPool2d (window in passes)
${header}
  let start = ${P(11)};
  var at = -1;
  var best = ${t === "f32" ? "0.0" : "0"};
  if (start > 0u) { at = index[i]; best = y[i]; }
  for (var p = start; p < ${P(12)}; p++) {
    let ky = udiv(p, KW);
    let r = y0 + i32(ky);
    let c = x0 + i32(p - ky * KW);
    if (r < 0 || r >= H || c < 0 || c >= W) { continue; }
    let k = base + r * W + c;
    let v = x[k];
    if (at < 0 || (${wins})) { best = v; at = k; }
  }
  y[i] = best;
  index[i] = at;
}
`;
  for (let from = 0; from < window; from += budget) {
    const to = Math.min(window, from + budget);
    run1dWith("maxPool2d", wgsl, ["r", "w", "w"], buffers, [...params, from, to], n, POOL_WG);
  }
  return [y, index];
}
