/**
 * NumPy-style indexing, split into a strided view (integers, slices, `null`
 * for a new axis, `"..."`) followed by an optional gather for integer-array
 * indices. The backward is the adjoint: a scatter-add then an assign into
 * zeros.
 *
 * @module
 */
import type { StridedView } from "./backend.ts";
import { keepArrays, type NDArray } from "./ndarray.ts";
import * as ops from "./ops.ts";
import { broadcastShapes, fmtShape, stridesOf } from "./shape.ts";

/** A Python-style slice: `{ start: 1, stop: -1, step: 2 }`; missing fields mean "to the end". */
export interface Slice {
  /** First index (default: the start, or the end for negative steps). */
  start?: number | null;
  /** One past the last index (default: the end). */
  stop?: number | null;
  /** Step (default 1; negative walks backwards). */
  step?: number | null;
}

/**
 * Builds a slice, as `start:stop:step` in Python.
 *
 * @example
 * ```ts
 * import { slice, tensor } from "../mod.ts";
 * const x = tensor([0, 1, 2, 3, 4]);
 * console.log(await x.getItem(slice(1, null, 2)).toArray()); // [1, 3]
 * ```
 */
export function slice(start?: number | null, stop?: number | null, step?: number | null): Slice {
  return { start, stop, step };
}

/** One item of an index: an integer, a slice, `null` (new axis), `"..."`, `":"` or an integer array. */
export type IndexItem =
  | number
  | Slice
  | null
  | "..."
  | ":"
  | NDArray
  | Int32Array
  | { readonly array: NDArray };

/**
 * An index: one item, or a list of items (one per axis). An integer-array
 * index is a Variable, an Int32Array, or a nested list: `[[0, 2]]` means
 * NumPy's `x[[0, 2]]`.
 */
export type Index = IndexItem | readonly (IndexItem | IndexList)[];

/** An integer index array as nested lists (`[[0, 1], [1, 0]]`), as NumPy takes them. */
export type IndexList = readonly (number | IndexList)[];

interface IndexerFields {
  view: StridedView;
  inShape: readonly number[];
  outShape: readonly number[];
  perm: readonly number[] | null;
  pos: number;
  count: number;
  linear: NDArray | null;
}

/** A parsed index, bound to an input shape and device. */
export class Indexer {
  /** The strided view of the basic part. */
  readonly view: StridedView;
  /** Shape of the input. */
  readonly inShape: readonly number[];
  /** Shape of the result. */
  readonly outShape: readonly number[];
  /** Axes permutation that brings non-adjacent advanced axes to the front (or null). */
  readonly perm: readonly number[] | null;
  /** Where the merged advanced axes start (after the permutation). */
  readonly pos: number;
  /** How many view axes the advanced indices consume. */
  readonly count: number;
  /** The linear (merged) int32 index, or null without advanced indexing. */
  readonly linear: NDArray | null;

  private constructor(fields: IndexerFields) {
    this.view = fields.view;
    this.inShape = fields.inShape;
    this.outShape = fields.outShape;
    this.perm = fields.perm;
    this.pos = fields.pos;
    this.count = fields.count;
    this.linear = fields.linear;
  }

  /** Whether the basic part is the whole input unchanged. */
  get isIdentity(): boolean {
    const s = stridesOf(this.inShape);
    return this.view.offset === 0 && this.view.shape.length === this.inShape.length &&
      this.view.shape.every((d, i) => d === this.inShape[i] && this.view.strides[i] === s[i]);
  }

  /** The shape of the view after the permutation, advanced axes merged into one. */
  get mergedShape(): number[] {
    const vs = this.permutedViewShape();
    const merged = vs.slice(this.pos, this.pos + this.count).reduce((a, b) => a * b, 1);
    return [...vs.slice(0, this.pos), merged, ...vs.slice(this.pos + this.count)];
  }

  /** The view shape after the permutation. */
  permutedViewShape(): number[] {
    const s = this.view.shape;
    return this.perm ? this.perm.map((p) => s[p]) : [...s];
  }

  /** Another indexer sharing the index array (each owner disposes its own). */
  share(): Indexer {
    const linear = this.linear?.share() ?? null;
    if (linear) keepArrays(linear);
    return new Indexer({ ...this, linear });
  }

  /** Frees the index array handle. */
  dispose(): void {
    this.linear?.dispose();
  }

  /**
   * Parses `index` for an input of `shape` on the device of `like`.
   *
   * NumPy's rule: once the index holds an integer array, its integers count as
   * advanced indices too (0-d arrays). The advanced indices broadcast to one
   * shape, which replaces their axes in place when they stand next to each
   * other in the index, and goes to the front when a slice, `null` or `"..."`
   * stands between them.
   */
  static parse(index: Index, like: NDArray): Indexer {
    const shape = like.shape;
    const items: (IndexItem | readonly number[])[] = Array.isArray(index)
      ? [...index as readonly (IndexItem | readonly number[])[]]
      : [index as IndexItem];
    const ellipsis = items.filter((it) => it === "...").length;
    if (ellipsis > 1) throw new TypeError("getItem: an index can only have a single ellipsis");
    const consumes = (it: unknown) => it !== null && it !== "...";
    const used = items.filter(consumes).length;
    if (used > shape.length) {
      throw new RangeError(
        `getItem: too many indices for shape ${
          fmtShape(shape)
        }: ${used} indices for ${shape.length} axes`,
      );
    }
    // The "..." stays in the list (consuming no axis): even when it stands for
    // no axes, it separates advanced indices, as in NumPy.
    if (ellipsis === 1) {
      const at = items.indexOf("...");
      items.splice(at + 1, 0, ...Array(shape.length - used).fill(":"));
    }
    while (items.filter(consumes).length < shape.length) items.push(":");
    const hasArray = items.some(isIndexArray);

    const strides = stridesOf(shape);
    const vShape: number[] = [];
    const vStrides: number[] = [];
    let offset = 0;
    let d = 0;
    const advanced: { dim: number; index: NDArray; size: number }[] = [];
    /** Positions in `items` of the advanced indices (integer arrays, and integers beside one). */
    const advancedAt: number[] = [];
    /** How many view axes precede the first advanced index. */
    let firstDim = 0;
    for (const [k, it] of items.entries()) {
      if (it === "...") continue;
      if (it === null) {
        vShape.push(1);
        vStrides.push(0);
        continue;
      }
      const size = shape[d];
      if (typeof it === "number") {
        offset += checkIndex(it, d, size) * strides[d];
        if (hasArray) {
          if (advancedAt.length === 0) firstDim = vShape.length;
          advancedAt.push(k);
        }
      } else if (it === ":") {
        vShape.push(size);
        vStrides.push(strides[d]);
      } else if (isIndexArray(it)) {
        if (advancedAt.length === 0) firstDim = vShape.length;
        advancedAt.push(k);
        advanced.push({ dim: vShape.length, index: toIndexArray(it, like, d, size), size });
        vShape.push(size);
        vStrides.push(strides[d]);
      } else if (typeof it === "object") {
        const [start, n, step] = sliceIndices(it as Slice, size, d);
        offset += start * strides[d];
        vShape.push(n);
        vStrides.push(step * strides[d]);
      } else {
        throw new TypeError(`getItem: unsupported index item ${JSON.stringify(it)}`);
      }
      d++;
    }
    const view: StridedView = { shape: vShape, strides: vStrides, offset };
    if (advanced.length === 0) {
      return new Indexer({
        view,
        inShape: shape,
        outShape: vShape,
        perm: null,
        pos: 0,
        count: 0,
        linear: null,
      });
    }
    // Adjacent advanced indices keep their place; the arrays' view axes then
    // stand together at `firstDim` (integers take no view axis).
    const dims = advanced.map((a) => a.dim);
    const adjacent = advancedAt.every((x, i) => i === 0 || x === advancedAt[i - 1] + 1);
    const perm = adjacent
      ? null
      : [...dims, ...vShape.map((_, i) => i).filter((i) => !dims.includes(i))];
    const pos = adjacent ? firstDim : 0;
    let bshape: number[] = [];
    for (const a of advanced) bshape = broadcastShapes("getItem", bshape, a.index.shape);
    let linear: NDArray | null = null;
    let scale = 1;
    for (let j = advanced.length - 1; j >= 0; j--) {
      const a = advanced[j];
      const b = ops.broadcastTo(a.index, bshape);
      const term = scale === 1 ? b : ops.mul(b, scale);
      linear = linear === null ? term : ops.add(linear, term);
      scale *= a.size;
    }
    for (const a of advanced) a.index.dispose();
    keepArrays(linear!);
    const pvs = perm ? perm.map((p) => vShape[p]) : vShape;
    const outShape = [...pvs.slice(0, pos), ...bshape, ...pvs.slice(pos + advanced.length)];
    return new Indexer({
      view,
      inShape: shape,
      outShape,
      perm,
      pos,
      count: advanced.length,
      linear,
    });
  }

  /** `x[index]`. */
  apply(x: NDArray): NDArray {
    let v = this.isIdentity ? x.share() : x.backend.asStrided(x, this.view);
    if (this.linear === null) return v;
    if (this.perm) {
      const t = ops.transpose(v, this.perm);
      v.dispose();
      v = t;
    }
    const merged = v.reshape(this.mergedShape);
    v.dispose();
    const out = merged.backend.gather(merged, this.pos, this.linear);
    merged.dispose();
    return out;
  }

  /** The adjoint of `apply`: `gy` scattered (summed) into zeros of the input shape. */
  applyAdjoint(gy: NDArray): NDArray {
    let gv: NDArray;
    if (this.linear === null) {
      gv = gy.share();
    } else {
      const merged = gy.backend.scatterAdd(this.mergedShape, this.pos, this.linear, gy);
      gv = merged.reshape(this.permutedViewShape());
      merged.dispose();
      if (this.perm) {
        const t = ops.transpose(gv, ops.invertPermutation(this.perm));
        gv.dispose();
        gv = t;
      }
    }
    if (this.isIdentity) return gv;
    const out = gy.backend.full(this.inShape, 0, gy.dtype);
    if (gv.size > 0) out.backend.assign(out, gv, this.view);
    gv.dispose();
    return out;
  }
}

function isIndexArray(it: unknown): boolean {
  return Array.isArray(it) || it instanceof Int32Array ||
    (typeof it === "object" && it !== null && "array" in it) ||
    (typeof it === "object" && it !== null && "backend" in it && "shape" in it);
}

/** An integer index on `axis` of `size`, checked (negative counts from the end, down to -size). */
function checkIndex(i: number, axis: number, size: number): number {
  if (!Number.isInteger(i)) {
    throw new TypeError(`getItem: index ${i} on axis ${axis} is not an integer`);
  }
  if (i < -size || i >= size) {
    throw new RangeError(`getItem: index ${i} is out of bounds for axis ${axis} with size ${size}`);
  }
  return i < 0 ? i + size : i;
}

/** The shape of a nested list of integers; throws on ragged lists and non-integers. */
function nestedShape(list: readonly unknown[]): number[] {
  const shape: number[] = [];
  for (let d: unknown = list; Array.isArray(d); d = d[0]) shape.push(d.length);
  const ragged = () =>
    new TypeError(`getItem: index lists must not be ragged: expected shape ${fmtShape(shape)}`);
  const check = (it: unknown, depth: number): void => {
    if (depth < shape.length) {
      if (!Array.isArray(it) || it.length !== shape[depth]) throw ragged();
      for (const e of it) check(e, depth + 1);
    } else if (Array.isArray(it)) {
      throw ragged();
    } else if (!Number.isInteger(it)) {
      throw new TypeError(`getItem: index arrays must hold integers, got ${JSON.stringify(it)}`);
    }
  };
  check(list, 0);
  return shape;
}

/**
 * The integer-array index `it` for `axis` of `size`, on the device of `like`,
 * with every entry checked and negative entries wrapped. Host values (lists,
 * Int32Arrays, CPU arrays) are checked here and throw at once. A GPU array
 * cannot be read back synchronously: it goes through a gather from
 * `0..size-1` along `axis`, which makes an entry out of range 0 and has the next
 * readback throw a RangeError naming its value, the axis and its size.
 */
function toIndexArray(it: unknown, like: NDArray, axis: number, size: number): NDArray {
  let host: ArrayLike<number> | undefined;
  let shape: readonly number[];
  let device: NDArray | undefined;
  if (Array.isArray(it)) {
    shape = nestedShape(it);
    host = it.flat(Infinity) as number[];
  } else if (it instanceof Int32Array) {
    host = it;
    shape = [it.length];
  } else {
    const arr = "array" in (it as object) ? (it as { array: NDArray }).array : it as NDArray;
    ops.assertSameDevice("getItem", [like, arr]);
    if (arr.dtype !== "int32") {
      throw new TypeError(`getItem: index arrays must be int32, got ${arr.dtype}`);
    }
    shape = arr.shape;
    host = arr.backend.readSync?.(arr);
    if (host === undefined) device = arr;
  }
  if (host !== undefined) {
    const out = new Int32Array(host.length);
    for (let i = 0; i < host.length; i++) out[i] = checkIndex(host[i], axis, size);
    return like.backend.fromTyped(out, shape);
  }
  const arr = device!;
  if (arr.size === 0) return arr.share();
  if (size === 0) {
    throw new RangeError(
      `getItem: index array of shape ${fmtShape(arr.shape)} is out of bounds for axis ${axis} ` +
        `with size 0`,
    );
  }
  const positions = like.backend.fromTyped(
    Int32Array.from({ length: size }, (_, i) => i),
    [...Array(axis).fill(1), size],
  );
  const gathered = like.backend.gather(positions, axis, arr, "getItem");
  positions.dispose();
  const out = gathered.reshape(arr.shape);
  gathered.dispose();
  return out;
}

function sliceIndices(s: Slice, size: number, axis: number): [number, number, number] {
  const step = s.step ?? 1;
  if (!Number.isInteger(step) || step === 0) {
    throw new RangeError(
      `getItem: slice step must be a non-zero integer, got ${step} on axis ${axis}`,
    );
  }
  const clamp = (v: number | null | undefined, dflt: number, lo: number, hi: number) => {
    if (v === null || v === undefined) return dflt;
    if (!Number.isInteger(v)) {
      throw new TypeError(`getItem: slice bounds must be integers, got ${v} on axis ${axis}`);
    }
    if (v < 0) v += size;
    return Math.min(Math.max(v, lo), hi);
  };
  let start: number, stop: number;
  if (step > 0) {
    start = clamp(s.start, 0, 0, size);
    stop = clamp(s.stop, size, 0, size);
  } else {
    start = clamp(s.start, size - 1, -1, size - 1);
    stop = clamp(s.stop, -1, -1, size - 1);
    if (s.stop !== null && s.stop !== undefined && s.stop < -size) stop = -1;
  }
  const n = step > 0
    ? Math.max(0, Math.ceil((stop - start) / step))
    : Math.max(0, Math.ceil((start - stop) / -step));
  return [n === 0 ? 0 : start, n, step];
}
