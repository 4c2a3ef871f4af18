/**
 * Argument checks shared by every backend, so the CPU reference and the GPU
 * kernels reject bad input with the same messages.
 *
 * @module
 */
import type { ConvGeometry, StridedView } from "./backend.ts";
import type { NDArray } from "./ndarray.ts";
import { assertShape, broadcastShapes, fmtShape, sizeOf } from "./shape.ts";

/** Throws unless every element of `view` lies inside an array of `size` elements. */
export function checkView(op: string, view: StridedView, size: number): void {
  assertShape(op, view.shape);
  if (view.strides.length !== view.shape.length) {
    throw new TypeError(
      `${op}: view of shape ${fmtShape(view.shape)} has ${view.strides.length} strides`,
    );
  }
  if (sizeOf(view.shape) === 0) return;
  let lo = view.offset, hi = view.offset;
  for (let i = 0; i < view.shape.length; i++) {
    const span = (view.shape[i] - 1) * view.strides[i];
    if (span < 0) lo += span;
    else hi += span;
  }
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi >= size) {
    throw new RangeError(
      `${op}: view (shape ${fmtShape(view.shape)}, strides ${
        fmtShape(view.strides)
      }, offset ${view.offset}) reaches elements ${lo}..${hi} outside an array of size ${size}`,
    );
  }
}

/** The sizes of a batched matrix product `op(a) @ op(b)`. */
export interface MatmulGeometry {
  /** Rows of the result. */
  M: number;
  /** Columns of the result. */
  N: number;
  /** The contracted size. */
  K: number;
  /** The broadcast batch shape. */
  batch: number[];
}

/**
 * Checks ranks, dtypes and alignment of a batched matmul (rank ≥ 2 operands,
 * `transA` / `transB` swapping the last two axes) and returns its sizes.
 */
export function matmulGeometry(
  a: NDArray,
  b: NDArray,
  transA: boolean,
  transB: boolean,
): MatmulGeometry {
  if (a.ndim < 2 || b.ndim < 2) {
    throw new TypeError(
      `matmul: operands must have rank >= 2, got shapes ${fmtShape(a.shape)} and ${
        fmtShape(b.shape)
      }`,
    );
  }
  if (a.dtype !== b.dtype) throw new TypeError(`matmul: dtypes ${a.dtype} and ${b.dtype} differ`);
  const ra = a.ndim, rb = b.ndim;
  const M = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const Ka = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const Kb = transB ? b.shape[rb - 1] : b.shape[rb - 2];
  const N = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (Ka !== Kb) {
    const t = transA || transB ? ` (transA=${transA}, transB=${transB})` : "";
    throw new TypeError(
      `matmul: shapes ${fmtShape(a.shape)} and ${
        fmtShape(b.shape)
      } are not aligned: ${Ka} vs ${Kb}${t}`,
    );
  }
  const batch = broadcastShapes("matmul", a.shape.slice(0, -2), b.shape.slice(0, -2));
  return { M, N, K: Ka, batch };
}

/** Checks a convolution geometry and returns the output size `[OH, OW]` for an `h`×`w` input. */
export function convOut(op: string, h: number, w: number, g: ConvGeometry): [number, number] {
  for (const [name, v] of Object.entries(g)) {
    const min = name === "ph" || name === "pw" ? 0 : 1;
    if (!Number.isInteger(v) || v < min) {
      throw new RangeError(`${op}: ${name} must be an integer >= ${min}, got ${v}`);
    }
  }
  const oh = Math.floor((h + 2 * g.ph - g.kh) / g.sh) + 1;
  const ow = Math.floor((w + 2 * g.pw - g.kw) / g.sw) + 1;
  if (oh <= 0 || ow <= 0) {
    throw new RangeError(
      `${op}: kernel ${g.kh}x${g.kw} does not fit the padded input ${h + 2 * g.ph}x${w + 2 * g.pw}`,
    );
  }
  return [oh, ow];
}

/**
 * Checks a max-pooling geometry (PyTorch's rule: padding at most half the
 * kernel, so that every window holds an input element) and returns `[OH, OW]`.
 */
export function poolOut(op: string, h: number, w: number, g: ConvGeometry): [number, number] {
  const out = convOut(op, h, w, g);
  if (2 * g.ph > g.kh || 2 * g.pw > g.kw) {
    throw new RangeError(
      `${op}: pad ${g.ph},${g.pw} must be at most half the kernel size ${g.kh}x${g.kw}`,
    );
  }
  return out;
}

/** Items an array may have for {@linkcode describeValue} to list them. */
const LISTED_ITEMS = 6;

/**
 * A value as an error message names it after "got": `undefined`, `null`, `true`, `-1`,
 * `NaN`, `a string "abc"`, `a function`, `an array [1, 2, "x"]` (longer arrays by length),
 * `a plain object`, `a Map`, `an NDArray`.
 */
export function describeValue(x: unknown): string {
  if (x === null || x === undefined || typeof x === "boolean" || typeof x === "number") {
    return String(x);
  }
  if (typeof x === "bigint") return `${x}n`;
  if (typeof x === "string") {
    return `a string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}…` : x)}`;
  }
  if (typeof x === "function") return "a function";
  if (typeof x === "symbol") return "a symbol";
  if (Array.isArray(x)) {
    if (x.length > LISTED_ITEMS) return `an array of length ${x.length}`;
    const items = x.map((v) =>
      typeof v === "number" || typeof v === "boolean" || v === null || v === undefined
        ? String(v)
        : typeof v === "string"
        ? JSON.stringify(v.length > 10 ? `${v.slice(0, 10)}…` : v)
        : Array.isArray(v)
        ? "[…]"
        : typeof v
    );
    return `an array [${items.join(", ")}]`;
  }
  const name = (x as { constructor?: { name?: string } }).constructor?.name;
  if (!name || name === "Object") return "a plain object";
  // "an Error", "an NDArray" (an initialism is spelled out), "a Map", "a Variable"
  const an = /^[AEIOU]/.test(name) || /^[AEFHILMNORSX][A-Z]/.test(name);
  return `${an ? "an" : "a"} ${name}`;
}
