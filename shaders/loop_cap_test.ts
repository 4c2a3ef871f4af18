/**
 * Long loops on CPU-emulated adapters: Mesa's llvmpipe (and lavapipe) end every loop
 * of a shader invocation after 65,535 iterations in total, all its loops together, and
 * the shader goes on with what it has. Kernels whose invocations loop over a whole
 * reduced axis or a whole K were silently wrong beyond that; these compare them with
 * the CPU on axes longer than the cap (on GPUs without the cap they pass as well).
 */
import assert from "node:assert/strict";
import { cpuBackend as cpu } from "../core/backend_cpu.ts";
import type { ConvGeometry } from "../core/backend.ts";
import type { NDArray } from "../core/ndarray.ts";
import { F, tensor } from "../mod.ts";
import { gpuBackend as gpu } from "./backend_gpu.ts";
import { matmul as gpuMatmul, type MatmulVariant } from "./matmul.ts";
import { forceReduceVariant, setLoopBudget } from "./reduce.ts";
import { runtime } from "./_context.ts";
import {
  assertAllClose,
  both,
  gpuTest,
  logKernels,
  randBoth as rand,
  randomTyped,
  same as sameValues,
} from "./test_util.ts";

/** {@linkcode sameValues}, then frees both results (the arrays here are large). */
async function same(
  what: string,
  g: NDArray,
  c: NDArray,
  tol: { rtol?: number; atol?: number } = {},
): Promise<void> {
  await sameValues(what, g, c, tol);
  g.dispose();
  c.dispose();
}

/** Runs `fn` with the loop budget per invocation set to `budget` (chunks of a few elements). */
async function withBudget(budget: number, fn: () => Promise<void>): Promise<void> {
  setLoopBudget(budget);
  try {
    await fn();
  } finally {
    setLoopBudget(null);
  }
}

async function withVariant(
  variant: "serial" | "tree" | null,
  fn: () => Promise<void>,
): Promise<void> {
  forceReduceVariant(variant);
  try {
    await fn();
  } finally {
    forceReduceVariant(null);
  }
}

for (const variant of [null, "serial", "tree"] as const) {
  gpuTest(`argReduce() over 100,000 elements matches the CPU (${variant ?? "auto"})`, async () => {
    await withVariant(variant, async () => {
      const cases: [number[], number][] = [[[100_000], 0], [[3, 100_000], 1], [[100_000, 3], 0]];
      for (const [shape, axis] of cases) {
        const x = rand(shape, { seed: 3 });
        for (const op of ["argmax", "argmin"] as const) {
          await same(
            `${op} ${JSON.stringify(shape)} axis ${axis}`,
            gpu.argReduce(op, x.g, axis, false),
            cpu.argReduce(op, x.c, axis, false),
          );
        }
      }
      // The best value last: chunks that come later must win.
      const ramp = Float32Array.from({ length: 100_000 }, (_, i) => i);
      const r = gpu.fromTyped(ramp, [100_000]);
      assert.deepEqual(Array.from(await gpu.read(gpu.argReduce("argmax", r, 0, false))), [99_999]);
      // Ties across chunks: the first index wins; int32.
      const ties = rand([2, 90_000], { dtype: "int32", lo: 0, hi: 3, seed: 5 });
      for (const op of ["argmax", "argmin"] as const) {
        await same(
          `${op} int32 ties`,
          gpu.argReduce(op, ties.g, 1, false),
          cpu.argReduce(op, ties.c, 1, false),
        );
      }
    });
  });
}

gpuTest("reduce() along an axis of 100,000 with 64 rows matches the CPU", async () => {
  for (const variant of [null, "tree"] as const) {
    await withVariant(variant, async () => {
      const x = rand([64, 100_000], { seed: 7, lo: -2, hi: 2 });
      for (const op of ["sum", "max", "min"] as const) {
        await same(
          `${op} [64, 100000] axis 1 (${variant ?? "auto"})`,
          gpu.reduce(op, x.g, [1], false),
          cpu.reduce(op, x.c, [1], false),
          { rtol: 1e-4, atol: 1e-3 },
        );
      }
      const t = rand([100_000, 64], { seed: 8, lo: -2, hi: 2 });
      await same(
        `sum [100000, 64] axis 0 (${variant ?? "auto"})`,
        gpu.reduce("sum", t.g, [0], false),
        cpu.reduce("sum", t.c, [0], false),
        { rtol: 1e-4, atol: 1e-3 },
      );
    });
  }
  const ones = new Float32Array(100_000 * 64).fill(1);
  const mean = await tensor(ones, { device: "gpu" }).reshape(100_000, 64).mean(0).data();
  assertAllClose(mean, new Float32Array(64).fill(1), { what: "mean of [100000, 64] over axis 0" });
  const sums = await tensor(ones, { device: "gpu" }).reshape(64, 100_000).sum(1).data();
  assert.deepEqual(Array.from(sums), new Array(64).fill(100_000));
});

gpuTest(
  "softmax(), logSoftmax() and softmaxCrossEntropy() over 30,000 classes match the CPU",
  async () => {
    for (const variant of [null, "serial", "tree"] as const) {
      await withVariant(variant, async () => {
        const cases: [number[], number][] = [[[3, 30_000], 1], [[30_000, 2], 0]];
        for (const [shape, axis] of cases) {
          const x = rand(shape, { seed: 11, lo: -6, hi: 6 });
          const v = variant ?? "auto";
          await same(
            `softmax ${JSON.stringify(shape)} axis ${axis} (${v})`,
            gpu.softmax!(x.g, axis),
            cpu.softmax!(x.c, axis),
            { rtol: 1e-4, atol: 1e-9 },
          );
          await same(
            `logSoftmax ${JSON.stringify(shape)} axis ${axis} (${v})`,
            gpu.logSoftmax!(x.g, axis),
            cpu.logSoftmax!(x.c, axis),
            { rtol: 1e-5, atol: 1e-4 },
          );
        }
      });
    }
    const C = 30_000;
    const logits = Float32Array.from({ length: 2 * C }, (_, i) => (i % C) * 1e-4);
    const labels = new Int32Array([C - 1, 0]);
    const loss = async (device: "cpu" | "gpu") =>
      await F.softmaxCrossEntropy(
        tensor(logits, { device }).reshape(2, C),
        tensor(labels, { device }),
      ).item();
    const [lc, lg] = [await loss("cpu"), await loss("gpu")];
    assert.ok(
      Math.abs(lg - lc) <= 1e-4 * Math.abs(lc),
      `softmaxCrossEntropy: gpu ${lg}, cpu ${lc}`,
    );
  },
);

gpuTest("matmul() with K beyond 65,535 matches the CPU, transposed operands too", async () => {
  const M = 100, N = 100;
  const cases: [number, boolean, boolean][] = [
    [70_001, false, false], // scalar K loop
    [70_004, false, false], // vec4 loads along K
    [70_004, true, false], // Aᵀ: vec4 loads along M, one k per iteration
    [70_001, false, true], // Bᵀ, odd K
  ];
  for (const [K, transA, transB] of cases) {
    const a = rand(transA ? [K, M] : [M, K], { seed: 31 });
    const b = rand(transB ? [N, K] : [K, N], { seed: 32 });
    // atol: 70,000 float32 terms of about ±1.
    await same(
      `matmul K=${K} transA=${transA} transB=${transB}`,
      gpuMatmul(a.g, b.g, { transA, transB }),
      cpu.matmul(a.c, b.c, { transA, transB }),
      { rtol: 1e-4, atol: 2e-2 },
    );
    for (const x of [a, b]) {
      x.g.dispose();
      x.c.dispose();
    }
  }
});

gpuTest("a small loop budget chunks reductions over several combining passes", async () => {
  // A budget of 16 iterations: rows of 5,000 take 313 chunks, combined in passes of 16
  // (313 → 20 → 2 → 1). NaNs, infinities and ties cross chunk boundaries.
  await withBudget(16, async () => {
    const data = randomTyped(3 * 5000, { seed: 41, lo: -3, hi: 3 }) as Float32Array;
    data[700] = NaN; // row 0: the first NaN wins argmax and argmin
    data[4000] = NaN;
    data[5000 + 17] = Infinity; // row 1: one +inf, two -inf
    data[5000 + 4999] = -Infinity;
    data[5000 + 18] = -Infinity;
    for (let j = 0; j < 5000; j++) data[10_000 + j] = j % 97; // row 2: ties (96 every 97)
    const x = { c: cpu.fromTyped(data, [3, 5000]), g: gpu.fromTyped(data, [3, 5000]) };
    for (const variant of [null, "serial", "tree"] as const) {
      await withVariant(variant, async () => {
        for (const op of ["argmax", "argmin"] as const) {
          await same(
            `${op} (${variant ?? "auto"})`,
            gpu.argReduce(op, x.g, 1, false),
            cpu.argReduce(op, x.c, 1, false),
          );
        }
        for (const op of ["sum", "max", "min"] as const) {
          await same(
            `${op} (${variant ?? "auto"})`,
            gpu.reduce(op, x.g, [1], false),
            cpu.reduce(op, x.c, [1], false),
            { rtol: 1e-5, atol: 1e-3 },
          );
        }
      });
    }
    // softmax: rows with a NaN, a +inf, all -inf, a chunk of -inf among finite values.
    const sm = randomTyped(6 * 1000, { seed: 42, lo: -8, hi: 8 }) as Float32Array;
    sm[123] = NaN;
    sm[1000 + 999] = Infinity;
    sm.fill(-Infinity, 2000, 3000);
    sm.fill(-Infinity, 3000, 3200);
    sm[4000 + 5] = -Infinity;
    const y = { c: cpu.fromTyped(sm, [6, 1000]), g: gpu.fromTyped(sm, [6, 1000]) };
    const yt = { c: cpu.fromTyped(sm, [1000, 6]), g: gpu.fromTyped(sm, [1000, 6]) };
    for (const [v, axis] of [[y, 1], [yt, 0]] as const) {
      await same(
        `softmax axis ${axis}`,
        gpu.softmax!(v.g, axis),
        cpu.softmax!(v.c, axis),
        { rtol: 1e-5, atol: 1e-9 },
      );
      await same(
        `logSoftmax axis ${axis}`,
        gpu.logSoftmax!(v.g, axis),
        cpu.logSoftmax!(v.c, axis),
        { rtol: 1e-5, atol: 1e-5 },
      );
    }
  });
});

gpuTest(
  "a small loop budget splits matmul's K on CPU-emulated adapters, every variant",
  async () => {
    // Enough outputs that K is not split for parallelism (36 blocks of 4×4; 128 tiled
    // workgroups): only the budget splits it, and only where the adapter has the cap.
    await withBudget(64, async () => {
      const cases: [number[], number[], { tm: number; tn: number } | undefined, MatmulVariant][] = [
        [[24, 1001], [1001, 24], { tm: 4, tn: 4 }, "blocked"],
        [[24, 1004], [1004, 24], { tm: 4, tn: 4 }, "blocked"],
        [[24, 1004], [1004, 24], { tm: 4, tn: 4 }, "texture"],
        [[128, 1, 203], [128, 203, 1], undefined, "tiled"],
      ];
      for (const [sa, sb, block, variant] of cases) {
        for (const [transA, transB] of [[false, false], [true, false], [false, true]]) {
          const stored = (s: number[], t: boolean) =>
            t ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s;
          const a = rand(stored(sa, transA), { seed: 51 }),
            b = rand(stored(sb, transB), { seed: 52 });
          const what = `matmul ${variant} ${JSON.stringify(sa)} @ ${
            JSON.stringify(sb)
          } ${transA} ${transB}`;
          const titles = await logKernels(() =>
            same(
              what,
              gpuMatmul(a.g, b.g, { transA, transB, variant, block }),
              cpu.matmul(a.c, b.c, { transA, transB }),
              { rtol: 1e-4, atol: 1e-4 },
            )
          );
          // Split into chunks (then summed) exactly where the adapter caps loops.
          assert.equal(
            /\/\/ sum/.test(titles.join(" | ")),
            runtime().software,
            `${what}: ${titles}`,
          );
          assert.ok(titles[0].includes(`(${variant}`), `${what}: ${titles}`);
        }
      }
    });
  },
);

/**
 * maxPool2d's maxima and indices on both devices; returns the first lines (titles) of the
 * kernels the GPU dispatched.
 */
async function samePool(
  what: string,
  x: { c: NDArray; g: NDArray },
  g: ConvGeometry,
): Promise<string[]> {
  let yg!: NDArray, ig!: NDArray;
  const titles = await logKernels(() => {
    [yg, ig] = gpu.maxPool2d(x.g, g);
  });
  const [yc, ic] = cpu.maxPool2d(x.c, g);
  await same(`${what}: maxima`, yg, yc);
  await same(`${what}: indices`, ig, ic);
  return titles;
}

gpuTest("maxPool2d() over a window beyond 65,535 elements matches the CPU", async () => {
  // A global pool over 300×300: the maximum near the end, ties across the window.
  const data = randomTyped(2 * 300 * 300, { seed: 61, lo: -3, hi: 3 }) as Float32Array;
  data[89_995] = 10;
  for (const at of [90_000 + 100, 90_000 + 70_000, 90_000 + 89_999]) data[at] = 10;
  const global = { kh: 300, kw: 300, sh: 1, sw: 1, ph: 0, pw: 0 };
  await samePool("global 300×300", both(data, [1, 2, 300, 300]), global);
  const ints = rand([1, 1, 300, 300], { dtype: "int32", lo: 0, hi: 5, seed: 62 });
  await samePool("global 300×300 int32 (ties)", ints, global);
});

gpuTest("a small loop budget scans max-pooling windows in passes", async () => {
  // A budget of 16 iterations: a 5×5 window takes 2 passes, 7×7 with padding 4; NaNs,
  // -inf and ties fall in different passes, and some passes see only padding.
  await withBudget(16, async () => {
    const data = randomTyped(2 * 3 * 11 * 13, { seed: 63, lo: -2, hi: 2 }) as Float32Array;
    data[40] = NaN;
    data[41] = Infinity;
    data.fill(-Infinity, 143, 170);
    for (let j = 300; j < 429; j++) data[j] = j % 3; // ties
    const x = both(data, [2, 3, 11, 13]);
    const ints = rand([2, 3, 11, 13], { dtype: "int32", lo: -2, hi: 2, seed: 64 });
    const geometries = [
      { kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0 },
      { kh: 7, kw: 7, sh: 2, sw: 3, ph: 3, pw: 3 },
      { kh: 4, kw: 9, sh: 4, sw: 2, ph: 2, pw: 4 },
      { kh: 11, kw: 13, sh: 1, sw: 1, ph: 0, pw: 0 },
      { kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0 }, // within the budget: one pass
    ];
    for (const g of geometries) {
      // Passes of 16 window positions where the window and its rows exceed 16 iterations.
      const passes = g.kh * g.kw + g.kh > 16 ? Math.ceil((g.kh * g.kw) / 16) : 0;
      for (const [name, v] of [["f32", x], ["int32", ints]] as const) {
        const titles = await samePool(`${name} ${JSON.stringify(g)}`, v, g);
        assert.deepEqual(
          titles,
          passes ? Array(passes).fill("// maxPool2d (window in passes)") : ["// maxPool2d"],
          JSON.stringify(g),
        );
      }
    }
  });
});
