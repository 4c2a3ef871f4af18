/**
 * The backend boundary: the closed set of primitives a backend implements.
 * Everything above it (Variables, Functions, layers) is written in these
 * primitives and never knows which backend runs. The CPU backend
 * (`backend_cpu.ts`) is the reference; the WebGPU backend (`shaders/`)
 * implements the same interface with WGSL kernels.
 *
 * Conventions every backend follows:
 * - inputs are never modified (except `dst` of {@linkcode Backend.assign});
 * - every result is a new contiguous row-major array the caller owns;
 * - elementwise inputs of `binary` and `where` broadcast NumPy-style and
 *   share one dtype (the core casts before calling);
 * - comparisons return 1 or 0 in the dtype of their inputs.
 *
 * @module
 */
import type { DType, TypedArray } from "./dtype.ts";
import type { NDArray, Storage } from "./ndarray.ts";

/** Where a tensor lives. */
export type Device = "cpu" | "gpu";

/** Elementwise functions of one argument. */
export const UNARY_OPS = [
  "neg",
  "exp",
  "log",
  "sin",
  "cos",
  "tanh",
  "sqrt",
  "abs",
  "sign",
  "relu",
  "sigmoid",
  "erf",
  "floor",
  "round",
] as const;
/** An elementwise function of one argument. */
export type UnaryOp = typeof UNARY_OPS[number];

/** Elementwise functions of two broadcast arguments. */
export const BINARY_OPS = [
  "add",
  "sub",
  "mul",
  "div",
  "pow",
  "maximum",
  "minimum",
  "gt",
  "ge",
  "lt",
  "le",
  "eq",
  "ne",
] as const;
/** An elementwise function of two broadcast arguments. */
export type BinaryOp = typeof BINARY_OPS[number];

/** Reductions over axes. */
export type ReduceOp = "sum" | "max" | "min";

/** Arg-reductions over one axis (int32 result). */
export type ArgReduceOp = "argmax" | "argmin";

/** A strided window on a contiguous array: element `i` is at `offset + Σ i[k]·strides[k]`. */
export interface StridedView {
  /** Shape of the view. */
  readonly shape: readonly number[];
  /** Step in elements per axis (0 broadcasts, negative walks backwards). */
  readonly strides: readonly number[];
  /** Element offset of the first element. */
  readonly offset: number;
}

/** Convolution window geometry for `im2col` / `col2im` over NCHW images. */
export interface ConvGeometry {
  /** Kernel height. */
  readonly kh: number;
  /** Kernel width. */
  readonly kw: number;
  /** Vertical stride. */
  readonly sh: number;
  /** Horizontal stride. */
  readonly sw: number;
  /** Vertical zero padding (each side). */
  readonly ph: number;
  /** Horizontal zero padding (each side). */
  readonly pw: number;
}

/**
 * What `gather` does with a negative index: count from the end (`"wrap"`, as NumPy's
 * `take`) or report it out of range (`"error"`: labels, ids).
 */
export type NegativeIndex = "wrap" | "error";

/** Memory held by a backend, in bytes. */
export interface BackendMemory {
  /** Bytes held by live arrays. */
  liveBytes: number;
  /** Bytes kept in a pool for reuse. */
  pooledBytes: number;
  /** Bytes of readback buffers kept for reuse (the GPU's; capped). */
  stagingBytes?: number;
  /** Bytes of textures kept for kernel operands (the GPU's matmul on software adapters). */
  textureBytes?: number;
}

/** The primitive set. */
export interface Backend {
  /** Which device this backend runs on. */
  readonly device: Device;

  // -- memory
  /** A new array holding a copy of `data`. */
  fromTyped(data: TypedArray, shape: readonly number[]): NDArray;
  /** A new array with every element `value`. */
  full(shape: readonly number[], value: number, dtype: DType): NDArray;
  /** Reads the elements back (row-major). */
  read(x: NDArray): Promise<TypedArray>;
  /** Reads synchronously where the backend can (the CPU); undefined elsewhere. */
  readSync?(x: NDArray): TypedArray;
  /** Frees storage whose last handle was dropped. Called by NDArray only. */
  release(storage: Storage): void;
  /** Bytes held. */
  memory(): BackendMemory;

  // -- elementwise
  /** `op(x)` elementwise. */
  unary(op: UnaryOp, x: NDArray): NDArray;
  /** `op(a, b)` elementwise with broadcasting; `a.dtype === b.dtype`. */
  binary(op: BinaryOp, a: NDArray, b: NDArray): NDArray;
  /** `cond != 0 ? a : b` with broadcasting of all three; `a.dtype === b.dtype`. */
  where(cond: NDArray, a: NDArray, b: NDArray): NDArray;
  /**
   * Converts the dtype. Float to int32 rounds toward zero, saturates at the int32 range
   * (float32 at -2147483648 and 2147483520, the largest float32 below 2^31) and maps NaN
   * to 0, on every backend.
   */
  cast(x: NDArray, dtype: DType): NDArray;

  // -- reductions
  /** Reduces over `axes` (sorted, unique, non-empty or all). */
  reduce(op: ReduceOp, x: NDArray, axes: readonly number[], keepdims: boolean): NDArray;
  /** Index of the max / min along `axis` (first on ties), int32. */
  argReduce(op: ArgReduceOp, x: NDArray, axis: number, keepdims: boolean): NDArray;

  // -- linear algebra
  /**
   * Batched matrix product of `a: [...B, M, K]` and `b: [...B, K, N]` (both rank ≥ 2,
   * batch dims broadcast). `transA` / `transB` read the operand's last two axes swapped.
   */
  matmul(a: NDArray, b: NDArray, opts?: { transA?: boolean; transB?: boolean }): NDArray;

  // -- movement
  /** A contiguous copy of a strided view of `x` (transpose, broadcast, slices, flips). */
  asStrided(x: NDArray, view: StridedView): NDArray;
  /** Writes `src` (of shape `view.shape`) into the strided view of `dst`, in place. */
  assign(dst: NDArray, src: NDArray, view: StridedView): void;
  /**
   * `take` along `axis` with int32 `indices` of any shape: the result has shape
   * `x.shape[:axis] + indices.shape + x.shape[axis+1:]`. An index out of range is
   * a RangeError naming `op` (default "gather"): at once on the CPU, at the next
   * readback on the GPU. A negative index counts from the end (`negative: "wrap"`,
   * the default, as NumPy's `take`) or is out of range (`"error"`: labels, ids).
   */
  gather(
    x: NDArray,
    axis: number,
    indices: NDArray,
    op?: string,
    negative?: NegativeIndex,
  ): NDArray;
  /**
   * The adjoint of `gather`: zeros of `shape`, then `updates` added at the
   * gathered positions (repeated indices accumulate). Index errors name `op`, as in `gather`.
   */
  scatterAdd(
    shape: readonly number[],
    axis: number,
    indices: NDArray,
    updates: NDArray,
    op?: string,
  ): NDArray;

  // -- convolution helpers
  /** `x: [N,C,H,W]` to patches `[N,C,KH,KW,OH,OW]` (zero padding). */
  im2col(x: NDArray, g: ConvGeometry): NDArray;
  /** The adjoint of `im2col`: patches back to `[N,C,H,W]`, overlaps summed. */
  col2im(col: NDArray, shape: readonly number[], g: ConvGeometry): NDArray;
  /**
   * Max pooling of `x: [N,C,H,W]` over the windows of `g` (padded positions
   * never win; the padding is at most half the kernel, so every window holds an
   * input element). Returns the maxima `[N,C,OH,OW]` and, int32 of the same
   * shape, the flat index into `x` of each: the first in window order on ties,
   * the first NaN where there is one (a NaN wins, as in PyTorch).
   */
  maxPool2d(x: NDArray, g: ConvGeometry): [NDArray, NDArray];

  // -- optional fused kernels (the core falls back to compositions)
  /** Softmax along `axis`, fused. */
  softmax?(x: NDArray, axis: number): NDArray;
  /** Log-softmax along `axis`, fused. */
  logSoftmax?(x: NDArray, axis: number): NDArray;
  /**
   * `a·x + b·y` for float32 `x`, `y` of one shape, fused (optimizer updates such
   * as `param - lr·grad`); callers fall back to `mul`/`add` where it is missing.
   */
  axpby?(a: number, x: NDArray, b: number, y: NDArray): NDArray;
  /**
   * One fused Adam/AdamW step for float32 `param`, `grad`, `m`, `v` of one
   * shape: `m' = m + (g - m)·(1-β1)`, `v' = v + (g² - v)·(1-β2)`,
   * `param' = param·decay - stepSize·m' / (√v' + eps)`, each operation rounded
   * to float32 as the composition does. Returns new `[param', m', v']`; callers
   * fall back to the composition where it is missing.
   */
  adamUpdate?(
    param: NDArray,
    grad: NDArray,
    m: NDArray,
    v: NDArray,
    step: {
      /** The bias-corrected step size `lr·√(1-β2ᵗ)/(1-β1ᵗ)` (DeZero's `Adam.lr`). */
      readonly stepSize: number;
      /** First-moment decay β1. */
      readonly beta1: number;
      /** Second-moment decay β2. */
      readonly beta2: number;
      /** Added to `√v'` in the denominator. */
      readonly eps: number;
      /** The parameter is multiplied by it first: `1 - lr·weightDecay` (AdamW), 1 (Adam). */
      readonly decay: number;
    },
  ): [NDArray, NDArray, NDArray];
  /**
   * One fused AdaGrad step for float32 `param`, `grad`, `h` of one shape:
   * `h' = h + g·g`, `param' = param - (g·lr) / (√h' + eps)`, each operation
   * rounded to float32 as the composition does. Returns new `[param', h']`;
   * callers fall back to the composition where it is missing.
   */
  adagradUpdate?(
    param: NDArray,
    grad: NDArray,
    h: NDArray,
    step: {
      /** The learning rate. */
      readonly lr: number;
      /** Added to `√h'` in the denominator. */
      readonly eps: number;
    },
  ): [NDArray, NDArray];
  /**
   * One fused AdaDelta step for float32 `param`, `grad`, `msg`, `msdx` of one
   * shape: `msg' = msg·ρ + g·g·(1-ρ)`, `dx = √((msdx + eps) / (msg' + eps))·g`,
   * `msdx' = msdx·ρ + dx·dx·(1-ρ)`, `param' = param - dx·lr`, each operation
   * rounded to float32 as the composition does. Returns new
   * `[param', msg', msdx']`; callers fall back to the composition where it is
   * missing.
   */
  adadeltaUpdate?(
    param: NDArray,
    grad: NDArray,
    msg: NDArray,
    msdx: NDArray,
    step: {
      /** Decay ρ of the running averages. */
      readonly rho: number;
      /** Added inside the square root, to both `msdx` and `msg'`. */
      readonly eps: number;
      /** Scales the step `dx` (1 when omitted, DeZero's AdaDelta). */
      readonly lr?: number;
    },
  ): [NDArray, NDArray, NDArray];
  /** Submits queued work (GPU); a no-op elsewhere. */
  flush?(): void;
}

const backends = new Map<Device, Backend>();

/** Registers the backend of a device (the CPU backend registers itself; `initGpu` the GPU one). */
export function registerBackend(backend: Backend): void {
  backends.set(backend.device, backend);
}

/** The backend of `device`; throws naming the fix when the GPU was not initialised. */
export function getBackend(device: Device): Backend {
  const b = backends.get(device);
  if (b) return b;
  if (device === "gpu") {
    throw new Error(
      'GPU backend is not initialised: call `await initGpu()` before using device "gpu"',
    );
  }
  throw new TypeError(`Unknown device ${JSON.stringify(device)}: expected "cpu" or "gpu"`);
}

/** Whether the backend of `device` is registered. */
export function hasBackend(device: Device): boolean {
  return backends.has(device);
}
