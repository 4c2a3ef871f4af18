/**
 * Datasets hold samples as TypedArrays (never as tensors): `get(i)` returns one
 * `[x, t]` pair, and `getBatch(indices)` gathers many at once so that a
 * DataLoader uploads one array per batch.
 *
 * @module
 */
import { fmtShape, sizeOf } from "../core/shape.ts";

/** The element arrays a sample may use: `Uint8Array` for raw images, the tensor dtypes otherwise. */
export type SampleArray = Uint8Array | Int32Array | Float32Array | Float64Array;

/** An n-dimensional sample (or batch) as a flat row-major array and its shape. */
export interface Sample {
  /** The elements, row-major. */
  readonly data: SampleArray;
  /** The shape (`[]` for a scalar such as a class label). */
  readonly shape: readonly number[];
}

/**
 * A sample-to-sample function. Transforms never modify their input (samples may be views
 * into a dataset's storage). `applyBatch` is an optional fast path that gives the same result
 * as `apply` on each sample of a batch whose first axis indexes the samples.
 */
export interface Transform {
  /** Transforms one sample. */
  apply(x: Sample): Sample;
  /** Transforms a batch (first axis = samples) as `apply` would each sample. */
  applyBatch?(batch: Sample): Sample;
}

/** A {@linkcode Transform} or a plain function of a sample. */
export type TransformLike = Transform | ((x: Sample) => Sample);

/** Options common to every dataset. */
export interface DatasetOptions {
  /** Applied to each input `x` (null or omitted: none, unless the dataset has a default). */
  transform?: TransformLike | null;
  /** Applied to each target `t`. */
  targetTransform?: TransformLike | null;
}

/** Turns a {@linkcode TransformLike} into a {@linkcode Transform} (null stays null). */
export function asTransform(t: TransformLike | null | undefined): Transform | null {
  if (t === null || t === undefined) return null;
  return typeof t === "function" ? { apply: t } : t;
}

/**
 * Applies `t` to a batch: its `applyBatch` when it has one, else `apply` on each sample,
 * stacked into one array.
 */
export function applyToBatch(t: Transform | null, batch: Sample): Sample {
  if (t === null) return batch;
  if (t.applyBatch) return t.applyBatch(batch);
  const n = batch.shape[0];
  const itemShape = batch.shape.slice(1);
  const itemSize = sizeOf(itemShape);
  const out: Sample[] = [];
  for (let i = 0; i < n; i++) {
    out.push(t.apply({
      data: batch.data.subarray(i * itemSize, (i + 1) * itemSize),
      shape: itemShape,
    }));
  }
  return stackSamples("transform", out);
}

/**
 * Stacks samples of one shape and array type along a new first axis.
 *
 * @example
 * ```ts
 * import { stackSamples } from "./dataset.ts";
 * const b = stackSamples("example", [
 *   { data: new Float32Array([1, 2]), shape: [2] },
 *   { data: new Float32Array([3, 4]), shape: [2] },
 * ]);
 * console.log(b.shape); // [2, 2]
 * ```
 */
export function stackSamples(op: string, samples: readonly Sample[]): Sample {
  if (samples.length === 0) {
    throw new RangeError(`${op}: cannot stack an empty list of samples`);
  }
  const first = samples[0];
  const size = first.data.length;
  const Ctor = first.data.constructor as new (n: number) => SampleArray;
  const out = new Ctor(size * samples.length);
  samples.forEach((s, i) => {
    if (s.data.constructor !== Ctor || !sameShape(s.shape, first.shape)) {
      throw new TypeError(
        `${op}: sample ${i} is ${s.data.constructor.name} of shape ${fmtShape(s.shape)}, ` +
          `sample 0 is ${Ctor.name} of shape ${fmtShape(first.shape)}: samples must match to batch`,
      );
    }
    out.set(s.data, i * size);
  });
  return { data: out, shape: [samples.length, ...first.shape] };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/**
 * The base class of datasets (DeZero's `Dataset`): `length`, `get(i)` returning `[x, t]` with
 * the transforms applied, and `getBatch(indices)`. Subclasses implement `length` and
 * `getRaw(i)`; {@linkcode ArrayDataset} is the array-backed one with a fast batch path.
 *
 * @example
 * ```ts
 * import { Dataset, type Sample } from "./dataset.ts";
 * class Squares extends Dataset {
 *   get length() { return 10; }
 *   getRaw(i: number): [Sample, Sample] {
 *     return [
 *       { data: new Float32Array([i]), shape: [1] },
 *       { data: new Float32Array([i * i]), shape: [1] },
 *     ];
 *   }
 * }
 * const [x, t] = new Squares().get(3);
 * console.log(x.data[0], t.data[0]); // 3 9
 * ```
 */
export abstract class Dataset {
  /** Applied to each input by `get` and `getBatch`. */
  transform: Transform | null;
  /** Applied to each target by `get` and `getBatch`. */
  targetTransform: Transform | null;

  /** A dataset with optional transforms. */
  constructor(options: DatasetOptions = {}) {
    this.transform = asTransform(options.transform);
    this.targetTransform = asTransform(options.targetTransform);
  }

  /** Number of samples. */
  abstract get length(): number;

  /** Sample `i` without transforms (may be a view into the dataset's storage: do not modify). */
  abstract getRaw(i: number): [x: Sample, t: Sample];

  /** Sample `i` as `[x, t]` with the transforms applied. */
  get(i: number): [x: Sample, t: Sample] {
    this.checkIndex(i);
    const [x, t] = this.getRaw(i);
    return [
      this.transform ? this.transform.apply(x) : x,
      this.targetTransform ? this.targetTransform.apply(t) : t,
    ];
  }

  /**
   * Samples `indices` stacked along a new first axis, transforms applied: `[x, t]` with shapes
   * `[indices.length, ...]`. Always new arrays, safe to keep or modify.
   */
  getBatch(indices: ArrayLike<number>): [x: Sample, t: Sample] {
    const xs: Sample[] = [];
    const ts: Sample[] = [];
    for (let k = 0; k < indices.length; k++) {
      const [x, t] = this.get(indices[k]);
      xs.push(x);
      ts.push(t);
    }
    return [stackSamples("getBatch", xs), stackSamples("getBatch", ts)];
  }

  /** Iterates over the samples in order. */
  *[Symbol.iterator](): Iterator<[x: Sample, t: Sample]> {
    for (let i = 0; i < this.length; i++) yield this.get(i);
  }

  /** Throws a RangeError unless `i` is an integer index into the dataset. */
  protected checkIndex(i: number): void {
    if (!Number.isInteger(i) || i < 0 || i >= this.length) {
      throw new RangeError(
        `${this.constructor.name}.get: index ${i} is out of range for ${this.length} samples`,
      );
    }
  }
}

/**
 * A dataset backed by two arrays whose first axis indexes the samples (DeZero's `data` and
 * `label`). `getBatch` gathers rows and applies the transforms' batch paths, so batching a
 * whole epoch allocates one array per batch.
 *
 * @example
 * ```ts
 * import { ArrayDataset } from "./dataset.ts";
 * const ds = new ArrayDataset(
 *   { data: new Float32Array([0, 1, 2, 3, 4, 5]), shape: [3, 2] },
 *   { data: new Int32Array([0, 1, 0]), shape: [3] },
 * );
 * const [x, t] = ds.getBatch([2, 0]);
 * console.log(Array.from(x.data), x.shape, Array.from(t.data)); // [4, 5, 0, 1] [2, 2] [0, 0]
 * ```
 */
export class ArrayDataset extends Dataset {
  /** The inputs, first axis = samples. */
  readonly data: Sample;
  /** The targets, first axis = samples. */
  readonly label: Sample;
  readonly #xSize: number;
  readonly #tSize: number;

  /** A dataset over `data` and `label` (equal first dimensions). */
  constructor(data: Sample, label: Sample, options: DatasetOptions = {}) {
    super(options);
    checkSample(this.constructor.name, "data", data);
    checkSample(this.constructor.name, "label", label);
    if (data.shape[0] !== label.shape[0]) {
      throw new TypeError(
        `${this.constructor.name}: data ${fmtShape(data.shape)} and label ` +
          `${fmtShape(label.shape)} have different numbers of samples`,
      );
    }
    this.data = data;
    this.label = label;
    this.#xSize = sizeOf(data.shape.slice(1));
    this.#tSize = sizeOf(label.shape.slice(1));
  }

  /** Number of samples. */
  get length(): number {
    return this.data.shape[0];
  }

  /** Sample `i` without transforms: views into `data` and `label`. */
  getRaw(i: number): [x: Sample, t: Sample] {
    return [
      {
        data: this.data.data.subarray(i * this.#xSize, (i + 1) * this.#xSize),
        shape: this.data.shape.slice(1),
      },
      {
        data: this.label.data.subarray(i * this.#tSize, (i + 1) * this.#tSize),
        shape: this.label.shape.slice(1),
      },
    ];
  }

  /** Samples `indices` gathered into new arrays, transforms applied through their batch paths. */
  override getBatch(indices: ArrayLike<number>): [x: Sample, t: Sample] {
    for (let k = 0; k < indices.length; k++) this.checkIndex(indices[k]);
    return [
      applyToBatch(this.transform, gatherRows(this.data, indices, this.#xSize)),
      applyToBatch(this.targetTransform, gatherRows(this.label, indices, this.#tSize)),
    ];
  }
}

function checkSample(op: string, what: string, s: Sample): void {
  if (s.shape.length === 0 || sizeOf(s.shape) !== s.data.length) {
    throw new TypeError(
      `${op}: ${what} has ${s.data.length} elements for shape ${fmtShape(s.shape)}: ` +
        `expected a first axis of samples and a matching element count`,
    );
  }
}

function gatherRows(src: Sample, indices: ArrayLike<number>, rowSize: number): Sample {
  const Ctor = src.data.constructor as new (n: number) => SampleArray;
  const out = new Ctor(indices.length * rowSize);
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k];
    out.set(src.data.subarray(i * rowSize, (i + 1) * rowSize), k * rowSize);
  }
  return { data: out, shape: [indices.length, ...src.shape.slice(1)] };
}
