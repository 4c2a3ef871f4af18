/**
 * Batched matmul with transposed operands read in place (no copies), in two
 * variants chosen per adapter:
 *
 * - `blocked`: barrier-free, each invocation computes a TM×TN block of outputs
 *   in registers with vec4 loads. CPU-emulated adapters (llvmpipe) run it many
 *   times faster than shared-memory tiles, whose barriers are expensive there.
 * - `tiled`: classic shared-memory tiles (64×64 outputs per 256-invocation
 *   workgroup, 4×4 per invocation), the right shape for real GPUs.
 * - `texture`: the blocked kernel reading its operands from textures, for
 *   CPU-emulated adapters whose storage-buffer loads are slow: each operand is
 *   copied (a plain buffer-to-texture copy, no kernel) into an `rgba32float`
 *   texture and read four elements a texel. On an AMD EPYC's llvmpipe (Mesa
 *   22.3) a 1024³ product takes ~110 ms this way against ~650 ms from storage
 *   buffers. f32 products whose operands are 4-aligned along their contiguous
 *   axis use it; others fall back to `blocked`.
 *
 * Either splits K when a product has too few outputs to fill the device and a
 * long K (a conv's weight gradient), or on CPU-emulated adapters a K longer than
 * one invocation may loop over: chunks of K run in parallel, each writing its
 * partial products, and a sum over the chunks gives the result.
 *
 * @module
 */
import type { NDArray } from "../core/ndarray.ts";
import { matmulGeometry } from "../core/_validate.ts";
import { broadcastStrides, sizeOf, stridesOf } from "../core/shape.ts";
import { loopBudget, reduce } from "./reduce.ts";
import {
  bufferOf,
  collapse,
  ENTRY_ARGS,
  LINEAR_GROUP,
  linearIndex,
  newArray,
  operandTexture,
  P,
  paramsDecl,
  Pi,
  runtime,
  storageDecl,
  texelLoad,
  textureDecl,
  udivHelper,
  unravel,
  wgslType,
} from "./_context.ts";

/** The matmul kernel variants. */
export type MatmulVariant = "blocked" | "tiled" | "texture";

/** Block shape of the blocked variant (TN a multiple of 4). */
export interface BlockShape {
  /** Output rows per invocation. */
  tm: number;
  /** Output columns per invocation (a multiple of 4). */
  tn: number;
  /** Workgroup size (default 64). */
  wg?: number;
}

const settings: { variant: MatmulVariant; block: BlockShape | null } = {
  variant: "blocked",
  block: null,
};

/**
 * Selects the matmul variant, and optionally a fixed block shape for
 * `blocked` (by default 16×16 blocks, 20×16 where M is a multiple of 20 but not of 16, for
 * products of ≥ 2²⁷ multiply-adds and for medium ones (≥ 2²²) from their second call with
 * the same shape, in workgroups of 16; 8×16 otherwise, in workgroups of 64; narrower for
 * narrower outputs).
 */
export function setMatmulVariant(variant: MatmulVariant, block?: BlockShape | null): void {
  settings.variant = variant;
  if (block !== undefined) settings.block = block;
}

/** The selected matmul variant. */
export function matmulVariant(): { variant: MatmulVariant; block: BlockShape | null } {
  return { variant: settings.variant, block: settings.block ? { ...settings.block } : null };
}

/** Calls of each product shape (dims and transposes), for tiering up to bigger blocks. */
const uses = new Map<string, number>();
/** Calls of one product shape before a medium-sized product gets big blocks. */
const TIER_UP_AFTER = 1;

function chooseBlock(d: Dims): BlockShape {
  if (settings.block) return settings.block;
  // On llvmpipe 16×16 (20×16) blocks run ~30% faster than 8×16 on MLP-sized products but
  // take 1–2 s each to compile (at their first dispatch) against ~0.1 s. So: big products
  // get them at once; medium ones start with 8×16 and tier up at their second call (the
  // second step of a training loop, so every tier-up compile lands in that one step and
  // the first step's compile stays short).
  const fit = (n: number, max: number) => (n <= 4 ? 4 : n <= 8 ? 8 : max);
  const big = bigBlocks(d, "blocked");
  // Big blocks: 20 rows where 16 would leave a ragged last block (M = 100, 1000 run ~30%
  // faster on llvmpipe with no wasted rows), 16 otherwise.
  const tmBig = d.M > 16 && d.M % 16 !== 0 && d.M % 20 === 0 ? 20 : 16;
  // Big blocks leave few invocations (315 for 100×1000 outputs): workgroups of 16 spread
  // them evenly over llvmpipe's threads (5 groups of 64 split 3:2 over 2 threads).
  // Narrow small products (a classifier's 10 outputs) take 8-column blocks: as many columns
  // computed, in half the compile time of 16.
  const tn = fit(d.N, big || d.N >= 16 ? 16 : 8);
  return { tm: fit(d.M, big ? tmBig : 8), tn, wg: big ? 16 : 64 };
}

/**
 * Whether a product gets big blocks: at once from 2²⁷ multiply-adds, from its second call
 * (per variant) from 2²² (big blocks compile in 1–2 s on llvmpipe, small ones in ~0.3–0.5 s).
 */
function bigBlocks(d: Dims, variant: MatmulVariant): boolean {
  const work = d.M * d.N * d.K * d.nb;
  const key = `${variant},${d.M},${d.N},${d.K},${d.transA},${d.transB},${d.batch},${d.sa},${d.sb}`;
  const n = (uses.get(key) ?? 0) + 1;
  if (uses.size >= 4096) uses.clear();
  uses.set(key, n);
  return work >= 2 ** 27 || (work >= 2 ** 22 && n > TIER_UP_AFTER);
}

interface Dims {
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
  /** Collapsed batch shape and batch strides (elements) of A and B. */
  batch: number[];
  sa: number[];
  sb: number[];
  nb: number;
  /** Split-K: K is cut into `splits` chunks of `kc` (the last one shorter), summed afterwards. */
  splits: number;
  kc: number;
}

/** Batched `a @ b` (transposes read in place). */
export function matmul(
  a: NDArray,
  b: NDArray,
  opts: { transA?: boolean; transB?: boolean; variant?: MatmulVariant; block?: BlockShape } = {},
): NDArray {
  const transA = opts.transA ?? false, transB = opts.transB ?? false;
  const { M, N, K, batch } = matmulGeometry(a, b, transA, transB);
  const t = wgslType("matmul", a.dtype);
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const nb = sizeOf(batch);
  if (nb * M * N === 0 || K === 0) {
    const out = newArray("matmul", [...batch, M, N], a.dtype);
    if (nb * M * N > 0) runtime().clear(bufferOf("matmul", out), nb * M * N * 4);
    return out;
  }
  const c = collapse(batch, [
    stridesOf(batch),
    broadcastStrides(batchA, batch).map((s) => s * M * K),
    broadcastStrides(batchB, batch).map((s) => s * K * N),
  ]);
  const d: Dims = {
    M,
    N,
    K,
    transA,
    transB,
    batch: c.shape,
    sa: c.strides[1],
    sb: c.strides[2],
    nb,
    splits: 1,
    kc: K,
  };
  const variant = opts.variant ?? settings.variant;
  // Aᵀ's texels hold 4 rows: a given block of other heights runs on the blocked kernel.
  const tex = variant === "texture" && textureFits(t, d, a.size, b.size) &&
    !(d.transA && opts.block !== undefined && opts.block.tm % 4 !== 0);
  const block = tex
    ? opts.block ?? chooseTextureBlock(d)
    : variant === "tiled"
    ? null
    : opts.block ?? chooseBlock(d);
  const operands = [bufferOf("matmul", a), bufferOf("matmul", b)];
  const kc = splitK(d, block);
  if (kc === K) {
    const out = newArray("matmul", [...batch, M, N], a.dtype);
    run(t, d, [...operands, bufferOf("matmul", out)], block, tex ? [a.size, b.size] : null);
    return out;
  }
  // Few outputs over a long K (a conv's weight gradient: 16×9 outputs, K = 25,088), or a K
  // past llvmpipe's loop cap: each chunk of K gets its own invocations and writes its partial
  // products; a sum adds them.
  d.kc = kc;
  d.splits = Math.ceil(K / kc);
  const partial = newArray("matmul", [d.splits, ...batch, M, N], a.dtype);
  try {
    run(t, d, [...operands, bufferOf("matmul", partial)], block, tex ? [a.size, b.size] : null);
    return reduce("sum", partial, [0], false);
  } finally {
    partial.dispose();
  }
}

/** Runs the product; `sizes` (the operands' element counts) selects the texture variant. */
function run(
  t: "f32" | "i32",
  d: Dims,
  bufs: GPUBuffer[],
  block: BlockShape | null,
  sizes: [number, number] | null,
): void {
  if (sizes) textured(d, bufs, block!, sizes);
  else if (block) blocked(t, d, bufs, block);
  else tiled(t, d, bufs);
}

/**
 * Whether the texture variant can run this product: f32, each operand 4-aligned along its
 * contiguous axis (whole texels: K for A and Bᵀ, M for Aᵀ, N for B) and within the device's
 * texture size.
 */
function textureFits(t: "f32" | "i32", d: Dims, aSize: number, bSize: number): boolean {
  if (t !== "f32") return false;
  const aAligned = d.transA ? d.M % 4 === 0 : d.K % 4 === 0;
  const bAligned = d.transB ? d.K % 4 === 0 : d.N % 4 === 0;
  const rt = runtime();
  return aAligned && bAligned && aSize % 4 === 0 && bSize % 4 === 0 &&
    d.sa.every((s) => s % 4 === 0) && d.sb.every((s) => s % 4 === 0) &&
    rt.operandTextureFits(aSize) && rt.operandTextureFits(bSize);
}

/**
 * Blocks of the texture variant: 16×16 outputs (20×16 where M is a multiple of 20 but not of
 * 16, as M = 100 is) for products that get big blocks (see `bigBlocks`), 8×8 for the first
 * call of a medium one (0.3 s to compile); workgroups of 32, or 16 for products of few blocks. Measured on
 * llvmpipe (AMD EPYC, best of many): 16×16 and 20×16 beat 8×16, 16×8 and 20×8 on 1024³ (79
 * against 88–95 ms) and by ~25% on the MLP's products, but take 1–1.5 s to compile.
 */
function chooseTextureBlock(d: Dims): BlockShape {
  // A fixed block applies where its rows suit Aᵀ's texels (4 rows each).
  if (settings.block && (!d.transA || settings.block.tm % 4 === 0)) return settings.block;
  const big = bigBlocks(d, "texture");
  const tm = d.M <= 4 ? 4 : d.M <= 8 || !big ? 8 : d.M % 16 !== 0 && d.M % 20 === 0 ? 20 : 16;
  const tn = d.N <= 4 ? 4 : d.N <= 8 || !big ? 8 : 16;
  const blocks = Math.ceil(d.M / tm) * Math.ceil(d.N / tn) * d.nb;
  return { tm, tn, wg: blocks >= 4096 ? 32 : 16 };
}

/**
 * When K is split, per variant: below how many invocations (blocked) or workgroups (tiled) a
 * product splits, how many it aims for, and the shortest chunk of K. On llvmpipe a product
 * of 80 big blocks (100×256 outputs, K = 784) already fills its threads: split in 3, it took
 * 2.5 ms against 1.4–1.9 ms whole.
 */
const SPLIT = {
  blocked: { below: 32, target: 128, minK: 512 },
  tiled: { below: 128, target: 256, minK: 512 },
};
/** Most elements the partial products of a split may take. */
const SPLIT_MAX_PARTIAL = 2 ** 22;

/**
 * The chunk of K each invocation sums: shorter than K when a product has too few outputs to
 * fill the device and a long K, or when K is longer than a CPU-emulated adapter lets one
 * invocation loop (then whatever the partial products take: a wrong result is worse).
 */
function splitK(d: Dims, block: BlockShape | null): number {
  const kc = splitForParallelism(d, block);
  const max = maxChunkK(d, block);
  if (kc <= max) return kc;
  // Past the loop cap: chunks as long as allowed, the same length each (rounded up to 16).
  return Math.min(max, Math.ceil(d.K / Math.ceil(d.K / max) / 16) * 16);
}

/**
 * The longest chunk of K one invocation may sum within the loop budget of CPU-emulated
 * adapters (see `loopBudget` in reduce.ts: llvmpipe stops an invocation's loops after 65,535
 * iterations in all), a multiple of 16; unbounded on GPUs, which have no such cap and where
 * splitting costs partial products. Iterations per k: the blocked variant loops once per k,
 * or per 4 k with vec4 loads along K; the tiled one, per tile of 16 k, once plus 4 loads plus
 * 16 products plus their loop exits (23 counted on llvmpipe, 24 allowed).
 */
function maxChunkK(d: Dims, block: BlockShape | null): number {
  if (!runtime().software) return Infinity;
  const budget = loopBudget();
  if (!block) return Math.max(16, Math.floor(budget / 24) * 16);
  const perK = d.K % 4 === 0 && (!d.transA || d.transB) ? 4 : 1;
  return Math.max(16, Math.floor((budget * perK) / 16) * 16);
}

/** The chunk of K for enough parallel invocations (K itself when not worth splitting). */
function splitForParallelism(d: Dims, block: BlockShape | null): number {
  const parallel = block
    ? Math.ceil(d.M / block.tm) * Math.ceil(d.N / block.tn) * d.nb
    : Math.ceil(d.M / 64) * Math.ceil(d.N / 64) * d.nb;
  const { below, target, minK } = SPLIT[block ? "blocked" : "tiled"];
  if (parallel >= below) return d.K;
  const splits = Math.min(
    Math.floor(d.K / minK),
    Math.ceil(target / parallel),
    Math.floor(SPLIT_MAX_PARTIAL / (d.nb * d.M * d.N)),
  );
  if (splits < 2) return d.K;
  return Math.ceil(d.K / splits / 16) * 16;
}

/** Common params: M, N, K, nb, batch[r], sa[r], sb[r], splits, kc. */
function commonParams(d: Dims): number[] {
  return [d.M, d.N, d.K, d.nb, ...d.batch, ...d.sa, ...d.sb, d.splits, d.kc];
}

/**
 * WGSL placing the linear index `id` (returning past the last): its K chunk `sk` with the
 * range [kBeg, kEnd), batch `bi` and output tile (rows from `m`, columns from `n`) of
 * `bm`×`bn` outputs. The split count and chunk length follow the batch strides in params.
 */
function tilePlacement(d: Dims, id: string, bm: number, bn: number, m: string, n: string): string {
  const r = d.batch.length;
  const S = P(4 + 3 * r), KC = P(5 + 3 * r);
  return `  let tilesN = (${P(1)} + ${bn - 1}u) / ${bn}u;
  let tilesM = (${P(0)} + ${bm - 1}u) / ${bm}u;
  let tiles = tilesN * tilesM * ${P(3)};
  if (${id} >= tiles * ${S}) { return; }
  let sk = ${id} / tiles;
  let bi = (${id} % tiles) / (tilesN * tilesM);
  let r = ${id} % (tilesN * tilesM);
  let ${m} = (r / tilesN) * ${bm}u;
  let ${n} = (r % tilesN) * ${bn}u;
  let kBeg = sk * ${KC};
  let kEnd = min(${P(2)}, kBeg + ${KC});
`;
}

/** WGSL computing `aBase`, `bBase` (i32) from the batch index `bi`. */
function batchBases(d: Dims): string {
  const r = d.batch.length;
  let s = unravel("bi", r, 4, "q");
  let ea = "0", eb = "0";
  for (let i = 0; i < r; i++) {
    ea += ` + i32(q${i}) * ${Pi(4 + r + i)}`;
    eb += ` + i32(q${i}) * ${Pi(4 + 2 * r + i)}`;
  }
  s += `  let aBase = u32(${ea});\n  let bBase = u32(${eb});\n`;
  return s;
}

/**
 * WGSL element indices of A(m, k) and B(k, n), transposed operands read in
 * place (`aBase`/`bBase` from {@linkcode batchBases}, sizes from params 0–2).
 */
function operandIndex(d: Dims): {
  aIdx: (m: string, k: string) => string;
  bIdx: (k: string, n: string) => string;
} {
  const M = P(0), N = P(1), K = P(2);
  return {
    aIdx: (m, k) => d.transA ? `aBase + (${k}) * ${M} + (${m})` : `aBase + (${m}) * ${K} + (${k})`,
    bIdx: (k, n) => d.transB ? `bBase + (${n}) * ${K} + (${k})` : `bBase + (${k}) * ${N} + (${n})`,
  };
}

function blocked(
  t: "f32" | "i32",
  d: Dims,
  [ab, bb, ob]: GPUBuffer[],
  { tm: TM, tn: TN, wg: WG = 64 }: BlockShape,
): void {
  const V = TN / 4;
  // vec4 loads need the contiguous axis along the loaded run and 4-aligned rows.
  const aVec = !d.transA && d.K % 4 === 0;
  const bVec = !d.transB && d.N % 4 === 0;
  const bVecK = d.transB && d.K % 4 === 0;
  // Aᵀ is contiguous along M: vec4 loads of 4 rows at once where rows stay 4-aligned.
  const aVecM = d.transA && !(bVecK || aVec) && d.M % 4 === 0 && TM % 4 === 0;
  const params = commonParams(d);
  const rt = runtime();
  // Everything the source depends on (sizes are uniforms): the WGSL is built once per key.
  const key = `matmul/blocked/${t}/${TM}x${TN}/${WG}/${
    [d.transA, d.transB, aVec, bVec, bVecK, aVecM]
      .map(Number).join("")
  }/${d.batch.length}`;
  const k = rt.kernelFor(key, "matmul", ["r", "r", "w"], params.length, () => {
    const v4 = `vec4<${t}>`;
    const zero = t === "f32" ? "0.0" : "0";
    const decl = storageDecl(0, "A", aVec || aVecM ? v4 : t, false) +
      storageDecl(1, "B", bVec || bVecK ? v4 : t, false) +
      storageDecl(2, "C", t, true) + paramsDecl(3, params.length);
    const M = P(0), N = P(1);
    // A(m, k) and B(k, n) addresses (scalar element index).
    const { aIdx, bIdx } = operandIndex(d);
    let s = "";
    // Row indices (clamped for loads) and column vectors.
    for (let i = 0; i < TM; i++) s += `  let m${i} = min(mS + ${i}u, ${M} - 1u);\n`;
    for (let j = 0; j < V; j++) {
      if (bVec) s += `  let nv${j} = min(nS / 4u + ${j}u, ${N} / 4u - 1u);\n`;
      else {
        for (let e = 0; e < 4; e++) s += `  let n${j}_${e} = min(nS + ${4 * j + e}u, ${N} - 1u);\n`;
      }
    }
    for (let i = 0; i < TM; i++) {
      for (let j = 0; j < V; j++) s += `  var acc${i}_${j} = ${v4}(${zero});\n`;
    }
    const loadB = (k: string, j: number) =>
      bVec
        ? `B[(${bIdx(k, "0u")}) / 4u + nv${j}]`
        : `${v4}(${[0, 1, 2, 3].map((e) => `B[${bIdx(k, `n${j}_${e}`)}]`).join(", ")})`;
    const comp = ["x", "y", "z", "w"];
    if (aVec || bVecK) {
      // K % 4 == 0: 4 k per iteration; vec4 loads along K where an operand is K-contiguous.
      s += `  for (var k = kBeg; k < kEnd; k += 4u) {\n`;
      for (let i = 0; i < TM; i++) {
        s += aVec
          ? `    let a${i} = A[(${aIdx(`m${i}`, "k")}) / 4u];\n`
          : `    let a${i} = ${v4}(${
            [0, 1, 2, 3].map((kk) => `A[${aIdx(`m${i}`, `k + ${kk}u`)}]`).join(", ")
          });\n`;
      }
      if (bVecK) {
        // Rows of Bᵀ along K, transposed in registers.
        for (let j = 0; j < V; j++) {
          for (let e = 0; e < 4; e++) {
            s += `    let bt${j}_${e} = B[(${bIdx("k", `n${j}_${e}`)}) / 4u];\n`;
          }
        }
        for (let kk = 0; kk < 4; kk++) {
          for (let j = 0; j < V; j++) {
            s += `    let b${kk}_${j} = ${v4}(${
              [0, 1, 2, 3].map((e) => `bt${j}_${e}.${comp[kk]}`).join(", ")
            });\n`;
          }
        }
      } else {
        for (let kk = 0; kk < 4; kk++) {
          for (let j = 0; j < V; j++) s += `    let b${kk}_${j} = ${loadB(`k + ${kk}u`, j)};\n`;
        }
      }
      // Each accumulator's 4 products in a row, as in `textured` (1024³ on an AMD EPYC's
      // llvmpipe: 615 → 544 ms).
      for (let i = 0; i < TM; i++) {
        for (let j = 0; j < V; j++) {
          for (let kk = 0; kk < 4; kk++) {
            s += `    acc${i}_${j} = fma4(${v4}(a${i}.${comp[kk]}), b${kk}_${j}, acc${i}_${j});\n`;
          }
        }
      }
      s += "  }\n";
    } else {
      s += `  for (var k = kBeg; k < kEnd; k++) {\n`;
      if (aVecM) {
        for (let q = 0; q < TM / 4; q++) {
          s +=
            `    let av${q} = A[(aBase + k * ${M}) / 4u + min(mS / 4u + ${q}u, ${M} / 4u - 1u)];\n`;
        }
        for (let i = 0; i < TM; i++) s += `    let a${i} = ${v4}(av${i >> 2}.${comp[i & 3]});\n`;
      } else {
        for (let i = 0; i < TM; i++) s += `    let a${i} = ${v4}(A[${aIdx(`m${i}`, "k")}]);\n`;
      }
      for (let j = 0; j < V; j++) s += `    let b${j} = ${loadB("k", j)};\n`;
      for (let i = 0; i < TM; i++) {
        for (let j = 0; j < V; j++) s += `    acc${i}_${j} = fma4(a${i}, b${j}, acc${i}_${j});\n`;
      }
      s += "  }\n";
    }
    // Stores, guarded at the edges.
    s += storeBlock(TM, V);
    const fma = t === "f32"
      ? `fn fma4(a: ${v4}, b: ${v4}, c: ${v4}) -> ${v4} { return fma(a, b, c); }`
      : `fn fma4(a: ${v4}, b: ${v4}, c: ${v4}) -> ${v4} { return a * b + c; }`;
    const wgsl = `// matmul (blocked ${TM}x${TN}, transA=${d.transA}${
      aVecM ? " vec4" : ""
    }, transB=${d.transB})
${decl}${fma}
${udivHelper(false)}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  let id = ${linearIndex(WG)};
${tilePlacement(d, "id", TM, TN, "mS", "nS")}${batchBases(d)}${s}}
`;
    return wgsl;
  });
  const n = Math.ceil(d.M / TM) * Math.ceil(d.N / TN) * d.nb * d.splits;
  rt.dispatch(k, [ab, bb, ob], params, Math.ceil(n / WG));
}

/**
 * The blocked kernel reading A and B from the runtime's operand textures: element `i` of an
 * operand is component `i % 4` of texel `i / 4`. A loop step covers 4 k (4 texels along K,
 * or 4 of rows or columns, one per k), except for Aᵀ @ B with K not a multiple of 4: 1 k.
 */
function textured(
  d: Dims,
  [ab, bb, ob]: GPUBuffer[],
  { tm: TM, tn: TN, wg: WG = 16 }: BlockShape,
  [aSize, bSize]: [number, number],
): void {
  const rt = runtime();
  const at = operandTexture(0, ab, aSize), bt = operandTexture(1, bb, bSize);
  const V = TN / 4;
  // Steps of 4 k wherever K allows (Aᵀ @ B takes 4 k per step when K % 4 == 0).
  const step4 = !d.transA || d.transB || d.K % 4 === 0;
  const params = commonParams(d);
  const key = `matmul/texture/${TM}x${TN}/${WG}/${Number(d.transA)}${Number(d.transB)}${
    Number(step4)
  }/${d.batch.length}`;
  const k = rt.kernelFor(key, "matmul", ["t", "t", "w"], params.length, () => {
    const M = P(0), N = P(1);
    const { aIdx, bIdx } = operandIndex(d);
    const comp = ["x", "y", "z", "w"];
    let s = "";
    // Clamped rows and columns (texel starts where a texel holds 4 rows or columns).
    if (d.transA) {
      for (let q = 0; q < TM / 4; q++) s += `  let mq${q} = min(mS + ${4 * q}u, ${M} - 4u);\n`;
    } else {
      for (let i = 0; i < TM; i++) s += `  let m${i} = min(mS + ${i}u, ${M} - 1u);\n`;
    }
    for (let j = 0; j < V; j++) {
      if (!d.transB) s += `  let nq${j} = min(nS + ${4 * j}u, ${N} - 4u);\n`;
      else {
        for (let e = 0; e < 4; e++) s += `  let n${j}_${e} = min(nS + ${4 * j + e}u, ${N} - 1u);\n`;
      }
    }
    for (let i = 0; i < TM; i++) {
      for (let j = 0; j < V; j++) s += `  var acc${i}_${j} = vec4<f32>(0.0);\n`;
    }
    if (step4) {
      s += `  for (var k = kBeg; k < kEnd; k += 4u) {\n`;
      if (!d.transA) {
        for (let i = 0; i < TM; i++) s += `    let a${i} = ta(${aIdx(`m${i}`, "k")});\n`;
      } else {
        for (let kk = 0; kk < 4; kk++) {
          for (let q = 0; q < TM / 4; q++) {
            s += `    let at${q}_${kk} = ta(${aIdx(`mq${q}`, `k + ${kk}u`)});\n`;
          }
        }
        for (let i = 0; i < TM; i++) {
          s += `    let a${i} = vec4<f32>(${
            [0, 1, 2, 3].map((kk) => `at${i >> 2}_${kk}.${comp[i & 3]}`).join(", ")
          });\n`;
        }
      }
      if (!d.transB) {
        for (let kk = 0; kk < 4; kk++) {
          for (let j = 0; j < V; j++) {
            s += `    let b${kk}_${j} = tb(${bIdx(`k + ${kk}u`, `nq${j}`)});\n`;
          }
        }
      } else {
        // Texels of Bᵀ run along K: transposed in registers.
        for (let j = 0; j < V; j++) {
          for (let e = 0; e < 4; e++) {
            s += `    let bt${j}_${e} = tb(${bIdx("k", `n${j}_${e}`)});\n`;
          }
        }
        for (let kk = 0; kk < 4; kk++) {
          for (let j = 0; j < V; j++) {
            s += `    let b${kk}_${j} = vec4<f32>(${
              [0, 1, 2, 3].map((e) => `bt${j}_${e}.${comp[kk]}`).join(", ")
            });\n`;
          }
        }
      }
      // Each accumulator's 4 products of the step in a row: llvmpipe spills accumulators
      // (TM·TN of them, 8 lanes each) to the stack, so this loads and stores each once a
      // step instead of four times (1024³: 128 → 88 ms).
      for (let i = 0; i < TM; i++) {
        for (let j = 0; j < V; j++) {
          for (let kk = 0; kk < 4; kk++) {
            s += `    acc${i}_${j} = fma(vec4<f32>(a${i}.${
              comp[kk]
            }), b${kk}_${j}, acc${i}_${j});\n`;
          }
        }
      }
    } else {
      s += `  for (var k = kBeg; k < kEnd; k++) {\n`;
      for (let q = 0; q < TM / 4; q++) s += `    let av${q} = ta(${aIdx(`mq${q}`, "k")});\n`;
      for (let j = 0; j < V; j++) s += `    let b${j} = tb(${bIdx("k", `nq${j}`)});\n`;
      for (let i = 0; i < TM; i++) {
        for (let j = 0; j < V; j++) {
          s += `    acc${i}_${j} = fma(vec4<f32>(av${i >> 2}.${
            comp[i & 3]
          }), b${j}, acc${i}_${j});\n`;
        }
      }
    }
    s += "  }\n" + storeBlock(TM, V);
    const texel = (T: string) =>
      `fn t${T.toLowerCase()}(i: u32) -> vec4<f32> { return ${texelLoad(T, "i >> 2u")}; }\n`;
    return `// matmul (texture ${TM}x${TN}, transA=${d.transA}, transB=${d.transB})
${textureDecl(0, "A")}${textureDecl(1, "B")}${storageDecl(2, "C", "f32", true)}${
      paramsDecl(3, params.length)
    }${texel("A")}${texel("B")}${udivHelper(false)}
@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  let id = ${linearIndex(WG)};
${tilePlacement(d, "id", TM, TN, "mS", "nS")}${batchBases(d)}${s}}
`;
  });
  const n = Math.ceil(d.M / TM) * Math.ceil(d.N / TN) * d.nb * d.splits;
  rt.dispatch(k, [at, bt, ob], params, Math.ceil(n / WG));
}

/** WGSL storing the TM×(4·V) block `acc{i}_{j}` at rows from `mS`, columns from `nS`, guarded. */
function storeBlock(TM: number, V: number): string {
  const M = P(0), N = P(1);
  const comp = ["x", "y", "z", "w"];
  let s = `  let cBase = (sk * ${P(3)} + bi) * ${M} * ${N};\n`;
  for (let i = 0; i < TM; i++) {
    s += `  if (mS + ${i}u < ${M}) {\n    let row = cBase + (mS + ${i}u) * ${N};\n`;
    for (let j = 0; j < V; j++) {
      for (let e = 0; e < 4; e++) {
        s += `    if (nS + ${4 * j + e}u < ${N}) { C[row + nS + ${4 * j + e}u] = acc${i}_${j}.${
          comp[e]
        }; }\n`;
      }
    }
    s += "  }\n";
  }
  return s;
}

function tiled(t: "f32" | "i32", d: Dims, [ab, bb, ob]: GPUBuffer[]): void {
  // 64×64 outputs per workgroup of 16×16 invocations, 4×4 each; K tiles of 16.
  const BM = 64, BN = 64, BK = 16;
  const params = commonParams(d);
  const rt = runtime();
  const key = `matmul/tiled/${t}/${Number(d.transA)}${Number(d.transB)}/${d.batch.length}`;
  const k = rt.kernelFor(key, "matmul", ["r", "r", "w"], params.length, () => {
    const zero = t === "f32" ? "0.0" : "0";
    const decl = storageDecl(0, "A", t, false) + storageDecl(1, "B", t, false) +
      storageDecl(2, "C", t, true) + paramsDecl(3, params.length);
    const M = P(0), N = P(1);
    const { aIdx, bIdx } = operandIndex(d);
    const wgsl = `// matmul (tiled ${BM}x${BN}x${BK}, transA=${d.transA}, transB=${d.transB})
${decl}${udivHelper(false)}
var<workgroup> As: array<vec4<${t}>, ${(BM * BK) / 4}>; // [k][m / 4]
var<workgroup> Bs: array<vec4<${t}>, ${(BN * BK) / 4}>; // [k][n / 4]
@compute @workgroup_size(256)
fn main(${ENTRY_ARGS}) {
  let g = ${LINEAR_GROUP};
${tilePlacement(d, "g", BM, BN, "m0", "n0")}${batchBases(d)}
  let tx = lid % 16u;
  let ty = lid / 16u;
  var acc0 = vec4<${t}>(${zero});
  var acc1 = vec4<${t}>(${zero});
  var acc2 = vec4<${t}>(${zero});
  var acc3 = vec4<${t}>(${zero});
  for (var k0 = kBeg; k0 < kEnd; k0 += ${BK}u) {
    // Global loads walk the contiguous axis of each operand across the workgroup.
    for (var e = lid; e < ${BM * BK}u; e += 256u) {
      ${
      d.transA
        ? `let kk = e / ${BM}u; let mm = e % ${BM}u;`
        : `let mm = e / ${BK}u; let kk = e % ${BK}u;`
    }
      let am = m0 + mm;
      let ak = k0 + kk;
      As[kk * ${BM / 4}u + mm / 4u][mm % 4u] = select(${zero}, A[${
      aIdx("am", "ak")
    }], am < ${M} && ak < kEnd);
      ${
      d.transB
        ? `let nn = e / ${BK}u; let kb = e % ${BK}u;`
        : `let kb = e / ${BN}u; let nn = e % ${BN}u;`
    }
      let bn = n0 + nn;
      let bk = k0 + kb;
      Bs[kb * ${BN / 4}u + nn / 4u][nn % 4u] = select(${zero}, B[${
      bIdx("bk", "bn")
    }], bn < ${N} && bk < kEnd);
    }
    workgroupBarrier();
    for (var kk = 0u; kk < ${BK}u; kk++) {
      let a = As[kk * ${BM / 4}u + ty];
      let b = Bs[kk * ${BN / 4}u + tx];
      acc0 += a.x * b;
      acc1 += a.y * b;
      acc2 += a.z * b;
      acc3 += a.w * b;
    }
    workgroupBarrier();
  }
  let cBase = (sk * ${P(3)} + bi) * ${M} * ${N};
  let n = n0 + tx * 4u;
  let accs = array<vec4<${t}>, 4>(acc0, acc1, acc2, acc3);
  for (var i = 0u; i < 4u; i++) {
    let m = m0 + ty * 4u + i;
    if (m >= ${M}) { break; }
    let row = cBase + m * ${N} + n;
    let v = accs[i];
    if (n < ${N}) { C[row] = v.x; }
    if (n + 1u < ${N}) { C[row + 1u] = v.y; }
    if (n + 2u < ${N}) { C[row + 2u] = v.z; }
    if (n + 3u < ${N}) { C[row + 3u] = v.w; }
  }
}
`;
    return wgsl;
  });
  const groups = Math.ceil(d.M / BM) * Math.ceil(d.N / BN) * d.nb * d.splits;
  rt.dispatch(k, [ab, bb, ob], params, groups);
}

/**
 * Times reading 1M `vec4<f32>` scattered over 1 MiB from a storage buffer and from an
 * operand texture (two small kernels, ~0.2 s in all on llvmpipe) and returns how many
 * times slower the buffer was. On an AMD EPYC's llvmpipe (Mesa 22.3) it is ~3.5×, and the
 * texture matmul runs ~5× faster than the blocked one; where loads cost the same the
 * blocked kernel needs no copies.
 */
export async function storageLoadSlowdown(): Promise<number> {
  const rt = runtime();
  const n = 1 << 18; // elements (1 MiB)
  const mask = n / 4 - 1;
  const buffer = rt.alloc("matmul probe", n * 4, true);
  const out = rt.alloc("matmul probe", 16384 * 4);
  try {
    rt.upload(buffer, new Float32Array(n).fill(1));
    const body = (load: string) =>
      `@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  var s = vec4<f32>(0.0);
  var i = (gid.x * 2654435761u) & ${mask}u;
  for (var j = 0u; j < 64u; j++) {
    s += ${load};
    i = (i + 4099u) & ${mask}u;
  }
  C[gid.x] = s.x + s.y + s.z + s.w;
}
`;
    const fromBuffer = rt.kernel(
      "matmul probe",
      `${storageDecl(0, "A", "vec4<f32>", false)}${storageDecl(1, "C", "f32", true)}${
        body("A[i]")
      }`,
      ["r", "w"],
      0,
    );
    const fromTexture = rt.kernel(
      "matmul probe",
      `${textureDecl(0, "A")}${storageDecl(1, "C", "f32", true)}${body(texelLoad("A", "i"))}`,
      ["t", "w"],
      0,
    );
    const time = async (run: () => void) => {
      run(); // compile and warm up (and a first, slower readback)
      await rt.readBytes(out, 4);
      const t0 = performance.now();
      for (let r = 0; r < 4; r++) run();
      await rt.readBytes(out, 4);
      return performance.now() - t0;
    };
    const tBuffer = await time(() => rt.dispatch(fromBuffer, [buffer, out], [], 256));
    const tTexture = await time(() => {
      rt.dispatch(fromTexture, [operandTexture(0, buffer, n), out], [], 256);
    });
    return tBuffer / tTexture;
  } finally {
    rt.free(buffer);
    rt.free(out);
  }
}
