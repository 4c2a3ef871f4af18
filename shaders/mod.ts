/**
 * The WebGPU backend: initialisation, availability and adapter info.
 *
 * ```ts ignore
 * import { initGpu, gpuInfo } from "./mod.ts";
 * await initGpu();
 * console.log(gpuInfo().description);
 * ```
 *
 * @module
 */
import { registerBackend } from "../core/backend.ts";
import { maybeRuntime, setContext } from "./_context.ts";
import { gpuBackend } from "./backend_gpu.ts";
import {
  matmul,
  type MatmulVariant,
  matmulVariant,
  setMatmulVariant,
  storageLoadSlowdown,
} from "./matmul.ts";
import { GpuRuntime, GpuShaderError, isSoftwareAdapter } from "./runtime.ts";

export { GpuShaderError };
export type { MatmulVariant };

/**
 * Thrown by {@linkcode initGpu} when there is no WebGPU adapter (no
 * `navigator.gpu`, `requestAdapter()` found none or failed, or the adapter
 * could not open a device).
 *
 * @example
 * ```ts
 * import { initGpu, WebGpuUnavailableError } from "./mod.ts";
 * try {
 *   await initGpu();
 * } catch (e) {
 *   if (!(e instanceof WebGpuUnavailableError)) throw e;
 *   console.log("running on the CPU:", e.message);
 * }
 * ```
 */
export class WebGpuUnavailableError extends Error {
  /** Builds the error with the reason (and the driver's error as `cause`, where one failed). */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "WebGpuUnavailableError";
  }
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Options of {@linkcode initGpu}. */
export interface InitGpuOptions {
  /** Adapter preference passed to `requestAdapter`. */
  powerPreference?: GPUPowerPreference;
  /**
   * The matmul kernel: `"auto"` (default) measures what suits the adapter. On
   * CPU-emulated adapters (llvmpipe, SwiftShader) `initGpu` times loads from a
   * storage buffer against loads from a texture (~0.2 s, for every kernel: where
   * buffer loads are over 1.5× slower, large operands are read through textures)
   * and "auto" picks `"texture"` there, else `"blocked"` (the tiled kernel is
   * many times slower there and compiles slowly); on GPUs it times `"blocked"`
   * against `"tiled"`. `"tune"` times every variant on matmuls. Measurements are
   * cached per adapter.
   */
  matmul?: MatmulVariant | "auto" | "tune";
}

/** What {@linkcode gpuInfo} reports. */
export interface GpuInfo {
  /** The adapter's description (for example `llvmpipe (LLVM 15.0.6, 256 bits)`). */
  description: string;
  /** The adapter's vendor. */
  vendor: string;
  /** The adapter's architecture. */
  architecture: string;
  /** Whether the adapter is a fallback (software) adapter. */
  isFallbackAdapter: boolean;
  /** The device limits that matter to the kernels. */
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupsPerDimension: number;
    maxComputeInvocationsPerWorkgroup: number;
    maxComputeWorkgroupStorageSize: number;
  };
  /** The matmul kernel variant in use. */
  matmul: MatmulVariant;
  /**
   * Whether large float32 operands are read through textures (CPU-emulated adapters whose
   * storage-buffer loads measured slow, see {@linkcode InitGpuOptions.matmul}).
   */
  textureOperands: boolean;
  /** Compute pipelines compiled so far. */
  pipelines: number;
  /** Command buffers submitted so far. */
  submits: number;
}

let initPromise: Promise<GpuInfo> | null = null;
const MATMUL_CHOICES = ["auto", "tune", "blocked", "tiled", "texture"];
let availablePromise: Promise<boolean> | null = null;

/**
 * Acquires the WebGPU adapter and device (once; later calls return the same
 * result) and registers the GPU backend, so that device `"gpu"` works.
 * Throws {@linkcode WebGpuUnavailableError} when there is no adapter.
 *
 * @example
 * ```ts
 * import { initGpu } from "./mod.ts";
 * const info = await initGpu();
 * console.log(info.description, info.limits.maxStorageBufferBindingSize);
 * ```
 */
export function initGpu(opts: InitGpuOptions = {}): Promise<GpuInfo> {
  if (opts.matmul !== undefined && !MATMUL_CHOICES.includes(opts.matmul)) {
    return Promise.reject(
      new TypeError(
        `initGpu: matmul must be one of ${
          MATMUL_CHOICES.map((c) => JSON.stringify(c)).join(", ")
        }, got ${JSON.stringify(opts.matmul)}`,
      ),
    );
  }
  if (!initPromise) {
    initPromise = init(opts).catch((e) => {
      initPromise = null;
      throw e;
    });
  }
  return initPromise;
}

/**
 * `gpu.requestAdapter()`, without the stderr noise of Mesa's Vulkan drivers
 * (lavapipe) on headless Linux: their Wayland probe prints "error:
 * XDG_RUNTIME_DIR is invalid or not set in the environment." twice per call
 * when that variable is unset. It is pointed at a path that does not exist
 * (the probe then fails quietly) for the call, where env access is granted.
 */
async function requestAdapter(
  gpu: GPU,
  opts?: GPURequestAdapterOptions,
): Promise<GPUAdapter | null> {
  const deno = (globalThis as { Deno?: typeof Deno }).Deno;
  const quiet = deno?.build.os === "linux" &&
    deno.permissions.querySync?.({ name: "env", variable: "XDG_RUNTIME_DIR" }).state ===
      "granted" &&
    deno.env.get("XDG_RUNTIME_DIR") === undefined;
  if (!quiet) return await gpu.requestAdapter(opts);
  deno.env.set("XDG_RUNTIME_DIR", "/nonexistent/dezero-no-wayland");
  try {
    return await gpu.requestAdapter(opts);
  } finally {
    deno.env.delete("XDG_RUNTIME_DIR");
  }
}

async function init(opts: InitGpuOptions): Promise<GpuInfo> {
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (!gpu) {
    throw new WebGpuUnavailableError(
      "WebGPU is unavailable: navigator.gpu is undefined in this runtime (Deno exposes it natively; browsers need WebGPU support)",
    );
  }
  let adapter: GPUAdapter | null;
  try {
    adapter = await requestAdapter(gpu, { powerPreference: opts.powerPreference });
  } catch (e) {
    // A driver that fails the request (rather than finding none) is no adapter either.
    throw new WebGpuUnavailableError(
      `WebGPU is unavailable: navigator.gpu.requestAdapter() failed: ${errorText(e)}`,
      { cause: e },
    );
  }
  if (!adapter) {
    throw new WebGpuUnavailableError(
      "WebGPU is unavailable: navigator.gpu.requestAdapter() found no adapter (no GPU driver; on Linux, Mesa's llvmpipe Vulkan driver provides a software one)",
    );
  }
  const l = adapter.limits;
  let device: GPUDevice;
  try {
    device = await adapter.requestDevice({
      requiredLimits: {
        maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
        maxBufferSize: l.maxBufferSize,
        maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
        maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
        maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      },
    });
  } catch (e) {
    throw new WebGpuUnavailableError(
      `WebGPU is unavailable: the adapter ${
        JSON.stringify(adapter.info.description || adapter.info.vendor)
      } could not open a device: ${errorText(e)}`,
      { cause: e },
    );
  }
  const rt = new GpuRuntime(device, adapter.info);
  setContext(rt, gpuBackend);
  // CPU-emulated adapters whose storage-buffer loads are slow read large operands through
  // textures (elementwise, optimizer and matmul kernels).
  const software = isSoftware(adapter.info);
  if (software) rt.textureOperands = await textureLoadsFaster();
  const choice = opts.matmul ?? "auto";
  if (choice === "auto") {
    setMatmulVariant(
      software ? (rt.textureOperands ? "texture" : "blocked") : await tuneMatmul(),
    );
  } else if (choice === "tune") setMatmulVariant(await tuneMatmul(true));
  else setMatmulVariant(choice);
  registerBackend(gpuBackend);
  return gpuInfo();
}

const isSoftware = isSoftwareAdapter;

/**
 * Times matmul variants on 1024³ products (plain, Bᵀ and Aᵀ; 256³ on software adapters) and
 * returns the fastest: `"blocked"` and `"tiled"`, and `"texture"` too when `all`; cached per
 * adapter description.
 */
async function tuneMatmul(all = false): Promise<MatmulVariant> {
  const rt = maybeRuntime()!;
  const key = `${rt.adapterInfo.description}/${all ? "all" : "gpu"}`;
  const cached = tuneCache.get(key);
  if (cached) return cached;
  const n = isSoftware(rt.adapterInfo) ? 256 : 1024;
  const a = gpuBackend.fromTyped(new Float32Array(n * n).fill(1), [n, n]);
  const variants: MatmulVariant[] = all ? ["blocked", "tiled", "texture"] : ["blocked", "tiled"];
  const times = new Map<MatmulVariant, number>();
  const cases = [{}, { transB: true }, { transA: true }];
  for (const variant of variants) {
    let total = 0;
    for (const c of cases) {
      await gpuBackend.read(matmul(a, a, { ...c, variant })); // compile and warm up
      const t0 = performance.now();
      const outs = [0, 1, 2].map(() => matmul(a, a, { ...c, variant }));
      await gpuBackend.read(outs[2]);
      total += performance.now() - t0;
      for (const o of outs) o.dispose();
    }
    times.set(variant, total);
  }
  a.dispose();
  const best = variants.reduce((x, y) => times.get(y)! < times.get(x)! ? y : x);
  tuneCache.set(key, best);
  return best;
}

/**
 * Whether a CPU-emulated adapter's storage-buffer loads are over 1.5× slower than its
 * texture loads (measured once per adapter description, ~0.2 s).
 */
async function textureLoadsFaster(): Promise<boolean> {
  const key = maybeRuntime()!.adapterInfo.description;
  let faster = textureProbeCache.get(key);
  if (faster === undefined) {
    faster = (await storageLoadSlowdown()) > 1.5;
    textureProbeCache.set(key, faster);
  }
  return faster;
}
const textureProbeCache = new Map<string, boolean>();
const tuneCache = new Map<string, MatmulVariant>();

/**
 * Whether a WebGPU adapter can be acquired here (cached; never throws).
 *
 * @example
 * ```ts
 * import { gpuAvailable } from "./mod.ts";
 * console.log(await gpuAvailable() ? "GPU" : "CPU only");
 * ```
 */
export function gpuAvailable(): Promise<boolean> {
  if (maybeRuntime()) return Promise.resolve(true);
  if (!availablePromise) {
    availablePromise = (async () => {
      try {
        const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
        if (!gpu) return false;
        return (await requestAdapter(gpu)) !== null;
      } catch {
        return false;
      }
    })();
  }
  return availablePromise;
}

/**
 * The adapter's description, the device limits and runtime counters; throws
 * when the GPU was not initialised.
 *
 * @example
 * ```ts
 * import { gpuInfo, initGpu } from "./mod.ts";
 * await initGpu();
 * const { description, limits, matmul } = gpuInfo();
 * console.log(description, limits.maxComputeWorkgroupsPerDimension, matmul);
 * ```
 */
export function gpuInfo(): GpuInfo {
  const rt = maybeRuntime();
  if (!rt) {
    throw new Error("gpuInfo: GPU backend is not initialised: call `await initGpu()` first");
  }
  const l = rt.device.limits;
  const i = rt.adapterInfo;
  return {
    description: i.description,
    vendor: i.vendor,
    architecture: i.architecture,
    isFallbackAdapter: i.isFallbackAdapter,
    limits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxComputeInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
    },
    matmul: matmulVariant().variant,
    textureOperands: rt.textureOperands,
    pipelines: rt.compiled,
    submits: rt.submits,
  };
}

/**
 * GPU memory held by the backend: bytes of live arrays and bytes pooled for
 * reuse (both 0 before `initGpu`). The core's `memoryStats()` reports these
 * with the live tensor count.
 *
 * @example
 * ```ts
 * import { gpuMemory } from "./mod.ts";
 * const { liveBytes, pooledBytes } = gpuMemory();
 * console.log(liveBytes + pooledBytes);
 * ```
 */
export function gpuMemory(): { liveBytes: number; pooledBytes: number } {
  return gpuBackend.memory();
}

/**
 * Frees the GPU buffers kept in the pool for reuse (live arrays stay).
 *
 * @example
 * ```ts
 * import { trimGpuPool } from "./mod.ts";
 * trimGpuPool();
 * ```
 */
export function trimGpuPool(): void {
  maybeRuntime()?.trim();
}
