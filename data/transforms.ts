/**
 * Sample transforms (DeZero's `dezero.transforms`) on TypedArray samples. Each has
 * `apply(sample)` and, where it is cheaper, an `applyBatch(batch)` fast path that
 * DataLoader uses. Transforms never modify their input.
 *
 * @example
 * ```ts
 * import { Compose, Flatten, Normalize, ToFloat } from "./transforms.ts";
 * const t = new Compose([new Flatten(), new ToFloat(), new Normalize(0, 255)]);
 * const y = t.apply({ data: new Uint8Array([0, 255, 51, 102]), shape: [1, 2, 2] });
 * console.log(y.shape, Array.from(y.data)); // [4] [0, 1, 0.2, 0.4]
 * ```
 *
 * @module
 */
import { describeValue } from "../core/_validate.ts";
import { type DType, floatToInt32 } from "../core/dtype.ts";
import { defaultGenerator, Generator } from "../core/random.ts";
import { fmtShape, sizeOf } from "../core/shape.ts";
import {
  applyToBatch,
  asTransform,
  type Sample,
  type SampleArray,
  type Transform,
  type TransformLike,
} from "./dataset.ts";

/**
 * Applies transforms in order.
 *
 * @example
 * ```ts
 * import { Compose, Flatten, ToFloat } from "./transforms.ts";
 * const t = new Compose([new Flatten(), new ToFloat()]);
 * console.log(t.apply({ data: new Uint8Array(4), shape: [2, 2] }).shape); // [4]
 * ```
 */
export class Compose implements Transform {
  /** The transforms, applied first to last. */
  readonly transforms: readonly Transform[];

  /** Composes `transforms` (Transforms or plain functions). */
  constructor(transforms: readonly TransformLike[]) {
    if (!Array.isArray(transforms)) {
      throw new TypeError(
        `Compose: expected an array of transforms (new Compose([a, b])), got ${
          describeValue(transforms)
        }`,
      );
    }
    this.transforms = transforms.map((t, i) => {
      const isTransform = typeof t === "function" ||
        (typeof t === "object" && t !== null && typeof (t as Transform).apply === "function");
      if (!isTransform) {
        throw new TypeError(
          `Compose: transform ${i} is ${describeValue(t)}, not a function or an object ` +
            `with apply(sample)`,
        );
      }
      return asTransform(t)!;
    });
  }

  /** Applies each transform in turn. */
  apply(x: Sample): Sample {
    for (const t of this.transforms) x = t.apply(x);
    return x;
  }

  /** Applies each transform's batch path in turn (per sample for those without one). */
  applyBatch(batch: Sample): Sample {
    for (const t of this.transforms) batch = applyToBatch(t, batch);
    return batch;
  }
}

/**
 * Converts the element type (DeZero's `AsType`); float to int32 goes toward zero, saturating
 * at the int32 range, NaN to 0 (as `astype`).
 *
 * @example
 * ```ts
 * import { AsType } from "./transforms.ts";
 * const y = new AsType("int32").apply({ data: new Float32Array([1.7, -2.5]), shape: [2] });
 * console.log(Array.from(y.data)); // [1, -2]
 * ```
 */
export class AsType implements Transform {
  /** The target dtype. */
  readonly dtype: DType;

  /** Converts to `dtype`. */
  constructor(dtype: DType) {
    if (!["float32", "float64", "int32"].includes(dtype)) {
      throw new TypeError(`AsType: unknown dtype ${JSON.stringify(dtype)}`);
    }
    this.dtype = dtype;
  }

  /** Converts one sample (returns it unchanged when already of the dtype). */
  apply(x: Sample): Sample {
    return { data: convert(x.data, this.dtype), shape: x.shape };
  }

  /** Same as `apply`: the conversion is elementwise. */
  applyBatch(batch: Sample): Sample {
    return this.apply(batch);
  }
}

/**
 * Converts to a float dtype (`float32` by default), DeZero's `ToFloat`.
 *
 * @example
 * ```ts
 * import { ToFloat } from "./transforms.ts";
 * console.log(new ToFloat().apply({ data: new Uint8Array([3]), shape: [1] }).data); // Float32Array [3]
 * ```
 */
export class ToFloat extends AsType {
  /** Converts to `dtype` (`float32` or `float64`). */
  constructor(dtype: "float32" | "float64" = "float32") {
    super(dtype);
  }
}

/**
 * Converts to `int32` (truncating toward zero), DeZero's `ToInt`.
 *
 * @example
 * ```ts
 * import { ToInt } from "./transforms.ts";
 * console.log(new ToInt().apply({ data: new Float32Array([2.9]), shape: [1] }).data); // Int32Array [2]
 * ```
 */
export class ToInt extends AsType {
  /** Converts to `int32`. */
  constructor() {
    super("int32");
  }
}

function convert(data: SampleArray, dtype: DType): SampleArray {
  switch (dtype) {
    case "float32":
      return data instanceof Float32Array ? data : Float32Array.from(data);
    case "float64":
      return data instanceof Float64Array ? data : Float64Array.from(data);
    case "int32":
      if (data instanceof Int32Array) return data;
      if (data instanceof Uint8Array) return Int32Array.from(data);
      return floatToInt32(data);
  }
}

/**
 * Flattens a sample to one axis (a batch to `[N, rest]`).
 *
 * @example
 * ```ts
 * import { Flatten } from "./transforms.ts";
 * console.log(new Flatten().apply({ data: new Uint8Array(6), shape: [1, 2, 3] }).shape); // [6]
 * ```
 */
export class Flatten implements Transform {
  /** Flattens one sample (no copy). */
  apply(x: Sample): Sample {
    return { data: x.data, shape: [x.data.length] };
  }

  /** Flattens each sample of a batch (no copy). */
  applyBatch(batch: Sample): Sample {
    const n = batch.shape[0];
    return { data: batch.data, shape: [n, n === 0 ? 0 : batch.data.length / n] };
  }
}

/**
 * Reshapes each sample (one `-1` is inferred).
 *
 * @example
 * ```ts
 * import { Reshape } from "./transforms.ts";
 * console.log(new Reshape([1, 28, 28]).apply({ data: new Uint8Array(784), shape: [784] }).shape); // [1, 28, 28]
 * ```
 */
export class Reshape implements Transform {
  /** The target sample shape. */
  readonly shape: readonly number[];

  /** Reshapes samples to `shape`. */
  constructor(shape: readonly number[]) {
    const ok = Array.isArray(shape) &&
      shape.every((d) => Number.isInteger(d) && d >= -1) &&
      shape.filter((d) => d === -1).length <= 1;
    if (!ok) {
      throw new TypeError(
        `Reshape: shape must be an array of non-negative integers with at most one -1, got ${
          describeValue(shape)
        }`,
      );
    }
    this.shape = [...shape];
  }

  /** Reshapes one sample (no copy). */
  apply(x: Sample): Sample {
    return { data: x.data, shape: resolveShape(this.shape, x.data.length, x.shape) };
  }

  /** Reshapes each sample of a batch (no copy). */
  applyBatch(batch: Sample): Sample {
    const n = batch.shape[0];
    const itemSize = n === 0 ? 0 : batch.data.length / n;
    return {
      data: batch.data,
      shape: [n, ...resolveShape(this.shape, itemSize, batch.shape.slice(1))],
    };
  }
}

function resolveShape(shape: readonly number[], size: number, from: readonly number[]): number[] {
  const known = shape.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  const inferred = shape.includes(-1) ? (known === 0 ? NaN : size / known) : 1;
  const out = shape.map((d) => (d === -1 ? inferred : d));
  if (!Number.isInteger(inferred) || sizeOf(out) !== size) {
    throw new TypeError(
      `Reshape: cannot reshape a sample of shape ${fmtShape(from)} to ${fmtShape(shape)}`,
    );
  }
  return out;
}

/**
 * `(x - mean) / std`, DeZero's `Normalize`. `mean` and `std` are numbers, or per-channel
 * arrays: along the first axis of a `[C, H, W]` sample, else along the last axis. The result is
 * float32 (float64 stays float64).
 *
 * @example
 * ```ts
 * import { Normalize } from "./transforms.ts";
 * const n = new Normalize([0.5, 1], [0.5, 2]);
 * const y = n.apply({ data: new Float32Array([0.5, 1, 1, 3]), shape: [2, 1, 2] });
 * console.log(Array.from(y.data)); // [0, 1, 0, 1]
 * ```
 */
export class Normalize implements Transform {
  /** The mean (a number or one per channel). */
  readonly mean: number | readonly number[];
  /** The standard deviation (a number or one per channel). */
  readonly std: number | readonly number[];

  /** Normalizes with `mean` and `std` (DeZero's defaults 0 and 1). */
  constructor(mean: number | readonly number[] = 0, std: number | readonly number[] = 1) {
    const list = (name: string, v: unknown): number[] => {
      const values = typeof v === "number" ? [v] : Array.isArray(v) ? v : null;
      if (values === null || values.length === 0 || !values.every(Number.isFinite)) {
        throw new TypeError(
          `Normalize: ${name} must be a finite number or a non-empty array of them, got ${
            describeValue(v)
          }`,
        );
      }
      return values;
    };
    const means = list("mean", mean);
    const stds = list("std", std);
    if (stds.some((s) => s === 0)) throw new RangeError("Normalize: std must not be 0");
    if (means.length > 1 && stds.length > 1 && means.length !== stds.length) {
      throw new RangeError(
        `Normalize: mean has ${means.length} channels but std ${stds.length}: give one value ` +
          `or one per channel for each`,
      );
    }
    this.mean = mean;
    this.std = std;
  }

  /** Normalizes one sample. */
  apply(x: Sample): Sample {
    return this.#normalize(x, x.shape);
  }

  /** Normalizes each sample of a batch. */
  applyBatch(batch: Sample): Sample {
    return this.#normalize(batch, batch.shape.slice(1));
  }

  #normalize(x: Sample, itemShape: readonly number[]): Sample {
    const out = x.data instanceof Float64Array
      ? new Float64Array(x.data.length)
      : new Float32Array(x.data.length);
    const src = x.data;
    const { mean, std } = this;
    if (typeof mean === "number" && typeof std === "number") {
      for (let i = 0; i < src.length; i++) out[i] = (src[i] - mean) / std;
      return { data: out, shape: x.shape };
    }
    const channels = Math.max(
      typeof mean === "number" ? 1 : mean.length,
      typeof std === "number" ? 1 : std.length,
    );
    // Per-channel: channel axis 0 of a CHW sample, else the last axis (NumPy broadcasting).
    const chw = itemShape.length === 3;
    const axisLen = chw ? itemShape[0] : itemShape[itemShape.length - 1];
    if (axisLen !== channels) {
      throw new TypeError(
        `Normalize: ${channels} channel values do not fit a sample of shape ${fmtShape(itemShape)}`,
      );
    }
    const inner = chw ? itemShape[1] * itemShape[2] : 1;
    const m = (c: number) => (typeof mean === "number" ? mean : mean[c]);
    const s = (c: number) => (typeof std === "number" ? std : std[c]);
    for (let i = 0; i < src.length; i++) {
      const c = Math.floor(i / inner) % channels;
      out[i] = (src[i] - m(c)) / s(c);
    }
    return { data: out, shape: x.shape };
  }
}

/** Options of {@linkcode RandomHorizontalFlip}. */
export interface RandomHorizontalFlipOptions {
  /** Probability of flipping each sample (default 0.5). */
  p?: number;
  /** Seed of a private generator; without it the default generator (`manualSeed`) is used. */
  seed?: number;
}

/**
 * Mirrors `[H, W]` or `[C, H, W]` images left-right (reverses the last axis) with
 * probability `p`, independently per sample.
 *
 * @example
 * ```ts
 * import { RandomHorizontalFlip } from "./transforms.ts";
 * const flip = new RandomHorizontalFlip(1); // or { p: 1, seed: 0 }
 * const y = flip.apply({ data: new Uint8Array([1, 2, 3, 4]), shape: [2, 2] });
 * console.log(Array.from(y.data)); // [2, 1, 4, 3]
 * ```
 */
export class RandomHorizontalFlip implements Transform {
  /** Probability of flipping. */
  readonly p: number;
  #rng: Generator;

  /** A flip with probability `p` (default 0.5), given as a number (as torchvision) or in the options. */
  constructor(options: number | RandomHorizontalFlipOptions = {}) {
    if (typeof options === "number") options = { p: options };
    if (typeof options !== "object" || options === null) {
      throw new TypeError(
        `RandomHorizontalFlip: expected a probability or options, got ${typeof options}`,
      );
    }
    this.p = options.p ?? 0.5;
    if (!(this.p >= 0 && this.p <= 1)) {
      throw new RangeError(`RandomHorizontalFlip: p must be in [0, 1], got ${this.p}`);
    }
    this.#rng = options.seed === undefined ? defaultGenerator : new Generator(options.seed);
  }

  /** Flips one image with probability `p` (a copy either way). */
  apply(x: Sample): Sample {
    if (x.shape.length !== 2 && x.shape.length !== 3) {
      throw new TypeError(
        `RandomHorizontalFlip: expected an image of shape [H, W] or [C, H, W], got ${
          fmtShape(x.shape)
        }`,
      );
    }
    const out = x.data.slice();
    if (this.#rng.random() < this.p) flipLastAxis(x.data, out, x.shape[x.shape.length - 1]);
    return { data: out, shape: x.shape };
  }
}

function flipLastAxis(src: SampleArray, dst: SampleArray, w: number): void {
  for (let row = 0; row < src.length; row += w) {
    for (let j = 0; j < w; j++) dst[row + j] = src[row + w - 1 - j];
  }
}

/** Options of {@linkcode RandomCrop}. */
export interface RandomCropOptions {
  /** Zero padding added on each side before cropping (default 0). */
  padding?: number;
  /** Seed of a private generator; without it the default generator is used. */
  seed?: number;
}

/**
 * Crops a random `size × size` window from `[H, W]` or `[C, H, W]` images, after optional zero
 * padding (the usual CIFAR augmentation: `new RandomCrop(32, { padding: 4 })`).
 *
 * @example
 * ```ts
 * import { RandomCrop } from "./transforms.ts";
 * const y = new RandomCrop(2, { seed: 0 }).apply({ data: new Uint8Array(9), shape: [3, 3] });
 * console.log(y.shape); // [2, 2]
 * ```
 */
export class RandomCrop implements Transform {
  /** Output height and width. */
  readonly size: number;
  /** Zero padding on each side. */
  readonly padding: number;
  #rng: Generator;

  /** Crops `size × size` windows. */
  constructor(size: number, options: RandomCropOptions = {}) {
    this.size = size;
    this.padding = options.padding ?? 0;
    this.#rng = options.seed === undefined ? defaultGenerator : new Generator(options.seed);
  }

  /** Crops one image. */
  apply(x: Sample): Sample {
    const [h, w] = imageHW("RandomCrop", x.shape, this.size, this.padding);
    const top = this.#rng.int(h + 2 * this.padding - this.size + 1) - this.padding;
    const left = this.#rng.int(w + 2 * this.padding - this.size + 1) - this.padding;
    return crop(x, top, left, this.size);
  }
}

/**
 * Crops the central `size × size` window of `[H, W]` or `[C, H, W]` images (DeZero's
 * `CenterCrop`).
 *
 * @example
 * ```ts
 * import { CenterCrop } from "./transforms.ts";
 * const y = new CenterCrop(1).apply({ data: new Uint8Array([0, 0, 0, 0, 7, 0, 0, 0, 0]), shape: [3, 3] });
 * console.log(Array.from(y.data)); // [7]
 * ```
 */
export class CenterCrop implements Transform {
  /** Output height and width. */
  readonly size: number;

  /** Crops the central `size × size` window. */
  constructor(size: number) {
    this.size = size;
  }

  /** Crops one image. */
  apply(x: Sample): Sample {
    const [h, w] = imageHW("CenterCrop", x.shape, this.size, 0);
    return crop(x, Math.floor((h - this.size) / 2), Math.floor((w - this.size) / 2), this.size);
  }
}

function imageHW(
  op: string,
  shape: readonly number[],
  size: number,
  pad: number,
): [number, number] {
  if (shape.length !== 2 && shape.length !== 3) {
    throw new TypeError(
      `${op}: expected an image of shape [H, W] or [C, H, W], got ${fmtShape(shape)}`,
    );
  }
  const h = shape[shape.length - 2];
  const w = shape[shape.length - 1];
  if (!Number.isInteger(size) || size < 1 || size > h + 2 * pad || size > w + 2 * pad) {
    throw new RangeError(
      `${op}: crop size ${size} does not fit an image of shape ${fmtShape(shape)}`,
    );
  }
  return [h, w];
}

/** The `size × size` window at (top, left) of each channel; outside the image reads 0. */
function crop(x: Sample, top: number, left: number, size: number): Sample {
  const h = x.shape[x.shape.length - 2];
  const w = x.shape[x.shape.length - 1];
  const c = x.shape.length === 3 ? x.shape[0] : 1;
  const Ctor = x.data.constructor as new (n: number) => SampleArray;
  const out = new Ctor(c * size * size);
  for (let ch = 0; ch < c; ch++) {
    for (let i = 0; i < size; i++) {
      const r = top + i;
      if (r < 0 || r >= h) continue;
      for (let j = 0; j < size; j++) {
        const col = left + j;
        if (col >= 0 && col < w) out[(ch * size + i) * size + j] = x.data[(ch * h + r) * w + col];
      }
    }
  }
  return { data: out, shape: x.shape.length === 3 ? [c, size, size] : [size, size] };
}
