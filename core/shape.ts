/**
 * Shape arithmetic shared by every backend: broadcasting, strides, axes.
 *
 * @module
 */

/** A tensor shape: one non-negative integer per axis. */
export type Shape = readonly number[];

/** Number of elements of `shape` (1 for rank 0). */
export function sizeOf(shape: Shape): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major (C order) strides of `shape`, in elements. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/** Formats a shape as `[2,3]` for error messages. */
export function fmtShape(shape: Shape): string {
  return `[${shape.join(",")}]`;
}

/** Whether two shapes are equal. */
export function shapesEqual(a: Shape, b: Shape): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The NumPy broadcast of `a` and `b`.
 * Throws `op: cannot broadcast shapes [2,3] and [4,3]: axis 0 is 2 vs 4`.
 */
export function broadcastShapes(op: string, a: Shape, b: Shape): number[] {
  const n = Math.max(a.length, b.length);
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const da = a[a.length - n + i] ?? 1;
    const db = b[b.length - n + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new TypeError(
        `${op}: cannot broadcast shapes ${fmtShape(a)} and ${
          fmtShape(b)
        }: axis ${i} is ${da} vs ${db}`,
      );
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * Strides (in elements) that read a contiguous array of shape `from` as if it
 * had shape `to` (stride 0 along broadcast axes). `to` must be a broadcast of `from`.
 */
export function broadcastStrides(from: Shape, to: Shape): number[] {
  const src = stridesOf(from);
  const out = new Array<number>(to.length).fill(0);
  const off = to.length - from.length;
  for (let i = 0; i < from.length; i++) {
    out[off + i] = from[i] === 1 && to[off + i] !== 1 ? 0 : src[i];
  }
  return out;
}

/** Throws unless `shape` is a list of non-negative integers. */
export function assertShape(op: string, shape: unknown): asserts shape is number[] {
  if (
    !Array.isArray(shape) ||
    !shape.every((d) => Number.isInteger(d) && d >= 0)
  ) {
    throw new TypeError(
      `${op}: invalid shape ${JSON.stringify(shape)}: expected non-negative integers`,
    );
  }
}

/** Normalizes a possibly negative axis; throws a RangeError naming the op when out of range. */
export function normAxis(op: string, axis: number, ndim: number): number {
  if (!Number.isInteger(axis)) {
    const got = typeof axis === "string" ? `a string ${JSON.stringify(axis)}` : String(axis);
    throw new TypeError(`${op}: an axis must be an integer, got ${got}`);
  }
  if (axis < -ndim || axis >= ndim) {
    throw new RangeError(
      `${op}: axis ${axis} is out of range for a tensor of rank ${ndim}`,
    );
  }
  return axis < 0 ? axis + ndim : axis;
}

/**
 * Normalizes an `axis` option (undefined = all axes, a number, or a list) to
 * sorted, unique, non-negative axes.
 */
export function normAxes(
  op: string,
  axis: number | readonly number[] | null | undefined,
  ndim: number,
): number[] {
  if (axis === undefined || axis === null) {
    return Array.from({ length: ndim }, (_, i) => i);
  }
  const list = typeof axis === "number" ? [axis] : [...axis];
  const out = list.map((a) => normAxis(op, a, ndim));
  if (new Set(out).size !== out.length) {
    throw new RangeError(`${op}: repeated axis in ${JSON.stringify(axis)}`);
  }
  return out.sort((a, b) => a - b);
}

/** `shape` with the given (sorted) axes removed, or set to 1 when `keepdims`. */
export function reducedShape(shape: Shape, axes: readonly number[], keepdims: boolean): number[] {
  const out: number[] = [];
  for (let i = 0; i < shape.length; i++) {
    if (axes.includes(i)) {
      if (keepdims) out.push(1);
    } else out.push(shape[i]);
  }
  return out;
}

/** Resolves a reshape target with at most one -1; throws naming both shapes when sizes differ. */
export function resolveReshape(op: string, from: Shape, to: readonly number[]): number[] {
  const size = sizeOf(from);
  const out = [...to];
  const neg = out.filter((d) => d === -1).length;
  if (neg > 1 || !out.every((d) => Number.isInteger(d) && d >= -1)) {
    throw new TypeError(`${op}: invalid target shape ${fmtShape(to)}`);
  }
  if (neg === 1) {
    const known = out.reduce((p, d) => (d === -1 ? p : p * d), 1);
    const i = out.indexOf(-1);
    if (known === 0 || size % known !== 0) {
      throw new TypeError(
        `${op}: cannot reshape ${fmtShape(from)} (size ${size}) to ${fmtShape(to)}`,
      );
    }
    out[i] = size / known;
  }
  if (sizeOf(out) !== size) {
    throw new TypeError(
      `${op}: cannot reshape ${fmtShape(from)} (size ${size}) to ${fmtShape(to)} (size ${
        sizeOf(out)
      })`,
    );
  }
  return out;
}
