/**
 * Weights on disk in the [safetensors](https://github.com/huggingface/safetensors)
 * format, so that PyTorch and Hugging Face tools read what we write and we read
 * what they write:
 *
 * ```text
 * [8 bytes: header length N, u64 little-endian]
 * [N bytes: JSON {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
 *            "__metadata__": {"key": "value"}}, padded with spaces to a multiple of 8]
 * [the tensors' bytes, little-endian, packed back to back; offsets are relative to here]
 * ```
 *
 * Files are written atomically (a temporary file in the same folder, then a
 * rename), and a file is validated completely before anything is returned, so
 * a truncated file or a damaged header is a clear error rather than garbage
 * weights. The format has no checksum: changed bytes inside the tensor data
 * load as the values they now spell.
 *
 * @module
 */
import type { DType, TypedArray } from "../core/dtype.ts";
import { describeValue } from "../core/_validate.ts";
import { dtypeOfTyped } from "../core/dtype.ts";
import { NDArray } from "../core/ndarray.ts";
import { fmtShape, sizeOf } from "../core/shape.ts";
import { writeFileAtomic } from "../core/_fs.ts";

/** One tensor as plain data: what {@linkcode loadSafetensors} returns. */
export interface SafetensorsTensor {
  /** The element type. */
  dtype: DType;
  /** The shape. */
  shape: number[];
  /** The elements in row-major order. */
  data: TypedArray;
}

/** Anything holding a backend array (a `Variable` or `Parameter`). */
export interface HasArray {
  /** The backend array. */
  readonly array: NDArray;
}

/** What {@linkcode saveSafetensors} accepts for each name. */
export type TensorLike = SafetensorsTensor | HasArray | NDArray;

/** A decoded file: its tensors (in file order) and its `__metadata__`. */
export interface SafetensorsFile {
  /** The tensors by name. */
  tensors: Record<string, SafetensorsTensor>;
  /** The free-form string metadata (empty when the file has none). */
  metadata: Record<string, string>;
}

/** Options of {@linkcode saveSafetensors} and {@linkcode encodeSafetensors}. */
export interface SaveSafetensorsOptions {
  /** String key/value pairs stored as the header's `__metadata__`. */
  metadata?: Record<string, string>;
}

const FORMAT_OF: Record<DType, string> = { float32: "F32", float64: "F64", int32: "I32" };

/** The safetensors dtypes we read, and how each becomes one of ours. */
const READ_FORMATS: Record<string, { bytes: number; dtype: DType }> = {
  F32: { bytes: 4, dtype: "float32" },
  F64: { bytes: 8, dtype: "float64" },
  I32: { bytes: 4, dtype: "int32" },
  // Common in published checkpoints: widened (F16, BF16) or range-checked (I64) on load.
  F16: { bytes: 2, dtype: "float32" },
  BF16: { bytes: 2, dtype: "float32" },
  I64: { bytes: 8, dtype: "int32" },
};

/** Headers larger than this are rejected as corrupt (the reference implementation's limit). */
const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/**
 * Serializes tensors to the bytes of a safetensors file (header padded to 8
 * bytes with spaces, tensors packed in the order given).
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "./io.ts";
 * const bytes = await encodeSafetensors({
 *   w: { dtype: "float32", shape: [2], data: new Float32Array([1, 2]) },
 * });
 * console.log(bytes.length); // 8 + 56 + 8
 * ```
 */
export async function encodeSafetensors(
  tensors: Record<string, TensorLike>,
  options: SaveSafetensorsOptions = {},
): Promise<Uint8Array> {
  const op = "saveSafetensors";
  const entries: [string, SafetensorsTensor][] = [];
  for (const [name, t] of Object.entries(tensors)) {
    if (name === "__metadata__") {
      throw new TypeError(`${op}: "__metadata__" is reserved and cannot name a tensor`);
    }
    entries.push([name, await toTensorData(op, name, t)]);
  }
  const header: Record<string, unknown> = {};
  if (options.metadata !== undefined) {
    for (const [k, v] of Object.entries(options.metadata)) {
      if (typeof v !== "string") {
        throw new TypeError(`${op}: metadata value of "${k}" must be a string, got ${typeof v}`);
      }
    }
    header.__metadata__ = options.metadata;
  }
  let offset = 0;
  for (const [name, t] of entries) {
    const end = offset + t.data.byteLength;
    header[name] = { dtype: FORMAT_OF[t.dtype], shape: t.shape, data_offsets: [offset, end] };
    offset = end;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  if (padded !== json.length) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const out = new Uint8Array(8 + padded + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  let at = 8 + padded;
  for (const [, t] of entries) {
    out.set(littleEndianBytes(t.data), at);
    at += t.data.byteLength;
  }
  return out;
}

/**
 * Writes tensors to `path` in the safetensors format, atomically: the bytes go
 * to a temporary file in the same folder, which is then renamed over `path`,
 * so a crash never leaves a half-written file. Accepts plain
 * `{ dtype, shape, data }` records, Variables / Parameters and backend arrays
 * (GPU arrays are read back).
 *
 * @example
 * ```ts
 * import { loadSafetensors, saveSafetensors } from "./io.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveSafetensors(path, {
 *   w: { dtype: "float32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) },
 * });
 * const { w } = await loadSafetensors(path);
 * console.log(w.shape); // [2, 2]
 * await Deno.remove(path);
 * ```
 */
export async function saveSafetensors(
  path: string,
  tensors: Record<string, TensorLike>,
  options: SaveSafetensorsOptions = {},
): Promise<void> {
  await writeFileAtomic(path, await encodeSafetensors(tensors, options));
}

/**
 * Parses and validates the bytes of a safetensors file. Everything is checked
 * before anything is returned: the header length fits the file, the header is
 * UTF-8 JSON, every dtype is known, every shape matches its byte range, and
 * the ranges lie in the data region, do not overlap and cover it exactly.
 * `source` names the file in error messages.
 *
 * @example
 * ```ts
 * import { decodeSafetensors, encodeSafetensors } from "./io.ts";
 * const bytes = await encodeSafetensors(
 *   { b: { dtype: "int32", shape: [3], data: new Int32Array([1, 2, 3]) } },
 *   { metadata: { format: "pt" } },
 * );
 * const { tensors, metadata } = decodeSafetensors(bytes);
 * console.log(tensors.b.data, metadata.format); // Int32Array(3) [1, 2, 3] "pt"
 * ```
 */
export function decodeSafetensors(bytes: Uint8Array, source = "<bytes>"): SafetensorsFile {
  const fail = (msg: string, Err: ErrorConstructor = TypeError): never => {
    throw new Err(`loadSafetensors: ${source}: ${msg}`);
  };
  if (bytes.length < 8) {
    fail(`file is ${bytes.length} bytes, too short for the 8-byte header length`, RangeError);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(bytes.length - 8) || n64 > BigInt(MAX_HEADER_BYTES)) {
    fail(
      `header length ${n64} exceeds the ${bytes.length - 8} bytes after the length field ` +
        `(truncated or not a safetensors file)`,
      RangeError,
    );
  }
  const n = Number(n64);
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail("header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    fail("header must be a JSON object");
  }
  const dataStart = 8 + n;
  const dataLength = bytes.length - dataStart;
  const metadata: Record<string, string> = {};
  const infos: { name: string; format: string; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === "__metadata__") {
      if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
        fail("__metadata__ must be an object of strings");
      }
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== "string") fail(`__metadata__ value of "${k}" is not a string`);
        metadata[k] = v as string;
      }
      continue;
    }
    const where = `tensor "${name}"`;
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
      fail(`${where}: entry must be an object with dtype, shape and data_offsets`);
    }
    const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
    if (typeof dtype !== "string" || !(dtype in READ_FORMATS)) {
      fail(
        `${where}: unsupported dtype ${JSON.stringify(dtype)}: expected one of ` +
          Object.keys(READ_FORMATS).join(", "),
      );
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`${where}: invalid shape ${JSON.stringify(shape)}: expected non-negative integers`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]
    ) {
      fail(`${where}: invalid data_offsets ${JSON.stringify(offsets)}: expected [begin, end]`);
    }
    const [begin, end] = offsets as number[];
    const format = dtype as string;
    const expected = sizeOf(shape as number[]) * READ_FORMATS[format].bytes;
    if (end - begin !== expected) {
      fail(
        `${where}: shape ${fmtShape(shape as number[])} of ${format} needs ${expected} bytes ` +
          `but data_offsets [${begin},${end}] span ${end - begin}`,
      );
    }
    if (end > dataLength) {
      fail(
        `${where}: data_offsets [${begin},${end}] run past the end of the data ` +
          `(${dataLength} bytes): file truncated?`,
        RangeError,
      );
    }
    infos.push({ name, format, shape: [...(shape as number[])], begin, end });
  }
  // The ranges, sorted, must tile the data region exactly: no gap, no overlap, nothing after.
  const sorted = [...infos].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let covered = 0;
  for (const t of sorted) {
    if (t.begin < covered) {
      const other = sorted.find((o) => o !== t && o.end > t.begin && o.begin <= t.begin)!;
      fail(
        `tensor "${t.name}": data_offsets [${t.begin},${t.end}] overlap tensor "${other.name}" ` +
          `[${other.begin},${other.end}]`,
        RangeError,
      );
    }
    if (t.begin > covered) {
      fail(
        `tensor "${t.name}": gap of ${t.begin - covered} bytes before its data_offsets ` +
          `[${t.begin},${t.end}]`,
        RangeError,
      );
    }
    covered = t.end;
  }
  if (covered !== dataLength) {
    fail(
      `the tensors cover ${covered} bytes but the data region holds ${dataLength}: ` +
        `${dataLength - covered} trailing bytes (oversized file?)`,
      RangeError,
    );
  }
  const tensors: Record<string, SafetensorsTensor> = {};
  for (const t of infos) {
    const chunk = bytes.subarray(dataStart + t.begin, dataStart + t.end);
    tensors[t.name] = {
      dtype: READ_FORMATS[t.format].dtype,
      shape: t.shape,
      data: fromLittleEndian(
        t.format,
        chunk,
        () => fail(`tensor "${t.name}": I64 value out of int32 range`, RangeError),
      ),
    };
  }
  return { tensors, metadata };
}

/**
 * Reads a safetensors file written by us, PyTorch or Hugging Face tools. The
 * whole file is validated before anything is returned (see
 * {@linkcode decodeSafetensors}); errors name the file and the tensor.
 * F16 and BF16 tensors are widened to float32, I64 narrowed to int32.
 *
 * @example
 * ```ts
 * import { loadSafetensors, saveSafetensors } from "./io.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveSafetensors(path, { x: { dtype: "float64", shape: [], data: new Float64Array([3]) } });
 * console.log((await loadSafetensors(path)).x.data[0]); // 3
 * await Deno.remove(path);
 * ```
 */
export async function loadSafetensors(path: string): Promise<Record<string, SafetensorsTensor>> {
  return (await loadSafetensorsFile(path)).tensors;
}

/**
 * Like {@linkcode loadSafetensors}, and also returns the header's `__metadata__`.
 *
 * @example
 * ```ts
 * import { loadSafetensorsFile, saveSafetensors } from "./io.ts";
 * const path = await Deno.makeTempFile({ suffix: ".safetensors" });
 * await saveSafetensors(path, {}, { metadata: { step: "10" } });
 * console.log((await loadSafetensorsFile(path)).metadata.step); // "10"
 * await Deno.remove(path);
 * ```
 */
export async function loadSafetensorsFile(path: string): Promise<SafetensorsFile> {
  // A missing file keeps its Deno.errors.NotFound (whose message names the path).
  const bytes = await Deno.readFile(path);
  return decodeSafetensors(bytes, path);
}

// ---------------------------------------------------------------- helpers

async function toTensorData(op: string, name: string, t: TensorLike): Promise<SafetensorsTensor> {
  if (typeof t !== "object" || t === null) {
    throw new TypeError(
      `${op}: tensor "${name}" is ${describeValue(t)}: expected a Variable, an NDArray or ` +
        `{ dtype, shape, data }`,
    );
  }
  let array: NDArray | undefined;
  if (t instanceof NDArray) array = t;
  else if ((t as HasArray).array instanceof NDArray) array = (t as HasArray).array;
  if (array !== undefined) {
    const data = await array.backend.read(array);
    return { dtype: array.dtype, shape: [...array.shape], data };
  }
  const { dtype, shape, data } = t as SafetensorsTensor;
  const actual = dtypeOfTyped(data);
  if (actual === undefined) {
    throw new TypeError(
      `${op}: tensor "${name}": data must be a Float32Array, Float64Array or Int32Array`,
    );
  }
  if (actual !== dtype) {
    throw new TypeError(
      `${op}: tensor "${name}": dtype ${dtype} does not match its ${actual} data`,
    );
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new TypeError(`${op}: tensor "${name}": invalid shape ${JSON.stringify(shape)}`);
  }
  if (sizeOf(shape) !== data.length) {
    throw new TypeError(
      `${op}: tensor "${name}": shape ${fmtShape(shape)} holds ${sizeOf(shape)} elements ` +
        `but data has ${data.length}`,
    );
  }
  return { dtype, shape: [...shape], data };
}

function littleEndianBytes(data: TypedArray): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN) return bytes;
  const out = new Uint8Array(data.byteLength);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) {
    if (data instanceof Float64Array) dv.setFloat64(i * 8, data[i], true);
    else if (data instanceof Float32Array) dv.setFloat32(i * 4, data[i], true);
    else dv.setInt32(i * 4, data[i], true);
  }
  return out;
}

function fromLittleEndian(format: string, chunk: Uint8Array, outOfRange: () => never): TypedArray {
  // Copy first: the chunk may be unaligned for its element size.
  const copy = chunk.slice();
  const dv = new DataView(copy.buffer);
  switch (format) {
    case "F32":
      return LITTLE_ENDIAN
        ? new Float32Array(copy.buffer)
        : readEach(Float32Array, 4, (i) => dv.getFloat32(i, true));
    case "F64":
      return LITTLE_ENDIAN
        ? new Float64Array(copy.buffer)
        : readEach(Float64Array, 8, (i) => dv.getFloat64(i, true));
    case "I32":
      return LITTLE_ENDIAN
        ? new Int32Array(copy.buffer)
        : readEach(Int32Array, 4, (i) => dv.getInt32(i, true));
    case "F16":
      return readEach(Float32Array, 2, (i) => halfToFloat(dv.getUint16(i, true)));
    case "BF16":
      return readEach(Float32Array, 2, (i) => bf16ToFloat(dv.getUint16(i, true)));
    case "I64":
      return readEach(Int32Array, 8, (i) => {
        const v = dv.getBigInt64(i, true);
        if (v > 2147483647n || v < -2147483648n) outOfRange();
        return Number(v);
      });
  }
  throw new TypeError(`loadSafetensors: unsupported dtype ${format}`);

  function readEach<T extends TypedArray>(
    Ctor: { new (n: number): T },
    bytes: number,
    get: (byteIndex: number) => number,
  ): T {
    const out = new Ctor(copy.length / bytes);
    for (let i = 0; i < out.length; i++) out[i] = get(i * bytes);
    return out;
  }
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function bf16ToFloat(b: number): number {
  const f = new Float32Array(1);
  new Uint32Array(f.buffer)[0] = b << 16;
  return f[0];
}
