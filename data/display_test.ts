import { assert, assertEquals, assertMatch } from "./_test_util.ts";
import { F, Parameter, tensor, tidy, type Variable } from "../mod.ts";
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
  assertMatch(gone["text/html"], /Variable <b>x<\/b> · <i>.*value not available<\/i>/);
  assert(gone["text/html"].includes("Variable &#34;x&#34; was disposed"), gone["text/html"]);
  assertMatch(gone["text/plain"], /^variable\(<Variable "x" was disposed>/);
});

Deno.test("variableMimeBundle() of a value backward() released says so and how to keep it", async () => {
  const W = new Parameter([[1, 2]], { name: "W" });
  const h = F.tanh(W); // an activation: released by the backward() below
  h.sum().backward();
  assertEquals(h.isAlive, false);
  const b = await variableMimeBundle(h);
  for (const form of [b["text/html"], b["text/plain"]]) {
    assertMatch(form, /of shape \[1,2\] was released by backward\(\)/);
    assert(form.includes("retainGraph: true") && form.includes("retainData()"), form);
  }
  assert(!b["text/html"].includes("<i>disposed</i>"));
  // Its shape, dtype and device outlive the value, as a PyTorch tensor's metadata does.
  assertEquals([h.shape, h.dtype, h.device], [[1, 2], "float32", "cpu"]);
  assertMatch(b["text/html"], /shape \[1, 2\] · float32 · cpu · value not available/);
  // The Jupyter method gives the same bundle.
  const show = (h as unknown as Record<symbol, () => Promise<Record<string, string>>>)[
    Symbol.for("Jupyter.display")
  ];
  assertEquals(await show.call(h), b);
});

Deno.test("variableMimeBundle() of a freed value shows its shape, dtype and device and why", async () => {
  // A value tidy() freed still knows its shape, dtype and device; reading it says why it fails.
  const x = tensor([1, 2, 3]);
  let kept: Variable | null = null;
  tidy(() => {
    kept = x.mul(3);
    return x.add(1);
  });
  const b = await variableMimeBundle(kept!);
  assertMatch(
    b["text/html"],
    /Variable · <i>shape \[3\] · float32 · cpu · value not available<\/i>/,
  );
  assertMatch(b["text/plain"], /^variable\(<.+>, shape=\[3\], dtype=float32\)$/);
  // Any DisplayableTensor: the metadata it still has, and the message its read fails with.
  const fake = {
    shape: [2, 3],
    dtype: "float32",
    device: "gpu",
    name: "h",
    isAlive: false,
    data: () => Promise.reject(new ReferenceError('Variable "h" was freed by tidy() <here>')),
  };
  const f = await variableMimeBundle(fake);
  assertEquals(
    f["text/html"],
    '<div style="font-family:monospace;margin-bottom:4px">Variable <b>h</b> · ' +
      "<i>shape [2, 3] · float32 · gpu · value not available</i></div>" +
      '<div style="font-family:monospace;color:#888">Variable &#34;h&#34; was freed by tidy() ' +
      "&#60;here&#62;</div>",
  );
  assertEquals(
    f["text/plain"],
    'variable(<Variable "h" was freed by tidy() <here>>, shape=[2,3], dtype=float32, device=gpu)',
  );
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
