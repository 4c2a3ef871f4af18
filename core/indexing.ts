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
export type Index = IndexItem | readonly (IndexItem | readonly number[])[];

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

  /** Parses `index` for an input of `shape` on the device of `like`. */
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
    if (ellipsis === 1) {
      const at = items.indexOf("...");
      items.splice(at, 1, ...Array(shape.length - used).fill(":"));
    }
    while (items.filter(consumes).length < shape.length) items.push(":");

    const strides = stridesOf(shape);
    const vShape: number[] = [];
    const vStrides: number[] = [];
    let offset = 0;
    let d = 0;
    const advanced: { dim: number; index: NDArray; size: number }[] = [];
    const temps: NDArray[] = [];
    for (const it of items) {
      if (it === null) {
        vShape.push(1);
        vStrides.push(0);
        continue;
      }
      const size = shape[d];
      if (typeof it === "number") {
        if (!Number.isInteger(it) || it < -size || it >= size) {
          throw new RangeError(
            `getItem: index ${it} is out of bounds for axis ${d} with size ${size}`,
          );
        }
        offset += (it < 0 ? it + size : it) * strides[d];
      } else if (it === ":") {
        vShape.push(size);
        vStrides.push(strides[d]);
      } else if (isIndexArray(it)) {
        const idx = toIndexArray(it, like);
        temps.push(idx);
        advanced.push({ dim: vShape.length, index: idx, size });
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
    // NumPy: adjacent advanced axes stay in place, otherwise they move to the front.
    const dims = advanced.map((a) => a.dim);
    const adjacent = dims.every((x, i) => i === 0 || x === dims[i - 1] + 1);
    const perm = adjacent
      ? null
      : [...dims, ...vShape.map((_, i) => i).filter((i) => !dims.includes(i))];
    const pos = adjacent ? dims[0] : 0;
    let bshape: number[] = [];
    for (const a of advanced) bshape = broadcastShapes("getItem", bshape, a.index.shape);
    let linear: NDArray | null = null;
    let scale = 1;
    for (let j = advanced.length - 1; j >= 0; j--) {
      const a = advanced[j];
      const wrapped = ops.where(ops.binary("lt", a.index, 0), ops.add(a.index, a.size), a.index);
      const b = ops.broadcastTo(wrapped, bshape);
      const term = scale === 1 ? b : ops.mul(b, scale);
      linear = linear === null ? term : ops.add(linear, term);
      scale *= a.size;
    }
    for (const t of temps) t.dispose();
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

function toIndexArray(it: unknown, like: NDArray): NDArray {
  if (Array.isArray(it)) {
    const flat = (it as unknown[]).flat(Infinity) as number[];
    if (!flat.every(Number.isInteger)) {
      throw new TypeError("getItem: index arrays must hold integers");
    }
    const shape: number[] = [];
    let d: unknown = it;
    while (Array.isArray(d)) {
      shape.push(d.length);
      d = d[0];
    }
    return like.backend.fromTyped(Int32Array.from(flat), shape);
  }
  if (it instanceof Int32Array) return like.backend.fromTyped(it, [it.length]);
  const arr = "array" in (it as object) ? (it as { array: NDArray }).array : it as NDArray;
  ops.assertSameDevice("getItem", [like, arr]);
  if (arr.dtype !== "int32") {
    throw new TypeError(`getItem: index arrays must be int32, got ${arr.dtype}`);
  }
  return arr.share();
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
