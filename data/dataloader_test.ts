import { assert, assertEquals, assertThrows } from "./_test_util.ts";
import { DataLoader, SeqDataLoader } from "./dataloader.ts";
import { ArrayDataset } from "./dataset.ts";
import { Shakespeare, SinCurve, Spiral } from "./datasets.ts";
import { manualSeed } from "../core/random.ts";
import { Parameter, type Variable } from "../core/variable.ts";

/** 10 samples: x = [i, 10 + i] (uint8), t = i % 3. */
function tenSamples(): ArrayDataset {
  const x = new Uint8Array(20);
  for (let i = 0; i < 10; i++) {
    x[2 * i] = i;
    x[2 * i + 1] = 10 + i;
  }
  return new ArrayDataset(
    { data: x, shape: [10, 2] },
    { data: Uint8Array.from({ length: 10 }, (_, i) => i % 3), shape: [10] },
  );
}

async function epoch(loader: DataLoader): Promise<{ xs: number[][]; shapes: number[][] }> {
  const xs: number[][] = [];
  const shapes: number[][] = [];
  for (const [x, t] of loader) {
    shapes.push([...x.shape]);
    const xd = await x.data();
    const td = await t.data();
    for (let i = 0; i < x.shape[0]; i++) {
      assertEquals(td[i], xd[2 * i] % 3); // labels stay paired with their inputs
      xs.push([xd[2 * i]]);
    }
  }
  return { xs, shapes };
}

Deno.test("DataLoader without shuffle batches in order, last batch smaller", async () => {
  const loader = new DataLoader(tenSamples(), 4, { shuffle: false });
  assertEquals(loader.length, 3);
  const { xs, shapes } = await epoch(loader);
  assertEquals(shapes, [[4, 2], [4, 2], [2, 2]]);
  assertEquals(xs.flat(), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Deno.test("DataLoader dropLast skips the partial batch", async () => {
  const loader = new DataLoader(tenSamples(), 4, { shuffle: false, dropLast: true });
  assertEquals(loader.length, 2);
  const { shapes } = await epoch(loader);
  assertEquals(shapes, [[4, 2], [4, 2]]);
});

Deno.test("DataLoader converts uint8 inputs to float32 and labels to int32, on the device", () => {
  const loader = new DataLoader(tenSamples(), 5, { device: "cpu" });
  const [x, t] = loader.next()!;
  assertEquals(x.dtype, "float32");
  assertEquals(t.dtype, "int32");
  assertEquals(x.device, "cpu");
  assertEquals(t.shape, [5]);
  // Float datasets keep their dtype; int32 inputs (character ids) stay int32.
  const [sx, st] = new DataLoader(new SinCurve(), 7).next()!;
  assertEquals([sx.dtype, st.dtype, sx.shape], ["float32", "float32", [7, 1]]);
  const [cx] = new DataLoader(Shakespeare.fromText("abcabc"), 2).next()!;
  assertEquals(cx.dtype, "int32");
});

Deno.test("DataLoader shuffles a permutation per epoch, reproducibly with a seed", async () => {
  const a = await epoch(new DataLoader(tenSamples(), 3, { seed: 42 }));
  const b = await epoch(new DataLoader(tenSamples(), 3, { seed: 42 }));
  assertEquals(a.xs, b.xs);
  assertEquals([...a.xs.flat()].sort((p, q) => p - q), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert(a.xs.flat().join() !== "0,1,2,3,4,5,6,7,8,9", "seed 42 should not give the identity");
  // The next epoch reshuffles.
  const loader = new DataLoader(tenSamples(), 10, { seed: 1 });
  const e1 = (await epoch(loader)).xs.flat().join();
  const e2 = (await epoch(loader)).xs.flat().join();
  const e3 = (await epoch(loader)).xs.flat().join();
  assert(e1 !== e2 || e2 !== e3, "epochs should be shuffled differently");
  // Without a seed the default generator is used, so manualSeed reproduces runs.
  manualSeed(5);
  const c = await epoch(new DataLoader(tenSamples(), 3));
  manualSeed(5);
  const d = await epoch(new DataLoader(tenSamples(), 3));
  assertEquals(c.xs, d.xs);
});

Deno.test("DataLoader resumes after break, resets at the end of an epoch and on reset()", () => {
  const loader = new DataLoader(tenSamples(), 4, { shuffle: false });
  for (const _ of loader) break;
  assertEquals(loader.iteration, 1);
  let n = 0;
  for (const _ of loader) n++;
  assertEquals(n, 2); // the rest of the epoch
  assertEquals(loader.iteration, 0); // reset at the end
  loader.next();
  loader.next();
  loader.reset();
  assertEquals(loader.iteration, 0);
  const [x] = loader.nextSamples()!;
  assertEquals(Array.from(x.data.subarray(0, 2)), [0, 10]); // the first batch again
});

Deno.test("DataLoader disposes the previous batch when the next one is produced", () => {
  const loader = new DataLoader(tenSamples(), 4, { shuffle: false });
  const seen = [];
  for (const [x, t] of loader) {
    assert(x.isAlive && t.isAlive);
    seen.push([x, t]);
    if (seen.length > 1) {
      assert(!seen[seen.length - 2][0].isAlive && !seen[seen.length - 2][1].isAlive);
    }
  }
  // The epoch's end disposes the last one too.
  assert(seen.every(([x, t]) => !x.isAlive && !t.isAlive));
  const keep = new DataLoader(tenSamples(), 4, { shuffle: false, autoDispose: false });
  const kept = [...keep];
  assert(kept.every(([x, t]) => x.isAlive && t.isAlive));
  for (const [x, t] of kept) {
    x.dispose();
    t.dispose();
  }
});

Deno.test("DataLoader names autoDispose when a disposed batch is used later", () => {
  const loader = new DataLoader(tenSamples(), 4, { shuffle: false });
  const w = new Parameter(new Float32Array([2]));
  const [x] = loader.next()!;
  const kept = x.mul(w).sum(); // a graph that outlives the iteration (its backward reads x)
  loader.next();
  assertThrows(() => kept.backward(), ReferenceError, "pass autoDispose: false");
});

Deno.test("SeqDataLoader keeps its batches by default for truncated BPTT", () => {
  const loader = new SeqDataLoader(new SinCurve(), 3);
  assertEquals(loader.autoDispose, false);
  // DeZero step 60: a loss summed over several batches, then one backward.
  const w = new Parameter(new Float32Array([0.5]), { name: "w" });
  let loss: Variable | null = null;
  for (let i = 0; i < 4; i++) {
    const [x, t] = loader.next()!;
    const term = x.mul(w).sub(t).pow(2).sum();
    loss = loss === null ? term : loss.add(term);
  }
  loss!.backward();
  assert(w.grad !== null);
  assertEquals(new SeqDataLoader(new SinCurve(), 3, { autoDispose: true }).autoDispose, true);
});

Deno.test("DataLoader samples() yields TypedArray batches without Variables", () => {
  const loader = new DataLoader(new Spiral(), 100, { shuffle: false });
  const batches = [...loader.samples()];
  assertEquals(batches.map(([x]) => x.shape), [[100, 2], [100, 2], [100, 2]]);
  assert(batches[0][0].data instanceof Float32Array);
  assertEquals(
    Array.from(batches[2][1].data.subarray(0, 3)),
    Array.from(new Spiral().label.data.subarray(200, 203)),
  );
  assertThrows(
    () => new DataLoader(new Spiral(), 0),
    RangeError,
    "batchSize must be a positive integer",
  );
});

Deno.test("SeqDataLoader walks batchSize streams jump apart, as DeZero's", async () => {
  const ds = new SinCurve({ train: false }); // 999 samples
  const loader = new SeqDataLoader(ds, 3);
  assertEquals(loader.length, 333);
  const jump = Math.floor(999 / 3);
  for (let it = 0; it < 3; it++) {
    const [x, t] = loader.next()!;
    assertEquals(x.shape, [3, 1]);
    const xd = await x.data();
    const td = await t.data();
    for (let i = 0; i < 3; i++) {
      const k = (i * jump + it) % 999;
      assertEquals(xd[i], ds.data.data[k]);
      assertEquals(td[i], ds.label.data[k]);
    }
  }
  // A whole epoch has `length` batches, then it resets.
  let n = 3;
  for (const _ of loader) n++;
  assertEquals(n, 333);
  assertEquals(loader.iteration, 0);
  // Character ids: [B] int32 batches.
  const [cx, ct] = new SeqDataLoader(Shakespeare.fromText("abcdefgh"), 2).next()!;
  assertEquals(cx.shape, [2]);
  assertEquals(Array.from(await cx.data()), [0, 3]);
  assertEquals(Array.from(await ct.data()), [1, 4]);
});
