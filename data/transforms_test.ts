import { assert, assertEquals, assertThrows } from "./_test_util.ts";
import { applyToBatch, ArrayDataset, type Sample } from "./dataset.ts";
import {
  AsType,
  CenterCrop,
  Compose,
  Flatten,
  Normalize,
  RandomCrop,
  RandomHorizontalFlip,
  Reshape,
  ToFloat,
  ToInt,
} from "./transforms.ts";

const img = (data: number[], shape: number[]): Sample => ({ data: Uint8Array.from(data), shape });

Deno.test("Compose() of Flatten, ToFloat, Normalize matches DeZero's MNIST transform", () => {
  const t = new Compose([new Flatten(), new ToFloat(), new Normalize(0, 255)]);
  const y = t.apply(img([0, 51, 255, 102], [1, 2, 2]));
  assertEquals(y.shape, [4]);
  assert(y.data instanceof Float32Array);
  assertEquals(Array.from(y.data), [0, 0.2, 1, 0.4].map(Math.fround));
  // The batch path gives the same numbers.
  const b = t.applyBatch(img([0, 51, 255, 102, 1, 2, 3, 4], [2, 1, 2, 2]));
  assertEquals(b.shape, [2, 4]);
  assertEquals(Array.from(b.data.subarray(0, 4)), Array.from(y.data));
});

Deno.test("Normalize() per channel uses axis 0 of CHW samples and the last axis otherwise", () => {
  const n = new Normalize([1, 10], [1, 2]);
  const chw = n.apply({ data: Float32Array.from([1, 2, 3, 10, 12, 14]), shape: [2, 1, 3] });
  assertEquals(Array.from(chw.data), [0, 1, 2, 0, 1, 2]);
  const batch = n.applyBatch({
    data: Float32Array.from([1, 2, 3, 10, 12, 14]),
    shape: [1, 2, 1, 3],
  });
  assertEquals(Array.from(batch.data), [0, 1, 2, 0, 1, 2]);
  const last = n.apply({ data: Float32Array.from([1, 10, 3, 14]), shape: [2, 2] });
  assertEquals(Array.from(last.data), [0, 0, 2, 2]);
  const f64 = new Normalize(1, 2).apply({ data: Float64Array.from([3]), shape: [1] });
  assert(f64.data instanceof Float64Array);
  assertThrows(
    () => n.apply({ data: new Float32Array(3), shape: [3, 1, 1] }),
    TypeError,
    "2 channel values",
  );
  assertThrows(() => new Normalize(0, 0), RangeError, "std must not be 0");
});

Deno.test("AsType(), ToInt(), ToFloat() convert and truncate toward zero", () => {
  const x = { data: Float32Array.from([1.7, -2.5, 3]), shape: [3] };
  const i = new ToInt().apply(x);
  assert(i.data instanceof Int32Array);
  assertEquals(Array.from(i.data), [1, -2, 3]);
  const d = new ToFloat("float64").apply(i);
  assert(d.data instanceof Float64Array);
  assertEquals(new AsType("float32").apply(x).data, x.data); // no copy when already the dtype
  assertThrows(() => new AsType("uint8" as "int32"), TypeError, "unknown dtype");
});

Deno.test("Flatten() and Reshape() change shapes without copying", () => {
  const x = img([1, 2, 3, 4, 5, 6], [1, 2, 3]);
  const f = new Flatten().apply(x);
  assertEquals(f.shape, [6]);
  assertEquals(f.data, x.data);
  assertEquals(new Reshape([3, -1]).apply(x).shape, [3, 2]);
  assertEquals(new Reshape([1, -1]).applyBatch({ data: new Uint8Array(12), shape: [2, 6] }).shape, [
    2,
    1,
    6,
  ]);
  assertThrows(
    () => new Reshape([4, -1]).apply(x),
    TypeError,
    "cannot reshape a sample of shape [1,2,3]",
  );
});

Deno.test("RandomHorizontalFlip() mirrors CHW images, seeded, and never modifies its input", () => {
  const x = img([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [2, 2, 3]);
  const always = new RandomHorizontalFlip({ p: 1 }).apply(x);
  assertEquals(Array.from(always.data), [3, 2, 1, 6, 5, 4, 9, 8, 7, 12, 11, 10]);
  assertEquals(Array.from(x.data), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  assertEquals(Array.from(new RandomHorizontalFlip({ p: 0 }).apply(x).data), Array.from(x.data));
  // p as a positional number, as torchvision's RandomHorizontalFlip(p).
  assertEquals(new RandomHorizontalFlip(1).p, 1);
  assertEquals(Array.from(new RandomHorizontalFlip(1).apply(x).data), Array.from(always.data));
  assertThrows(() => new RandomHorizontalFlip(1.5), RangeError, "p must be in [0, 1]");
  // With p = 0.5 and a seed: reproducible, and both outcomes occur.
  const flips = (seed: number) => {
    const t = new RandomHorizontalFlip({ seed });
    return Array.from({ length: 40 }, () => t.apply(x).data[0] === 3);
  };
  assertEquals(flips(7), flips(7));
  const f = flips(7);
  assert(f.includes(true) && f.includes(false));
  // The batch path draws in the same order as per-sample application.
  const batch = { data: new Uint8Array([...x.data, ...x.data, ...x.data]), shape: [3, 2, 2, 3] };
  const viaBatch = applyToBatch(new RandomHorizontalFlip({ seed: 3 }), batch);
  const single = new RandomHorizontalFlip({ seed: 3 });
  const expected = [0, 1, 2].flatMap(() => Array.from(single.apply(x).data));
  assertEquals(Array.from(viaBatch.data), expected);
  assertThrows(
    () => new RandomHorizontalFlip({ p: 1 }).apply(img([1, 2], [2])),
    TypeError,
    "[H, W] or [C, H, W]",
  );
});

Deno.test("CenterCrop() and RandomCrop() cut windows, padding with zeros", () => {
  const x = img([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3]);
  assertEquals(Array.from(new CenterCrop(1).apply(x).data), [5]);
  assertEquals(new CenterCrop(2).apply(x).shape, [1, 2, 2]);
  const crop = new RandomCrop(3, { padding: 1, seed: 1 });
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const y = crop.apply(x);
    assertEquals(y.shape, [1, 3, 3]);
    // Every window is a shift of the image with zeros shifted in: the centre pixel is 5 or a
    // neighbour of it.
    assert([1, 2, 3, 4, 5, 6, 7, 8, 9].includes(y.data[4]));
    seen.add(Array.from(y.data).join());
  }
  assert(seen.size > 3, `only ${seen.size} distinct crops`);
  assert(seen.has("0,0,0,0,1,2,0,4,5"), "the top-left shifted window should appear");
  assertThrows(() => new CenterCrop(4).apply(x), RangeError, "crop size 4 does not fit");
});

Deno.test("Dataset transform and targetTransform apply in get() and getBatch()", () => {
  const ds = new ArrayDataset(
    { data: Uint8Array.from([0, 255, 255, 0]), shape: [2, 2] },
    { data: Uint8Array.from([3, 4]), shape: [2] },
    {
      transform: new Compose([new ToFloat(), new Normalize(0, 255)]),
      targetTransform: new ToInt(),
    },
  );
  const [x, t] = ds.get(1);
  assertEquals(Array.from(x.data), [1, 0]);
  assert(t.data instanceof Int32Array);
  // A plain function is a transform too (and has no batch path: applied per sample).
  const plain = new ArrayDataset(ds.data, ds.label, {
    transform: (s) => ({ data: Float32Array.from(s.data, (v) => v + 1), shape: s.shape }),
  });
  const [bx] = plain.getBatch([1, 0]);
  assertEquals(bx.shape, [2, 2]);
  assertEquals(Array.from(bx.data), [256, 1, 1, 256]);
  assertThrows(() => ds.get(2), RangeError, "index 2 is out of range for 2 samples");
});
