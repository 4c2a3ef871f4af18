/**
 * The CPU backend: the reference implementation of every primitive of
 * {@linkcode Backend}, on TypedArrays (float32, float64, int32). It registers
 * itself on import.
 *
 * Storage payloads are the TypedArrays themselves. Elementwise kernels walk
 * their operands as "runs": axes that every operand reads contiguously are
 * merged first, so the common cases (equal shapes, a scalar operand, a row
 * vector broadcast over a matrix) become one or a few tight loops.
 *
 * @module
 */
import {
  type ArgReduceOp,
  type Backend,
  type BackendMemory,
  type BinaryOp,
  type ConvGeometry,
  type NegativeIndex,
  type ReduceOp,
  registerBackend,
  type StridedView,
  type UnaryOp,
} from "./backend.ts";
import {
  allocTyped,
  assertDType,
  type DType,
  dtypeOfTyped,
  floatToInt32,
  type TypedArray,
} from "./dtype.ts";
import { NDArray, type Storage } from "./ndarray.ts";
import { checkView, convOut, matmulGeometry, poolOut } from "./_validate.ts";
import {
  assertShape,
  broadcastShapes,
  broadcastStrides,
  fmtShape,
  normAxis,
  reducedShape,
  sizeOf,
  stridesOf,
} from "./shape.ts";

let liveBytes = 0;

/** Wraps `data` (taking ownership, no copy) as a new CPU array. */
function wrap(data: TypedArray, shape: readonly number[]): NDArray {
  const dtype = dtypeOfTyped(data)!;
  liveBytes += data.byteLength;
  return new NDArray(cpuBackend, { refs: 1, bytes: data.byteLength, payload: data }, shape, dtype);
}

/** The TypedArray behind a CPU array. */
function dataOf(op: string, x: NDArray): TypedArray {
  if (x.backend !== cpuBackend) {
    throw new TypeError(
      `${op}: array of shape ${
        fmtShape(x.shape)
      } lives on device "${x.backend.device}", expected "cpu"`,
    );
  }
  return x.storage.payload as TypedArray;
}

function assertSameDType(op: string, a: NDArray, b: NDArray): void {
  if (a.dtype !== b.dtype) {
    throw new TypeError(`${op}: dtypes ${a.dtype} and ${b.dtype} differ`);
  }
}

// ---------------------------------------------------------------- strided iteration

/**
 * Drops size-1 axes and merges adjacent axes that every operand walks
 * contiguously (`stride[d-1] === stride[d] * shape[d]` for all operands).
 * The result has rank ≥ 1.
 */
function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): {
  shape: number[];
  strides: number[][];
} {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const n = shape[d];
    if (n === 1) continue;
    const r = outShape.length;
    if (r > 0 && strides.every((s, k) => outStrides[k][r - 1] === s[d] * n)) {
      outShape[r - 1] *= n;
      for (let k = 0; k < strides.length; k++) outStrides[k][r - 1] = strides[k][d];
    } else {
      outShape.push(n);
      for (let k = 0; k < strides.length; k++) outStrides[k].push(strides[k][d]);
    }
  }
  if (outShape.length === 0) {
    outShape.push(1);
    for (const s of outStrides) s.push(0);
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * Calls `run(offsets, n)` once per run along the last axis of `shape`
 * (collapsed, all sizes > 0), with each operand's offset of the run's first
 * element. `run` must not modify `offsets`.
 */
function forEachRun(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
  base: readonly number[],
  run: (offsets: number[], n: number) => void,
): void {
  const r = shape.length;
  const n = shape[r - 1];
  const offs = [...base];
  const m = strides.length;
  if (r === 1) {
    run(offs, n);
    return;
  }
  const idx = new Array<number>(r - 1).fill(0);
  while (true) {
    run(offs, n);
    let d = r - 2;
    for (; d >= 0; d--) {
      idx[d]++;
      for (let k = 0; k < m; k++) offs[k] += strides[k][d];
      if (idx[d] < shape[d]) break;
      for (let k = 0; k < m; k++) offs[k] -= strides[k][d] * shape[d];
      idx[d] = 0;
    }
    if (d < 0) return;
  }
}

// ---------------------------------------------------------------- unary

const SQRT_PI = Math.sqrt(Math.PI);

/**
 * The error function to ~1e-15: its Maclaurin series below |x| = 2, and
 * the continued fraction of erfc above (both converge fast there).
 */
function erf(x: number): number {
  if (x !== x) return x;
  const ax = Math.abs(x);
  if (ax < 2) {
    const x2 = x * x;
    let term = x;
    let sum = x;
    for (let n = 1; n < 100; n++) {
      term *= -x2 / n;
      const t = term / (2 * n + 1);
      sum += t;
      if (Math.abs(t) < 1e-17 * Math.abs(sum)) break;
    }
    return (2 / SQRT_PI) * sum;
  }
  if (ax > 6) return x > 0 ? 1 : -1;
  // erfc(x) = exp(-x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + ...))))
  let f = ax;
  for (let k = 60; k >= 1; k--) f = ax + (k / 2) / f;
  const erfc = Math.exp(-ax * ax) / (SQRT_PI * f);
  return x > 0 ? 1 - erfc : erfc - 1;
}

function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

/** Rounds half to even, like NumPy. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function unaryKernel(op: UnaryOp, s: TypedArray, o: TypedArray): void {
  const n = s.length;
  switch (op) {
    case "neg":
      for (let i = 0; i < n; i++) o[i] = -s[i];
      return;
    case "exp":
      for (let i = 0; i < n; i++) o[i] = Math.exp(s[i]);
      return;
    case "log":
      for (let i = 0; i < n; i++) o[i] = Math.log(s[i]);
      return;
    case "sin":
      for (let i = 0; i < n; i++) o[i] = Math.sin(s[i]);
      return;
    case "cos":
      for (let i = 0; i < n; i++) o[i] = Math.cos(s[i]);
      return;
    case "tanh":
      for (let i = 0; i < n; i++) o[i] = Math.tanh(s[i]);
      return;
    case "sqrt":
      for (let i = 0; i < n; i++) o[i] = Math.sqrt(s[i]);
      return;
    case "abs":
      for (let i = 0; i < n; i++) o[i] = Math.abs(s[i]);
      return;
    case "sign":
      for (let i = 0; i < n; i++) o[i] = Math.sign(s[i]);
      return;
    case "relu":
      // `x < 0 ? 0 : x` (not `x > 0 ? x : 0`) so that NaN propagates.
      for (let i = 0; i < n; i++) {
        const v = s[i];
        o[i] = v < 0 ? 0 : v;
      }
      return;
    case "sigmoid":
      for (let i = 0; i < n; i++) o[i] = sigmoid(s[i]);
      return;
    case "erf":
      for (let i = 0; i < n; i++) o[i] = erf(s[i]);
      return;
    case "floor":
      for (let i = 0; i < n; i++) o[i] = Math.floor(s[i]);
      return;
    case "round":
      for (let i = 0; i < n; i++) o[i] = roundHalfEven(s[i]);
      return;
    default:
      throw new TypeError(`unary: unknown op ${JSON.stringify(op)}`);
  }
}

// ---------------------------------------------------------------- binary

/** `o[io + k] = f(a[ia + k·sa], b[ib + k·sb])` for `k < n`. */
type BinaryRun = (
  a: TypedArray,
  ia: number,
  sa: number,
  b: TypedArray,
  ib: number,
  sb: number,
  o: TypedArray,
  io: number,
  n: number,
) => void;

/**
 * `Math.pow` with IEEE 754's (and NumPy's, C's) `pow` where they differ: 1 to any power,
 * NaN included, is 1, and so is -1 to ±infinity (`Math.pow` gives NaN).
 */
function powIeee(a: number, b: number): number {
  if (a === 1 || (a === -1 && (b === Infinity || b === -Infinity))) return 1;
  return Math.pow(a, b);
}

/** Integer power with int32 wraparound (exponentiation by squaring). */
function ipow(base: number, exp: number): number {
  if (exp < 0) {
    // The integer part of 1 / base^|exp|.
    if (base === 1) return 1;
    if (base === -1) return exp % 2 === 0 ? 1 : -1;
    return 0;
  }
  let result = 1;
  let b = base | 0;
  let e = exp;
  while (e > 0) {
    if (e & 1) result = Math.imul(result, b);
    b = Math.imul(b, b);
    e >>>= 1;
  }
  return result;
}

const BINARY_RUNS: { [K in BinaryOp]: BinaryRun } = {
  add(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = a[ia] + b[ib];
  },
  sub(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = a[ia] - b[ib];
  },
  mul(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = a[ia] * b[ib];
  },
  div(a, ia, sa, b, ib, sb, o, io, n) {
    // For int32 the store truncates toward zero (and x/0 stores 0).
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = a[ia] / b[ib];
  },
  pow(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = powIeee(a[ia], b[ib]);
  },
  maximum(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = Math.max(a[ia], b[ib]);
  },
  minimum(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = Math.min(a[ia], b[ib]);
  },
  gt(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = a[ia] > b[ib] ? 1 : 0;
  },
  ge(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = a[ia] >= b[ib] ? 1 : 0;
  },
  lt(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = a[ia] < b[ib] ? 1 : 0;
  },
  le(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = a[ia] <= b[ib] ? 1 : 0;
  },
  eq(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = a[ia] === b[ib] ? 1 : 0;
  },
  ne(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = a[ia] !== b[ib] ? 1 : 0;
  },
};

/** int32 variants where the float formula loses bits before the wraparound. */
const INT_BINARY_RUNS: Partial<{ [K in BinaryOp]: BinaryRun }> = {
  mul(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = Math.imul(a[ia], b[ib]);
  },
  pow(a, ia, sa, b, ib, sb, o, io, n) {
    for (let k = 0; k < n; k++, ia += sa, ib += sb) o[io + k] = ipow(a[ia], b[ib]);
  },
};

// ---------------------------------------------------------------- reductions

/** Accumulates a run into `acc`: either folds `x[xo..xo+n)` into `acc[ao]` or `x[xo+k]` into `acc[ao+k]`. */
type ReduceRun = (x: TypedArray, xo: number, acc: Float64Array, ao: number, n: number) => void;

const REDUCE_INTO_ONE: { [K in ReduceOp]: ReduceRun } = {
  sum(x, xo, acc, ao, n) {
    let s = acc[ao];
    for (let k = 0; k < n; k++) s += x[xo + k];
    acc[ao] = s;
  },
  max(x, xo, acc, ao, n) {
    let s = acc[ao];
    for (let k = 0; k < n; k++) s = Math.max(s, x[xo + k]);
    acc[ao] = s;
  },
  min(x, xo, acc, ao, n) {
    let s = acc[ao];
    for (let k = 0; k < n; k++) s = Math.min(s, x[xo + k]);
    acc[ao] = s;
  },
};

const REDUCE_ELEMENTWISE: { [K in ReduceOp]: ReduceRun } = {
  sum(x, xo, acc, ao, n) {
    for (let k = 0; k < n; k++) acc[ao + k] += x[xo + k];
  },
  max(x, xo, acc, ao, n) {
    for (let k = 0; k < n; k++) acc[ao + k] = Math.max(acc[ao + k], x[xo + k]);
  },
  min(x, xo, acc, ao, n) {
    for (let k = 0; k < n; k++) acc[ao + k] = Math.min(acc[ao + k], x[xo + k]);
  },
};

const REDUCE_INIT: { [K in ReduceOp]: number } = { sum: 0, max: -Infinity, min: Infinity };

function checkAxes(op: string, axes: readonly number[], ndim: number): void {
  for (let i = 0; i < axes.length; i++) {
    const a = axes[i];
    if (!Number.isInteger(a) || a < 0 || a >= ndim || (i > 0 && a <= axes[i - 1])) {
      throw new RangeError(
        `${op}: axes ${JSON.stringify(axes)} must be sorted, unique and in [0, ${ndim})`,
      );
    }
  }
}

// ---------------------------------------------------------------- matmul

/** Sizes and layout of one matmul batch. */
interface MatmulDims {
  m: number;
  k: number;
  n: number;
  transA: boolean;
  transB: boolean;
}

/**
 * Copies a `rows × K` matrix into `dst` as contiguous float64 rows: row `r` is
 * `src[off + r·K + p]` (or `src[off + p·rows + r]` when `trans`) for `p < K`.
 */
function packRows(
  src: TypedArray,
  off: number,
  dims: { rows: number; k: number; trans: boolean },
  dst: Float64Array,
): void {
  const { rows, k: K, trans } = dims;
  if (!trans) {
    dst.set(src.subarray(off, off + rows * K));
    return;
  }
  for (let p = 0; p < K; p++) {
    const s = off + p * rows;
    for (let r = 0; r < rows; r++) dst[r * K + p] = src[s + r];
  }
}

/**
 * `c[i,j] = ap[i,:] · bp[j,:]` for packed rows of length K (`bp` has its rows
 * padded with zeros to a multiple of 4). Each step of the inner loop computes a
 * 4×2 block of c in registers (6 loads for 8 multiply-adds); blocks of bp rows
 * are sized to stay in cache while every row of ap passes by.
 */
function gemmPacked(
  ap: Float64Array,
  bp: Float64Array,
  c: TypedArray,
  co: number,
  dims: MatmulDims,
): void {
  const { m: M, k: K, n: N } = dims;
  const jb = Math.max(4, Math.floor(32768 / Math.max(K, 1)) & ~3);
  for (let j0 = 0; j0 < N; j0 += jb) {
    const j1 = Math.min(N, j0 + jb);
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      const a0 = i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
      for (let j = j0; j < j1; j += 2) {
        const b0 = j * K, b1 = b0 + K;
        let s00 = 0, s01 = 0, s10 = 0, s11 = 0, s20 = 0, s21 = 0, s30 = 0, s31 = 0;
        for (let p = 0; p < K; p++) {
          const x0 = bp[b0 + p], x1 = bp[b1 + p];
          const y0 = ap[a0 + p], y1 = ap[a1 + p], y2 = ap[a2 + p], y3 = ap[a3 + p];
          s00 += y0 * x0;
          s01 += y0 * x1;
          s10 += y1 * x0;
          s11 += y1 * x1;
          s20 += y2 * x0;
          s21 += y2 * x1;
          s30 += y3 * x0;
          s31 += y3 * x1;
        }
        const r = co + i * N + j;
        c[r] = s00;
        c[r + N] = s10;
        c[r + 2 * N] = s20;
        c[r + 3 * N] = s30;
        if (j + 1 < N) {
          // (The column past an odd N is padding: not stored.)
          c[r + 1] = s01;
          c[r + N + 1] = s11;
          c[r + 2 * N + 1] = s21;
          c[r + 3 * N + 1] = s31;
        }
      }
    }
    // The last M mod 4 rows, one at a time, four columns per step.
    for (; i < M; i++) {
      const a0 = i * K;
      for (let j = j0; j < j1; j += 4) {
        const b0 = j * K, b1 = b0 + K, b2 = b1 + K, b3 = b2 + K;
        let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        for (let p = 0; p < K; p++) {
          const y = ap[a0 + p];
          s0 += y * bp[b0 + p];
          s1 += y * bp[b1 + p];
          s2 += y * bp[b2 + p];
          s3 += y * bp[b3 + p];
        }
        const r = co + i * N + j;
        c[r] = s0;
        if (j + 1 < N) c[r + 1] = s1;
        if (j + 2 < N) c[r + 2] = s2;
        if (j + 3 < N) c[r + 3] = s3;
      }
    }
  }
}

/** int32 matmul of one batch with wraparound (products via Math.imul). */
function matmulInt(
  a: TypedArray,
  ao: number,
  b: TypedArray,
  bo: number,
  c: TypedArray,
  co: number,
  dims: MatmulDims,
): void {
  const { m: M, k: K, n: N, transA, transB } = dims;
  const sai = transA ? 1 : K, sak = transA ? M : 1;
  const sbk = transB ? 1 : N, sbj = transB ? K : 1;
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let p = 0; p < K; p++) {
        s = (s + Math.imul(a[ao + i * sai + p * sak], b[bo + p * sbk + j * sbj])) | 0;
      }
      c[co + i * N + j] = s;
    }
  }
}

// ---------------------------------------------------------------- convolution

/**
 * The output positions `[lo, hi)` along one axis whose input position
 * `o·stride - pad + tap` lies in `[0, size)`.
 */
function validRange(
  out: number,
  axis: { size: number; stride: number; pad: number; tap: number },
): [number, number] {
  const { size, stride, pad, tap } = axis;
  const lo = Math.max(0, Math.ceil((pad - tap) / stride));
  const hi = Math.min(out, Math.floor((size - 1 + pad - tap) / stride) + 1);
  return [lo, Math.max(lo, hi)];
}

// ---------------------------------------------------------------- gather / scatter

/** Splits `shape` around `axis` into [outer, size of axis, inner]. */
function splitAt(shape: readonly number[], axis: number): [number, number, number] {
  return [sizeOf(shape.slice(0, axis)), shape[axis], sizeOf(shape.slice(axis + 1))];
}

/** The indices as non-negative positions, validated against an axis of size `n`. */
function normIndices(
  op: string,
  indices: NDArray,
  axis: number,
  n: number,
  negative: NegativeIndex = "wrap",
): Int32Array {
  if (indices.dtype !== "int32") {
    throw new TypeError(`${op}: indices must be int32, got ${indices.dtype}`);
  }
  const src = dataOf(op, indices);
  const out = new Int32Array(src.length);
  for (let i = 0; i < src.length; i++) {
    const v = src[i];
    const j = v < 0 && negative === "wrap" ? v + n : v;
    if (j < 0 || j >= n) {
      throw new RangeError(`${op}: index ${v} is out of range for axis ${axis} of size ${n}`);
    }
    out[i] = j;
  }
  return out;
}

// ---------------------------------------------------------------- fused softmax

function softmaxKernel(op: string, x: NDArray, axis: number, log: boolean): NDArray {
  if (x.dtype === "int32") {
    throw new TypeError(`${op}: dtype int32 is not supported: expected float32 or float64`);
  }
  const ax = normAxis(op, axis, x.ndim);
  const [outer, n, inner] = splitAt(x.shape, ax);
  const s = dataOf(op, x);
  const o = allocTyped(x.dtype, s.length);
  for (let p = 0; p < outer; p++) {
    for (let q = 0; q < inner; q++) {
      const base = p * n * inner + q;
      let mx = -Infinity;
      for (let k = 0; k < n; k++) mx = Math.max(mx, s[base + k * inner]);
      let sum = 0;
      for (let k = 0; k < n; k++) sum += Math.exp(s[base + k * inner] - mx);
      if (log) {
        // (x - max) - log(sum): x - (max + log(sum)) rounds log(sum) away when |max| is large.
        const ls = Math.log(sum);
        for (let k = 0; k < n; k++) o[base + k * inner] = (s[base + k * inner] - mx) - ls;
      } else {
        for (let k = 0; k < n; k++) o[base + k * inner] = Math.exp(s[base + k * inner] - mx) / sum;
      }
    }
  }
  return wrap(o, x.shape);
}

// ---------------------------------------------------------------- the backend

/**
 * The CPU backend (device `"cpu"`): the reference implementation of the
 * primitive set on TypedArrays. Registered on import.
 *
 * @example
 * ```ts
 * import { cpuBackend } from "./backend_cpu.ts";
 * const a = cpuBackend.fromTyped(new Float32Array([1, 2, 3]), [3]);
 * const b = cpuBackend.full([3], 10, "float32");
 * const c = cpuBackend.binary("add", a, b);
 * console.log(cpuBackend.readSync!(c)); // Float32Array [11, 12, 13]
 * ```
 */
/** Reads since the last one that yielded a turn of the event loop (see `read`). */
let readsInARow = 0;
/** Every this many reads, one yields a turn of the event loop. */
const READS_PER_TURN = 16;

export const cpuBackend: Backend = {
  device: "cpu",

  // -- memory

  fromTyped(data: TypedArray, shape: readonly number[]): NDArray {
    assertShape("fromTyped", shape);
    if (dtypeOfTyped(data) === undefined) {
      throw new TypeError(
        `fromTyped: unsupported array type ${
          (data as object)?.constructor?.name
        }: expected Float32Array, Float64Array or Int32Array`,
      );
    }
    if (data.length !== sizeOf(shape)) {
      throw new TypeError(
        `fromTyped: ${data.length} elements do not fill shape ${fmtShape(shape)} (size ${
          sizeOf(shape)
        })`,
      );
    }
    return wrap(data.slice(), shape);
  },

  full(shape: readonly number[], value: number, dtype: DType): NDArray {
    assertShape("full", shape);
    assertDType("full", dtype);
    const data = allocTyped(dtype, sizeOf(shape));
    if (!Object.is(value, 0)) data.fill(value);
    return wrap(data, shape);
  },

  async read(x: NDArray): Promise<TypedArray> {
    const out = dataOf("read", x).slice();
    if (++readsInARow >= READS_PER_TURN) {
      // A loop whose only awaits are reads (an evaluation loop reading its loss) never gives
      // the event loop a turn, so the collector's finalizers, which free what the loop
      // dropped (its outputs and losses), never run there; one turn now and then lets them.
      readsInARow = 0;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return out;
  },

  /** A copy of the elements (row-major). */
  readSync(x: NDArray): TypedArray {
    return dataOf("readSync", x).slice();
  },

  release(storage: Storage): void {
    liveBytes -= storage.bytes;
  },

  memory(): BackendMemory {
    return { liveBytes, pooledBytes: 0 };
  },

  // -- elementwise

  unary(op: UnaryOp, x: NDArray): NDArray {
    const s = dataOf(op, x);
    const o = allocTyped(x.dtype, s.length);
    unaryKernel(op, s, o);
    return wrap(o, x.shape);
  },

  binary(op: BinaryOp, a: NDArray, b: NDArray): NDArray {
    const run = (a.dtype === "int32" && INT_BINARY_RUNS[op]) || BINARY_RUNS[op];
    if (run === undefined) throw new TypeError(`binary: unknown op ${JSON.stringify(op)}`);
    assertSameDType(op, a, b);
    const shape = broadcastShapes(op, a.shape, b.shape);
    const ad = dataOf(op, a), bd = dataOf(op, b);
    const size = sizeOf(shape);
    const o = allocTyped(a.dtype, size);
    if (size === 0) return wrap(o, shape);
    if (a.size === size && b.size === size) run(ad, 0, 1, bd, 0, 1, o, 0, size);
    else if (a.size === size && b.size === 1) run(ad, 0, 1, bd, 0, 0, o, 0, size);
    else if (a.size === 1 && b.size === size) run(ad, 0, 0, bd, 0, 1, o, 0, size);
    else {
      const c = collapse(shape, [
        broadcastStrides(a.shape, shape),
        broadcastStrides(b.shape, shape),
        stridesOf(shape),
      ]);
      const r = c.shape.length - 1;
      const sa = c.strides[0][r], sb = c.strides[1][r];
      forEachRun(c.shape, c.strides, [0, 0, 0], (offs, n) => {
        run(ad, offs[0], sa, bd, offs[1], sb, o, offs[2], n);
      });
    }
    return wrap(o, shape);
  },

  where(cond: NDArray, a: NDArray, b: NDArray): NDArray {
    assertSameDType("where", a, b);
    const shape = broadcastShapes("where", broadcastShapes("where", cond.shape, a.shape), b.shape);
    const cd = dataOf("where", cond), ad = dataOf("where", a), bd = dataOf("where", b);
    const size = sizeOf(shape);
    const o = allocTyped(a.dtype, size);
    if (size === 0) return wrap(o, shape);
    const c = collapse(shape, [
      broadcastStrides(cond.shape, shape),
      broadcastStrides(a.shape, shape),
      broadcastStrides(b.shape, shape),
      stridesOf(shape),
    ]);
    const r = c.shape.length - 1;
    const sc = c.strides[0][r], sa = c.strides[1][r], sb = c.strides[2][r];
    forEachRun(c.shape, c.strides, [0, 0, 0, 0], (offs, n) => {
      let ic = offs[0], ia = offs[1], ib = offs[2];
      const io = offs[3];
      for (let k = 0; k < n; k++, ic += sc, ia += sa, ib += sb) {
        o[io + k] = cd[ic] !== 0 ? ad[ia] : bd[ib];
      }
    });
    return wrap(o, shape);
  },

  cast(x: NDArray, dtype: DType): NDArray {
    assertDType("cast", dtype);
    const s = dataOf("cast", x);
    if (dtype !== "int32" || x.dtype === "int32") {
      const o = allocTyped(dtype, x.size);
      o.set(s);
      return wrap(o, x.shape);
    }
    // Toward zero, saturating, NaN to 0, as on the GPU (TypedArray#set wraps out-of-range
    // values modulo 2^32).
    return wrap(floatToInt32(s as Float32Array | Float64Array), x.shape);
  },

  // -- reductions

  reduce(op: ReduceOp, x: NDArray, axes: readonly number[], keepdims: boolean): NDArray {
    if (!(op in REDUCE_INIT)) throw new TypeError(`reduce: unknown op ${JSON.stringify(op)}`);
    checkAxes(op, axes, x.ndim);
    const s = dataOf(op, x);
    const shape = reducedShape(x.shape, axes, keepdims);
    const outSize = sizeOf(shape);
    let count = 1;
    for (const a of axes) count *= x.shape[a];
    if (count === 0 && op !== "sum" && outSize > 0) {
      throw new RangeError(
        `${op}: cannot reduce an empty axis of shape ${fmtShape(x.shape)} (axes ${
          JSON.stringify(axes)
        }): ${op} has no identity`,
      );
    }
    const acc = new Float64Array(outSize).fill(REDUCE_INIT[op]);
    if (x.size > 0) {
      const reduced = x.shape.map((_, i) => axes.includes(i));
      const outStrides = stridesOf(x.shape.map((d, i) => (reduced[i] ? 1 : d)))
        .map((st, i) => (reduced[i] ? 0 : st));
      const c = collapse(x.shape, [stridesOf(x.shape), outStrides]);
      // The input is contiguous, so its last collapsed stride is 1; the output's
      // is 0 when the innermost axis is reduced, 1 when it is kept.
      const fold = c.strides[1][c.shape.length - 1] === 0
        ? REDUCE_INTO_ONE[op]
        : REDUCE_ELEMENTWISE[op];
      forEachRun(c.shape, c.strides, [0, 0], (offs, n) => fold(s, offs[0], acc, offs[1], n));
    }
    const o = allocTyped(x.dtype, outSize);
    o.set(acc);
    return wrap(o, shape);
  },

  argReduce(op: ArgReduceOp, x: NDArray, axis: number, keepdims: boolean): NDArray {
    if (op !== "argmax" && op !== "argmin") {
      throw new TypeError(`argReduce: unknown op ${JSON.stringify(op)}`);
    }
    const ax = normAxis(op, axis, x.ndim);
    const s = dataOf(op, x);
    const [outer, n, inner] = splitAt(x.shape, ax);
    const shape = reducedShape(x.shape, [ax], keepdims);
    const o = new Int32Array(outer * inner);
    if (n === 0 && o.length > 0) {
      throw new RangeError(
        `${op}: cannot take ${op} of an empty axis ${ax} of ${fmtShape(x.shape)}`,
      );
    }
    const isMax = op === "argmax";
    for (let p = 0; p < outer; p++) {
      for (let q = 0; q < inner; q++) {
        const base = p * n * inner + q;
        let best = s[base];
        let bi = 0;
        // A NaN wins (like NumPy) and, once found, nothing beats it.
        if (best === best) {
          for (let k = 1; k < n; k++) {
            const v = s[base + k * inner];
            if (v !== v) {
              bi = k;
              break;
            }
            if (isMax ? v > best : v < best) {
              best = v;
              bi = k;
            }
          }
        }
        o[p * inner + q] = bi;
      }
    }
    return wrap(o, shape);
  },

  // -- linear algebra

  matmul(a: NDArray, b: NDArray, opts: { transA?: boolean; transB?: boolean } = {}): NDArray {
    const transA = opts.transA ?? false, transB = opts.transB ?? false;
    const { M, N, K, batch } = matmulGeometry(a, b, transA, transB);
    const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
    const shape = [...batch, M, N];
    const ad = dataOf("matmul", a), bd = dataOf("matmul", b);
    const o = allocTyped(a.dtype, sizeOf(shape));
    if (o.length === 0) return wrap(o, shape);
    let nb = sizeOf(batch);
    const stA = broadcastStrides(batchA, batch), stB = broadcastStrides(batchB, batch);
    const bStr = stridesOf(batch);
    const dims: MatmulDims = { m: M, k: K, n: N, transA, transB };
    if (!transA && sizeOf(batchA) === nb && sizeOf(batchB) === 1) {
      // One b for every batch of a contiguous a (`[B,T,D] @ [D,H]`): the batches
      // are the rows of one [nb·M, K] @ [K, N] product.
      dims.m = nb * M;
      nb = 1;
    }
    const float = a.dtype !== "int32";
    // Float operands are packed per batch into float64 rows (op(a) by rows,
    // op(b) by columns, padded to a multiple of 4); a broadcast operand is packed once.
    const ap = float ? new Float64Array(dims.m * K) : null;
    const bp = float ? new Float64Array(Math.ceil(N / 4) * 4 * K) : null;
    let packedA = -1, packedB = -1;
    for (let t = 0; t < nb; t++) {
      let ia = 0, ib = 0, rem = t;
      for (let d = 0; d < batch.length; d++) {
        const i = Math.floor(rem / bStr[d]);
        rem -= i * bStr[d];
        ia += i * stA[d];
        ib += i * stB[d];
      }
      if (ap === null || bp === null) {
        matmulInt(ad, ia * M * K, bd, ib * K * N, o, t * M * N, dims);
        continue;
      }
      if (ia !== packedA) packRows(ad, ia * M * K, { rows: dims.m, k: K, trans: transA }, ap);
      if (ib !== packedB) packRows(bd, ib * K * N, { rows: N, k: K, trans: !transB }, bp);
      packedA = ia;
      packedB = ib;
      gemmPacked(ap, bp, o, t * M * N, dims);
    }
    return wrap(o, shape);
  },

  // -- movement

  asStrided(x: NDArray, view: StridedView): NDArray {
    const s = dataOf("asStrided", x);
    checkView("asStrided", view, s.length);
    const size = sizeOf(view.shape);
    const o = allocTyped(x.dtype, size);
    if (size === 0) return wrap(o, view.shape);
    const c = collapse(view.shape, [view.strides, stridesOf(view.shape)]);
    const sx = c.strides[0][c.shape.length - 1];
    forEachRun(c.shape, c.strides, [view.offset, 0], (offs, n) => {
      let ix = offs[0];
      const io = offs[1];
      if (sx === 1) o.set(s.subarray(ix, ix + n), io);
      else for (let k = 0; k < n; k++, ix += sx) o[io + k] = s[ix];
    });
    return wrap(o, view.shape);
  },

  assign(dst: NDArray, src: NDArray, view: StridedView): void {
    assertSameDType("assign", dst, src);
    const d = dataOf("assign", dst);
    let s = dataOf("assign", src);
    // A source on the same storage could be overwritten while it is read.
    if (s === d) s = s.slice();
    checkView("assign", view, d.length);
    if (sizeOf(view.shape) !== src.size) {
      throw new TypeError(
        `assign: source of shape ${fmtShape(src.shape)} does not match the view of shape ${
          fmtShape(view.shape)
        }`,
      );
    }
    if (src.size === 0) return;
    const c = collapse(view.shape, [view.strides, stridesOf(view.shape)]);
    const sd = c.strides[0][c.shape.length - 1];
    forEachRun(c.shape, c.strides, [view.offset, 0], (offs, n) => {
      let id = offs[0];
      const is = offs[1];
      for (let k = 0; k < n; k++, id += sd) d[id] = s[is + k];
    });
  },

  gather(
    x: NDArray,
    axis: number,
    indices: NDArray,
    op = "gather",
    negative: NegativeIndex = "wrap",
  ): NDArray {
    const ax = normAxis(op, axis, x.ndim);
    const s = dataOf(op, x);
    const [outer, n, inner] = splitAt(x.shape, ax);
    const idx = normIndices(op, indices, ax, n, negative);
    const m = idx.length;
    const shape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
    const o = allocTyped(x.dtype, outer * m * inner);
    for (let p = 0; p < outer; p++) {
      for (let j = 0; j < m; j++) {
        const src = (p * n + idx[j]) * inner;
        const dst = (p * m + j) * inner;
        if (inner === 1) o[dst] = s[src];
        else o.set(s.subarray(src, src + inner), dst);
      }
    }
    return wrap(o, shape);
  },

  scatterAdd(
    shape: readonly number[],
    axis: number,
    indices: NDArray,
    updates: NDArray,
    op = "scatterAdd",
  ): NDArray {
    assertShape("scatterAdd", shape);
    const ax = normAxis("scatterAdd", axis, shape.length);
    const [outer, n, inner] = splitAt(shape, ax);
    const expected = [...shape.slice(0, ax), ...indices.shape, ...shape.slice(ax + 1)];
    if (sizeOf(expected) !== updates.size || expected.length !== updates.ndim) {
      throw new TypeError(
        `scatterAdd: updates of shape ${fmtShape(updates.shape)} do not match ${
          fmtShape(expected)
        } (shape ${fmtShape(shape)}, axis ${ax}, indices ${fmtShape(indices.shape)})`,
      );
    }
    const idx = normIndices(op, indices, ax, n);
    const u = dataOf("scatterAdd", updates);
    const m = idx.length;
    const o = allocTyped(updates.dtype, sizeOf(shape));
    for (let p = 0; p < outer; p++) {
      for (let j = 0; j < m; j++) {
        const dst = (p * n + idx[j]) * inner;
        const src = (p * m + j) * inner;
        for (let q = 0; q < inner; q++) o[dst + q] += u[src + q];
      }
    }
    return wrap(o, shape);
  },

  // -- convolution helpers

  im2col(x: NDArray, g: ConvGeometry): NDArray {
    if (x.ndim !== 4) {
      throw new TypeError(
        `im2col: expected an NCHW input of rank 4, got shape ${fmtShape(x.shape)}`,
      );
    }
    const [N, C, H, W] = x.shape;
    const [OH, OW] = convOut("im2col", H, W, g);
    const { kh: KH, kw: KW, sh, sw, ph, pw } = g;
    const s = dataOf("im2col", x);
    const o = allocTyped(x.dtype, N * C * KH * KW * OH * OW);
    let io = 0;
    for (let nc = 0; nc < N * C; nc++) {
      const base = nc * H * W;
      for (let ki = 0; ki < KH; ki++) {
        for (let kj = 0; kj < KW; kj++) {
          for (let oy = 0; oy < OH; oy++) {
            const y = oy * sh - ph + ki;
            if (y < 0 || y >= H) {
              io += OW; // zero padding: already zero
              continue;
            }
            // Only ox in [lo, hi) reads inside the row; the rest is padding (zero).
            const [lo, hi] = validRange(OW, { size: W, stride: sw, pad: pw, tap: kj });
            const src = base + y * W + lo * sw - pw + kj;
            if (sw === 1) o.set(s.subarray(src, src + hi - lo), io + lo);
            else for (let ox = lo, q = src; ox < hi; ox++, q += sw) o[io + ox] = s[q];
            io += OW;
          }
        }
      }
    }
    return wrap(o, [N, C, KH, KW, OH, OW]);
  },

  maxPool2d(x: NDArray, g: ConvGeometry): [NDArray, NDArray] {
    if (x.ndim !== 4) {
      throw new TypeError(
        `maxPool2d: expected an NCHW input of rank 4, got shape ${fmtShape(x.shape)}`,
      );
    }
    const [N, C, H, W] = x.shape;
    const [OH, OW] = poolOut("maxPool2d", H, W, g);
    const { kh: KH, kw: KW, sh, sw, ph, pw } = g;
    const s = dataOf("maxPool2d", x);
    const y = allocTyped(x.dtype, N * C * OH * OW);
    const index = new Int32Array(y.length);
    let o = 0;
    for (let nc = 0; nc < N * C; nc++) {
      const base = nc * H * W;
      for (let oy = 0; oy < OH; oy++) {
        const y0 = oy * sh - ph;
        const [ky0, ky1] = [Math.max(0, -y0), Math.min(KH, H - y0)];
        for (let ox = 0; ox < OW; ox++, o++) {
          const x0 = ox * sw - pw;
          const [kx0, kx1] = [Math.max(0, -x0), Math.min(KW, W - x0)];
          let at = base + (y0 + ky0) * W + x0 + kx0;
          let best = s[at];
          // A NaN wins and, once found, nothing beats it.
          search: for (let ky = ky0; ky < ky1 && best === best; ky++) {
            for (let kx = ky === ky0 ? kx0 + 1 : kx0; kx < kx1; kx++) {
              const k = base + (y0 + ky) * W + x0 + kx;
              const v = s[k];
              if (v > best || v !== v) {
                best = v;
                at = k;
                if (v !== v) break search;
              }
            }
          }
          y[o] = best;
          index[o] = at;
        }
      }
    }
    return [wrap(y, [N, C, OH, OW]), wrap(index, [N, C, OH, OW])];
  },

  col2im(col: NDArray, shape: readonly number[], g: ConvGeometry): NDArray {
    assertShape("col2im", shape);
    if (shape.length !== 4) {
      throw new TypeError(
        `col2im: expected an NCHW output shape of rank 4, got ${fmtShape(shape)}`,
      );
    }
    const [N, C, H, W] = shape;
    const [OH, OW] = convOut("col2im", H, W, g);
    const { kh: KH, kw: KW, sh, sw, ph, pw } = g;
    const expected = [N, C, KH, KW, OH, OW];
    if (col.ndim !== 6 || !col.shape.every((d, i) => d === expected[i])) {
      throw new TypeError(
        `col2im: patches of shape ${fmtShape(col.shape)} do not match ${
          fmtShape(expected)
        } for output ${fmtShape(shape)}`,
      );
    }
    const s = dataOf("col2im", col);
    const o = allocTyped(col.dtype, N * C * H * W);
    let is = 0;
    for (let nc = 0; nc < N * C; nc++) {
      const base = nc * H * W;
      for (let ki = 0; ki < KH; ki++) {
        for (let kj = 0; kj < KW; kj++) {
          for (let oy = 0; oy < OH; oy++) {
            const y = oy * sh - ph + ki;
            if (y < 0 || y >= H) {
              is += OW;
              continue;
            }
            const [lo, hi] = validRange(OW, { size: W, stride: sw, pad: pw, tap: kj });
            const dst = base + y * W + lo * sw - pw + kj;
            for (let ox = lo, q = dst; ox < hi; ox++, q += sw) o[q] += s[is + ox];
            is += OW;
          }
        }
      }
    }
    return wrap(o, shape);
  },

  // -- fused kernels

  softmax(x: NDArray, axis: number): NDArray {
    return softmaxKernel("softmax", x, axis, false);
  },

  logSoftmax(x: NDArray, axis: number): NDArray {
    return softmaxKernel("logSoftmax", x, axis, true);
  },

  flush(): void {},
};

/**
 * Wraps `data` as a CPU array of `shape` without copying: the array takes
 * ownership, so the caller must not modify `data` afterwards.
 *
 * @example
 * ```ts
 * import { cpuArray } from "./backend_cpu.ts";
 * const x = cpuArray(new Float64Array([1, 2, 3, 4]), [2, 2]);
 * console.log(x.shape, x.dtype); // [2, 2] "float64"
 * ```
 */
export function cpuArray(data: TypedArray, shape: readonly number[]): NDArray {
  assertShape("cpuArray", shape);
  if (dtypeOfTyped(data) === undefined) {
    throw new TypeError(
      `cpuArray: unsupported array type: expected Float32Array, Float64Array or Int32Array`,
    );
  }
  if (data.length !== sizeOf(shape)) {
    throw new TypeError(
      `cpuArray: ${data.length} elements do not fill shape ${fmtShape(shape)} (size ${
        sizeOf(shape)
      })`,
    );
  }
  return wrap(data, shape);
}

registerBackend(cpuBackend);
