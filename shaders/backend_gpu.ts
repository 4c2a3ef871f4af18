/**
 * The WebGPU backend: the {@linkcode Backend} primitive set as WGSL compute
 * kernels on the shared {@linkcode GpuRuntime}. Registered by `initGpu`.
 *
 * @module
 */
import type {
  ArgReduceOp,
  Backend,
  BackendMemory,
  BinaryOp,
  ConvGeometry,
  NegativeIndex,
  ReduceOp,
  StridedView,
  UnaryOp,
} from "../core/backend.ts";
import { type DType, dtypeOfTyped, type TypedArray } from "../core/dtype.ts";
import type { NDArray, Storage } from "../core/ndarray.ts";
import { assertShape, fmtShape, sizeOf } from "../core/shape.ts";
import { bufferOf, maybeRuntime, newArray, runtime } from "./_context.ts";
import { axpby, binary, cast, unary, where } from "./elementwise.ts";
import { matmul } from "./matmul.ts";
import { adadeltaUpdate, adagradUpdate, adamUpdate } from "./optimizers.ts";
import {
  assign,
  asStrided,
  col2im,
  full,
  gather,
  im2col,
  maxPool2d,
  scatterAdd,
} from "./movement.ts";
import { argReduce, reduce, softmax } from "./reduce.ts";

/**
 * The GPU backend object. Usable once `initGpu()` has resolved; most code
 * reaches it through `getBackend("gpu")`.
 *
 * @example
 * ```ts ignore
 * import { initGpu } from "./mod.ts";
 * import { gpuBackend } from "./backend_gpu.ts";
 * await initGpu();
 * const a = gpuBackend.fromTyped(new Float32Array([1, 2, 3]), [3]);
 * const b = gpuBackend.unary("exp", a);
 * console.log(await gpuBackend.read(b)); // Float32Array [2.718.., 7.389.., 20.08..]
 * ```
 */
export const gpuBackend: Backend = {
  device: "gpu",

  fromTyped(data: TypedArray, shape: readonly number[]): NDArray {
    assertShape("fromTyped", shape);
    const dtype = dtypeOfTyped(data);
    if (dtype === undefined) {
      throw new TypeError(
        `fromTyped: unsupported array type ${
          (data as object)?.constructor?.name
        }: expected Float32Array or Int32Array`,
      );
    }
    if (data.length !== sizeOf(shape)) {
      throw new TypeError(
        `fromTyped: ${data.length} elements do not fill shape ${fmtShape(shape)} (size ${
          sizeOf(shape)
        })`,
      );
    }
    const out = newArray("fromTyped", shape, dtype, true);
    runtime().upload(bufferOf("fromTyped", out), data as Float32Array | Int32Array);
    return out;
  },

  full(shape: readonly number[], value: number, dtype: DType): NDArray {
    return full(shape, value, dtype);
  },

  async read(x: NDArray): Promise<TypedArray> {
    const buffer = bufferOf("read", x);
    const bytes = await runtime().readBytes(buffer, x.size * 4);
    return x.dtype === "int32" ? new Int32Array(bytes) : new Float32Array(bytes);
  },

  release(storage: Storage): void {
    const rt = maybeRuntime();
    if (rt) rt.free(storage.payload as GPUBuffer);
  },

  memory(): BackendMemory {
    const rt = maybeRuntime();
    return rt ? rt.memory() : { liveBytes: 0, pooledBytes: 0 };
  },

  unary(op: UnaryOp, x: NDArray): NDArray {
    return unary(op, x);
  },

  binary(op: BinaryOp, a: NDArray, b: NDArray): NDArray {
    return binary(op, a, b);
  },

  where(cond: NDArray, a: NDArray, b: NDArray): NDArray {
    return where(cond, a, b);
  },

  cast(x: NDArray, dtype: DType): NDArray {
    return cast(x, dtype);
  },

  reduce(op: ReduceOp, x: NDArray, axes: readonly number[], keepdims: boolean): NDArray {
    return reduce(op, x, axes, keepdims);
  },

  argReduce(op: ArgReduceOp, x: NDArray, axis: number, keepdims: boolean): NDArray {
    return argReduce(op, x, axis, keepdims);
  },

  matmul(a: NDArray, b: NDArray, opts?: { transA?: boolean; transB?: boolean }): NDArray {
    return matmul(a, b, opts);
  },

  asStrided(x: NDArray, view: StridedView): NDArray {
    return asStrided(x, view);
  },

  assign(dst: NDArray, src: NDArray, view: StridedView): void {
    assign(dst, src, view);
  },

  gather(
    x: NDArray,
    axis: number,
    indices: NDArray,
    op?: string,
    negative?: NegativeIndex,
  ): NDArray {
    return gather(x, axis, indices, op, negative);
  },

  scatterAdd(
    shape: readonly number[],
    axis: number,
    indices: NDArray,
    updates: NDArray,
    op?: string,
  ): NDArray {
    return scatterAdd(shape, axis, indices, updates, op);
  },

  im2col(x: NDArray, g: ConvGeometry): NDArray {
    return im2col(x, g);
  },

  col2im(col: NDArray, shape: readonly number[], g: ConvGeometry): NDArray {
    return col2im(col, shape, g);
  },

  maxPool2d(x: NDArray, g: ConvGeometry): [NDArray, NDArray] {
    return maxPool2d(x, g);
  },

  softmax(x: NDArray, axis: number): NDArray {
    return softmax(x, axis, false);
  },

  logSoftmax(x: NDArray, axis: number): NDArray {
    return softmax(x, axis, true);
  },

  axpby(a: number, x: NDArray, b: number, y: NDArray): NDArray {
    return axpby(a, x, b, y);
  },

  adamUpdate(
    param: NDArray,
    grad: NDArray,
    m: NDArray,
    v: NDArray,
    step: Parameters<NonNullable<Backend["adamUpdate"]>>[4],
  ): [NDArray, NDArray, NDArray] {
    return adamUpdate(param, grad, m, v, step);
  },

  adagradUpdate(
    param: NDArray,
    grad: NDArray,
    h: NDArray,
    step: Parameters<NonNullable<Backend["adagradUpdate"]>>[3],
  ): [NDArray, NDArray] {
    return adagradUpdate(param, grad, h, step);
  },

  adadeltaUpdate(
    param: NDArray,
    grad: NDArray,
    msg: NDArray,
    msdx: NDArray,
    step: Parameters<NonNullable<Backend["adadeltaUpdate"]>>[4],
  ): [NDArray, NDArray, NDArray] {
    return adadeltaUpdate(param, grad, msg, msdx, step);
  },

  flush(): void {
    maybeRuntime()?.flush();
  },
};
