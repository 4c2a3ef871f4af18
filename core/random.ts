/**
 * A seedable random generator, so that runs can be reproduced. Random tensors
 * are drawn on the CPU and uploaded, so a seed gives the same numbers on every
 * backend.
 *
 * @module
 */

/**
 * A small, fast, seedable generator (xoshiro128**), with normal samples by
 * Box-Muller.
 *
 * @example
 * ```ts
 * import { Generator } from "./random.ts";
 * const g = new Generator(0);
 * console.log(g.random() < 1); // true
 * ```
 */
export class Generator {
  #s = new Uint32Array(4);
  #spare: number | null = null;

  /** A generator seeded with `seed` (an integer), or from the clock when omitted. */
  constructor(seed?: number) {
    this.seed(seed ?? Date.now() ^ (Math.random() * 0x7fffffff));
  }

  /** Reseeds the generator. */
  seed(seed: number): void {
    // splitmix32 expands the seed into the four state words.
    let z = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      let t = z;
      t = Math.imul(t ^ (t >>> 16), 0x85ebca6b);
      t = Math.imul(t ^ (t >>> 13), 0xc2b2ae35);
      this.#s[i] = (t ^ (t >>> 16)) >>> 0;
    }
    this.#spare = null;
  }

  /** A uniform 32-bit unsigned integer. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  }

  /** A uniform number in [0, 1). */
  random(): number {
    // 53 bits from two draws.
    const hi = this.nextUint32() >>> 5;
    const lo = this.nextUint32() >>> 6;
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** A standard normal sample. */
  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** A uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** The generator used when no other is given. */
export const defaultGenerator: Generator = new Generator(0);

/**
 * Seeds the default generator (PyTorch's name), for reproducible runs.
 *
 * @example
 * ```ts
 * import { manualSeed } from "./random.ts";
 * manualSeed(42);
 * ```
 */
export function manualSeed(seed: number): void {
  defaultGenerator.seed(seed);
}
