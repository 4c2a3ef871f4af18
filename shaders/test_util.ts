/**
 * Test helpers for GPU tests: {@linkcode gpuTest} registers a test that runs
 * on the WebGPU backend, skips (ignored, with a message) where no adapter
 * exists, and fails instead when `DEZERO_REQUIRE_GPU=1` (as CI sets).
 *
 * @module
 */
import assert from "node:assert/strict";
import { cpuBackend as cpu } from "../core/backend_cpu.ts";
import type { DType, TypedArray } from "../core/dtype.ts";
import type { NDArray } from "../core/ndarray.ts";
import { sizeOf } from "../core/shape.ts";
import { gpuBackend as gpu } from "./backend_gpu.ts";
import { runtime } from "./_context.ts";
import { gpuAvailable, initGpu } from "./mod.ts";
import type { Kernel } from "./runtime.ts";

/** Whether GPU tests must run (CI): set `DEZERO_REQUIRE_GPU=1`. */
export const GPU_REQUIRED = Deno.env.get("DEZERO_REQUIRE_GPU") === "1";

/** Whether a WebGPU adapter was found when the tests loaded. */
export const GPU_AVAILABLE: boolean = await gpuAvailable();

if (!GPU_AVAILABLE && !GPU_REQUIRED) {
  console.warn(
    "GPU tests skipped: no WebGPU adapter found (set DEZERO_REQUIRE_GPU=1 to make that a failure)",
  );
}

/**
 * Registers a Deno test that first runs `await initGpu()`. Without an adapter
 * it is ignored (skipped with a message), unless `DEZERO_REQUIRE_GPU=1`, in
 * which case it runs and fails with the `WebGpuUnavailableError`.
 *
 * @example
 * ```ts ignore
 * import { gpuTest } from "../shaders/test_util.ts";
 * gpuTest("exp() on the GPU matches the CPU", async () => {
 *   // ... create arrays with tensor(..., { device: "gpu" }) and compare
 * });
 * ```
 */
export function gpuTest(name: string, fn: (t: Deno.TestContext) => void | Promise<void>): void {
  Deno.test({
    name,
    ignore: !GPU_AVAILABLE && !GPU_REQUIRED,
    // WebGPU keeps a device resource and async map operations alive between tests.
    sanitizeOps: false,
    sanitizeResources: false,
    async fn(t) {
      await initGpu();
      await fn(t);
    },
  });
}

/** Deterministic pseudo-random values in [lo, hi) (integers for int32). */
export function randomTyped(
  size: number,
  { seed = 1, lo = -1, hi = 1, dtype = "float32" }: {
    seed?: number;
    lo?: number;
    hi?: number;
    dtype?: DType;
  } = {},
): TypedArray {
  let s = (seed * 2654435761) >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 4294967296;
  };
  if (dtype === "int32") {
    const out = new Int32Array(size);
    for (let i = 0; i < size; i++) out[i] = Math.floor(lo + next() * (hi - lo));
    return out;
  }
  const out = dtype === "float64" ? new Float64Array(size) : new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = lo + next() * (hi - lo);
  return out;
}

/** The same data on both backends: `c` on the CPU, `g` on the GPU. */
export function both(data: TypedArray, shape: readonly number[]): { c: NDArray; g: NDArray } {
  return { c: cpu.fromTyped(data, shape), g: gpu.fromTyped(data, shape) };
}

/** {@linkcode randomTyped} data of `shape` on both backends. */
export function randBoth(
  shape: readonly number[],
  opts: { seed?: number; lo?: number; hi?: number; dtype?: DType } = {},
): { c: NDArray; g: NDArray } {
  return both(randomTyped(sizeOf(shape), opts), shape);
}

/** Reads a GPU and a CPU result and asserts equal shapes, dtypes and close values. */
export async function same(
  what: string,
  g: NDArray,
  c: NDArray,
  tol: { rtol?: number; atol?: number } = {},
): Promise<void> {
  assert.deepEqual(g.shape, c.shape, `${what}: shape`);
  assert.equal(g.dtype, c.dtype, `${what}: dtype`);
  assert.equal(g.backend.device, "gpu");
  assertAllClose(await gpu.read(g), await cpu.read(c), { ...tol, what });
}

/**
 * Asserts `actual` ≈ `expected` elementwise (`|a - e| <= atol + rtol·|e|`,
 * NaNs equal, exact for integer arrays); the message names the first mismatch.
 */
export function assertAllClose(
  actual: TypedArray,
  expected: ArrayLike<number>,
  { rtol = 1e-5, atol = 1e-6, what = "" }: { rtol?: number; atol?: number; what?: string } = {},
): void {
  const pre = what ? `${what}: ` : "";
  if (actual.length !== expected.length) {
    throw new Error(`${pre}length ${actual.length} vs expected ${expected.length}`);
  }
  const exact = actual instanceof Int32Array;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(a) && Number.isNaN(e)) continue;
    if (a === e) continue;
    if (exact || !(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      throw new Error(`${pre}element ${i} is ${a}, expected ${e} (of ${actual.length})`);
    }
  }
}

/** A kernel's title: the first line of its WGSL (`// matmul (texture 8x8, ...)`). */
export function kernelTitle(k: Kernel): string {
  return k.wgsl.split("\n")[0];
}

/**
 * Runs `fn` with an entry for every kernel dispatched meanwhile (its title unless `entry`
 * says otherwise) logged into `seen`, which `fn` may clear; returns them.
 */
export async function logKernels<T = string>(
  fn: (seen: T[]) => void | Promise<void>,
  entry: (k: Kernel) => T = kernelTitle as (k: Kernel) => T,
): Promise<T[]> {
  const rt = runtime();
  const seen: T[] = [];
  const dispatch = rt.dispatch;
  rt.dispatch = function (k, ...rest) {
    seen.push(entry(k));
    return dispatch.call(this, k, ...rest);
  };
  try {
    await fn(seen);
  } finally {
    rt.dispatch = dispatch;
  }
  return seen;
}
