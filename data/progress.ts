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
  /** Width of the bar in characters (default 30). */
  width?: number;
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
    this.#width = options.width ?? 30;
    this.#writer = options.writer ?? Deno.stdout;
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

  /** The current line, without control characters. */
  render(): string {
    const parts: string[] = [];
    if (this.#label) parts.push(this.#label);
    const elapsed = (this.#now() - this.#start) / 1000;
    if (this.#total > 0) {
      const frac = Math.min(1, this.#count / this.#total);
      if (this.#tty) {
        const filled = Math.floor(frac * this.#width);
        const head = filled < this.#width ? ">" : "";
        parts.push(
          "[" + "=".repeat(filled) + head + " ".repeat(this.#width - filled - head.length) + "]",
        );
      }
      parts.push(`${this.#fmtCount(this.#count)}/${this.#fmtCount(this.#total)}`);
      parts.push(`${String(Math.floor(frac * 100)).padStart(3)}%`);
      const eta = !this.#finished && frac > 0 && frac < 1
        ? `<${fmtSeconds(elapsed / frac - elapsed)}`
        : "";
      parts.push(fmtSeconds(elapsed) + eta);
    } else {
      parts.push(this.#fmtCount(this.#count), fmtSeconds(elapsed));
    }
    for (const [k, v] of Object.entries(this.#postfix)) {
      parts.push(`${k}=${typeof v === "number" ? fmtNumber(v) : v}`);
    }
    return parts.join(" ");
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
