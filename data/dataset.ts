/**
 * Datasets hold samples as TypedArrays (never as tensors): `get(i)` returns one
 * `[x, t]` pair, and `getBatch(indices)` gathers many at once so that a
 * DataLoader uploads one array per batch.
 *
 * @module
 */
import { describeValue } from "../core/_validate.ts";
import { fmtShape, sizeOf } from "../core/shape.ts";
import { Variable } from "../core/variable.ts";

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
  let Ctor = first.data.constructor as new (n: number) => SampleArray;
  // Plain-number targets become int32 or float32 sample by sample (0 and 0.5): as NumPy
  // would, a batch mixing the two is float32.
  if (
    samples.some((s) => s.data instanceof Float32Array) &&
    samples.every((s) => s.data instanceof Float32Array || s.data instanceof Int32Array)
  ) {
    Ctor = Float32Array;
  }
  const out = new Ctor(size * samples.length);
  samples.forEach((s, i) => {
    const sameType = s.data.constructor === Ctor ||
      (Ctor === Float32Array && s.data instanceof Int32Array);
    if (!sameType || !sameShape(s.shape, first.shape)) {
      throw new TypeError(
        `${op}: sample ${i} is ${s.data.constructor.name} of shape ${fmtShape(s.shape)}, ` +
          `sample 0 is ${first.data.constructor.name} of shape ${
            fmtShape(first.shape)
          }: samples must match to batch`,
      );
    }
    out.set(s.data, i * size);
  });
  return { data: out, shape: [samples.length, ...first.shape] };
}

/**
 * What a dataset may return for `x` or `t`: a {@linkcode Sample}, a number, nested number
 * arrays, a TypedArray (a 1-D sample) or a Variable on the CPU.
 */
export type SampleLike = Sample | NestedNumbers | ArrayBufferView | Variable;

/** Numbers nested in arrays of equal lengths (`[[1, 2], [3, 4]]`). */
export type NestedNumbers = number | readonly NestedNumbers[];

/**
 * Converts a {@linkcode SampleLike} to a {@linkcode Sample}. Plain numbers become float32,
 * except targets (`isTarget`) whose values are all integers, which become int32 class
 * labels (as DeZero's `np.array(1)` is an integer array); TypedArrays keep their type when a
 * sample may use it (else float32, or int32 for an integer target); CPU Variables are read
 * synchronously. Anything else is a TypeError naming the accepted forms.
 *
 * @example
 * ```ts
 * import { toSample } from "./dataset.ts";
 * const x = toSample([[1, 2], [3, 4]]);
 * const t = toSample(1, { isTarget: true });
 * console.log(x.shape, x.data.constructor.name, t.data.constructor.name); // [2, 2] Float32Array Int32Array
 * ```
 */
export function toSample(
  value: SampleLike,
  options: { isTarget?: boolean; op?: string } = {},
): Sample {
  const { isTarget = false, op = "toSample" } = options;
  const fail = (detail: string): never => {
    throw new TypeError(
      `${op}: ${isTarget ? "t" : "x"} is ${detail}: a sample must be a number, nested number ` +
        `arrays, a TypedArray, a CPU Variable or { data: TypedArray, shape }`,
    );
  };
  if (typeof value === "number") {
    const data = isTarget && Number.isInteger(value)
      ? new Int32Array([value])
      : new Float32Array([value]);
    return { data, shape: [] };
  }
  if (ArrayBuffer.isView(value)) {
    return { data: sampleArray(value, isTarget, fail), shape: [typedLength(value)] };
  }
  if (value instanceof Variable) {
    const read = value.array.backend.readSync;
    if (!read) {
      fail(
        `a Variable on device "${value.device}", which cannot be read synchronously ` +
          `(move it with await x.toCpu() or return TypedArrays)`,
      );
    }
    const data = sampleArray(read!.call(value.array.backend, value.array), isTarget, fail);
    return { data, shape: [...value.shape] };
  }
  if (Array.isArray(value)) {
    const shape: number[] = [];
    for (let d: unknown = value; Array.isArray(d); d = d[0]) {
      shape.push(d.length);
      if (d.length === 0) break;
    }
    const flat: number[] = [];
    const walk = (d: unknown, depth: number, path: number[]): void => {
      if (depth === shape.length) {
        if (typeof d !== "number") {
          fail(`a ragged or non-numeric array: ${describeValue(d)} at index [${path.join(",")}]`);
        }
        flat.push(d as number);
        return;
      }
      if (!Array.isArray(d) || d.length !== shape[depth]) {
        fail(
          `a ragged array: expected length ${shape[depth]} at index [${path.join(",")}], ` +
            `got ${describeValue(d)}`,
        );
      }
      (d as unknown[]).forEach((e, k) => walk(e, depth + 1, [...path, k]));
    };
    walk(value, 0, []);
    const data = isTarget && flat.every(Number.isInteger)
      ? Int32Array.from(flat)
      : Float32Array.from(flat);
    return { data, shape };
  }
  if (value !== null && typeof value === "object" && "data" in value && "shape" in value) {
    const { data, shape } = value as { data: unknown; shape: unknown };
    if (
      !Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0) ||
      !ArrayBuffer.isView(data)
    ) {
      fail(`{ data: ${describeValue(data)}, shape: ${describeValue(shape)} }`);
    }
    const arr = sampleArray(data as ArrayBufferView, isTarget, fail);
    if (sizeOf(shape as number[]) !== arr.length) {
      fail(`{ data, shape } with ${arr.length} elements for shape ${fmtShape(shape as number[])}`);
    }
    return arr === data ? value as Sample : { data: arr, shape: shape as number[] };
  }
  return fail(describeValue(value));
}

const SAMPLE_ARRAYS = [Uint8Array, Int32Array, Float32Array, Float64Array] as const;
const INTEGER_ARRAYS = [Int8Array, Int16Array, Uint16Array, Uint32Array, Uint8ClampedArray];

/** A TypedArray a sample may hold: the SampleArray types pass, the others are converted. */
function sampleArray(
  a: ArrayBufferView,
  isTarget: boolean,
  fail: (detail: string) => never,
): SampleArray {
  if (SAMPLE_ARRAYS.some((C) => a instanceof C)) return a as SampleArray;
  if (a instanceof DataView || a instanceof BigInt64Array || a instanceof BigUint64Array) {
    return fail(`a ${a.constructor.name}`);
  }
  const src = a as unknown as ArrayLike<number>;
  if (isTarget && INTEGER_ARRAYS.some((C) => a instanceof C)) return Int32Array.from(src);
  return Float32Array.from(src);
}

function typedLength(a: ArrayBufferView): number {
  return (a as unknown as ArrayLike<unknown>).length ?? a.byteLength;
}

/** `getRaw(i)` of `ds`, checked to be a pair and converted to Samples. */
function rawPair(ds: Dataset, i: number): [x: Sample, t: Sample] {
  const pair = ds.getRaw(i) as unknown;
  const op = ds instanceof WrappedDataset
    ? `dataset item ${i}`
    : `${ds.constructor.name}.getRaw(${i})`;
  if (!Array.isArray(pair) || pair.length !== 2) {
    const verb = ds instanceof WrappedDataset ? "must be" : "must return";
    throw new TypeError(`${op} ${verb} a pair [x, t] of samples, got ${describeValue(pair)}`);
  }
  return [toSample(pair[0], { op }), toSample(pair[1], { op, isTarget: true })];
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

  /**
   * Sample `i` without transforms (may be a view into the dataset's storage: do not modify).
   * Each of `x` and `t` is a {@linkcode Sample} or, as DeZero's `__getitem__` may return any
   * array, a {@linkcode SampleLike}: a number, nested number arrays, a TypedArray or a CPU
   * Variable, converted by `get` (see {@linkcode toSample}).
   */
  abstract getRaw(i: number): readonly [x: SampleLike, t: SampleLike];

  /** Sample `i` as `[x, t]` with the transforms applied. */
  get(i: number): [x: Sample, t: Sample] {
    this.checkIndex(i);
    const [x, t] = rawPair(this, i);
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

/**
 * What a `DataLoader` accepts as its dataset: a {@linkcode Dataset}, an array of
 * `[x, t]` pairs, or any object with `length` and `get(i)` returning a pair (DeZero's
 * loader takes anything with `__getitem__` and `__len__`). Samples are
 * {@linkcode SampleLike}s.
 */
export type DatasetLike =
  | Dataset
  | readonly (readonly [x: SampleLike, t: SampleLike])[]
  | { readonly length: number; get(i: number): readonly [x: SampleLike, t: SampleLike] };

/** A dataset over an array of pairs or an object with `length` and `get(i)`. */
class WrappedDataset extends Dataset {
  readonly #source: Exclude<DatasetLike, Dataset>;
  constructor(source: Exclude<DatasetLike, Dataset>) {
    super();
    this.#source = source;
  }
  get length(): number {
    return this.#source.length;
  }
  getRaw(i: number): readonly [x: SampleLike, t: SampleLike] {
    const s = this.#source;
    if (Array.isArray(s)) return s[i];
    return (s as { get(i: number): readonly [SampleLike, SampleLike] }).get(i);
  }
}

/**
 * `value` as a {@linkcode Dataset}: a Dataset itself, else an array of `[x, t]` pairs or an
 * object with `length` and `get(i)` wrapped as one. Anything else is a TypeError.
 *
 * @example
 * ```ts
 * import { asDataset } from "./dataset.ts";
 * const ds = asDataset([[[0, 1], 0], [[2, 3], 1]]);
 * const [x, t] = ds.getBatch([0, 1]);
 * console.log(x.shape, Array.from(t.data)); // [2, 2] [0, 1]
 * ```
 */
export function asDataset(value: DatasetLike, op = "asDataset"): Dataset {
  if (value instanceof Dataset) return value;
  const v = value as unknown;
  if (
    Array.isArray(v) ||
    (v !== null && typeof v === "object" && Number.isInteger((v as { length: unknown }).length) &&
      typeof (v as { get: unknown }).get === "function")
  ) {
    return new WrappedDataset(value as Exclude<DatasetLike, Dataset>);
  }
  throw new TypeError(
    `${op}: expected a Dataset, an array of [x, t] pairs or an object with length and ` +
      `get(i), got ${describeValue(v)}`,
  );
}
