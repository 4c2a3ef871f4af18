import { deepStrictEqual, equal, rejects, throws } from "node:assert/strict";
import {
  decodeSafetensors,
  encodeSafetensors,
  loadSafetensors,
  loadSafetensorsFile,
  saveSafetensors,
} from "./io.ts";

/** Builds a file by hand: the length field, the given header text, then `data`. */
function rawFile(header: string, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

function bytesOf(s: string): number[] {
  return [...new TextEncoder().encode(s)];
}

Deno.test("encodeSafetensors() matches the reference bytes of safetensors' own test", async () => {
  // safetensors' Python test: save({"test": torch.zeros((2, 2), dtype=torch.int32)}) is
  // b'@\x00\x00\x00\x00\x00\x00\x00{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}    '
  // followed by 16 zero bytes.
  const out = await encodeSafetensors({
    test: { dtype: "int32", shape: [2, 2], data: new Int32Array(4) },
  });
  const expected = [
    64,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    ...bytesOf('{"test":{"dtype":"I32","shape":[2,2],"data_offsets":[0,16]}}    '),
    ...new Array(16).fill(0),
  ];
  deepStrictEqual([...out], expected);
});

Deno.test("encodeSafetensors() matches the reference bytes of a float32 tensor", async () => {
  // safetensors' Rust test_serialization: "attn.0", F32 [1,2,3] holding 0..5; the header is
  // exactly 64 bytes, so no padding.
  const out = await encodeSafetensors({
    "attn.0": { dtype: "float32", shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) },
  });
  const expected = [
    64,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    ...bytesOf('{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}'),
    0,
    0,
    0,
    0,
    0,
    0,
    128,
    63,
    0,
    0,
    0,
    64,
    0,
    0,
    64,
    64,
    0,
    0,
    128,
    64,
    0,
    0,
    160,
    64,
  ];
  deepStrictEqual([...out], expected);
});

Deno.test("encodeSafetensors() puts __metadata__ first and packs tensors in order", async () => {
  const out = await encodeSafetensors({
    b: { dtype: "float64", shape: [1], data: new Float64Array([2.5]) },
    a: { dtype: "int32", shape: [], data: new Int32Array([-7]) },
  }, { metadata: { format: "pt" } });
  const n = Number(new DataView(out.buffer).getBigUint64(0, true));
  equal(n % 8, 0);
  const header = new TextDecoder().decode(out.subarray(8, 8 + n));
  equal(
    header.trimEnd(),
    '{"__metadata__":{"format":"pt"},"b":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},' +
      '"a":{"dtype":"I32","shape":[],"data_offsets":[8,12]}}',
  );
  const { tensors, metadata } = decodeSafetensors(out);
  deepStrictEqual(metadata, { format: "pt" });
  deepStrictEqual(Object.keys(tensors), ["b", "a"]);
  deepStrictEqual(tensors.b, { dtype: "float64", shape: [1], data: new Float64Array([2.5]) });
  deepStrictEqual(tensors.a, { dtype: "int32", shape: [], data: new Int32Array([-7]) });
});

Deno.test("decodeSafetensors() reads an unpadded header with metadata (reference fixture)", () => {
  // safetensors' Python test_deserialization with metadata: an unaligned 102-byte header.
  const file = rawFile(
    '{"__metadata__":{"framework":"pt"},"test1":{"dtype":"I32","shape":[2,2],' +
      '"data_offsets":[0,16]}}       ',
    new Uint8Array([1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0]),
  );
  equal(file[0], 102);
  const { tensors, metadata } = decodeSafetensors(file);
  deepStrictEqual(metadata, { framework: "pt" });
  deepStrictEqual(tensors.test1.data, new Int32Array([1, 2, 3, 4]));
  deepStrictEqual(tensors.test1.shape, [2, 2]);
});

Deno.test("decodeSafetensors() widens F16 and BF16 and narrows I64", () => {
  const data = new Uint8Array(2 * 2 + 2 * 2 + 8);
  const dv = new DataView(data.buffer);
  dv.setUint16(0, 0x3c00, true); // 1
  dv.setUint16(2, 0xc000, true); // -2
  dv.setUint16(4, 0x3fc0, true); // bf16 1.5
  dv.setUint16(6, 0x4040, true); // bf16 3
  dv.setBigInt64(8, -5n, true);
  const file = rawFile(
    '{"h":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},' +
      '"b":{"dtype":"BF16","shape":[2],"data_offsets":[4,8]},' +
      '"i":{"dtype":"I64","shape":[1],"data_offsets":[8,16]}}',
    data,
  );
  const { tensors } = decodeSafetensors(file);
  deepStrictEqual(tensors.h, { dtype: "float32", shape: [2], data: new Float32Array([1, -2]) });
  deepStrictEqual(tensors.b.data, new Float32Array([1.5, 3]));
  deepStrictEqual(tensors.i, { dtype: "int32", shape: [1], data: new Int32Array([-5]) });
});

Deno.test("saveSafetensors() / loadSafetensors() round trip through a file, atomically", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/w.safetensors`;
    const w = Float32Array.from({ length: 12 }, (_, i) => i / 3 - 1);
    const tensors = {
      "l1.W": { dtype: "float32" as const, shape: [3, 4], data: w },
      "l1.b": { dtype: "float64" as const, shape: [4], data: new Float64Array([1e-300, 2, -3, 0]) },
      empty: { dtype: "int32" as const, shape: [0, 5], data: new Int32Array(0) },
    };
    await saveSafetensors(path, tensors);
    // Overwrite: the rename replaces the old file, and no temporary file is left behind.
    await saveSafetensors(path, tensors, { metadata: { epoch: "3" } });
    deepStrictEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["w.safetensors"]);
    const back = await loadSafetensors(path);
    deepStrictEqual(back, tensors);
    equal((await loadSafetensorsFile(path)).metadata.epoch, "3");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saveSafetensors() rejects mismatched input and leaves no file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/bad.safetensors`;
    await rejects(
      saveSafetensors(path, { w: { dtype: "float32", shape: [2, 2], data: new Float32Array(3) } }),
      { name: "TypeError", message: /tensor "w": shape \[2,2\] holds 4 elements but data has 3/ },
    );
    await rejects(
      saveSafetensors(path, { w: { dtype: "float64", shape: [1], data: new Float32Array(1) } }),
      /tensor "w": dtype float64 does not match its float32 data/,
    );
    await rejects(
      saveSafetensors(path, {
        __metadata__: { dtype: "int32", shape: [], data: new Int32Array(1) },
      }),
      /"__metadata__" is reserved/,
    );
    deepStrictEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadSafetensors() names the file when it does not exist", async () => {
  await rejects(loadSafetensors("/nonexistent/x.safetensors"), Deno.errors.NotFound);
});

async function good(): Promise<Uint8Array> {
  return await encodeSafetensors({
    a: { dtype: "float32", shape: [2], data: new Float32Array([1, 2]) },
    b: { dtype: "float32", shape: [3], data: new Float32Array([3, 4, 5]) },
  });
}

Deno.test("decodeSafetensors() rejects truncated files", async () => {
  const file = await good();
  throws(() => decodeSafetensors(file.subarray(0, 5), "w.st"), {
    name: "RangeError",
    message: "loadSafetensors: w.st: file is 5 bytes, too short for the 8-byte header length",
  });
  throws(() => decodeSafetensors(file.subarray(0, 30), "w.st"), {
    name: "RangeError",
    message: /w\.st: header length \d+ exceeds the 22 bytes after the length field/,
  });
  throws(
    () => decodeSafetensors(file.subarray(0, file.length - 1), "w.st"),
    /w\.st: tensor "b": data_offsets \[8,20\] run past the end of the data \(19 bytes\)/,
  );
});

Deno.test("decodeSafetensors() rejects oversized files and gaps", async () => {
  const file = await good();
  const longer = new Uint8Array(file.length + 4);
  longer.set(file);
  throws(() => decodeSafetensors(longer, "w.st"), {
    name: "RangeError",
    message: /w\.st: the tensors cover 20 bytes but the data region holds 24: 4 trailing bytes/,
  });
  const gap = rawFile(
    '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}',
    new Uint8Array(8),
  );
  throws(() => decodeSafetensors(gap, "g"), /tensor "a": gap of 4 bytes before/);
});

Deno.test("decodeSafetensors() rejects overlapping ranges and shape/size mismatches", () => {
  const overlap = rawFile(
    '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
      '"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}',
    new Uint8Array(12),
  );
  throws(() => decodeSafetensors(overlap, "o"), {
    name: "RangeError",
    message: 'loadSafetensors: o: tensor "b": data_offsets [4,12] overlap tensor "a" [0,8]',
  });
  const mismatch = rawFile(
    '{"a":{"dtype":"F64","shape":[2,2],"data_offsets":[0,16]}}',
    new Uint8Array(16),
  );
  throws(() => decodeSafetensors(mismatch, "m"), {
    name: "TypeError",
    message: 'loadSafetensors: m: tensor "a": shape [2,2] of F64 needs 32 bytes but ' +
      "data_offsets [0,16] span 16",
  });
});

Deno.test("decodeSafetensors() rejects malformed headers", () => {
  const cases: [string, RegExp][] = [
    ["{not json", /header is not valid JSON/],
    ["[1,2]", /header must be a JSON object/],
    ['{"a":{"dtype":"U4","shape":[1],"data_offsets":[0,1]}}', /tensor "a": unsupported dtype "U4"/],
    ['{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}', /tensor "a": invalid shape \[-1\]/],
    ['{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}', /tensor "a": invalid data_offsets/],
    ['{"a":{"dtype":"F32","shape":[1]}}', /tensor "a": invalid data_offsets undefined/],
    ['{"a":7}', /tensor "a": entry must be an object/],
    ['{"__metadata__":{"k":1}}', /__metadata__ value of "k" is not a string/],
  ];
  for (const [header, message] of cases) {
    throws(() => decodeSafetensors(rawFile(header, new Uint8Array(4)), "h"), message, header);
  }
  const badUtf8 = rawFile("{}");
  badUtf8[8] = 0xff;
  throws(() => decodeSafetensors(badUtf8, "u"), /u: header is not valid UTF-8/);
});

Deno.test("decodeSafetensors() accepts an empty file of tensors", () => {
  const { tensors } = decodeSafetensors(rawFile("{}        "));
  equal(Object.keys(tensors).length, 0);
});
