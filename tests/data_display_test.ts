// Transforms, the sequence loader, the SVG chart and graph files on the edge cases a QA pass
// found: each was accepted silently (NaN, wrong shapes, invalid XML, a wrong file format).
import assert from "node:assert/strict";
import { assertThrows } from "./_assert.ts";
import { F, L, tensor, utils } from "../mod.ts";
import { SeqDataLoader } from "../data/dataloader.ts";
import { lossCurveSvg } from "../data/plot.ts";
import { AsType, Normalize, Reshape, ToInt } from "../data/transforms.ts";
import { graphFormat } from "../core/utils.ts";

// deno-lint-ignore no-explicit-any
const untyped = (c: unknown) => c as any;

Deno.test("Normalize rejects mean/std of different channel counts and non-finite values", () => {
  assertThrows(
    () => new Normalize([1, 2, 3], [1, 2]),
    RangeError,
    "Normalize: mean has 3 channels but std 2",
  );
  assertThrows(() => new Normalize(0, NaN), TypeError, "Normalize: std must be a finite number");
  assertThrows(() => new Normalize([], 1), TypeError, "non-empty array");
  assertThrows(() => new Normalize(0, [1, 0]), RangeError, "std must not be 0");
  // One value for either side still broadcasts over the channels.
  const y = new Normalize(1, [1, 2]).apply({ data: new Float32Array([3, 5]), shape: [2] });
  assert.deepEqual(Array.from(y.data), [2, 2]);
});

Deno.test("Reshape rejects shapes no array can have", () => {
  for (const bad of [[-2, -2], [0.5, 8], [-1, -1], "4"]) {
    assertThrows(() => new Reshape(untyped(bad)), TypeError, "Reshape: shape must be");
  }
  const r = new Reshape([2, -1]);
  assert.deepEqual(r.apply({ data: new Float32Array(6), shape: [6] }).shape, [2, 3]);
  assertThrows(
    () => new Reshape([0, -1]).apply({ data: new Float32Array(6), shape: [6] }),
    TypeError,
    "cannot reshape",
  );
});

Deno.test("AsType/ToInt to int32 saturate and map NaN to 0, as astype does", async () => {
  const data = new Float64Array([3e9, -3e9, NaN, Infinity, -2.7, 2.7]);
  const y = new ToInt().apply({ data, shape: [6] });
  assert.deepEqual(Array.from(y.data), [2147483647, -2147483648, 0, 2147483647, -2, 2]);
  const same = await F.astype(tensor(data, { dtype: "float64" }), "int32").toArray();
  assert.deepEqual(Array.from(y.data), same);
  const f32 = new AsType("int32").apply({ data: new Float32Array([3e9]), shape: [1] });
  assert.deepEqual(Array.from(f32.data), [2147483520]);
});

Deno.test("SeqDataLoader rejects more streams than the sequence has elements", () => {
  const seq: [number[], number[]][] = [[[1], [2]], [[2], [3]], [[3], [4]]];
  assertThrows(
    () => new SeqDataLoader(seq, 4),
    RangeError,
    "SeqDataLoader: batchSize 4 is more than the 3 elements of the sequence",
  );
  assert.equal(new SeqDataLoader(seq, 3).length, 1);
});

Deno.test("lossCurveSvg drops control characters, labels near-constant series, needs room", () => {
  const svg = lossCurveSvg({
    title: "run\u0001",
    series: [{ name: "loss\u001b[31m red\u001b[0m", values: [1, 1 + 1e-12, 1] }],
  });
  // deno-lint-ignore no-control-regex
  assert.ok(!/[\x00-\x08\x0b\x0c\x0e-\x1f]/.test(svg), "no control characters in XML");
  assert.match(svg, /<title>loss red<\/title>/);
  const labels = [...svg.matchAll(/text-anchor="end">([^<]*)</g)].map((m) => m[1]);
  assert.equal(new Set(labels).size, labels.length, `distinct tick labels: ${labels}`);
  assertThrows(
    () => lossCurveSvg({ width: 50, height: 40, series: [{ name: "a", values: [1, 2] }] }),
    RangeError,
    "lossCurveSvg: a chart of 50×40 pixels leaves no room to plot",
  );
});

Deno.test("graph files: the format is the file name's extension, and .dot is the DOT text", async () => {
  assert.equal(graphFormat("plotDotGraph", "G.SVG"), "svg");
  assert.equal(graphFormat("plotDotGraph", "out/graph.gv"), "dot");
  assertThrows(() => graphFormat("plotDotGraph", "graph"), TypeError, "(no extension)");
  assertThrows(() => graphFormat("Model.plot", "dir.v2/graph"), TypeError, "Model.plot");
  assertThrows(() => graphFormat("plotDotGraph", "g.txt"), TypeError, "unknown extension .txt");
  const dir = await Deno.makeTempDir();
  try {
    const y = F.tanh(tensor([1, 2], { name: "x" })).sum();
    const path = await utils.plotDotGraph(y, { toFile: `${dir}/g.dot` });
    assert.equal(await Deno.readTextFile(path), utils.getDotGraph(y));
    await assert.rejects(() => utils.plotDotGraph(y, { toFile: `${dir}/g` }), TypeError);
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["g.dot"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a lazy parameter shows as not initialised in Jupyter too, then as its values", async () => {
  const l = new L.Linear(3);
  const display = (x: unknown) =>
    (x as Record<symbol, () => Promise<Record<string, string>>>)[Symbol.for("Jupyter.display")]();
  const before = await display(l.W);
  assert.deepEqual(Object.keys(before), ["text/plain"]);
  assert.match(before["text/plain"], /not initialised: shape \[\?, 3\]/);
  l.apply(tensor([[1, 2]]));
  const after = await display(l.W);
  assert.ok("text/html" in after);
  assert.match(after["text/plain"], /shape=\[2,3\]/);
});
