import { assert, assertEquals, assertMatch } from "./_test_util.ts";
import { tensor } from "../core/mod.ts";
import { dotGraphDisplay, tensorHtml, variableMimeBundle } from "./display.ts";

Deno.test("variableMimeBundle() shows shape, dtype, device and every value of a small tensor", async () => {
  const x = tensor([[1, 2.5], [3, 4]], { name: "x" });
  const b = await variableMimeBundle(x);
  assertMatch(b["text/html"], /Variable <b>x<\/b> · shape \[2, 2\] · float32 · cpu/);
  assertEquals((b["text/html"].match(/<td>/g) ?? []).length, 4);
  assert(b["text/html"].includes("<td>2.5</td>"));
  assertEquals(
    b["text/plain"],
    "variable([[1, 2.5],\n          [3, 4]], shape=[2,2], dtype=float32)",
  );
  x.dispose();
  const gone = await variableMimeBundle(x);
  assert(gone["text/html"].includes("<i>disposed</i>"));
  assertEquals(gone["text/plain"], "variable(<disposed>)");
});

Deno.test("tensorHtml() abbreviates long tensors with edge items on every axis", () => {
  const data = Float32Array.from({ length: 3 * 20 * 30 }, (_, i) => i);
  const html = tensorHtml(data, [3, 20, 30], { maxElements: 100, edgeItems: 2 });
  // 3 leading blocks (3 ≤ 2·2 so not abbreviated), each 4 rows × 4 columns of values.
  assertEquals((html.match(/<table/g) ?? []).length, 3);
  assertEquals((html.match(/<td>\d+<\/td>/g) ?? []).length, 3 * 16);
  assert(html.includes("<caption") && html.includes("[2, :, :]"));
  assert(html.includes(`<td>${2 * 600 + 19 * 30 + 29}</td>`), "last element shown");
  assert(html.includes("…") && html.includes("⋮"));
  // Small tensors are shown whole.
  assertEquals((tensorHtml(data.subarray(0, 12), [3, 4]).match(/<td>/g) ?? []).length, 12);
  assertEquals(tensorHtml(new Float32Array([7]), []).match(/<td>7<\/td>/)?.length, 1);
});

Deno.test("dotGraphDisplay() falls back to DOT text when Graphviz is missing or returns SVG", async () => {
  const d = await dotGraphDisplay('digraph { a -> b [label="<x>"] }');
  const bundle = (d as unknown as Record<symbol, () => Record<string, string>>)[
    Symbol.for("Jupyter.display")
  ]();
  if (d.svg === null) {
    assert(bundle["text/html"].includes("&#60;x&#62;"));
    assertEquals(bundle["text/plain"], 'digraph { a -> b [label="<x>"] }');
  } else {
    assert(bundle["image/svg+xml"].includes("<svg"));
  }
});

Deno.test("Variable has a Jupyter display method that returns the HTML bundle", async () => {
  const x = tensor([1, 2, 3], { dtype: "int32" });
  const show = (x as unknown as Record<symbol, () => Promise<Record<string, string>>>)[
    Symbol.for("Jupyter.display")
  ];
  assertEquals(typeof show, "function");
  const bundle = await show.call(x);
  assertMatch(bundle["text/html"], /shape \[3\] · int32 · cpu/);
  assertEquals(bundle["text/plain"], "variable([1, 2, 3], shape=[3], dtype=int32)");
});
