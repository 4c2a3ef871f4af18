import { assert, assertEquals, assertThrows } from "./_test_util.ts";
import { DataLoader } from "./dataloader.ts";
import { asDataset, Dataset, type SampleLike, stackSamples, toSample } from "./dataset.ts";
import { tensor } from "../core/variable.ts";

/** Book step 49's custom dataset: getRaw returns whatever `raw(i)` gives. */
function custom(raw: (i: number) => unknown, length = 4): Dataset {
  return new (class MyDataset extends Dataset {
    get length() {
      return length;
    }
    getRaw(i: number): [SampleLike, SampleLike] {
      return raw(i) as [SampleLike, SampleLike];
    }
  })();
}

async function firstBatch(
  loader: DataLoader,
): Promise<{ x: number[]; t: number[]; xs: number[]; ts: string }> {
  const [x, t] = loader.next()!;
  return { x: [...await x.data()], t: [...await t.data()], xs: [...x.shape], ts: t.dtype };
}

Deno.test("Dataset.get() accepts nested arrays, TypedArrays and CPU Variables from getRaw", async () => {
  const forms: [string, (i: number) => unknown][] = [
    ["nested arrays", (i) => [[i, i + 10], i % 2]],
    ["TypedArray and number", (i) => [new Float32Array([i, i + 10]), i % 2]],
    ["Variables", (i) => [tensor([i, i + 10]), tensor(i % 2, { dtype: "int32" })]],
  ];
  for (const [name, raw] of forms) {
    const b = await firstBatch(new DataLoader(custom(raw), 2, { shuffle: false }));
    assertEquals(b, { x: [0, 10, 1, 11], t: [0, 1], xs: [2, 2], ts: "int32" }, name);
  }
});

Deno.test("toSample() makes integer targets int32 and everything else float32", () => {
  const x = toSample([[1, 2], [3, 4]]);
  assert(x.data instanceof Float32Array);
  assertEquals(x.shape, [2, 2]);
  assert(toSample(1, { isTarget: true }).data instanceof Int32Array);
  assert(toSample(0.5, { isTarget: true }).data instanceof Float32Array);
  assert(toSample(1).data instanceof Float32Array);
  assert(toSample(new Uint16Array([3]), { isTarget: true }).data instanceof Int32Array);
  const s = { data: new Uint8Array(4), shape: [2, 2] };
  assert(toSample(s) === s, "a Sample passes through unchanged");
});

Deno.test("stackSamples() batches int32 and float32 targets (0 and 0.5) as float32", () => {
  const b = stackSamples("test", [
    toSample(0, { isTarget: true }),
    toSample(0.5, { isTarget: true }),
  ]);
  assert(b.data instanceof Float32Array);
  assertEquals([...b.data], [0, 0.5]);
});

Deno.test("Dataset.get() names the sample forms when getRaw returns something else", () => {
  assertThrows(
    () => custom(() => 3).get(0),
    TypeError,
    "MyDataset.getRaw(0) must return a pair [x, t]",
  );
  const e = assertThrows(
    () => custom(() => [["a"], 0]).get(1),
    TypeError,
    "MyDataset.getRaw(1): x is",
  );
  assert(e.message.includes("a sample must be a number, nested number arrays, a TypedArray"));
  assertThrows(() => custom(() => [[1, [2]], 0]).get(0), TypeError, "ragged");
  assertThrows(
    () => custom(() => [{ data: new Float32Array(3), shape: [2] }, 0]).get(0),
    TypeError,
    "3 elements for shape [2]",
  );
});

Deno.test("DataLoader wraps an array of [x, t] pairs and objects with length and get(i)", async () => {
  const pairs: [number[], number][] = [[[1, 2], 0], [[3, 4], 1], [[5, 6], 2]];
  assertEquals(await firstBatch(new DataLoader(pairs, 2, { shuffle: false })), {
    x: [1, 2, 3, 4],
    t: [0, 1],
    xs: [2, 2],
    ts: "int32",
  });
  const loader = new DataLoader([[1, 2], [3, 4]], 1, { shuffle: false });
  assertEquals(loader.length, 2);
  assertEquals(await firstBatch(loader), { x: [1], t: [2], xs: [1], ts: "int32" });
  const like = { length: 3, get: (i: number) => pairs[i] };
  assertEquals(asDataset(like).length, 3);
  assertEquals((await firstBatch(new DataLoader(like, 3, { shuffle: false }))).t, [0, 1, 2]);
});

Deno.test("DataLoader rejects what is not a dataset with a TypeError naming the forms", () => {
  // deno-lint-ignore no-explicit-any
  const bad = (v: unknown) => () => new DataLoader(v as any, 1);
  assertThrows(bad({}), TypeError, "DataLoader: expected a Dataset, an array of [x, t] pairs");
  assertThrows(bad(42), TypeError, "got 42");
  assertThrows(
    // deno-lint-ignore no-explicit-any
    () => new DataLoader([1, 2] as any, 1, { shuffle: false }).next(),
    TypeError,
    "dataset item 0 must be a pair [x, t]",
  );
});
