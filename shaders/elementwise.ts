/**
 * Elementwise kernels: unary, binary (broadcast by strides), where, cast, fill
 * and strided copies. Each kernel is specialised at compile time on the
 * dtypes, the expression, the collapsed rank and each operand's access mode
 * (contiguous, scalar or strided); sizes and strides are runtime uniforms.
 *
 * @module
 */
import type { BinaryOp, UnaryOp } from "../core/backend.ts";
import type { DType } from "../core/dtype.ts";
import type { NDArray } from "../core/ndarray.ts";
import { broadcastShapes, broadcastStrides, sizeOf, stridesOf } from "../core/shape.ts";
import {
  bufferOf,
  collapse,
  dot,
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
  unravel,
  wgslType,
} from "./_context.ts";

const WG = 256;

const settings = { vec4: true };

/** Turns the vec4 fast path of contiguous elementwise kernels on or off (for tests and benchmarks). */
export function setElementwiseVec4(on: boolean): void {
  settings.vec4 = on;
}

/** One operand of an elementwise kernel: a buffer read through strides over the output shape. */
export interface EwOperand {
  /** The buffer read. */
  readonly buffer: GPUBuffer;
  /** Its WGSL element type. */
  readonly type: "f32" | "i32";
  /** Strides (elements) over the output shape; 0 along broadcast axes. */
  readonly strides: readonly number[];
  /** Offset (elements) of element 0. */
  readonly offset: number;
}

/** WGSL helper functions the expressions may call. */
const HELPERS = `
fn nan_f32() -> f32 { return bitcast<f32>(0x7fc00000u); }
// By bits: drivers that assume no NaNs (NVIDIA) fold x != x to false.
fn isnan_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u; }
fn tanh_f32(x: f32) -> f32 {
  let a = abs(x);
  if (a < 0.25) {
    let x2 = x * x;
    return x * (1.0 + x2 * (-0.33333333 + x2 * (0.13333333 + x2 * (-0.053968254 + x2 * 0.021869488))));
  }
  let e = exp(-2.0 * a);
  return sign(x) * (1.0 - e) / (1.0 + e);
}
fn sigmoid_f32(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}
fn erf_f32(x: f32) -> f32 {
  // Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7) away from zero, Taylor near it.
  let a = abs(x);
  if (a < 0.5) {
    let x2 = x * x;
    return x * 1.1283791671 * (1.0 + x2 * (-0.33333333 + x2 * (0.1 + x2 * (-0.023809524 + x2 * 0.0046296296))));
  }
  let t = 1.0 / (1.0 + 0.3275911 * a);
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-a * a);
  return sign(x) * y;
}
fn inf_f32() -> f32 { return bitcast<f32>(0x7f800000u); }
fn isinf_f32(x: f32) -> bool { return (bitcast<u32>(x) & 0x7fffffffu) == 0x7f800000u; }
fn pow_f32(a: f32, b: f32) -> f32 {
  // The special cases of IEEE pow (the CPU reference), spelled out: WGSL's pow is
  // exp2(b * log2(a)), undefined for a <= 0, and drivers may assume no infinities or NaNs.
  if (b == 0.0 || a == 1.0) { return 1.0; }
  if (isnan_f32(a) || isnan_f32(b)) { return nan_f32(); }
  if (b == 1.0) { return a; }
  if (b == 2.0) { return a * a; }
  let m = abs(a);
  if (isinf_f32(b)) {
    // |a| > 1 grows, |a| < 1 vanishes (either sign of a); (-1) ** ±inf is 1, as IEEE pow.
    if (m == 1.0) { return 1.0; }
    return select(0.0, inf_f32(), (m > 1.0) == (b > 0.0));
  }
  // The sign of a survives an odd integer exponent only.
  let odd = fract(b) == 0.0 && abs(b) % 2.0 == 1.0;
  let neg = odd && (bitcast<u32>(a) & 0x80000000u) != 0u;
  if (a == 0.0 || isinf_f32(a)) {
    // ±0 to b > 0 and ±inf to b < 0 give 0; the other two give infinity: for any b, integer
    // or not, as IEEE pow (-inf ** 0.5 is inf, -inf ** -0.5 is 0).
    let r = select(0.0, inf_f32(), (a == 0.0) == (b < 0.0));
    return select(r, -r, neg);
  }
  if (a < 0.0 && fract(b) != 0.0) { return nan_f32(); }
  let r = pow(m, b);
  return select(r, -r, neg);
}
fn pow_i32(a: i32, b: i32) -> i32 {
  if (b < 0) {
    if (a == 1) { return 1; }
    if (a == -1) { return select(-1, 1, (b & 1) == 0); }
    return 0;
  }
  var r = 1;
  var base = a;
  var e = u32(b);
  loop {
    if (e == 0u) { break; }
    if ((e & 1u) != 0u) { r = r * base; }
    base = base * base;
    e = e >> 1u;
  }
  return r;
}
fn div_i32(a: i32, b: i32) -> i32 {
  // The CPU stores trunc(a / b) and 0 for a division by zero.
  if (b == 0) { return 0; }
  return a / b;
}
`;

/** The WGSL expression of a unary op on `x` of type `t`. */
export function unaryExpr(op: UnaryOp, t: "f32" | "i32"): string {
  if (t === "i32") {
    switch (op) {
      case "neg":
        return "-x";
      case "abs":
        return "abs(x)";
      case "sign":
        return "sign(x)";
      case "relu":
        return "max(x, 0)";
      case "floor":
      case "round":
        return "x";
      default:
        return `i32(${unaryExpr(op, "f32").replace(/\bx\b/g, "f32(x)")})`;
    }
  }
  switch (op) {
    case "neg":
      return "-x";
    case "exp":
    case "log":
    case "sin":
    case "cos":
    case "sqrt":
    case "abs":
    case "floor":
    case "round":
      return `${op}(x)`;
    case "sign":
      return "select(sign(x), x, isnan_f32(x))";
    case "tanh":
      return "tanh_f32(x)";
    case "relu":
      // NaN propagates like the CPU (llvmpipe folds a plain select into a NaN-dropping max).
      return "select(max(x, 0.0), x, isnan_f32(x))";
    case "sigmoid":
      return "sigmoid_f32(x)";
    case "erf":
      return "erf_f32(x)";
  }
}

/** The WGSL expression of a binary op on `a`, `b` of type `t`. */
export function binaryExpr(op: BinaryOp, t: "f32" | "i32"): string {
  const one = t === "f32" ? "1.0" : "1";
  const zero = t === "f32" ? "0.0" : "0";
  const cmp = (c: string) => `select(${zero}, ${one}, ${c})`;
  switch (op) {
    case "add":
      return "a + b";
    case "sub":
      return "a - b";
    case "mul":
      return "a * b";
    case "div":
      return t === "f32" ? "a / b" : "div_i32(a, b)";
    case "pow":
      return t === "f32" ? "pow_f32(a, b)" : "pow_i32(a, b)";
    // NaN propagates like Math.max / Math.min (WGSL's max and min may drop it).
    case "maximum":
      return t === "f32" ? "select(max(a, b), a + b, isnan_f32(a) || isnan_f32(b))" : "max(a, b)";
    case "minimum":
      return t === "f32" ? "select(min(a, b), a + b, isnan_f32(a) || isnan_f32(b))" : "min(a, b)";
    case "gt":
      return cmp("a > b");
    case "ge":
      return cmp("a >= b");
    case "lt":
      return cmp("a < b");
    case "le":
      return cmp("a <= b");
    case "eq":
      return cmp("a == b");
    case "ne":
      // Unordered: true when either is NaN (NVIDIA compiles != as ordered).
      return cmp(t === "f32" ? "a != b || isnan_f32(a) || isnan_f32(b)" : "a != b");
  }
}

/**
 * Runs an elementwise kernel: `out[i] = expr(in0[..], in1[..], ...)` over
 * `shape`, each operand read through its strides. `names` are the variable
 * names the expression uses for the operands.
 */
export function elementwise(
  op: string,
  operands: readonly EwOperand[],
  names: readonly string[],
  expr: string,
  shape: readonly number[],
  outDType: DType,
): NDArray {
  const outType = wgslType(op, outDType);
  const out = newArray(op, shape, outDType);
  const n = sizeOf(shape);
  if (n === 0) return out;
  runElementwise(op, operands, names, expr, shape, { buffer: bufferOf(op, out), type: outType });
  return out;
}

/**
 * The part of an elementwise kernel's cache key (see `runtime().kernelFor`)
 * shared by both paths: sizes and strides are uniforms, everything else
 * shaping the source is named here or by the caller.
 */
function exprKey(
  op: string,
  expr: string,
  names: readonly string[],
  operands: readonly EwOperand[],
  rank: number,
  n: number,
  outType: string,
): string {
  return `${op}/${expr}/${names.join(",")}/${operands.map((o) => o.type).join(",")}/${rank}/${
    fastDiv(n)
  }/${outType}`;
}

/** Records the elementwise kernel writing `out` contiguously (or through `outView`). */
export function runElementwise(
  op: string,
  operands: readonly EwOperand[],
  names: readonly string[],
  expr: string,
  shape: readonly number[],
  out: { buffer: GPUBuffer; type: "f32" | "i32"; strides?: readonly number[]; offset?: number },
): void {
  const n = sizeOf(shape);
  if (n === 0) return;
  const outStrides = out.strides ?? stridesOf(shape);
  const c = collapse(shape, [outStrides, ...operands.map((o) => o.strides)]);
  const rank = c.shape.length;
  const contigOut = out.strides === undefined && (out.offset ?? 0) === 0;
  // params: n, shape[rank], then per strided operand (and a strided output): offset, strides[rank]
  const params: number[] = [n, ...c.shape];
  const modes: ("c" | "s" | "g")[] = [];
  /** The param index of each operand's offset (scalar and strided operands). */
  const slots: number[] = [];
  operands.forEach((o, k) => {
    const st = c.strides[k + 1];
    slots.push(params.length);
    const same = st.every((s, d) => s === c.strides[0][d]) && o.offset === 0 && contigOut;
    const scalar = st.every((s) => s === 0);
    if (same) modes.push("c");
    else if (scalar) {
      modes.push("s");
      params.push(o.offset);
    } else {
      modes.push("g");
      params.push(o.offset, ...st);
    }
  });
  const outSlot = params.length;
  if (!contigOut) params.push(out.offset ?? 0, ...c.strides[0]);
  const nb = operands.length;
  if (settings.vec4 && contigOut && n % 4 === 0) {
    // Four consecutive outputs per invocation when every operand reads them as one
    // aligned vec4 or as one broadcast scalar.
    const inner = rank > 0 ? c.shape[rank - 1] : 1;
    const kinds = operands.map((o, k) => {
      if (modes[k] !== "g") return modes[k];
      const st = c.strides[k + 1];
      if (inner % 4 !== 0) return null;
      if (st[rank - 1] === 0) return "splat";
      const aligned = o.offset % 4 === 0 && st.every((v, d) => d === rank - 1 || v % 4 === 0);
      return st[rank - 1] === 1 && aligned ? "vec" : null;
    });
    if (kinds.every((x) => x !== null) && kinds.some((x) => x !== "s")) {
      runVec4(op, operands, names, expr, kinds as string[], slots, params, out, rank, n);
      return;
    }
  }
  const rt = runtime();
  // Everything the source depends on (sizes and strides are uniforms): built once per key.
  const key = `ew/${exprKey(op, expr, names, operands, rank, n, out.type)}/${
    modes.join("")
  }/${contigOut}`;
  const k = rt.kernelFor(key, op, [...operands.map(() => "r" as const), "w"], params.length, () => {
    let decl = "";
    let body = "";
    operands.forEach((o, k) => {
      decl += storageDecl(k, `in${k}`, o.type, false);
      if (modes[k] === "c") body += `  let ${names[k]} = in${k}[i];\n`;
      else if (modes[k] === "s") body += `  let ${names[k]} = in${k}[${P(slots[k])}];\n`;
      else {
        body += `  let ${names[k]} = in${k}[u32(${
          dot(rank, slots[k] + 1, `i32(${P(slots[k])})`)
        })];\n`;
      }
    });
    const store = contigOut
      ? "out[i]"
      : `out[u32(${dot(rank, outSlot + 1, `i32(${P(outSlot)})`)})]`;
    const needCoords = modes.includes("g") || !contigOut;
    decl += storageDecl(nb, "out", out.type, true);
    return `// ${op}\n${decl}${paramsDecl(nb + 1, params.length)}${HELPERS}${udivHelper(fastDiv(n))}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  let i = ${linearIndex(WG)};
  if (i >= ${P(0)}) { return; }
  ${needCoords ? unravel("i", rank, 1) : ""}
${body}  ${store} = ${out.type}(${expr});
}
`;
  });
  rt.dispatch(k, [...operands.map((o) => o.buffer), out.buffer], params, Math.ceil(n / WG));
}

/**
 * The vectorised path: four consecutive outputs per invocation, each operand
 * read as a vec4 (`c`: contiguous like the output; `vec`: strided with an
 * aligned unit inner stride) or as one scalar (`s`: a single element;
 * `splat`: broadcast along the inner axis). The expression is applied per
 * component.
 */
function runVec4(
  op: string,
  operands: readonly EwOperand[],
  names: readonly string[],
  expr: string,
  kinds: readonly string[],
  slots: readonly number[],
  params: number[],
  out: { buffer: GPUBuffer; type: "f32" | "i32" },
  rank: number,
  n: number,
): void {
  const nb = operands.length;
  // Large arrays: PER vec4s per invocation, `span` apart (fewer invocations and less
  // per-invocation overhead; ~25% faster per pass on llvmpipe for 4M elements).
  const per = n / 4 >= PER_MIN_VEC4 ? PER : 1;
  const rt = runtime();
  // Large contiguous float32 operands through textures where storage loads are slow.
  const tex = operands.map((o, k) => kinds[k] === "c" && textureOperand(o.buffer, n, o.type));
  const key = `ew4/${exprKey(op, expr, names, operands, rank, n, out.type)}/${
    kinds.map((x, k) => tex[k] ? "t" : x).join(",")
  }/${per}`;
  const access = [...tex.map((t) => t ? "t" as const : "r" as const), "w" as const];
  const k = rt.kernelFor(key, op, access, params.length, () => {
    let decl = "";
    let body = "";
    const needCoords = kinds.some((k) => k === "vec" || k === "splat");
    operands.forEach((o, k) => {
      if (tex[k]) {
        decl += textureDecl(k, `in${k}`);
        body += `  let v${k} = ${texelLoad(`in${k}`, "i")};\n`;
        return;
      }
      const vec = kinds[k] === "c" || kinds[k] === "vec";
      decl += storageDecl(k, `in${k}`, vec ? `vec4<${o.type}>` : o.type, false);
      const at = kinds[k] === "vec" || kinds[k] === "splat"
        ? `u32(${dot(rank, slots[k] + 1, `i32(${P(slots[k])})`)})`
        : "";
      if (kinds[k] === "c") body += `  let v${k} = in${k}[i];\n`;
      else if (kinds[k] === "vec") body += `  let v${k} = in${k}[${at} / 4u];\n`;
      else if (kinds[k] === "splat") body += `  let ${names[k]} = in${k}[${at}];\n`;
      else body += `  let ${names[k]} = in${k}[${P(slots[k])}];\n`;
    });
    const comps = ["x", "y", "z", "w"].map((c) => {
      let e = expr;
      operands.forEach((_, k) => {
        if (kinds[k] === "c" || kinds[k] === "vec") {
          e = e.replace(new RegExp(`\\b${names[k]}\\b`, "g"), `v${k}.${c}`);
        }
      });
      return `${out.type}(${e})`;
    });
    decl += storageDecl(nb, "out", `vec4<${out.type}>`, true);
    const step = `${needCoords ? unravel("i * 4u", rank, 1) : ""}
${body}  out[i] = vec4<${out.type}>(${comps.join(", ")});`;
    const main = per === 1
      ? `  let i = ${linearIndex(WG)};
  if (i >= ${P(0)} / 4u) { return; }
  ${step}`
      : `  let t = ${linearIndex(WG)};
  let span = (${P(0)} / 4u + ${per - 1}u) / ${per}u;
  for (var j = 0u; j < ${per}u; j++) {
  let i = t + j * span;
  if (t >= span || i >= ${P(0)} / 4u) { break; }
  ${step}
  }`;
    return `// ${op} (vec4${per > 1 ? ` x${per}` : ""})\n${decl}${
      paramsDecl(nb + 1, params.length)
    }${HELPERS}${udivHelper(fastDiv(n))}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
${main}
}
`;
  });
  const inputs = operands.map((o, k) => tex[k] ? operandTexture(k, o.buffer, n) : o.buffer);
  rt.dispatch(k, [...inputs, out.buffer], params, Math.ceil(n / 4 / per / WG));
}

/** Vec4s per invocation of the vectorised path for large arrays. */
const PER = 4;
/** Vec4 count from which invocations take `PER` vec4s each. */
const PER_MIN_VEC4 = 65_536;

/** An operand reading `x` broadcast to `shape`. */
export function broadcastOperand(op: string, x: NDArray, shape: readonly number[]): EwOperand {
  return {
    buffer: bufferOf(op, x),
    type: wgslType(op, x.dtype),
    strides: broadcastStrides(x.shape, shape),
    offset: 0,
  };
}

/** `op(x)` elementwise. */
export function unary(op: UnaryOp, x: NDArray): NDArray {
  const t = wgslType(op, x.dtype);
  return elementwise(
    op,
    [broadcastOperand(op, x, x.shape)],
    ["x"],
    unaryExpr(op, t),
    x.shape,
    x.dtype,
  );
}

/** `op(a, b)` elementwise with broadcasting. */
export function binary(op: BinaryOp, a: NDArray, b: NDArray): NDArray {
  if (a.dtype !== b.dtype) throw new TypeError(`${op}: dtypes ${a.dtype} and ${b.dtype} differ`);
  const t = wgslType(op, a.dtype);
  const shape = broadcastShapes(op, a.shape, b.shape);
  return elementwise(
    op,
    [broadcastOperand(op, a, shape), broadcastOperand(op, b, shape)],
    ["a", "b"],
    binaryExpr(op, t),
    shape,
    a.dtype,
  );
}

/** `cond != 0 ? a : b` with broadcasting. */
export function where(cond: NDArray, a: NDArray, b: NDArray): NDArray {
  if (a.dtype !== b.dtype) throw new TypeError(`where: dtypes ${a.dtype} and ${b.dtype} differ`);
  const ct = wgslType("where", cond.dtype);
  wgslType("where", a.dtype);
  const shape = broadcastShapes("where", broadcastShapes("where", cond.shape, a.shape), b.shape);
  return elementwise(
    "where",
    [
      broadcastOperand("where", cond, shape),
      broadcastOperand("where", a, shape),
      broadcastOperand("where", b, shape),
    ],
    ["c", "a", "b"],
    // A NaN condition is true, like the CPU's `cond !== 0`.
    ct === "f32" ? "select(b, a, c != 0.0 || isnan_f32(c))" : "select(b, a, c != 0)",
    shape,
    a.dtype,
  );
}

/** Converts the dtype (float to int truncates toward zero). */
export function cast(x: NDArray, dtype: DType): NDArray {
  const from = wgslType("cast", x.dtype);
  const to = wgslType("cast", dtype);
  if (from === to) {
    const out = newArray("cast", x.shape, dtype);
    runtime().copy(bufferOf("cast", x), bufferOf("cast", out), x.size * 4);
    return out;
  }
  // Float to int32 toward zero, saturating (at 2147483520, the largest float32 below 2^31),
  // NaN to 0: WGSL leaves out-of-range conversions to the implementation.
  const expr = to === "i32"
    ? "select(i32(clamp(x, -2147483648.0, 2147483520.0)), 0, isnan_f32(x))"
    : "x";
  return elementwise("cast", [broadcastOperand("cast", x, x.shape)], ["x"], expr, x.shape, dtype);
}

/**
 * `a·x + b·y` for float32 arrays of one shape, fused into one kernel (vec4
 * where the size allows; the optimizers' parameter updates).
 */
export function axpby(a: number, x: NDArray, b: number, y: NDArray): NDArray {
  if (x.dtype !== "float32" || y.dtype !== "float32") {
    throw new TypeError(`axpby: expected float32 operands, got ${x.dtype} and ${y.dtype}`);
  }
  if (x.shape.length !== y.shape.length || x.shape.some((d, i) => d !== y.shape[i])) {
    throw new TypeError(`axpby: shapes [${x.shape}] and [${y.shape}] differ`);
  }
  const out = newArray("axpby", x.shape, "float32");
  const n = x.size;
  if (n === 0) return out;
  const vec = settings.vec4 && n % 4 === 0;
  const t = vec ? "vec4<f32>" : "f32";
  const count = vec ? n / 4 : n;
  // Large arrays: PER elements (vec4s) per invocation, a span apart, as in `runVec4`.
  const per = count >= PER_MIN_VEC4 ? PER : 1;
  const xb = bufferOf("axpby", x), yb = bufferOf("axpby", y);
  // Large operands through textures where storage loads are slow (both or neither).
  const tex = vec && textureOperand(xb, n, "f32") && textureOperand(yb, n, "f32");
  const load = (name: string) => tex ? texelLoad(name, "i") : `${name}[i]`;
  const decl = tex
    ? textureDecl(0, "X") + textureDecl(1, "Y")
    : storageDecl(0, "X", t, false) + storageDecl(1, "Y", t, false);
  const wgsl = `// axpby${vec ? " (vec4)" : ""}${per > 1 ? ` x${per}` : ""}${
    tex ? " (textures)" : ""
  }
${decl}${storageDecl(2, "out", t, true)}${paramsDecl(3, 3)}@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  let t = ${linearIndex(WG)};
  let span = (${P(0)} + ${per - 1}u) / ${per}u;
  for (var j = 0u; j < ${per}u; j++) {
    let i = t + j * span;
    if (t >= span || i >= ${P(0)}) { break; }
    out[i] = bitcast<f32>(${P(1)}) * ${load("X")} + bitcast<f32>(${P(2)}) * ${load("Y")};
  }
}
`;
  const rt = runtime();
  const k = rt.kernel("axpby", wgsl, tex ? ["t", "t", "w"] : ["r", "r", "w"], 3);
  const inputs = tex ? [operandTexture(0, xb, n), operandTexture(1, yb, n)] : [xb, yb];
  rt.dispatch(
    k,
    [...inputs, bufferOf("axpby", out)],
    [count, f32Bits(a), f32Bits(b)],
    Math.ceil(count / per / WG),
  );
  return out;
}
