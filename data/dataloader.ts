/**
 * Mini-batch iteration (DeZero's `DataLoader` and `SeqDataLoader`). Batches are
 * gathered as TypedArrays by the dataset's `getBatch` and uploaded as one array
 * each, so no per-sample tensor is ever built.
 *
 * @module
 */
import { describeValue } from "../core/_validate.ts";
import { checkOptions, type OptionKind } from "../nn/_options.ts";
import { type Device, tensor, type Variable } from "../core/mod.ts";
import { defaultGenerator, Generator as RandomGenerator } from "../core/random.ts";
import {
  asDataset,
  type Dataset,
  type DatasetLike,
  type Sample,
  type SampleArray,
} from "./dataset.ts";

/** Options of {@linkcode DataLoader}. */
export interface DataLoaderOptions {
  /** Draw a new random order at every epoch (default true, as DeZero's). */
  shuffle?: boolean;
  /** Skip the last batch when it is smaller than `batchSize` (default false). */
  dropLast?: boolean;
  /** Where batches are created: `"cpu"` (default) or `"gpu"` (after `await initGpu()`). */
  device?: Device;
  /** Seed of the loader's own shuffling generator; without it the default one (`manualSeed`). */
  seed?: number;
  /**
   * Dispose each batch's Variables when the next batch is produced or the epoch ends
   * (default true), so that a training loop holds one batch of device memory at a time.
   */
  autoDispose?: boolean;
}

/**
 * Iterates over a dataset in mini-batches of Variables `[x, t]`: `x` is float32 (uint8 images
 * are converted; int32 and float stay), `t` is int32 for integer labels and float otherwise.
 * Each batch is one upload per array to `device`.
 *
 * As in DeZero, the loader is its own iterator: a `for` loop runs over the rest of the current
 * epoch, and when the epoch ends the loader calls {@linkcode DataLoader.reset} (a new shuffle)
 * so that the next loop is a full new epoch. After a `break`, the next loop resumes where it
 * stopped; call `reset()` to start over.
 *
 * Memory: unless `autoDispose` is false, a batch's Variables are disposed when the next batch
 * is produced or when the epoch ends, so that device memory stays flat in a training loop.
 * Do not keep `x` or `t` (or call `backward()` on a graph built from them) past the loop
 * iteration that received them; copy what you need (`x.add(0)`) or pass `autoDispose: false`.
 *
 * @example
 * ```ts
 * import { DataLoader } from "./dataloader.ts";
 * import { Spiral } from "./datasets.ts";
 * const loader = new DataLoader(new Spiral(), 30, { seed: 0 });
 * console.log(loader.length); // 10
 * for (const [x, t] of loader) {
 *   console.log(x.shape, t.dtype); // [30, 2] int32
 *   break;
 * }
 * ```
 */
export class DataLoader implements Iterable<[x: Variable, t: Variable]> {
  /** The dataset. */
  readonly dataset: Dataset;
  /** Samples per batch. */
  readonly batchSize: number;
  /** Whether each epoch is shuffled. */
  readonly shuffle: boolean;
  /** Whether a last smaller batch is skipped. */
  readonly dropLast: boolean;
  /** Where batches are created. */
  readonly device: Device;
  /** Whether batches are disposed when the next is produced. */
  readonly autoDispose: boolean;
  #rng: RandomGenerator;
  #order: Int32Array = new Int32Array(0);
  #iteration = 0;
  #current: [Variable, Variable] | null = null;

  /**
   * A loader over `dataset` in batches of `batchSize`. A plain array of `[x, t]` pairs (or an
   * object with `length` and `get(i)`) is wrapped as a dataset, as DeZero's loader takes any
   * indexable dataset.
   */
  constructor(dataset: DatasetLike, batchSize: number, options?: DataLoaderOptions);
  /** DeZero's positional form: `new DataLoader(dataset, 30, false)` does not shuffle. */
  constructor(dataset: DatasetLike, batchSize: number, shuffle: boolean);
  constructor(
    dataset: DatasetLike,
    batchSize: number,
    shuffleOrOptions: DataLoaderOptions | boolean = {},
  ) {
    const op = this.constructor.name;
    checkArgCount(op, arguments.length);
    const options = checkOptions<DataLoaderOptions>(
      op,
      typeof shuffleOrOptions === "boolean" ? { shuffle: shuffleOrOptions } : shuffleOrOptions,
      LOADER_OPTIONS,
      "{ shuffle: false }",
      "batchSize",
    );
    if (typeof batchSize !== "number") {
      throw new TypeError(
        `${op}: batchSize must be a positive integer, got ${describeValue(batchSize)}`,
      );
    }
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new RangeError(`${op}: batchSize must be a positive integer, got ${batchSize}`);
    }
    this.dataset = asDataset(dataset, this.constructor.name);
    this.batchSize = batchSize;
    this.shuffle = options.shuffle ?? true;
    this.dropLast = options.dropLast ?? false;
    this.device = options.device ?? "cpu";
    this.autoDispose = options.autoDispose ?? true;
    this.#rng = options.seed === undefined ? defaultGenerator : new RandomGenerator(options.seed);
    this.reset();
  }

  /** Number of batches per epoch. */
  get length(): number {
    const n = this.dataset.length;
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** Index of the next batch within the epoch. */
  get iteration(): number {
    return this.#iteration;
  }

  /** Starts a new epoch: back to the first batch, with a new order when shuffling. */
  reset(): void {
    this.#iteration = 0;
    const n = this.dataset.length;
    this.#order = this.shuffle
      ? this.#rng.permutation(n)
      : Int32Array.from({ length: n }, (_, i) => i);
  }

  /** The dataset indices of batch `iteration` of the current epoch. */
  protected batchIndices(iteration: number): Int32Array {
    const start = iteration * this.batchSize;
    return this.#order.subarray(start, Math.min(start + this.batchSize, this.#order.length));
  }

  /**
   * The next batch as TypedArrays (no Variables, nothing to dispose), or null at the end of
   * the epoch (which also resets the loader).
   */
  nextSamples(): [x: Sample, t: Sample] | null {
    if (this.#iteration >= this.length) {
      this.reset();
      return null;
    }
    const indices = this.batchIndices(this.#iteration);
    this.#iteration++;
    return this.dataset.getBatch(indices);
  }

  /** The rest of the epoch as TypedArray batches (see {@linkcode DataLoader.nextSamples}). */
  *samples(): Generator<[x: Sample, t: Sample], void, undefined> {
    for (let b = this.nextSamples(); b !== null; b = this.nextSamples()) yield b;
  }

  /**
   * The next batch as Variables on `device`, or null at the end of the epoch (DeZero's
   * `next(loader)`). Disposes the previous batch when `autoDispose` is on.
   */
  next(): [x: Variable, t: Variable] | null {
    this.#disposeCurrent();
    const b = this.nextSamples();
    if (b === null) return null;
    this.#current = [this.#upload(b[0], false), this.#upload(b[1], true)];
    return this.#current;
  }

  /** Iterates over the rest of the epoch (see the class notes on resuming and disposal). */
  *[Symbol.iterator](): Iterator<[x: Variable, t: Variable]> {
    for (let b = this.next(); b !== null; b = this.next()) yield b;
  }

  #disposeCurrent(): void {
    if (this.autoDispose && this.#current !== null) {
      disposeBatch(this.#current[0], "x");
      disposeBatch(this.#current[1], "t");
    }
    this.#current = null;
  }

  #upload(s: Sample, isTarget: boolean): Variable {
    return tensor(toTensorArray(s.data, isTarget), {
      device: this.device,
      shape: s.shape,
      requiresGrad: false,
    });
  }
}

/**
 * Disposes a batch Variable, renamed so that a later use (a `backward()` through
 * a graph kept past its loop iteration) says why it is gone: the name is in the error.
 */
function disposeBatch(v: Variable, which: string): void {
  v.name = `${which} (a batch the DataLoader disposed when it produced the next one: ` +
    `pass autoDispose: false to keep batches in a graph across iterations)`;
  v.dispose();
}

/** Uint8 inputs become float32, uint8 targets int32; the tensor dtypes pass through. */
function toTensorArray(
  data: SampleArray,
  isTarget: boolean,
): Float32Array | Float64Array | Int32Array {
  if (data instanceof Uint8Array) {
    return isTarget ? Int32Array.from(data) : Float32Array.from(data);
  }
  return data;
}

/** Throws unless a loader's constructor got at most its 3 arguments (DeZero's had a 4th). */
function checkArgCount(op: string, count: number): void {
  if (count > 3) {
    throw new TypeError(
      `${op}: takes (dataset, batchSize, options), got ${count} arguments: ` +
        `DeZero's gpu argument is the option device: "gpu"`,
    );
  }
}

const LOADER_OPTIONS: Record<keyof DataLoaderOptions, OptionKind> = {
  shuffle: "boolean",
  dropLast: "boolean",
  device: "device",
  seed: "number",
  autoDispose: "boolean",
};

/** Options of {@linkcode SeqDataLoader}. */
export interface SeqDataLoaderOptions {
  /** Where batches are created (default `"cpu"`). */
  device?: Device;
  /**
   * Dispose each batch when the next is produced (default false, unlike
   * {@linkcode DataLoader}: truncated BPTT keeps the batches of several steps in
   * one graph until `backward()`). Unreferenced batches are freed by the garbage
   * collector; pass true when each step's graph ends with its own `backward()`.
   */
  autoDispose?: boolean;
}

/**
 * Batches for truncated backpropagation through time (DeZero's `SeqDataLoader`): the
 * sequence is cut into `batchSize` streams `jump = ⌊N / batchSize⌋` apart, and batch `k`
 * holds element `k` of every stream (`(i·jump + k) mod N` for stream `i`), so consecutive
 * batches continue each stream. Never shuffled; `length` is `⌈N / batchSize⌉` as in DeZero.
 * Batches are not disposed by default (see {@linkcode SeqDataLoaderOptions.autoDispose}), so
 * a loss summed over `bptt` steps can be backpropagated, as in DeZero's step 60.
 *
 * @example
 * ```ts
 * import { SeqDataLoader } from "./dataloader.ts";
 * import { SinCurve } from "./datasets.ts";
 * const loader = new SeqDataLoader(new SinCurve(), 3);
 * const [x, t] = loader.next()!;
 * console.log(x.shape, t.shape); // [3, 1] [3, 1]
 * ```
 */
export class SeqDataLoader extends DataLoader {
  /** A sequential loader of `batchSize` parallel streams. */
  constructor(dataset: DatasetLike, batchSize: number, options: SeqDataLoaderOptions = {}) {
    checkArgCount("SeqDataLoader", arguments.length);
    checkOptions(
      "SeqDataLoader",
      options,
      { device: "device", autoDispose: "boolean" },
      '{ device: "gpu" }',
      "batchSize",
    );
    super(dataset, batchSize, {
      ...options,
      shuffle: false,
      dropLast: false,
      autoDispose: options.autoDispose ?? false,
    });
    if (batchSize > this.dataset.length) {
      // The streams start ⌊N / batchSize⌋ = 0 apart: every row would be the same sample.
      throw new RangeError(
        `SeqDataLoader: batchSize ${batchSize} is more than the ${this.dataset.length} ` +
          `elements of the sequence: each of the streams needs at least one element`,
      );
    }
  }

  /** Element `iteration` of each of the `batchSize` streams. */
  protected override batchIndices(iteration: number): Int32Array {
    const n = this.dataset.length;
    const jump = Math.floor(n / this.batchSize);
    return Int32Array.from({ length: this.batchSize }, (_, i) => (i * jump + iteration) % n);
  }
}
