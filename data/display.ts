/**
 * Rich display in Deno's Jupyter kernel: a Variable as an HTML table with its
 * shape, dtype and device (long tensors abbreviated), and DOT graphs as SVG.
 * The kernel calls an object's `[Symbol.for("Jupyter.display")]()` method and
 * shows the returned mime bundle.
 *
 * @module
 */
import { formatNumber, formatValues, Variable } from "../core/variable.ts";
import type { TypedArray } from "../core/dtype.ts";
import { escapeXml } from "./plot.ts";

/** What {@linkcode variableMimeBundle} needs of a Variable. */
export interface DisplayableTensor {
  /** The shape. */
  readonly shape: readonly number[];
  /** The element type. */
  readonly dtype: string;
  /** The device. */
  readonly device: string;
  /** Optional name. */
  readonly name?: string | null;
  /** Whether the value can still be read (false once disposed or released). */
  readonly isAlive?: boolean;
  /** Reads the values (row-major); once they are gone, rejects with a message saying why. */
  data(): Promise<TypedArray>;
}

/** A Jupyter mime bundle. */
export interface MimeBundle {
  /** The HTML form. */
  "text/html": string;
  /** The plain-text form. */
  "text/plain": string;
}

/** Options of {@linkcode variableMimeBundle}. */
export interface TableOptions {
  /** Tensors with more elements than this are abbreviated (default 200). */
  maxElements?: number;
  /** Items kept at each end of an abbreviated axis (default 4). */
  edgeItems?: number;
}

/**
 * The mime bundle Deno's Jupyter kernel displays for a Variable: an HTML table headed by
 * shape, dtype and device, and the NumPy-style text form. Axes longer than `2·edgeItems` are
 * abbreviated with `…` when the tensor has more than `maxElements` elements. A Variable's
 * `[Symbol.for("Jupyter.display")]()` returns this.
 *
 * @example
 * ```ts
 * import { tensor } from "../mod.ts";
 * import { variableMimeBundle } from "./display.ts";
 * const bundle = await variableMimeBundle(tensor([[1, 2], [3, 4]]));
 * console.log(bundle["text/html"].includes("<table")); // true
 * ```
 */
export async function variableMimeBundle(
  v: DisplayableTensor,
  options: TableOptions = {},
): Promise<MimeBundle> {
  const name = v.name ? ` <b>${escapeXml(v.name)}</b>` : "";
  const style = "font-family:monospace;margin-bottom:4px";
  if (v.isAlive === false) return await releasedBundle(v, name, style);
  const meta = `shape [${v.shape.join(", ")}] · ${v.dtype} · ${v.device}`;
  const header = `<div style="${style}">Variable${name} · ${escapeXml(meta)}</div>`;
  const data = await v.data();
  const text = `variable(${formatValues(data, v.shape)}, shape=[${
    v.shape.join(",")
  }], dtype=${v.dtype}${v.device === "cpu" ? "" : `, device=${v.device}`})`;
  return { "text/html": header + tensorHtml(data, v.shape, options), "text/plain": text };
}

/**
 * The bundle of a value that can no longer be read: its shape, dtype and device where the
 * Variable still knows them, and why it is gone, in the words of the error that reading it
 * throws (released by backward() and how to keep it, disposed, freed by tidy()).
 */
async function releasedBundle(
  v: DisplayableTensor,
  name: string,
  style: string,
): Promise<MimeBundle> {
  let meta: { shape: readonly number[]; dtype: string; device: string } | null = null;
  try {
    meta = { shape: v.shape, dtype: v.dtype, device: v.device };
  } catch {
    // A Variable that backward() released may not know its shape any more: the reason does.
  }
  let reason = "the value was disposed";
  try {
    await v.data();
  } catch (e) {
    reason = (e as Error).message;
  }
  const header = meta === null
    ? "value not available"
    : `shape [${meta.shape.join(", ")}] · ${meta.dtype} · ${meta.device} · value not available`;
  const plainMeta = meta === null
    ? ""
    : `, shape=[${meta.shape.join(",")}], dtype=${meta.dtype}${
      meta.device === "cpu" ? "" : `, device=${meta.device}`
    }`;
  return {
    "text/html": `<div style="${style}">Variable${name} · <i>${escapeXml(header)}</i></div>` +
      `<div style="font-family:monospace;color:#888">${escapeXml(reason)}</div>`,
    "text/plain": `variable(<${reason}>${plainMeta})`,
  };
}

/**
 * The values of a row-major array as HTML tables: one row for a vector, rows × columns for a
 * matrix, and one captioned matrix per leading index (`[0, 1, :, :]`) beyond that.
 *
 * @example
 * ```ts
 * import { tensorHtml } from "./display.ts";
 * console.log(tensorHtml(new Float32Array([1, 2, 3]), [3]).includes("<td>2</td>")); // true
 * ```
 */
export function tensorHtml(
  data: ArrayLike<number>,
  shape: readonly number[],
  options: TableOptions = {},
): string {
  const maxElements = options.maxElements ?? 200;
  const edge = options.edgeItems ?? 4;
  const abbreviate = data.length > maxElements;
  const pick = (n: number): number[] =>
    abbreviate && n > 2 * edge ? [...range(0, edge), -1, ...range(n - edge, n)] : range(0, n);
  const style = "border-collapse:collapse;font-family:monospace;text-align:right";
  const th = (s: string) => `<th style="color:#888;font-weight:normal;padding:0 6px">${s}</th>`;
  // Elements read as in toString (formatNumber); the layout is a table, not formatValues' text.
  const cell = (i: number) => (i === -1 ? "<td>…</td>" : `<td>${formatNumber(data[i])}</td>`);

  if (shape.length === 0) return `<table style="${style}"><tr>${cell(0)}</tr></table>`;
  const rows = shape.length === 1 ? 1 : shape[shape.length - 2];
  const cols = shape[shape.length - 1];
  const matrix = (offset: number, caption: string): string => {
    const colIdx = pick(cols);
    const rowIdx = shape.length === 1 ? [0] : pick(rows);
    let html = `<table style="${style}">`;
    if (caption) html += `<caption style="text-align:left;color:#888">${caption}</caption>`;
    html += `<tr>${shape.length > 1 ? th("") : ""}${
      colIdx.map((j) => th(j === -1 ? "…" : String(j))).join("")
    }</tr>`;
    for (const i of rowIdx) {
      if (i === -1) {
        html += `<tr>${th("⋮")}${colIdx.map(() => "<td>⋮</td>").join("")}</tr>`;
        continue;
      }
      const base = offset + i * cols;
      html += `<tr>${shape.length > 1 ? th(String(i)) : ""}${
        colIdx.map((j) => (j === -1 ? cell(-1) : cell(base + j))).join("")
      }</tr>`;
    }
    return html + "</table>";
  };
  if (shape.length <= 2) return matrix(0, "");

  // One matrix per index of the leading axes, abbreviated like the others.
  const lead = shape.slice(0, -2);
  const blockSize = rows * cols;
  const blocks: string[] = [];
  const walk = (axis: number, prefix: number[], offset: number): void => {
    if (axis === lead.length) {
      blocks.push(matrix(offset, `[${[...prefix, ":", ":"].join(", ")}]`));
      return;
    }
    const stride = lead.slice(axis + 1).reduce((a, b) => a * b, 1) * blockSize;
    for (const i of pick(lead[axis])) {
      if (i === -1) blocks.push(`<div style="color:#888;font-family:monospace">⋮</div>`);
      else walk(axis + 1, [...prefix, i], offset + i * stride);
    }
  };
  walk(0, [], 0);
  return `<div>${blocks.join("")}</div>`;
}

function range(a: number, b: number): number[] {
  return Array.from({ length: Math.max(0, b - a) }, (_, i) => a + i);
}

/**
 * A displayable DOT graph (from `getDotGraph`): rendered to SVG by Graphviz's `dot` when it
 * is installed and the process may run it, else shown as DOT text.
 *
 * @example
 * ```ts ignore
 * import { dotGraphDisplay } from "./display.ts";
 * import { tensor, utils } from "../mod.ts";
 * const x = tensor([1, 2]);
 * await dotGraphDisplay(utils.getDotGraph(x.mul(2).sum()));
 * ```
 */
export async function dotGraphDisplay(
  dot: string,
): Promise<{ [key: symbol]: () => Record<string, string>; readonly svg: string | null }> {
  const svg = await renderDot(dot);
  const bundle: Record<string, string> = svg === null
    ? { "text/plain": dot, "text/html": `<pre>${escapeXml(dot)}</pre>` }
    : { "image/svg+xml": svg, "text/plain": dot };
  return { svg, [Symbol.for("Jupyter.display")]: () => bundle };
}

/** SVG from Graphviz's `dot`, or null when it is missing or not allowed to run. */
export async function renderDot(dot: string): Promise<string | null> {
  const { state } = await Deno.permissions.query({ name: "run", command: "dot" });
  if (state !== "granted") return null;
  try {
    const child = new Deno.Command("dot", {
      args: ["-Tsvg"],
      stdin: "piped",
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(dot));
    await writer.close();
    const { success, stdout } = await child.output();
    return success ? new TextDecoder().decode(stdout) : null;
  } catch {
    return null;
  }
}

const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");

// Every Variable displays as a table in Deno's Jupyter kernel (which awaits the bundle). Installed
// here, beside the formatter, unless the class defines its own display method.
if (!Object.hasOwn(Variable.prototype, JUPYTER_DISPLAY)) {
  Object.defineProperty(Variable.prototype, JUPYTER_DISPLAY, {
    value(this: Variable): Promise<MimeBundle> {
      return variableMimeBundle(this);
    },
    configurable: true,
    writable: true,
  });
}
