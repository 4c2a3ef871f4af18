import { assert, assertEquals } from "./_test_util.ts";
import { lossCurveSvg, niceTicks, svgDisplay } from "./plot.ts";

/** Checks that tags nest and close properly and attributes are quoted; returns the tag names. */
function parseXml(xml: string): string[] {
  const stack: string[] = [];
  const names: string[] = [];
  const tag = /<(\/?)([a-zA-Z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(xml); m !== null; m = tag.exec(xml)) {
    const between = xml.slice(last, m.index);
    assert(!/[<>]/.test(between), `stray markup before offset ${m.index}: ${between}`);
    assert(!/&(?!#\d+;|amp;|lt;|gt;|quot;)/.test(between), `unescaped & in ${between}`);
    last = tag.lastIndex;
    const [, close, name, , selfClose] = m;
    if (close) assertEquals(stack.pop(), name, `</${name}> closes the wrong element`);
    else {
      names.push(name);
      if (!selfClose) stack.push(name);
    }
  }
  assert(!/[<>]/.test(xml.slice(last)), "markup the parser could not read");
  assertEquals(stack, [], "unclosed elements");
  return names;
}

Deno.test("lossCurveSvg() is well-formed SVG with axes, ticks, one line per series and a legend", () => {
  const svg = lossCurveSvg({
    series: [
      { name: "train <loss>", values: [2.3, 0.6, 0.4, 0.3] },
      { name: "test & more", values: [1.9, 0.7, NaN, 0.45] },
    ],
    title: 'MNIST "MLP"',
    xLabel: "epoch",
    yLabel: "loss",
  });
  assert(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"'));
  const names = parseXml(svg);
  assertEquals(names[0], "svg");
  // Two data lines (with titles), plus the axes path.
  const lines = [...svg.matchAll(/<path d="([^"]*)"[^>]*stroke-width="2"/g)].map((m) => m[1]);
  assertEquals(lines.length, 2);
  assertEquals(lines[0].match(/[ML]/g), ["M", "L", "L", "L"]);
  assertEquals(lines[1].match(/[ML]/g), ["M", "L", "M"]); // a gap at NaN
  assert(svg.includes("train &#60;loss&#62;"));
  assert(svg.includes("test &#38; more"));
  assert(svg.includes("MNIST &#34;MLP&#34;"));
  // y ticks at a nice step cover the data; x ticks are epochs.
  for (const t of ["0.0", "0.5", "1.0", "1.5", "2.0", "2.5"]) {
    assert(svg.includes(`>${t}</text>`), t);
  }
  for (const t of ["1", "2", "3", "4"]) assert(svg.includes(`>${t}</text>`), `x tick ${t}`);
});

Deno.test("lossCurveSvg() handles flat, single-point and empty input", () => {
  parseXml(lossCurveSvg({ series: [{ name: "flat", values: [1, 1, 1] }] }));
  parseXml(lossCurveSvg({ series: [{ name: "one", values: [0.5] }] }));
  parseXml(lossCurveSvg({ series: [] }));
  const shown = svgDisplay("<svg/>") as unknown as Record<symbol, () => Record<string, string>>;
  assertEquals(shown[Symbol.for("Jupyter.display")]()["image/svg+xml"], "<svg/>");
});

Deno.test("niceTicks() uses steps of 1, 2 or 5 times a power of ten", () => {
  assertEquals(niceTicks(0.023, 2.31, 6), [0, 0.5, 1, 1.5, 2, 2.5]);
  assertEquals(niceTicks(0.9, 0.98, 6), [0.9, 0.92, 0.94, 0.96, 0.98]);
  assertEquals(niceTicks(1, 10, 8), [0, 2, 4, 6, 8, 10]);
});
