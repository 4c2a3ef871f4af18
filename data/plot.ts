/**
 * A dependency-free SVG line chart for training curves (loss, accuracy per
 * epoch): axes with "nice" ticks, one coloured line per series, a legend.
 *
 * @module
 */

/** One line of a chart. */
export interface Series {
  /** Legend text. */
  name: string;
  /** y values at x = 1, 2, 3, ... (epochs); non-finite values leave a gap. */
  values: readonly number[];
}

/** Options of {@linkcode lossCurveSvg}. */
export interface LossCurveOptions {
  /** The lines to draw. */
  series: readonly Series[];
  /** Title above the chart. */
  title?: string;
  /** x axis label (default `"epoch"`). */
  xLabel?: string;
  /** y axis label. */
  yLabel?: string;
  /** Width in pixels (default 640). */
  width?: number;
  /** Height in pixels (default 400). */
  height?: number;
}

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2"];

/**
 * An SVG document plotting each series against x = 1..n (the first value at x = 1).
 *
 * @example
 * ```ts
 * import { lossCurveSvg } from "./plot.ts";
 * const svg = lossCurveSvg({
 *   series: [{ name: "train", values: [0.9, 0.5, 0.3] }, { name: "test", values: [1, 0.6, 0.45] }],
 *   title: "MNIST MLP",
 *   yLabel: "loss",
 * });
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export function lossCurveSvg(options: LossCurveOptions): string {
  const width = options.width ?? 640;
  const height = options.height ?? 400;
  const margin = { left: 64, right: 16, top: options.title ? 36 : 16, bottom: 48 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  // At least 40 pixels each way to draw in, past the margins of the axes' labels.
  const minW = margin.left + margin.right + 40;
  const minH = margin.top + margin.bottom + 40;
  if (!(Number.isFinite(width) && plotW >= 40 && Number.isFinite(height) && plotH >= 40)) {
    throw new RangeError(
      `lossCurveSvg: a chart of ${width}×${height} pixels leaves no room to plot: ` +
        `give at least width ${minW} and height ${minH}`,
    );
  }

  const finite = options.series.flatMap((s) => s.values.filter(Number.isFinite));
  const maxLen = Math.max(1, ...options.series.map((s) => s.values.length));
  let yMin = finite.length ? Math.min(...finite) : 0;
  let yMax = finite.length ? Math.max(...finite) : 1;
  // A constant series (or one whose changes tick labels cannot show) gets a band around it.
  if (yMax - yMin <= Math.max(Math.abs(yMin), Math.abs(yMax)) * 1e-9) {
    const mid = (yMin + yMax) / 2;
    const pad = Math.abs(mid) * 0.1 || 1;
    yMin = mid - pad;
    yMax = mid + pad;
  }
  const yTicks = niceTicks(yMin, yMax, 6);
  yMin = Math.min(yMin, yTicks[0]);
  yMax = Math.max(yMax, yTicks[yTicks.length - 1]);
  const xMin = 1;
  const xMax = Math.max(2, maxLen);
  const xTicks = niceTicks(xMin, xMax, 8).filter((t) => Number.isInteger(t) && t >= xMin);

  const sx = (x: number) => margin.left + ((x - xMin) / (xMax - xMin)) * plotW;
  const sy = (y: number) => margin.top + (1 - (y - yMin) / (yMax - yMin)) * plotH;
  const f = (v: number) => String(Math.round(v * 100) / 100);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" ` +
      `viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${width}" height="${height}" fill="white"/>`);
  if (options.title) {
    out.push(
      `<text x="${f(width / 2)}" y="22" text-anchor="middle" font-size="15">${
        escapeXml(options.title)
      }</text>`,
    );
  }
  // Grid and ticks.
  out.push(`<g stroke="#e5e5e5" stroke-width="1">`);
  for (const t of yTicks) {
    out.push(
      `<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${f(sy(t))}" y2="${f(sy(t))}"/>`,
    );
  }
  out.push(`</g>`);
  out.push(`<g fill="#333">`);
  for (const t of yTicks) {
    out.push(
      `<text x="${margin.left - 6}" y="${f(sy(t) + 4)}" text-anchor="end">${
        fmtTick(t, yTicks)
      }</text>`,
    );
  }
  for (const t of xTicks) {
    out.push(
      `<text x="${f(sx(t))}" y="${margin.top + plotH + 18}" text-anchor="middle">${t}</text>`,
    );
  }
  out.push(`</g>`);
  // Axes.
  out.push(
    `<path d="M${margin.left},${margin.top}V${margin.top + plotH}H${margin.left + plotW}" ` +
      `fill="none" stroke="#333" stroke-width="1"/>`,
  );
  out.push(`<g stroke="#333">`);
  for (const t of xTicks) {
    const x = f(sx(t));
    out.push(
      `<line x1="${x}" x2="${x}" y1="${margin.top + plotH}" y2="${margin.top + plotH + 5}"/>`,
    );
  }
  out.push(`</g>`);
  out.push(
    `<text x="${f(margin.left + plotW / 2)}" y="${height - 10}" text-anchor="middle">${
      escapeXml(options.xLabel ?? "epoch")
    }</text>`,
  );
  if (options.yLabel) {
    const cy = f(margin.top + plotH / 2);
    out.push(
      `<text x="16" y="${cy}" text-anchor="middle" transform="rotate(-90 16 ${cy})">${
        escapeXml(options.yLabel)
      }</text>`,
    );
  }
  // Lines (a gap at each non-finite value) and markers for short series.
  options.series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length];
    let d = "";
    let pen = false;
    s.values.forEach((v, i) => {
      if (!Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? "L" : "M"}${f(sx(i + 1))},${f(sy(v))}`;
      pen = true;
    });
    out.push(
      `<path d="${d}" fill="none" stroke="${color}" stroke-width="2" ` +
        `stroke-linejoin="round"><title>${escapeXml(s.name)}</title></path>`,
    );
    if (s.values.length <= 50) {
      out.push(`<g fill="${color}">`);
      s.values.forEach((v, i) => {
        if (Number.isFinite(v)) out.push(`<circle cx="${f(sx(i + 1))}" cy="${f(sy(v))}" r="3"/>`);
      });
      out.push(`</g>`);
    }
  });
  // Legend, top right inside the plot.
  if (options.series.length > 0) {
    const lw = 24 + 7 * Math.max(...options.series.map((s) => s.name.length)) + 12;
    const lh = options.series.length * 18 + 8;
    const lx = margin.left + plotW - lw - 8;
    // Top right, unless the lines end high (accuracy curves): then bottom right.
    const tail = options.series.flatMap((s) =>
      s.values.slice(Math.floor(s.values.length * 0.7)).filter(Number.isFinite)
    );
    const high = tail.length > 0 &&
      tail.reduce((a, v) => a + (v - yMin) / (yMax - yMin), 0) / tail.length > 0.5;
    const ly = high ? margin.top + plotH - lh - 8 : margin.top + 8;
    out.push(
      `<g><rect x="${lx}" y="${ly}" width="${lw}" height="${lh}" ` +
        `fill="white" fill-opacity="0.85" stroke="#ccc"/>`,
    );
    options.series.forEach((s, k) => {
      const y = ly + 16 + k * 18;
      out.push(
        `<line x1="${lx + 6}" x2="${lx + 24}" y1="${y - 4}" y2="${y - 4}" ` +
          `stroke="${COLORS[k % COLORS.length]}" stroke-width="2"/>`,
      );
      out.push(`<text x="${lx + 30}" y="${y}">${escapeXml(s.name)}</text>`);
    });
    out.push(`</g>`);
  }
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

/** Tick values at a "nice" step (1, 2 or 5 × 10^k) covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, maxTicks: number): number[] {
  const span = hi - lo;
  const raw = span / Math.max(1, maxTicks - 1);
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => span / s <= maxTicks - 1) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9) * step;
  const ticks: number[] = [];
  for (let t = first; t <= hi + step * (1 - 1e-9); t += step) {
    ticks.push(Number(t.toPrecision(12)));
    if (t >= hi - step * 1e-9) break;
  }
  return ticks;
}

function fmtTick(t: number, ticks: readonly number[]): string {
  const step = ticks.length > 1 ? Math.abs(ticks[1] - ticks[0]) : 1;
  const digits = Math.max(0, -Math.floor(Math.log10(step)));
  return t.toFixed(Math.min(digits, 10));
}

/**
 * Escapes text for SVG/HTML content and attributes. Terminal colour codes (copied with a
 * name from a terminal) and other control characters, which XML does not allow, are dropped.
 */
export function escapeXml(s: string): string {
  return s
    // deno-lint-ignore no-control-regex
    .replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]/g, "")
    // deno-lint-ignore no-control-regex
    .replace(/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/g, "")
    .replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Wraps SVG text so that Deno's Jupyter kernel shows it as an image (and `String(x)` gives
 * the SVG).
 *
 * @example
 * ```ts
 * import { lossCurveSvg, svgDisplay } from "./plot.ts";
 * const chart = svgDisplay(lossCurveSvg({ series: [{ name: "loss", values: [1, 0.5] }] }));
 * // In a notebook, evaluating `chart` renders the plot.
 * ```
 */
export function svgDisplay(
  svg: string,
): { [key: symbol]: () => Record<string, string>; toString(): string } {
  return {
    [Symbol.for("Jupyter.display")]: () => ({ "image/svg+xml": svg, "text/plain": "[SVG image]" }),
    toString: () => svg,
  };
}
