/**
 * A progress bar for training loops and downloads: redrawn in place (`\r`) in a
 * terminal, a few plain lines when the output is piped to a file or CI log.
 *
 * @module
 */

/** Where a {@linkcode ProgressBar} writes (Deno.stdout by default). */
export interface ProgressWriter {
  /** Writes bytes synchronously. */
  writeSync(p: Uint8Array): number;
}

/** Options of {@linkcode ProgressBar}. */
export interface ProgressBarOptions {
  /** Number of steps in all; 0 when unknown (then no bar or percentage is drawn). */
  total: number;
  /** Text before the bar, e.g. `epoch 1/10`. */
  label?: string;
  /** `"bytes"` formats counts as KiB/MiB (downloads); default plain counts. */
  unit?: "steps" | "bytes";
  /** Width of the bar in characters (default 30); narrower when the terminal is narrow. */
  width?: number;
  /**
   * Columns of the terminal: a redrawn line stays shorter than this, so that it never wraps
   * (a wrapped line cannot be redrawn in place). Default: the console's width
   * (`Deno.consoleSize()`) when writing to stdout or stderr in a terminal, else 80.
   */
  columns?: number;
  /** Where to write (default `Deno.stdout`). */
  writer?: ProgressWriter;
  /** Redraw in place; default `Deno.stdout.isTerminal()` (when writing to stdout). */
  isTerminal?: boolean;
  /** Minimum milliseconds between terminal redraws (default 100). */
  intervalMs?: number;
  /** Number of plain lines printed over the whole run when not a terminal (default 4). */
  pipedLines?: number;
  /** Clock in milliseconds (for tests; default `performance.now`). */
  now?: () => number;
}

/** Values shown after the bar, e.g. `{ loss: 0.3412, acc: 0.91 }`. */
export type ProgressPostfix = Record<string, number | string>;

const encoder = new TextEncoder();

/** The narrowest bar drawn; when even that does not fit, the line goes without a bar. */
const MIN_BAR = 10;

/**
 * A progress bar. In a terminal it redraws one line in place:
 * `epoch 1/5 [=========>          ] 312/600  52% 1.2s<1.1s loss=0.3412`;
 * piped, it prints a plain line every quarter of the run (and at the end) so logs stay short.
 *
 * @example
 * ```ts
 * import { ProgressBar } from "./progress.ts";
 * const bar = new ProgressBar({ total: 3, label: "epoch 1", isTerminal: false });
 * for (let i = 0; i < 3; i++) bar.update(1, { loss: 1 / (i + 1) });
 * bar.finish();
 * ```
 */
export class ProgressBar {
  #total: number;
  #label: string;
  #unit: "steps" | "bytes";
  #width: number;
  #columns: () => number;
  #writer: ProgressWriter;
  #tty: boolean;
  #intervalMs: number;
  #pipedLines: number;
  #now: () => number;
  #start: number;
  #lastDraw = -Infinity;
  #linesPrinted = 0;
  #count = 0;
  #postfix: ProgressPostfix = {};
  #finished = false;

  /** A bar over `total` steps. */
  constructor(options: ProgressBarOptions) {
    this.#total = Math.max(0, options.total);
    this.#label = options.label ?? "";
    this.#unit = options.unit ?? "steps";
    this.#width = Math.max(0, options.width ?? 30);
    this.#writer = options.writer ?? Deno.stdout;
    const columns = options.columns;
    const toConsole = this.#writer === Deno.stdout || this.#writer === Deno.stderr;
    // Asked at every redraw: the window may be resized during a long run.
    this.#columns = columns !== undefined ? () => columns : toConsole ? consoleColumns : () => 80;
    this.#tty = options.isTerminal ??
      (options.writer === undefined && Deno.stdout.isTerminal());
    this.#intervalMs = options.intervalMs ?? 100;
    this.#pipedLines = Math.max(1, options.pipedLines ?? 4);
    this.#now = options.now ?? (() => performance.now());
    this.#start = this.#now();
  }

  /** Steps done so far. */
  get count(): number {
    return this.#count;
  }

  /** Sets the steps done without drawing (shown on the next update or finish). */
  set count(n: number) {
    this.#count = n;
  }

  /** Advances by `n` steps and optionally replaces the values shown after the bar. */
  update(n = 1, postfix?: ProgressPostfix): void {
    this.#count += n;
    if (postfix) this.#postfix = postfix;
    if (this.#finished) return;
    if (this.#tty) {
      const t = this.#now();
      if (t - this.#lastDraw >= this.#intervalMs) {
        this.#lastDraw = t;
        this.#write("\r" + this.render() + "\x1b[K");
      }
    } else if (this.#total > 0 && this.#count < this.#total) {
      // Plain lines at evenly spaced fractions of the run; the final one comes from finish().
      const due = Math.floor(this.#count / this.#total * this.#pipedLines);
      if (due > this.#linesPrinted) {
        this.#linesPrinted = due;
        this.#write(this.render() + "\n");
      }
    }
  }

  /** Replaces the values shown after the bar without advancing it (drawn on the next update). */
  set(postfix: ProgressPostfix): void {
    this.#postfix = postfix;
  }

  /** Ends the bar: draws the final state (with `postfix` when given) and a newline. Idempotent. */
  finish(postfix?: ProgressPostfix): void {
    if (postfix) this.#postfix = postfix;
    if (this.#finished) return;
    this.#finished = true;
    this.#write((this.#tty ? "\r" : "") + this.render() + (this.#tty ? "\x1b[K\n" : "\n"));
  }

  /**
   * The current line, without control characters. In a terminal it is kept shorter than the
   * terminal's width: the bar narrows (down to 10 characters, then goes), and what still does
   * not fit is cut with `…`.
   */
  render(): string {
    const before: string[] = [];
    const after: string[] = [];
    if (this.#label) before.push(this.#label);
    const elapsed = (this.#now() - this.#start) / 1000;
    const frac = this.#total > 0 ? Math.min(1, this.#count / this.#total) : 0;
    if (this.#total > 0) {
      after.push(`${this.#fmtCount(this.#count)}/${this.#fmtCount(this.#total)}`);
      after.push(`${String(Math.floor(frac * 100)).padStart(3)}%`);
      const eta = !this.#finished && frac > 0 && frac < 1
        ? `<${fmtSeconds(elapsed / frac - elapsed)}`
        : "";
      after.push(fmtSeconds(elapsed) + eta);
    } else {
      after.push(this.#fmtCount(this.#count), fmtSeconds(elapsed));
    }
    for (const [k, v] of Object.entries(this.#postfix)) {
      after.push(`${k}=${typeof v === "number" ? fmtNumber(v) : v}`);
    }
    const text = [...before, ...after].join(" ");
    if (!this.#tty) return text;

    // One column stays free: a character in the last one makes some terminals wrap.
    const max = Math.max(1, this.#columns() - 1);
    // The bar takes what the text leaves (a space and two brackets), up to its width.
    const barWidth = Math.min(this.#width, max - length(text) - 3);
    if (this.#total > 0 && barWidth >= Math.min(MIN_BAR, this.#width) && barWidth > 0) {
      return [...before, drawBar(frac, barWidth), ...after].join(" ");
    }
    return length(text) <= max ? text : [...text].slice(0, max - 1).join("") + "…";
  }

  #fmtCount(n: number): string {
    if (this.#unit !== "bytes") return String(n);
    if (n < 1024) return `${n}B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}KiB`;
    return `${(n / 1024 / 1024).toFixed(1)}MiB`;
  }

  #write(s: string): void {
    const bytes = encoder.encode(s);
    let off = 0;
    while (off < bytes.length) off += this.#writer.writeSync(bytes.subarray(off));
  }
}

/** `[=====>    ]`: `frac` of `width` characters filled. */
function drawBar(frac: number, width: number): string {
  const filled = Math.floor(frac * width);
  const head = filled < width ? ">" : "";
  return "[" + "=".repeat(filled) + head + " ".repeat(width - filled - head.length) + "]";
}

/** Characters of a line as a terminal counts them (code points, not UTF-16 units). */
function length(s: string): number {
  return [...s].length;
}

/** The console's width, or 80 when there is no console to ask. */
function consoleColumns(): number {
  try {
    return Deno.consoleSize().columns || 80;
  } catch {
    return 80;
  }
}

function fmtSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.floor(s - m * 60)).padStart(2, "0")}s`;
}

function fmtNumber(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

/**
 * Wraps an iterable (a DataLoader, an array) so that a {@linkcode ProgressBar} advances with
 * each item; `total` defaults to the iterable's `length`. The bar finishes when the loop ends
 * (or breaks); `.bar.set({ loss })` updates the values shown after it.
 *
 * @example
 * ```ts
 * import { progress } from "./progress.ts";
 * const items = progress([1, 2, 3], { label: "sum", isTerminal: false });
 * let sum = 0;
 * for (const v of items) {
 *   sum += v;
 *   items.bar.set({ sum });
 * }
 * console.log(sum); // 6
 * ```
 */
export function progress<T>(
  items: Iterable<T> & { length?: number },
  options: Partial<ProgressBarOptions> = {},
): Iterable<T> & { readonly bar: ProgressBar } {
  const bar = new ProgressBar({ ...options, total: options.total ?? items.length ?? 0 });
  return {
    bar,
    *[Symbol.iterator]() {
      // An item counts once the loop body is done with it, also when the body breaks.
      let inBody = false;
      try {
        for (const item of items) {
          inBody = true;
          yield item;
          inBody = false;
          bar.update(1);
        }
      } finally {
        if (inBody) bar.count += 1;
        bar.finish();
      }
    },
  };
}
