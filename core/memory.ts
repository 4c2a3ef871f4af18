/**
 * Memory accounting across backends.
 *
 * @module
 */
import { getBackend, hasBackend } from "./backend.ts";
import { liveArrayCount } from "./ndarray.ts";

/** Bytes and tensors alive now. */
export interface MemoryStats {
  /** Bytes held by live GPU arrays. */
  gpuLiveBytes: number;
  /** Bytes kept in the GPU buffer pool for reuse. */
  gpuPooledBytes: number;
  /** Bytes of GPU readback (staging) buffers kept for reuse: at most 256 MiB. */
  gpuStagingBytes: number;
  /**
   * Bytes of the textures the matmul copies its operands into on CPU-emulated adapters
   * (two, grown to the largest operand so far; freed by `trimGpuPool()`).
   */
  gpuTextureBytes: number;
  /** Bytes held by live CPU arrays. */
  cpuLiveBytes: number;
  /** Live array handles (tensors) on any device. */
  liveTensors: number;
}

/**
 * What is allocated now. A training loop's stats should stay flat after warm-up.
 *
 * @example
 * ```ts
 * import { memoryStats } from "../mod.ts";
 * console.log(memoryStats().liveTensors >= 0); // true
 * ```
 */
export function memoryStats(): MemoryStats {
  const gpu = hasBackend("gpu") ? getBackend("gpu").memory() : { liveBytes: 0, pooledBytes: 0 };
  const cpu = getBackend("cpu").memory();
  return {
    gpuLiveBytes: gpu.liveBytes,
    gpuPooledBytes: gpu.pooledBytes,
    gpuStagingBytes: gpu.stagingBytes ?? 0,
    gpuTextureBytes: gpu.textureBytes ?? 0,
    cpuLiveBytes: cpu.liveBytes,
    liveTensors: liveArrayCount(),
  };
}
