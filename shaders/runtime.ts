/**
 * The WebGPU runtime under the GPU backend: one device, one shared command
 * encoder that records many dispatches per submit, pipeline and
 * bind-group-layout caches keyed by WGSL source, a bucketed buffer pool, a
 * per-batch uniform arena for runtime sizes, and errors surfaced at the next
 * readback instead of one awaited error scope per op.
 *
 * @module
 */

/**
 * The access of each binding of a kernel, in binding order: a read-only or read-write storage
 * buffer, or a sampled `texture_2d<f32>` (an operand copied into a texture, see
 * {@linkcode GpuRuntime.operandTexture}).
 */
export type Access = "r" | "w" | "t";

/** A compiled compute pipeline with its binding signature. */
export interface Kernel {
  /** The op name, used in error messages. */
  readonly name: string;
  /** The WGSL source (the cache key). */
  readonly wgsl: string;
  /** Access of each storage binding (the uniform comes after them). */
  readonly access: readonly Access[];
  /** Number of u32 parameters in the uniform (0 for none). */
  readonly paramCount: number;
  /** The pipeline. */
  readonly pipeline: GPUComputePipeline;
  /** Its bind group layout. */
  readonly layout: GPUBindGroupLayout;
  /** The layout's signature (accesses and uniform size): kernels sharing it share bind groups. */
  readonly signature: string;
}

/** A shader that failed to compile or validate, with the op name and its WGSL. */
export class GpuShaderError extends Error {
  /** The WGSL source that failed. */
  readonly wgsl: string;
  /** Builds the error naming the op, the driver message and the source. */
  constructor(op: string, message: string, wgsl: string) {
    const numbered = wgsl.split("\n").map((l, i) => `${String(i + 1).padStart(4)}| ${l}`).join(
      "\n",
    );
    super(`${op}: WGSL shader failed to compile: ${message.trim()}\n--- WGSL ---\n${numbered}`);
    this.name = "GpuShaderError";
    this.wgsl = wgsl;
  }
}

const USAGE_STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST
const USAGE_OPERAND_TEXTURE = 0x04 | 0x02; // TEXTURE_BINDING | COPY_DST

/**
 * Width in texels of operand textures (`rgba32float`, 4 elements a texel): 16 KiB rows, a
 * multiple of the 256-byte row alignment that buffer-to-texture copies need. Element `i` of
 * the buffer lies in texel `i / 4`, at `(texel % 4096, texel / 4096)`.
 */
export const OPERAND_TEXTURE_WIDTH = 4096;

/** Codes of the error record (see `GpuRuntime.errorBuffer`), by op name. */
/** The op each index-error code names (0: no error); see {@linkcode kernelErrorCode}. */
const KERNEL_ERROR_OPS: string[] = [""];

/** The code under which a kernel records an index out of range for `op` (for the error message). */
export function kernelErrorCode(op: string): number {
  const code = KERNEL_ERROR_OPS.indexOf(op);
  return code > 0 ? code : KERNEL_ERROR_OPS.push(op) - 1;
}

function kernelError([code, value, size, axis]: Int32Array): RangeError {
  const op = KERNEL_ERROR_OPS[code] ?? `kernel ${code}`;
  return new RangeError(
    `${op}: index ${value} is out of range for axis ${axis} of size ${size} (found on the GPU; reported at the next readback)`,
  );
}
const USAGE_STAGING = 0x01 | 0x08; // MAP_READ | COPY_DST
/** Staging buffers up to 64 KiB are pooled 16 deep, up to this size 4, larger ones 2. */
const STAGING_SMALL = 1 << 20;
/** Early reads in a row before `readBytes` gives the event loop a turn. */
const EARLY_READS_PER_TURN = 16;
const MAX_DISPATCHES_PER_SUBMIT = 256;
/** A buffer's id in bind group cache keys (a property: cheaper than a WeakMap lookup). */
const BUFFER_ID = Symbol("dezero.bufferId");
/** Cached bind groups at most (the cache is cleared when full). */
const BIND_GROUP_CACHE = 8192;
const ARENA_BYTES = 256 * 1024;
/** Pooled bytes kept at most; buffers released beyond it are destroyed after the next submit. */
const POOL_CAP_BYTES = 1 << 30;
/**
 * Readback (staging) bytes kept at most: a buffer returned beyond it is destroyed, so that
 * reading many large tensors of different sizes does not keep one or two of each for good.
 */
const STAGING_CAP_BYTES = 256 << 20;

/** Whether an adapter is CPU-emulated (llvmpipe, lavapipe, SwiftShader). */
export function isSoftwareAdapter(info: GPUAdapterInfo): boolean {
  return info.isFallbackAdapter ||
    /llvmpipe|lavapipe|swiftshader|software/i.test(`${info.description} ${info.device}`);
}

/** The bucket size for a request of `bytes`: powers of two split in four steps, at least 256. */
export function bucketBytes(bytes: number): number {
  if (bytes <= 256) return 256;
  const p = 2 ** Math.floor(Math.log2(bytes));
  const step = p / 4;
  return Math.ceil(bytes / step) * step;
}

interface Pooled {
  buffer: GPUBuffer;
  /** The batch (submit number) in which it was last released. */
  batch: number;
}

/** The device runtime shared by every GPU op. */
export class GpuRuntime {
  /** The device. */
  readonly device: GPUDevice;
  /** The adapter's info. */
  readonly adapterInfo: GPUAdapterInfo;
  /** Whether the adapter is CPU-emulated (llvmpipe, SwiftShader), where kernels choose differently. */
  readonly software: boolean;
  /** Largest storage binding in bytes. */
  readonly maxBinding: number;
  /** Largest workgroup count along one dispatch dimension. */
  readonly maxGroupsPerDim: number;
  readonly #align: number;
  readonly #pipelines = new Map<string, Kernel>();
  readonly #byKey = new Map<string, Kernel>();
  readonly #layouts = new Map<string, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>();
  readonly #pool = new Map<number, Pooled[]>();
  /** Bind groups by layout signature and buffer ids (see `#bindGroup`). */
  readonly #bindGroups = new Map<string, GPUBindGroup>();
  #nextBufferId = 1;
  readonly #stagingPool = new Map<number, GPUBuffer[]>();
  /** Early reads since the event loop last had a turn in a read (see `readBytes`). */
  #earlyRun = 0;
  /** Staging buffers that completed an ordinary map (see `#mappedEarly`). */
  readonly #primed = new WeakSet<GPUBuffer>();
  /** Staging sizes with a spare buffer being primed (see `#primeSpare`). */
  readonly #priming = new Set<number>();
  #pooledBytes = 0;
  #liveBytes = 0;
  /** Bytes of the staging buffers in `#stagingPool`. */
  #stagingBytes = 0;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #dispatches = 0;
  #batch = 1;
  readonly #arena: GPUBuffer;
  readonly #arenaData = new Uint32Array(ARENA_BYTES / 4);
  #arenaUsed = 0;
  #toDestroy: GPUBuffer[] = [];
  /** Operand textures by slot, grown on demand; replaced ones wait in `#texturesToDestroy`. */
  readonly #operandTextures: (GPUTexture | undefined)[] = [];
  #texturesToDestroy: GPUTexture[] = [];
  #textureBytes = 0;
  readonly #textureViews = new WeakMap<GPUTexture, GPUTextureView>();
  /**
   * Four i32 that kernels set when they meet an invalid input they cannot
   * throw on (an index out of range): [code, value, axis size, axis]. Read
   * and cleared with every readback, which then throws.
   */
  readonly errorBuffer: GPUBuffer;
  readonly #errors: Error[] = [];
  readonly #pendingChecks = new Set<Promise<void>>();
  /** Number of pipelines compiled (for tests and stats). */
  compiled = 0;
  /** Number of submits (for tests and stats). */
  submits = 0;
  /** Bind groups created (the rest came from the cache; for tests and stats). */
  bindGroupsCreated = 0;
  /** Readbacks that read the mapped range before the map promise resolved (for tests and stats). */
  readsEarly = 0;
  /** Whether readbacks may read a completed map before its promise resolves (see `#mappedEarly`). */
  earlyReads = true;
  /**
   * Whether elementwise, optimizer and matmul kernels read their large float32 operands
   * through operand textures (see {@linkcode GpuRuntime.operandTexture}): set by `initGpu`
   * on CPU-emulated adapters whose storage-buffer loads measure slower than texture loads.
   */
  textureOperands = false;

  /** Wraps a device created by `initGpu`. */
  constructor(device: GPUDevice, adapterInfo: GPUAdapterInfo) {
    this.device = device;
    this.adapterInfo = adapterInfo;
    this.software = isSoftwareAdapter(adapterInfo);
    this.maxBinding = device.limits.maxStorageBufferBindingSize;
    this.maxGroupsPerDim = device.limits.maxComputeWorkgroupsPerDimension;
    this.#align = Math.max(16, device.limits.minUniformBufferOffsetAlignment);
    this.#arena = device.createBuffer({ size: ARENA_BYTES, usage: 0x40 | 0x08 }); // UNIFORM|COPY_DST
    this.errorBuffer = device.createBuffer({ size: 16, usage: USAGE_STORAGE });
    device.lost.then((info) => {
      if (info.reason !== "destroyed") {
        this.#errors.push(new Error(`gpu: the device was lost: ${info.message}`));
      }
    });
    device.addEventListener("uncapturederror", (e) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      this.#errors.push(new Error(`gpu: ${err.message}`));
    });
  }

  // ------------------------------------------------------------ pipelines

  /**
   * The kernel known by `key` (a short string naming everything its source
   * depends on), building its WGSL with `source` only the first time: hot
   * kernels with long generated sources (matmul) skip regenerating and
   * hashing the source at every call.
   */
  kernelFor(
    key: string,
    name: string,
    access: readonly Access[],
    paramCount: number,
    source: () => string,
  ): Kernel {
    let k = this.#byKey.get(key);
    if (!k) {
      k = this.kernel(name, source(), access, paramCount);
      this.#byKey.set(key, k);
    }
    return k;
  }

  /**
   * The pipeline for `wgsl`, compiled once (the source is the cache key).
   * Compilation errors are collected asynchronously and thrown at the next
   * readback with the op name and the source.
   */
  kernel(name: string, wgsl: string, access: readonly Access[], paramCount: number): Kernel {
    const hit = this.#pipelines.get(wgsl);
    if (hit) return hit;
    // The uniform's size is part of the layout (minBindingSize): wgpu checks late-sized
    // bindings per layout, so pipelines with different uniform sizes must not share one.
    const uniformBytes = Math.ceil(paramCount / 4) * 16;
    const sig = access.join("") + (paramCount > 0 ? `u${uniformBytes}` : "");
    let layout = this.#layouts.get(sig);
    if (!layout) {
      const entries: GPUBindGroupLayoutEntry[] = access.map((a, i) =>
        a === "t"
          ? {
            binding: i,
            visibility: 4, // COMPUTE
            texture: { sampleType: "unfilterable-float", viewDimension: "2d" },
          }
          : {
            binding: i,
            visibility: 4,
            buffer: { type: a === "r" ? "read-only-storage" : "storage" },
          }
      );
      if (paramCount > 0) {
        entries.push({
          binding: access.length,
          visibility: 4,
          buffer: { type: "uniform", minBindingSize: uniformBytes, hasDynamicOffset: true },
        });
      }
      const bgl = this.device.createBindGroupLayout({ entries });
      layout = { bgl, pl: this.device.createPipelineLayout({ bindGroupLayouts: [bgl] }) };
      this.#layouts.set(sig, layout);
    }
    this.device.pushErrorScope("validation");
    const module = this.device.createShaderModule({ code: wgsl, label: name });
    const pipeline = this.device.createComputePipeline({
      label: name,
      layout: layout.pl,
      compute: { module, entryPoint: "main" },
    });
    const check: Promise<void> = this.device.popErrorScope().then((err) => {
      if (err) this.#errors.push(new GpuShaderError(name, err.message, wgsl));
    }, (e) => {
      this.#errors.push(new GpuShaderError(name, String(e), wgsl));
    }).finally(() => this.#pendingChecks.delete(check));
    this.#pendingChecks.add(check);
    this.compiled++;
    const k: Kernel = {
      name,
      wgsl,
      access,
      paramCount,
      pipeline,
      layout: layout.bgl,
      signature: sig,
    };
    this.#pipelines.set(wgsl, k);
    return k;
  }

  /** Waits for outstanding shader checks and throws the first collected error, if any. */
  async checkErrors(): Promise<void> {
    if (this.#pendingChecks.size > 0) await Promise.all([...this.#pendingChecks]);
    if (this.#errors.length > 0) {
      const first = this.#errors[0];
      this.#errors.length = 0;
      throw first;
    }
  }

  // ------------------------------------------------------------ buffers

  /** Throws a RangeError naming the op, the size and the limit when `bytes` cannot be bound. */
  checkSize(op: string, bytes: number): void {
    if (bytes > this.maxBinding) {
      throw new RangeError(
        `${op}: buffer of ${bytes} bytes exceeds the GPU's maxStorageBufferBindingSize of ${this.maxBinding} bytes`,
      );
    }
  }

  /**
   * A storage buffer of at least `bytes` from the pool. With `fresh`, it is
   * one no command of the current (unsubmitted) batch touches, so that
   * `queue.writeBuffer` into it cannot race recorded work.
   */
  alloc(op: string, bytes: number, fresh = false): GPUBuffer {
    this.checkSize(op, bytes);
    // A bucket above the limit (a limit that is no bucket size) would fail to bind: the
    // request itself, rounded to 4 bytes, fits.
    const bucket = bucketBytes(bytes);
    const size = bucket <= this.maxBinding ? bucket : Math.ceil(bytes / 4) * 4;
    const list = this.#pool.get(size);
    let buffer: GPUBuffer | undefined;
    if (list && list.length > 0) {
      if (!fresh) buffer = list.pop()!.buffer;
      else {
        for (let i = list.length - 1; i >= 0; i--) {
          if (list[i].batch < this.#batch) {
            buffer = list[i].buffer;
            list.splice(i, 1);
            break;
          }
        }
      }
      if (buffer) this.#pooledBytes -= size;
    }
    if (!buffer) buffer = this.device.createBuffer({ size, usage: USAGE_STORAGE });
    this.#liveBytes += size;
    return buffer;
  }

  /** Returns a buffer to the pool (queued work that reads it still runs before any reuse). */
  free(buffer: GPUBuffer): void {
    const size = buffer.size;
    this.#liveBytes -= size;
    if (this.#pooledBytes + size > POOL_CAP_BYTES) {
      this.#toDestroy.push(buffer);
      return;
    }
    let list = this.#pool.get(size);
    if (!list) this.#pool.set(size, list = []);
    list.push({ buffer, batch: this.#batch });
    this.#pooledBytes += size;
  }

  /**
   * Bytes held by live buffers, by the pool, by the readback buffers kept for reuse and by
   * the operand textures.
   */
  memory(): {
    liveBytes: number;
    pooledBytes: number;
    stagingBytes: number;
    textureBytes: number;
  } {
    return {
      liveBytes: this.#liveBytes,
      pooledBytes: this.#pooledBytes,
      stagingBytes: this.#stagingBytes,
      textureBytes: this.#textureBytes,
    };
  }

  /** Destroys every pooled buffer (after submitting queued work). */
  trim(): void {
    this.flush();
    for (const list of this.#pool.values()) this.#destroy(list.map((p) => p.buffer));
    this.#pool.clear();
    this.#pooledBytes = 0;
    for (const list of this.#stagingPool.values()) for (const b of list) b.destroy();
    this.#stagingPool.clear();
    this.#stagingBytes = 0;
    for (const t of this.#operandTextures) t?.destroy();
    this.#operandTextures.length = 0;
    this.#textureBytes = 0;
    this.#bindGroups.clear();
  }

  /** Copies `data` into `buffer` in queue order (`buffer` must come from `alloc(.., true)`). */
  upload(buffer: GPUBuffer, data: Float32Array | Int32Array): void {
    if (data.length === 0) return;
    this.device.queue.writeBuffer(buffer, 0, data as Float32Array<ArrayBuffer>);
  }

  // ------------------------------------------------------------ recording

  #computePass(): GPUComputePassEncoder {
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    if (!this.#pass) this.#pass = this.#encoder.beginComputePass();
    return this.#pass;
  }

  #commandEncoder(): GPUCommandEncoder {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    if (!this.#encoder) this.#encoder = this.device.createCommandEncoder();
    return this.#encoder;
  }

  /** Splits `groups` workgroups into a 2-D grid within the per-dimension limit. */
  grid(groups: number): [number, number] {
    const max = this.maxGroupsPerDim;
    if (groups <= max) return [groups, 1];
    const y = Math.ceil(groups / max);
    if (y > max) {
      throw new RangeError(`gpu: dispatch of ${groups} workgroups exceeds ${max}×${max}`);
    }
    return [Math.ceil(groups / y), y];
  }

  /**
   * Records one dispatch of `groups` workgroups (split 2-D beyond the limit:
   * shaders recover the linear id as `wid.x + wid.y * nwg.x`).
   */
  dispatch(
    k: Kernel,
    buffers: readonly (GPUBuffer | GPUTexture)[],
    params: ArrayLike<number>,
    groups: number,
  ): void {
    if (groups <= 0) return;
    if (Math.ceil(params.length / 4) !== Math.ceil(k.paramCount / 4)) {
      throw new Error(
        `${k.name}: expected ${k.paramCount} shader parameters, got ${params.length}`,
      );
    }
    const paramBytes = Math.ceil(k.paramCount / 4) * 16;
    const slot = Math.ceil(paramBytes / this.#align) * this.#align;
    if (
      this.#dispatches >= MAX_DISPATCHES_PER_SUBMIT || this.#arenaUsed + slot > ARENA_BYTES
    ) this.flush();
    const bindGroup = this.#bindGroup(k, buffers, paramBytes);
    const [x, y] = this.grid(groups);
    const pass = this.#computePass();
    pass.setPipeline(k.pipeline);
    if (k.paramCount > 0) {
      const off = this.#arenaUsed;
      const base = off / 4;
      for (let i = 0; i < params.length; i++) this.#arenaData[base + i] = params[i] >>> 0;
      this.#arenaUsed += slot;
      pass.setBindGroup(0, bindGroup, [off]);
    } else pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y);
    this.#dispatches++;
  }

  /**
   * The bind group of `buffers` (and the uniform arena, bound at a dynamic
   * offset) for kernels of `k`'s layout, cached: a training loop binds the
   * same pooled buffers step after step.
   */
  #bindGroup(
    k: Kernel,
    buffers: readonly (GPUBuffer | GPUTexture)[],
    paramBytes: number,
  ): GPUBindGroup {
    let key = k.signature;
    for (const b of buffers) {
      const tagged = b as (GPUBuffer | GPUTexture) & { [BUFFER_ID]?: number };
      key += `,${tagged[BUFFER_ID] ??= this.#nextBufferId++}`;
    }
    const hit = this.#bindGroups.get(key);
    if (hit) return hit;
    const entries: GPUBindGroupEntry[] = buffers.map((b, i) => ({
      binding: i,
      resource: k.access[i] === "t" ? this.#view(b as GPUTexture) : { buffer: b as GPUBuffer },
    }));
    if (k.paramCount > 0) {
      entries.push({
        binding: buffers.length,
        resource: { buffer: this.#arena, offset: 0, size: paramBytes },
      });
    }
    const group = this.device.createBindGroup({ layout: k.layout, entries });
    this.bindGroupsCreated++;
    if (this.#bindGroups.size >= BIND_GROUP_CACHE) this.#bindGroups.clear();
    this.#bindGroups.set(key, group);
    return group;
  }

  #view(texture: GPUTexture): GPUTextureView {
    let view = this.#textureViews.get(texture);
    if (!view) this.#textureViews.set(texture, view = texture.createView());
    return view;
  }

  /**
   * The operand texture of `slot`, holding the first `elements` elements (a multiple of 4)
   * of `buffer`: records copying them into it in queue order, so kernels recorded earlier
   * still see the previous contents, and returns it for binding as access `"t"`. Texture
   * loads are several times faster than storage-buffer loads on llvmpipe (see matmul.ts).
   * Each slot keeps one `rgba32float` texture {@linkcode OPERAND_TEXTURE_WIDTH} texels wide,
   * grown (to a power of two of rows) when an operand needs more rows. Callers check
   * {@linkcode GpuRuntime.operandTextureFits} first.
   */
  operandTexture(slot: number, buffer: GPUBuffer, elements: number): GPUTexture {
    if (
      elements <= 0 || elements % 4 !== 0 || elements * 4 > buffer.size ||
      !this.operandTextureFits(elements)
    ) {
      throw new RangeError(
        `gpu: an operand texture takes a positive multiple of 4 elements within its buffer (${buffer.size} bytes) and the device's texture size, got ${elements}`,
      );
    }
    const W = OPERAND_TEXTURE_WIDTH;
    const texels = elements / 4;
    const rows = Math.ceil(texels / W);
    let texture = this.#operandTextures[slot];
    if (!texture || texture.height < rows) {
      const height = Math.min(
        2 ** Math.ceil(Math.log2(rows)),
        this.device.limits.maxTextureDimension2D,
      );
      if (texture) {
        // Recorded copies and dispatches may still use it: destroyed after the next submit.
        this.#texturesToDestroy.push(texture);
        this.#textureBytes -= texture.width * texture.height * 16;
      }
      texture = this.device.createTexture({
        size: [W, height],
        format: "rgba32float",
        usage: USAGE_OPERAND_TEXTURE,
      });
      this.#operandTextures[slot] = texture;
      this.#textureBytes += W * height * 16;
    }
    const enc = this.#commandEncoder();
    const full = Math.floor(texels / W), rest = texels - full * W;
    if (full > 0) {
      enc.copyBufferToTexture({ buffer, bytesPerRow: W * 16 }, { texture }, [W, full]);
    }
    if (rest > 0) {
      enc.copyBufferToTexture(
        { buffer, offset: full * W * 16 },
        { texture, origin: [0, full] },
        [rest, 1],
      );
    }
    return texture;
  }

  /** Whether an operand of `elements` elements fits in an operand texture on this device. */
  operandTextureFits(elements: number): boolean {
    return Math.ceil(elements / 4 / OPERAND_TEXTURE_WIDTH) <=
      this.device.limits.maxTextureDimension2D;
  }

  /** Destroys storage buffers, forgetting the bind groups that use them. */
  #destroy(buffers: Iterable<GPUBuffer>): void {
    let any = false;
    for (const b of buffers) {
      b.destroy();
      any = true;
    }
    // Rare (trim, or a pool over its cap): dropping every cached group is simplest.
    if (any) this.#bindGroups.clear();
  }

  /** Records a buffer-to-buffer copy. */
  copy(src: GPUBuffer, dst: GPUBuffer, bytes: number, srcOffset = 0, dstOffset = 0): void {
    if (bytes <= 0) return;
    this.#commandEncoder().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /** Records zero-filling the first `bytes` of `buffer`. */
  clear(buffer: GPUBuffer, bytes: number): void {
    const n = Math.ceil(bytes / 4) * 4;
    if (n <= 0) return;
    this.#commandEncoder().clearBuffer(buffer, 0, n);
  }

  /** Submits the recorded work (writing this batch's uniforms first). */
  flush(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
    if (this.#encoder) {
      if (this.#arenaUsed > 0) {
        this.device.queue.writeBuffer(this.#arena, 0, this.#arenaData, 0, this.#arenaUsed / 4);
      }
      this.device.queue.submit([this.#encoder.finish()]);
      this.submits++;
      this.#encoder = null;
    }
    this.#arenaUsed = 0;
    this.#dispatches = 0;
    this.#batch++;
    if (this.#toDestroy.length > 0) {
      // Destroying after submit is safe: the queue keeps submitted resources alive.
      this.#destroy(this.#toDestroy);
      this.#toDestroy = [];
    }
    if (this.#texturesToDestroy.length > 0) {
      for (const t of this.#texturesToDestroy) t.destroy();
      this.#texturesToDestroy = [];
      this.#bindGroups.clear();
    }
  }

  /** Copies `bytes` of `buffer` back to the host after all queued work. */
  async readBytes(buffer: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    // The data, then the 16-byte error record kernels write (see `errorBuffer`).
    const at = Math.ceil(bytes / 4) * 4;
    const size = bucketBytes(at + 16);
    let staging = this.#stagingPool.get(size)?.pop();
    if (staging) this.#stagingBytes -= size;
    else {
      staging = this.device.createBuffer({ size, usage: USAGE_STAGING });
      this.#primeSpare(size);
    }
    if (bytes > 0) this.copy(buffer, staging, at);
    this.copy(this.errorBuffer, staging, 16, 0, at);
    this.clear(this.errorBuffer, 16);
    this.flush();
    const mapping = staging.mapAsync(1, /* READ */ 0, size);
    let mapped = this.#mappedEarly(staging, size);
    const early = mapped !== null;
    if (!early) {
      try {
        await mapping;
      } catch (e) {
        await this.checkErrors();
        throw e;
      }
      mapped = staging.getMappedRange(0, size);
      this.#primed.add(staging);
    }
    const out = mapped!.slice(0, bytes);
    const record = new Int32Array(mapped!.slice(at, at + 16));
    staging.unmap();
    if (early) {
      // Deno resolves `mapping` ~10 ms after the data was readable, and only in a turn of
      // the event loop, which a loop of early reads (all microtasks) may not give it for
      // many reads. The buffer is unmapped and free for the next map at once (wgpu holds no
      // map of it; Deno's settling promise touches only its own state).
      mapping.catch(() => {});
    }
    this.#returnStaging(staging, size);
    this.readsEarly += early ? 1 : 0;
    await this.checkErrors();
    if (record[0] !== 0) throw kernelError(record);
    if (!early) this.#earlyRun = 0;
    else if (++this.#earlyRun >= EARLY_READS_PER_TURN) {
      // The settling promises of early reads pile up until the event loop gets a turn,
      // which a loop of reads alone never gives it; one turn now and then lets them go.
      this.#earlyRun = 0;
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    return out;
  }

  /**
   * The mapped range of `staging` if its map already completed, else null.
   *
   * Deno's `mapAsync` waits for the device inside the call (a blocking poll),
   * so the map is complete when the call returns, but it resolves its promise
   * only after an unconditional 10 ms sleep: a floor under every readback that
   * on a real GPU is several times the work of a whole training step. Reading
   * the range at once skips that sleep. It is tried only on buffers that have
   * completed an ordinary map before (Deno needs the map mode recorded then),
   * and where the map is not complete (a browser, another runtime), the range
   * call throws and the caller awaits the promise as usual.
   */
  #mappedEarly(staging: GPUBuffer, size: number): ArrayBuffer | null {
    if (!this.#primed.has(staging) || !this.earlyReads) return null;
    try {
      return staging.getMappedRange(0, size);
    } catch {
      return null;
    }
  }

  /**
   * Maps and unmaps one more small staging buffer in the background, so that
   * reads in quick succession (each buffer is busy ~10 ms after an early read)
   * find a primed buffer in the pool instead of paying for an ordinary map.
   */
  #primeSpare(size: number): void {
    if (size > STAGING_SMALL || this.#priming.has(size) || !this.earlyReads) return;
    this.#priming.add(size);
    const spare = this.device.createBuffer({ size, usage: USAGE_STAGING });
    spare.mapAsync(1, /* READ */ 0, size).then(() => {
      spare.unmap();
      this.#primed.add(spare);
      this.#returnStaging(spare, size);
    }, () => spare.destroy()).finally(() => this.#priming.delete(size));
  }

  #returnStaging(staging: GPUBuffer, size: number): void {
    let list = this.#stagingPool.get(size);
    if (!list) this.#stagingPool.set(size, list = []);
    const depth = size <= 65_536 ? 16 : size <= STAGING_SMALL ? 4 : 2;
    if (list.length < depth && this.#stagingBytes + size <= STAGING_CAP_BYTES) {
      list.push(staging);
      this.#stagingBytes += size;
    } else staging.destroy();
  }
}
