/**
 * Shared state of the GPU backend: the runtime, array construction and the
 * small WGSL code-generation helpers every kernel file uses.
 *
 * @module
 */
import type { Backend } from "../core/backend.ts";
import type { DType } from "../core/dtype.ts";
import { NDArray } from "../core/ndarray.ts";
import { fmtShape, sizeOf } from "../core/shape.ts";
import { type GpuRuntime, OPERAND_TEXTURE_WIDTH } from "./runtime.ts";

const state: { rt: GpuRuntime | null; backend: Backend | null } = { rt: null, backend: null };

/** Installs the runtime and the backend object (called by `initGpu`). */
export function setContext(rt: GpuRuntime, backend: Backend): void {
  state.rt = rt;
  state.backend = backend;
}

/** The runtime, or an error naming `initGpu` when the GPU was not initialised. */
export function runtime(): GpuRuntime {
  if (!state.rt) {
    throw new Error(
      'GPU backend is not initialised: call `await initGpu()` before using device "gpu"',
    );
  }
  return state.rt;
}

/** The runtime when initialised, else null. */
export function maybeRuntime(): GpuRuntime | null {
  return state.rt;
}

/**
 * Fewest elements for which an elementwise operand is read through a texture: below, the
 * copy saves nothing (on llvmpipe a 1M-element axpy takes 3.8 ms through textures, copies
 * included, against 9.7 ms from storage buffers; at 16k elements they are even).
 */
const TEXTURE_MIN_ELEMENTS = 16_384;
/**
 * Most elements of an operand read through a texture: each texture slot keeps the size of
 * the largest operand it held (until `trimGpuPool()`), so bigger ones stay in storage.
 */
const TEXTURE_MAX_ELEMENTS = 2 ** 24;

/**
 * Whether a contiguous float32 operand of `n` elements in `buffer` is read through an
 * operand texture (see `GpuRuntime.textureOperands`): whole texels must lie in the buffer.
 */
export function textureOperand(buffer: GPUBuffer, n: number, type: "f32" | "i32"): boolean {
  const rt = runtime();
  return rt.textureOperands && type === "f32" && n >= TEXTURE_MIN_ELEMENTS &&
    n <= TEXTURE_MAX_ELEMENTS && Math.ceil(n / 4) * 16 <= buffer.size &&
    rt.operandTextureFits(Math.ceil(n / 4) * 4);
}

/** Copies the first `n` elements of `buffer` into operand texture `slot` (see `textureOperand`). */
export function operandTexture(slot: number, buffer: GPUBuffer, n: number): GPUTexture {
  return runtime().operandTexture(slot, buffer, Math.ceil(n / 4) * 4);
}

/** A `texture_2d<f32>` binding declaration (an operand texture). */
export function textureDecl(binding: number, name: string): string {
  return `@group(0) @binding(${binding}) var ${name}: texture_2d<f32>;\n`;
}

/** WGSL loading texel `i` (elements `4i..4i+3`) of operand texture `name` as a `vec4<f32>`. */
export function texelLoad(name: string, i: string): string {
  const W = OPERAND_TEXTURE_WIDTH;
  return `textureLoad(${name}, vec2<u32>((${i}) % ${W}u, (${i}) / ${W}u), 0)`;
}

/** The WGSL scalar type of a dtype; float64 is a TypeError (WGSL has no f64). */
export function wgslType(op: string, dtype: DType): "f32" | "i32" {
  if (dtype === "float32") return "f32";
  if (dtype === "int32") return "i32";
  throw new TypeError(
    `${op}: dtype ${dtype} is not supported on device "gpu" (WGSL has no f64): cast to float32 first`,
  );
}

/** The GPU buffer of an array, checking it lives on the GPU. */
export function bufferOf(op: string, x: NDArray): GPUBuffer {
  if (x.backend !== state.backend) {
    throw new TypeError(
      `${op}: array of shape ${
        fmtShape(x.shape)
      } lives on device "${x.backend.device}", expected "gpu"`,
    );
  }
  return x.storage.payload as GPUBuffer;
}

/** A new GPU array of `shape` and `dtype` with uninitialised contents. */
export function newArray(
  op: string,
  shape: readonly number[],
  dtype: DType,
  fresh = false,
): NDArray {
  wgslType(op, dtype);
  const rt = runtime();
  const bytes = sizeOf(shape) * 4;
  const buffer = rt.alloc(op, bytes, fresh);
  return new NDArray(state.backend!, { refs: 1, bytes, payload: buffer }, shape, dtype);
}

// ---------------------------------------------------------------- WGSL helpers

/** The WGSL expression for u32 parameter `i` of the uniform. */
export function P(i: number): string {
  return `params.v[${i >> 2}].${"xyzw"[i & 3]}`;
}

/** The WGSL expression for parameter `i` read as i32. */
export function Pi(i: number): string {
  return `bitcast<i32>(${P(i)})`;
}

/** The uniform declaration for `count` u32 parameters at `binding`. */
export function paramsDecl(binding: number, count: number): string {
  if (count === 0) return "";
  return `struct Params { v: array<vec4<u32>, ${Math.ceil(count / 4)}> }\n` +
    `@group(0) @binding(${binding}) var<uniform> params: Params;\n`;
}

/** A storage binding declaration. */
export function storageDecl(binding: number, name: string, type: string, write: boolean): string {
  return `@group(0) @binding(${binding}) var<storage, ${
    write ? "read_write" : "read"
  }> ${name}: array<${type}>;\n`;
}

/** The builtins of a 1-D-indexed entry point (2-D grids recombined). */
export const ENTRY_ARGS: string = "@builtin(global_invocation_id) gid: vec3<u32>, " +
  "@builtin(num_workgroups) nwg: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, " +
  "@builtin(local_invocation_index) lid: u32";

/** WGSL for the linear invocation index given the workgroup size. */
export function linearIndex(wg: number): string {
  return `gid.x + gid.y * nwg.x * ${wg}u`;
}

/** WGSL for the linear workgroup index. */
export const LINEAR_GROUP = "wid.x + wid.y * nwg.x";

/** The f32 bit pattern of `x` as a u32 (for float parameters). */
export function f32Bits(x: number): number {
  F32[0] = x;
  return U32[0];
}
const F32 = new Float32Array(1);
const U32 = new Uint32Array(F32.buffer);

/**
 * Drops size-1 axes and merges adjacent axes that every operand walks
 * contiguously; `strides` are per operand. Returns rank ≥ 0 (rank 0 when the
 * shape has one element).
 */
export function collapse(
  shape: readonly number[],
  strides: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const r = outShape.length - 1;
    if (
      r >= 0 && strides.every((s, k) => outStrides[k][r] === s[d] * shape[d])
    ) {
      outShape[r] *= shape[d];
      strides.forEach((s, k) => (outStrides[k][r] = s[d]));
    } else {
      outShape.push(shape[d]);
      strides.forEach((s, k) => outStrides[k].push(s[d]));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * The WGSL helper `udiv(i, d)` every index computation uses. With `fast` (all
 * dividends < 2²⁴) it divides in f32 and corrects the quotient by one: integer
 * division is scalarised on CPU-emulated adapters and slow on GPUs, a float
 * division is one vector instruction.
 */
export function udivHelper(fast: boolean): string {
  return fast
    ? `fn udiv(i: u32, d: u32) -> u32 {
  // Exact for i < 2^24: the f32 quotient is off by at most one.
  var q = u32(f32(i) / f32(d));
  q = select(q, q - 1u, q * d > i);
  q = select(q, q + 1u, (q + 1u) * d <= i);
  return q;
}
`
    : "fn udiv(i: u32, d: u32) -> u32 { return i / d; }\n";
}

/** Whether every index below `n` can use the fast `udiv`. */
export function fastDiv(n: number): boolean {
  return n < 2 ** 24;
}

/**
 * WGSL that unravels the u32 index `idx` over a shape whose axis `d` is the
 * parameter `shapeParam + d`, defining `c0..c{rank-1}` (u32). Needs `udiv`
 * ({@linkcode udivHelper}) in the shader.
 */
export function unravel(idx: string, rank: number, shapeParam: number, prefix = "c"): string {
  if (rank === 0) return "";
  let s = `var rem_${prefix} = ${idx};\n`;
  for (let d = rank - 1; d >= 0; d--) {
    if (d === 0) s += `  let ${prefix}0 = rem_${prefix};\n`;
    else {
      const q = `q_${prefix}${d}`;
      s += `  let ${q} = udiv(rem_${prefix}, ${P(shapeParam + d)});\n` +
        `  let ${prefix}${d} = rem_${prefix} - ${q} * ${P(shapeParam + d)};\n` +
        `  rem_${prefix} = ${q};\n`;
    }
  }
  return s;
}

/** WGSL for `offset + Σ c_d · stride_d` as i32, strides being parameters from `strideParam`. */
export function dot(rank: number, strideParam: number, offset: string, prefix = "c"): string {
  let s = offset;
  for (let d = 0; d < rank; d++) s += ` + i32(${prefix}${d}) * ${Pi(strideParam + d)}`;
  return s;
}

/** The number of elements of a shape (re-exported for kernel files). */
export { sizeOf };
