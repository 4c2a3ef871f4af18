/**
 * Parsers of the dataset file formats (IDX, CIFAR binary) with validation that
 * names the file and the problem. Internal to `data/`.
 *
 * @module
 */
import { fmtShape } from "../core/shape.ts";

/** Where a file's bytes came from, for error messages. */
export interface FileContext {
  dataset: string;
  path: string;
}

function invalid(ctx: FileContext, what: string): Deno.errors.InvalidData {
  return new Deno.errors.InvalidData(`${ctx.dataset}: file ${ctx.path} ${what}`);
}

/**
 * Parses an IDX file (the MNIST format) of unsigned bytes: a big-endian magic number
 * `0x0000080N` (N = number of dims), N big-endian uint32 dims, then the elements.
 * `dims` lists the expected sizes (`-1` = any). Throws `Deno.errors.InvalidData` naming the
 * file and the problem (magic number, dims, byte count).
 */
export function parseIdx(
  bytes: Uint8Array,
  dims: readonly number[],
  ctx: FileContext,
): { data: Uint8Array; shape: number[] } {
  const ndim = dims.length;
  const expectedMagic = 0x0800 | ndim;
  const hex = (v: number) => "0x" + v.toString(16).padStart(8, "0");
  if (bytes.length < 4) {
    throw invalid(ctx, `is truncated: ${bytes.length} bytes, shorter than the 4-byte IDX magic`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  if (magic !== expectedMagic) {
    throw invalid(
      ctx,
      `has magic number ${hex(magic)} (${magic}), expected ${hex(expectedMagic)} ` +
        `(${expectedMagic}: unsigned bytes, ${ndim} dims): not this IDX file or corrupt`,
    );
  }
  const header = 4 + 4 * ndim;
  if (bytes.length < header) {
    throw invalid(ctx, `is truncated: ${bytes.length} bytes, the IDX header needs ${header}`);
  }
  const shape: number[] = [];
  for (let i = 0; i < ndim; i++) shape.push(view.getUint32(4 + 4 * i));
  if (dims.some((d, i) => d !== -1 && d !== shape[i])) {
    const want = dims.map((d) => (d === -1 ? "N" : String(d))).join(",");
    throw invalid(ctx, `has dims ${fmtShape(shape)}, expected [${want}]`);
  }
  const count = shape.reduce((a, b) => a * b, 1);
  const expected = header + count;
  if (bytes.length !== expected) {
    throw invalid(
      ctx,
      `${bytes.length < expected ? "is truncated" : "has trailing bytes"}: ` +
        `${bytes.length} bytes, expected ${expected} (${header}-byte header + ${count} ` +
        `elements for dims ${fmtShape(shape)})`,
    );
  }
  return { data: bytes.subarray(header), shape };
}

/**
 * Parses a CIFAR binary file: records of `labelBytes` label bytes then 3072 pixel bytes
 * (3×32×32, channel-major). Returns the images `[n, 3, 32, 32]` and one label array per label
 * byte. Throws `Deno.errors.InvalidData` on a byte count that is not a whole number of records or a
 * label out of range.
 */
export function parseCifar(
  bytes: Uint8Array,
  labelBytes: 1 | 2,
  numClasses: readonly number[],
  ctx: FileContext,
): { images: Uint8Array; labels: Uint8Array[]; n: number } {
  const pixels = 3 * 32 * 32;
  const record = labelBytes + pixels;
  if (bytes.length === 0 || bytes.length % record !== 0) {
    throw invalid(
      ctx,
      `has ${bytes.length} bytes, not a whole number of ${record}-byte records ` +
        `(${labelBytes} label byte${
          labelBytes > 1 ? "s" : ""
        } + 3x32x32 pixels): truncated or corrupt`,
    );
  }
  const n = bytes.length / record;
  const images = new Uint8Array(n * pixels);
  const labels = Array.from({ length: labelBytes }, () => new Uint8Array(n));
  for (let i = 0; i < n; i++) {
    const off = i * record;
    for (let k = 0; k < labelBytes; k++) {
      const v = bytes[off + k];
      if (v >= numClasses[k]) {
        throw invalid(
          ctx,
          `record ${i} has label ${v}, out of range for ${
            numClasses[k]
          } classes: corrupt or not this dataset`,
        );
      }
      labels[k][i] = v;
    }
    images.set(bytes.subarray(off + labelBytes, off + record), i * pixels);
  }
  return { images, labels, n };
}

/** Throws `Deno.errors.InvalidData` on a label `>= classes`. */
export function checkLabels(labels: Uint8Array, classes: number, ctx: FileContext): void {
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] >= classes) {
      throw invalid(
        ctx,
        `has label ${labels[i]} at index ${i}, out of range for ${classes} classes`,
      );
    }
  }
}
