/**
 * Element types. `float32` is the default everywhere; `float64` exists so that
 * gradient checks on the CPU can be tight; `int32` holds labels and indices.
 *
 * @module
 */

/** The element type of a tensor. */
export type DType = "float32" | "float64" | "int32";

/** The TypedArray that stores each {@linkcode DType}. */
export type TypedArray = Float32Array | Float64Array | Int32Array;

/** The dtypes in a stable order. */
export const DTYPES: readonly DType[] = ["float32", "float64", "int32"];

/** Bytes per element of a dtype. */
export function itemSize(dtype: DType): number {
  return dtype === "float64" ? 8 : 4;
}

/** A new zero-filled TypedArray of `size` elements of `dtype`. */
export function allocTyped(dtype: DType, size: number): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(size);
    case "float64":
      return new Float64Array(size);
    case "int32":
      return new Int32Array(size);
  }
}

/** The dtype a TypedArray stores, or undefined for an unsupported array type. */
export function dtypeOfTyped(data: ArrayBufferView): DType | undefined {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof Int32Array) return "int32";
  return undefined;
}

/** Whether `dtype` is a floating-point type. */
export function isFloat(dtype: DType): boolean {
  return dtype !== "int32";
}

/** Throws a TypeError unless `dtype` is a known dtype. */
export function assertDType(op: string, dtype: unknown): asserts dtype is DType {
  if (!DTYPES.includes(dtype as DType)) {
    throw new TypeError(
      `${op}: unknown dtype ${JSON.stringify(dtype)}: expected one of ${DTYPES.join(", ")}`,
    );
  }
}

/**
 * Float values as int32 the way every backend's `cast` makes them: toward zero, saturating at
 * the int32 range, NaN to 0 (an Int32Array's own conversion wraps 3e9 to -1294967296).
 * float32 values saturate at 2147483520, the largest float32 below 2^31, as on the GPU.
 */
export function floatToInt32(data: Float32Array | Float64Array): Int32Array {
  const out = new Int32Array(data.length);
  const hi = data instanceof Float32Array ? 2147483520 : 2147483647;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    out[i] = v !== v ? 0 : v <= -2147483648 ? -2147483648 : v >= hi ? hi : v;
  }
  return out;
}
