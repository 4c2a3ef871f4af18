import assert from "node:assert/strict";
import { BINARY_OPS, type ConvGeometry, UNARY_OPS } from "../core/backend.ts";
import { cpuBackend } from "../core/backend_cpu.ts";
import type { NDArray } from "../core/ndarray.ts";
import * as ops from "../core/ops.ts";
import { sizeOf } from "../core/shape.ts";
import { gpuBackend as gpu } from "./backend_gpu.ts";
import { runtime } from "./_context.ts";
import { bucketBytes, GpuRuntime } from "./runtime.ts";
import { matmul as gpuMatmul, type MatmulVariant } from "./matmul.ts";
import { forceReduceVariant, setLoopBudget } from "./reduce.ts";
import {
  assertAllClose,
  both,
  gpuTest,
  logKernels,
  randBoth as rand,
  randomTyped,
  same,
} from "./test_util.ts";

const cpu = cpuBackend;

/** How a matmul operand of logical shape `shape` is stored: last two axes swapped if `trans`. */
function stored(shape: readonly number[], trans: boolean): number[] {
  const r = shape.length;
  return trans ? [...shape.slice(0, -2), shape[r - 1], shape[r - 2]] : [...shape];
}

const SHAPES = [[], [1], [7], [3, 5, 17], [2, 1, 3, 4, 5]];

gpuTest("unary() matches the CPU for every op on awkward shapes", async () => {
  for (const shape of SHAPES) {
    const x = rand(shape, { seed: shape.length + 3, lo: -4, hi: 4 });
    const pos = rand(shape, { seed: 7, lo: 0.01, hi: 5 });
    for (const op of UNARY_OPS) {
      const src = op === "log" || op === "sqrt" ? pos : x;
      await same(`${op} ${JSON.stringify(shape)}`, gpu.unary(op, src.g), cpu.unary(op, src.c), {
        rtol: 2e-6,
        atol: 2e-6,
      });
    }
  }
});

gpuTest("unary() is stable at extremes: tanh, sigmoid, erf, round half to even", async () => {
  const data = new Float32Array([-100, -20, -1e-4, 0, 1e-4, 3, 20, 100, 0.5, 1.5, 2.5, -2.5]);
  const x = both(data, [data.length]);
  for (const op of ["tanh", "sigmoid", "erf", "round", "exp"] as const) {
    await same(op, gpu.unary(op, x.g), cpu.unary(op, x.c), { rtol: 2e-6, atol: 1e-7 });
  }
});

gpuTest("unary() on int32 matches the CPU", async () => {
  const x = rand([11], { dtype: "int32", lo: -5, hi: 5, seed: 3 });
  for (const op of ["neg", "abs", "sign", "relu", "floor", "round", "exp"] as const) {
    await same(`${op} int32`, gpu.unary(op, x.g), cpu.unary(op, x.c));
  }
});

gpuTest("binary() matches the CPU for every op with broadcasting up to rank 5", async () => {
  const cases: [number[], number[]][] = [
    [[], []],
    [[7], []],
    [[], [1]],
    [[13], [13]],
    [[3, 1], [1, 5]],
    [[2, 3, 1, 5, 7], [3, 4, 1, 7]],
    [[4, 1, 6], [6]],
    // vec4 paths: inner axis a multiple of 4, operands vec4-aligned or broadcast.
    [[3, 8], [8]],
    [[3, 8], [3, 1]],
    [[2, 3, 4, 8], [3, 1, 8]],
    [[5, 12], [1, 12]],
    [[4], [1]],
  ];
  for (const [sa, sb] of cases) {
    const a = rand(sa, { seed: 11, lo: -3, hi: 3 });
    const b = rand(sb, { seed: 12, lo: -3, hi: 3 });
    const pa = rand(sa, { seed: 13, lo: 0.1, hi: 3 });
    for (const op of BINARY_OPS) {
      const x = op === "pow" ? pa : a;
      await same(
        `${op} ${JSON.stringify(sa)} ${JSON.stringify(sb)}`,
        gpu.binary(op, x.g, b.g),
        cpu.binary(op, x.c, b.c),
        { rtol: 1e-5, atol: 1e-6 },
      );
    }
  }
});

gpuTest("binary() pow handles negative bases and integer exponents like the CPU", async () => {
  const a = both(new Float32Array([-2, -2, -2, 0, 0, 3, -1.5]), [7]);
  const b = both(new Float32Array([2, 3, 0.5, 2, -1, 0, 2]), [7]);
  await same("pow", gpu.binary("pow", a.g, b.g), cpu.binary("pow", a.c, b.c));
});

gpuTest(
  "binary() pow of zero gives 0 or a signed infinity like the CPU, for tensor and scalar exponents",
  async () => {
    const zeros = both(new Float32Array([0, -0, 0, -0, 0, -0, 0, -0]), [8]);
    const b = both(new Float32Array([-1, -1, -2, -3, 0.5, -0.5, 3, 3]), [8]);
    await same("pow 0^b", gpu.binary("pow", zeros.g, b.g), cpu.binary("pow", zeros.c, b.c));
    const got = await gpu.read(gpu.binary("pow", zeros.g, b.g));
    assert.deepEqual(Array.from(got), [
      Infinity,
      -Infinity,
      Infinity,
      -Infinity,
      0,
      Infinity,
      0,
      -0,
    ]);
    for (const c of [-1, -0.5, 0.5, 2, 3]) {
      const e = both(new Float32Array([c]), []);
      await same(`pow 0^${c}`, gpu.binary("pow", zeros.g, e.g), cpu.binary("pow", zeros.c, e.c));
    }
  },
);

gpuTest("binary() on int32 wraps and divides like the CPU", async () => {
  const a = both(new Int32Array([7, -7, 7, -7, 5, 0, 2147483647, 3, -2, 2, 100000]), [11]);
  const b = both(new Int32Array([2, 2, -2, -2, 0, 0, 2, 31, 3, -1, 100000]), [11]);
  for (const op of BINARY_OPS) {
    await same(`${op} int32`, gpu.binary(op, a.g, b.g), cpu.binary(op, a.c, b.c));
  }
});

gpuTest("binary() rejects mixed dtypes and unbroadcastable shapes", () => {
  const a = gpu.full([2, 3], 1, "float32");
  const b = gpu.full([2, 3], 1, "int32");
  assert.throws(() => gpu.binary("add", a, b), /add: dtypes float32 and int32 differ/);
  const c = gpu.full([4, 3], 1, "float32");
  assert.throws(() => gpu.binary("add", a, c), /cannot broadcast shapes \[2,3\] and \[4,3\]/);
});

gpuTest("where() broadcasts all three operands like the CPU", async () => {
  const cond = both(new Float32Array([1, 0, 0, 1, 1, 0]), [2, 3, 1]);
  const a = rand([4], { seed: 1 });
  const b = rand([3, 1], { seed: 2 });
  await same("where", gpu.where(cond.g, a.g, b.g), cpu.where(cond.c, a.c, b.c));
  const ci = both(new Int32Array([0, 5]), [2, 1]);
  await same("where int cond", gpu.where(ci.g, a.g, a.g), cpu.where(ci.c, a.c, a.c));
});

gpuTest("cast() truncates toward zero and round-trips int32", async () => {
  const x = both(new Float32Array([-2.7, -0.5, 0, 0.5, 2.7, 1e6]), [6]);
  await same("f32->i32", gpu.cast(x.g, "int32"), cpu.cast(x.c, "int32"));
  const i = rand([5], { dtype: "int32", lo: -100, hi: 100 });
  await same("i32->f32", gpu.cast(i.g, "float32"), cpu.cast(i.c, "float32"));
  await same("f32->f32 copy", gpu.cast(x.g, "float32"), cpu.cast(x.c, "float32"));
});

for (const variant of [null, "serial", "tree"] as const) {
  gpuTest(
    `reduce() matches the CPU over any axes, serial and tree variants (${variant ?? "auto"})`,
    async () => {
      forceReduceVariant(variant);
      try {
        const cases: [number[], number[]][] = [
          [[], []],
          [[1], [0]],
          [[7], [0]],
          [[3, 4, 5, 6, 7], [0, 2, 4]],
          [[3, 4, 5, 6, 7], [1, 3]],
          [[3, 4, 5, 6, 7], [0, 1, 2, 3, 4]],
          [[5, 1009], [1]], // tree, contiguous
          [[1009, 3], [0]], // tree, strided
          [[2, 67, 3], [0, 1]], // tree, two axes
          [[4, 0, 3], [2]],
          [[3, 20011], [1]], // split into partial trees
          [[50021], [0]], // split, all axes
          [[100, 2100], [0]], // serial: many outputs
        ];
        for (const [shape, axes] of cases) {
          const x = rand(shape, { seed: shape.length, lo: -2, hi: 2 });
          for (const op of ["sum", "max", "min"] as const) {
            for (const keep of [false, true]) {
              await same(
                `${op} ${JSON.stringify(shape)} axes ${JSON.stringify(axes)} keepdims=${keep}`,
                gpu.reduce(op, x.g, axes, keep),
                cpu.reduce(op, x.c, axes, keep),
                { rtol: 1e-5, atol: 1e-5 },
              );
            }
          }
        }
        const z = rand([3, 0], {});
        await same(
          "sum over empty axis",
          gpu.reduce("sum", z.g, [1], false),
          cpu.reduce("sum", z.c, [1], false),
        );
        assert.throws(() => gpu.reduce("max", z.g, [1], false), /max: cannot reduce an empty axis/);
        const i = rand([6, 70], { dtype: "int32", lo: -50, hi: 50 });
        for (const op of ["sum", "max", "min"] as const) {
          await same(
            `${op} int32`,
            gpu.reduce(op, i.g, [1], false),
            cpu.reduce(op, i.c, [1], false),
          );
        }
      } finally {
        forceReduceVariant(null);
      }
    },
  );
}

for (const variant of [null, "serial", "tree"] as const) {
  gpuTest(
    `argReduce() matches the CPU with ties, first index wins (${variant ?? "auto"})`,
    async () => {
      forceReduceVariant(variant);
      try {
        const ties = both(new Float32Array([1, 3, 3, 0, 2, 2, 2, 2]), [2, 4]);
        for (const op of ["argmax", "argmin"] as const) {
          await same(op, gpu.argReduce(op, ties.g, 1, false), cpu.argReduce(op, ties.c, 1, false));
          for (
            const [shape, axis] of [[[3, 5, 7], 1], [[7], 0], [[4, 131], 1], [[131, 3], 0]] as const
          ) {
            const x = rand(shape, { seed: axis + 5 });
            for (const keep of [false, true]) {
              await same(
                `${op} ${JSON.stringify(shape)} axis ${axis}`,
                gpu.argReduce(op, x.g, axis, keep),
                cpu.argReduce(op, x.c, axis, keep),
              );
            }
          }
        }
        const big = both(new Float32Array(200).fill(1), [200]);
        await same(
          "argmax tree ties",
          gpu.argReduce("argmax", big.g, 0, false),
          cpu.argReduce("argmax", big.c, 0, false),
        );
      } finally {
        forceReduceVariant(null);
      }
    },
  );
}

for (const variant of ["blocked", "tiled"] as MatmulVariant[]) {
  gpuTest(`matmul() ${variant} matches the CPU: batches, transposes, odd sizes`, async () => {
    const cases: [number[], number[]][] = [
      [[1, 1], [1, 1]],
      [[7, 13], [13, 5]],
      [[9, 12], [12, 20]], // vec4 paths
      [[33, 65], [65, 17]],
      [[2, 1, 5, 8], [3, 8, 4]], // broadcast batch
      [[70, 3], [3, 66]],
      [[20, 12], [12, 20]], // M % 4 == 0: vec4 loads of Aᵀ along M
      [[2, 100, 7], [7, 36]], // M = 100 (20-row blocks), odd K, batched
      [[44, 3], [3, 8]],
    ];
    for (const [sa, sb] of cases) {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const shA = stored(sa, transA), shB = stored(sb, transB);
          const a = rand(shA, { seed: 21 });
          const b = rand(shB, { seed: 22 });
          await same(
            `matmul ${JSON.stringify(shA)}${transA ? "ᵀ" : ""} @ ${JSON.stringify(shB)}${
              transB ? "ᵀ" : ""
            }`,
            gpuMatmul(a.g, b.g, { transA, transB, variant }),
            cpu.matmul(a.c, b.c, { transA, transB }),
            { rtol: 1e-4, atol: 1e-5 },
          );
          if (variant === "blocked") {
            const blocks = [{ tm: 16, tn: 16 }];
            if (sa[sa.length - 2] % 4 === 0) blocks.push({ tm: 20, tn: 16 }, { tm: 4, tn: 4 });
            for (const block of blocks) {
              await same(
                `matmul ${JSON.stringify(shA)} ${
                  JSON.stringify(shB)
                } ${transA} ${transB} ${block.tm}x${block.tn}`,
                gpuMatmul(a.g, b.g, { transA, transB, variant, block }),
                cpu.matmul(a.c, b.c, { transA, transB }),
                { rtol: 1e-4, atol: 1e-5 },
              );
            }
          }
        }
      }
    }
    const ai = rand([5, 6], { dtype: "int32", lo: -9, hi: 9 });
    const bi = rand([6, 3], { dtype: "int32", lo: -9, hi: 9 });
    await same("matmul int32", gpuMatmul(ai.g, bi.g, { variant }), cpu.matmul(ai.c, bi.c));
  });
}

for (const variant of ["blocked", "tiled"] as MatmulVariant[]) {
  gpuTest(`matmul() ${variant} splits a long K over few outputs and sums the chunks`, async () => {
    await logKernels(async (seen) => {
      const cases: [number[], number[], number][] = [
        // A conv's weight gradient (16 channels × 3·3 taps over 32·28·28 positions); atol:
        // 25,088 float32 terms, where one term lost or counted twice moves an output by ~0.25.
        [[16, 25_088], [25_088, 9], 1e-3],
        // K = 1037: odd, so the last chunk is ragged and no vec4 path applies.
        [[3, 1037], [1037, 5], 1e-4],
        // A dot product: size-1 outputs, K = 2001.
        [[1, 2001], [2001, 1], 1e-4],
        // Batched, K = 1100 (vec4 loads along K), broadcast B.
        [[3, 2, 1100], [1100, 6], 1e-4],
      ];
      for (const [sa, sb, atol] of cases) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const shA = stored(sa, transA), shB = stored(sb, transB);
            const a = rand(shA, { seed: 81 }), b = rand(shB, { seed: 82 });
            seen.length = 0;
            await same(
              `split matmul ${JSON.stringify(shA)}${transA ? "ᵀ" : ""} @ ${JSON.stringify(shB)}${
                transB ? "ᵀ" : ""
              }`,
              gpuMatmul(a.g, b.g, { transA, transB, variant }),
              cpu.matmul(a.c, b.c, { transA, transB }),
              { rtol: 1e-4, atol },
            );
            // The product ran split: its partial products were summed by a reduction.
            assert.match(seen.join(" | "), /matmul .* \| \/\/ sum/, JSON.stringify(shA));
          }
        }
      }
      const ai = rand([2, 1100], { dtype: "int32", lo: -9, hi: 9 });
      const bi = rand([1100, 3], { dtype: "int32", lo: -9, hi: 9 });
      seen.length = 0;
      await same("split matmul int32", gpuMatmul(ai.g, bi.g, { variant }), cpu.matmul(ai.c, bi.c));
      assert.match(seen.join(" | "), /matmul .* \| \/\/ sum/, "int32");
    });
  });
}

gpuTest("elementwise kernels on large arrays (4 vec4s per invocation) match the CPU", async () => {
  // 65,537 and 65,543 vec4s: ragged last span; contiguous, scalar, row-broadcast and column operands.
  const x = rand([65_537 * 4], { seed: 61 });
  await same("tanh large", gpu.unary("tanh", x.g), cpu.unary("tanh", x.c), { atol: 1e-6 });
  const two = both(new Float32Array([2]), []);
  await same("mul large scalar", gpu.binary("mul", x.g, two.g), cpu.binary("mul", x.c, two.c));
  const m = rand([65_543, 4], { seed: 62 }), row = rand([4], { seed: 63 });
  const col = rand([65_543, 1], { seed: 64 });
  await same("add large row", gpu.binary("add", m.g, row.g), cpu.binary("add", m.c, row.c));
  await same("sub large col", gpu.binary("sub", m.g, col.g), cpu.binary("sub", m.c, col.c));
  await same("mul large same", gpu.binary("mul", m.g, m.g), cpu.binary("mul", m.c, m.c));
});

gpuTest("axpby() matches a·x + b·y on the CPU on awkward shapes, vec4 and scalar", async () => {
  // [1000, 1000] and 65,537·4 + 3: 4 elements (vec4s) per invocation, ragged last span.
  for (
    const shape of [[], [1], [7], [4], [3, 5, 17], [2, 1, 3, 4, 5], [1000, 1000], [65_537 * 4 + 3]]
  ) {
    const x = rand(shape, { seed: 31 }), y = rand(shape, { seed: 32 });
    const want = cpu.binary(
      "add",
      cpu.binary("mul", x.c, cpu.fromTyped(new Float32Array([0.9]), [])),
      cpu.binary("mul", y.c, cpu.fromTyped(new Float32Array([-0.01]), [])),
    );
    await same(`axpby ${JSON.stringify(shape)}`, gpu.axpby!(0.9, x.g, -0.01, y.g), want, {
      rtol: 1e-6,
      atol: 1e-7,
    });
  }
  const a = gpu.full([2, 3], 1, "float32");
  assert.throws(() => gpu.axpby!(1, a, 1, gpu.full([3, 2], 1, "float32")), /axpby: shapes/);
  assert.throws(() => gpu.axpby!(1, a, 1, gpu.full([2, 3], 1, "int32")), /axpby: expected float32/);
});

gpuTest("blocked matmul tiers a medium product up to big blocks at its second call", async () => {
  const seen = await logKernels(async () => {
    // 100·256·164 multiply-adds (≥ 2²²): 8-row blocks first, then 20-row blocks (M = 100).
    const a = rand([100, 164], { seed: 71 }), b = rand([164, 256], { seed: 72 });
    for (let call = 0; call < 2; call++) {
      await same(
        `matmul call ${call}`,
        gpuMatmul(a.g, b.g, { variant: "blocked" }),
        cpu.matmul(a.c, b.c),
        { rtol: 1e-4, atol: 1e-5 },
      );
    }
  });
  const blocks = seen.filter((l) => l.includes("matmul")).map((l) => l.match(/\d+x\d+/)?.[0]);
  assert.deepEqual(blocks, ["8x16", "20x16"]);
});

gpuTest("matmul() rejects misaligned shapes naming both", () => {
  const a = gpu.full([2, 3], 1, "float32");
  const b = gpu.full([4, 5], 1, "float32");
  assert.throws(
    () => gpu.matmul(a, b),
    /matmul: shapes \[2,3\] and \[4,5\] are not aligned: 3 vs 4/,
  );
});

gpuTest("asStrided() and assign() match the CPU: transpose, broadcast, flip, offset", async () => {
  const x = rand([4, 6], { seed: 5 });
  const views = [
    { shape: [6, 4], strides: [1, 6], offset: 0 },
    { shape: [3, 4, 6], strides: [0, 6, 1], offset: 0 },
    { shape: [4, 6], strides: [-6, -1], offset: 23 },
    { shape: [2, 2], strides: [12, 2], offset: 7 },
    { shape: [], strides: [], offset: 5 },
    { shape: [2, 4], strides: [6, 1], offset: 1 }, // unaligned rows
    { shape: [2, 4], strides: [12, 1], offset: 8 }, // aligned rows: vec4 loads
    { shape: [3, 8], strides: [0, 1], offset: 4 }, // broadcast rows, vec4 loads
    { shape: [2, 8], strides: [1, 0], offset: 3 }, // splat along the inner axis
  ];
  for (const v of views) {
    await same(`asStrided ${JSON.stringify(v)}`, gpu.asStrided(x.g, v), cpu.asStrided(x.c, v));
  }
  for (const v of [views[0], views[2], views[3]]) {
    const d = rand([4, 6], { seed: 9 });
    const s = rand(v.shape, { seed: 10 });
    gpu.assign(d.g, s.g, v);
    cpu.assign(d.c, s.c, v);
    await same(`assign ${JSON.stringify(v)}`, d.g, d.c);
  }
  // Overlapping source and destination (x[1:] = x[:-1] on a shared storage).
  const o = rand([6], { seed: 12 });
  const og = o.g.reshape([6]), oc = o.c.reshape([6]);
  const shift = { shape: [5], strides: [1], offset: 1 };
  gpu.assign(o.g, gpu.asStrided(og, { shape: [5], strides: [1], offset: 0 }), shift);
  cpu.assign(o.c, cpu.asStrided(oc, { shape: [5], strides: [1], offset: 0 }), shift);
  await same("assign shifted", o.g, o.c);
  gpu.assign(og, og.reshape([6]), { shape: [6], strides: [-1], offset: 5 });
  const want = Float32Array.from(await cpu.read(oc)).reverse();
  assertAllClose(await gpu.read(o.g), want, { what: "assign reversed onto itself" });
  assert.throws(
    () => gpu.asStrided(x.g, { shape: [5], strides: [6], offset: 0 }),
    /asStrided: view .* outside an array of size 24/,
  );
});

gpuTest("gather() and scatterAdd() match the CPU with negative and repeated indices", async () => {
  const x = rand([3, 5, 4], { seed: 8 });
  const idx = both(new Int32Array([4, 0, -1, 2, 4, 4]), [2, 3]);
  for (const axis of [0, 1, 2]) {
    const n = [3, 5, 4][axis];
    const ix = both(new Int32Array([n - 1, 0, -1, 1, n - 1, n - 1]), [2, 3]);
    const gg = gpu.gather(x.g, axis, ix.g), gc = cpu.gather(x.c, axis, ix.c);
    await same(`gather axis ${axis}`, gg, gc);
    await same(
      `scatterAdd axis ${axis}`,
      gpu.scatterAdd([3, 5, 4], axis, ix.g, gg),
      cpu.scatterAdd([3, 5, 4], axis, ix.c, gc),
      { rtol: 1e-5, atol: 1e-6 },
    );
  }
  // Many collisions: 1000 updates into 3 rows.
  const many = both(randomTyped(1000, { dtype: "int32", lo: 0, hi: 3 }), [1000]);
  const upd = rand([1000, 2], { seed: 4 });
  await same(
    "scatterAdd collisions",
    gpu.scatterAdd([3, 2], 0, many.g, upd.g),
    cpu.scatterAdd([3, 2], 0, many.c, upd.c),
    { rtol: 1e-4, atol: 1e-4 },
  );
  const ui = rand([6], { dtype: "int32", lo: -5, hi: 5 });
  const i1 = both(new Int32Array([0, 1, 0, 1, 1, 2]), [6]);
  await same(
    "scatterAdd int32",
    gpu.scatterAdd([3], 0, i1.g, ui.g),
    cpu.scatterAdd([3], 0, i1.c, ui.c),
  );
  void idx;
});

gpuTest("im2col() and col2im() match the CPU with stride and padding", async () => {
  const geoms = [
    { kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 },
    { kh: 3, kw: 2, sh: 2, sw: 3, ph: 1, pw: 0 },
    { kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 },
    { kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0 }, // pooling
    { kh: 5, kw: 4, sh: 2, sw: 3, ph: 2, pw: 1 }, // kernel larger than the stride
  ];
  // W = 5: ragged rows (OW 5, 2, 3); W = 8: 4-aligned rows for 3×3, 1×1 and pooling (vec4 stores).
  for (const shape of [[2, 3, 7, 5], [2, 3, 9, 8]]) {
    const x = rand(shape, { seed: 3 });
    for (const g of geoms) {
      const cg = gpu.im2col(x.g, g), cc = cpu.im2col(x.c, g);
      await same(`im2col ${JSON.stringify(g)}`, cg, cc);
      const col = rand(cc.shape, { seed: 4 });
      await same(
        `col2im ${JSON.stringify(g)}`,
        gpu.col2im(col.g, shape, g),
        cpu.col2im(col.c, shape, g),
        { rtol: 1e-5, atol: 1e-6 },
      );
    }
  }
});

for (const variant of [null, "serial", "tree"] as const) {
  gpuTest(
    `softmax() and logSoftmax() match the CPU on any axis, serial and tree (${variant ?? "auto"})`,
    async () => {
      forceReduceVariant(variant);
      try {
        for (
          const [shape, axis] of [[[4, 10], 1], [[3, 5, 2], 1], [[300, 2], 0], [[2, 1000], 1], [
            [1],
            0,
          ]] as const
        ) {
          const x = rand(shape, { seed: 6, lo: -20, hi: 20 });
          await same(
            `softmax ${JSON.stringify(shape)} ${axis}`,
            gpu.softmax!(x.g, axis),
            cpu.softmax!(x.c, axis),
            {
              rtol: 1e-5,
              atol: 1e-7,
            },
          );
          await same(
            `logSoftmax ${JSON.stringify(shape)} ${axis}`,
            gpu.logSoftmax!(x.g, axis),
            cpu.logSoftmax!(x.c, axis),
            { rtol: 1e-5, atol: 1e-5 },
          );
        }
      } finally {
        forceReduceVariant(null);
      }
    },
  );
}

gpuTest("logSoftmax() keeps log(sum) for large logits: serial, tree and chunked", async () => {
  // float32 steps by 1/128 at 1e5 and by 1 at 1e7: max + log(sum) rounds log(sum) away.
  const rows = [
    [1e5, 1e5, 1e5, 1e5, 1e5, 1e5, 1e5, 1e5],
    [40000, 40001, 40000, 40001, 40000, 40001, 40000, 40001],
    [1e7, 1e7, 0, 0, 0, 0, 0, 0],
  ];
  const x = both(new Float32Array(rows.flat()), [3, 8]);
  const want = await cpu.read(cpu.logSoftmax!(x.c, 1));
  assertAllClose(want.subarray(0, 2), [-Math.log(8), -Math.log(8)], { what: "cpu" });
  for (const variant of [null, "serial", "tree", "chunked"] as const) {
    forceReduceVariant(variant === "chunked" ? null : variant);
    // A budget of 16 loop iterations leaves 8 per chunk: rows of 8 take the chunked passes.
    if (variant === "chunked") setLoopBudget(16);
    try {
      assertAllClose(await gpu.read(gpu.logSoftmax!(x.g, 1)), want, {
        rtol: 1e-6,
        atol: 1e-6,
        what: `logSoftmax (${variant ?? "auto"})`,
      });
    } finally {
      forceReduceVariant(null);
      setLoopBudget(null);
    }
  }
});

gpuTest("kernels split dispatches beyond 65,535 workgroups", async () => {
  // 70,000 rows of 65: one workgroup per row in the tree reduce, softmax and argmax.
  forceReduceVariant("tree"); // one workgroup per row
  try {
    const x = rand([70_000, 65], { seed: 2 });
    await same(
      "sum 70000 rows",
      gpu.reduce("sum", x.g, [1], false),
      cpu.reduce("sum", x.c, [1], false),
      {
        rtol: 1e-5,
        atol: 1e-5,
      },
    );
    await same(
      "argmax 70000 rows",
      gpu.argReduce("argmax", x.g, 1, false),
      cpu.argReduce("argmax", x.c, 1, false),
    );
  } finally {
    forceReduceVariant(null);
  }
  // 65,536·256 + 7 elements: more than 65,535 workgroups of 256 in an elementwise kernel.
  const n = 65_536 * 256 + 7;
  const big = gpu.full([n], 1.5, "float32");
  const y = gpu.binary("mul", big, gpu.fromTyped(new Float32Array([2]), []));
  const out = await gpu.read(y);
  assert.equal(out.length, n);
  assert.equal(out[0], 3);
  assert.equal(out[n - 1], 3);
  assert.equal(out.indexOf(0), -1);
  const z = gpu.axpby!(2, big, -0.5, y); // 3 - 1.5 = 1.5 everywhere, scalar path
  const zs = await gpu.read(z);
  assert.equal(zs[0], 1.5);
  assert.equal(zs[n - 1], 1.5);
  assert.equal(zs.findIndex((v) => v !== 1.5), -1);
  z.dispose();
  big.dispose();
  y.dispose();
});

/** Asserts that the GPU and CPU max-pool results (maxima and flat argmax indices) are equal. */
async function samePool(what: string, x: { c: NDArray; g: NDArray }, g: ConvGeometry) {
  const [yg, ig] = gpu.maxPool2d(x.g, g);
  const [yc, ic] = cpu.maxPool2d(x.c, g);
  await same(`${what} maxima`, yg, yc, { rtol: 0, atol: 0 });
  assert.equal(ig.dtype, "int32");
  assert.deepEqual(ig.shape, ic.shape);
  assert.deepEqual(Array.from(await gpu.read(ig)), Array.from(await cpu.read(ic)), `${what} index`);
}

gpuTest(
  "maxPool2d() matches the CPU: maxima, first-maximum indices, ties, NaN, padding",
  async () => {
    const geoms = [
      { kh: 2, kw: 2, sh: 2, sw: 2, ph: 0, pw: 0 },
      { kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 },
      { kh: 3, kw: 2, sh: 1, sw: 3, ph: 1, pw: 0 }, // overlapping rows, strided columns
      { kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 },
      { kh: 5, kw: 4, sh: 2, sw: 3, ph: 2, pw: 2 }, // windows clipped on every side
    ];
    for (const shape of [[2, 3, 7, 5], [3, 2, 9, 8]]) {
      const n = sizeOf(shape);
      // Integers in [0, 3): most windows hold ties, and the first maximum must win on both.
      const ties = Float32Array.from(randomTyped(n, { seed: 61, lo: 0, hi: 3 }), Math.floor);
      const withNaN = Float32Array.from(randomTyped(n, { seed: 62, lo: -1, hi: 1 }));
      for (let i = 0; i < n; i += 7) withNaN[i] = NaN;
      const ints = randomTyped(n, { seed: 63, dtype: "int32", lo: -3, hi: 3 });
      for (const g of geoms) {
        const what = `${JSON.stringify(shape)} ${JSON.stringify(g)}`;
        await samePool(`${what} random`, rand(shape, { seed: 60 }), g);
        await samePool(`${what} ties`, both(ties, shape), g);
        await samePool(`${what} NaN`, both(withNaN, shape), g);
        await samePool(`${what} int32`, both(ints, shape), g);
      }
    }
    // Size 1 and an empty batch.
    const one = { kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 };
    await samePool("1x1x1x1", rand([1, 1, 1, 1], { seed: 64 }), one);
    const [y0, i0] = gpu.maxPool2d(gpu.full([0, 2, 4, 4], 0, "float32"), geoms[0]);
    assert.deepEqual([y0.shape, i0.shape], [[0, 2, 2, 2], [0, 2, 2, 2]]);
    // Padding beyond half the kernel would leave windows without an image element.
    const x = rand([1, 1, 4, 4]);
    for (const b of [gpu, cpu]) {
      assert.throws(
        () => b.maxPool2d(b === gpu ? x.g : x.c, { ...geoms[1], ph: 2 }),
        /maxPool2d: pad 2,1 must be at most half the kernel size 3x3/,
      );
    }
  },
);

gpuTest("maxPool2d() beyond 65,535 workgroups matches the CPU", async () => {
  // 2049² = 4,198,401 outputs, one per invocation in workgroups of 64: 65,601 workgroups.
  const g = { kh: 2, kw: 2, sh: 1, sw: 1, ph: 0, pw: 0 };
  await samePool("2050²", rand([1, 1, 2050, 2050], { seed: 65 }), g);
});

gpuTest("im2col() and col2im() beyond 65,535 workgroups match the CPU", async () => {
  // 4 outputs per invocation, 64 invocations per workgroup: im2col of a 2050² image with a 2×2
  // kernel has 2049 rows × 4 taps × 513 quads = 4,204,548 invocations (65,697 workgroups);
  // col2im of 4×2048² pixels with a 1×1 kernel has 8192 rows × 512 quads (65,536 workgroups).
  const g2 = { kh: 2, kw: 2, sh: 1, sw: 1, ph: 0, pw: 0 };
  const x = rand([1, 1, 2050, 2050], { seed: 91 });
  await same("im2col 2050²", gpu.im2col(x.g, g2), cpu.im2col(x.c, g2));
  const g1 = { kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 };
  const shape = [4, 1, 2048, 2048];
  const col = rand([4, 1, 1, 1, 2048, 2048], { seed: 92 });
  await same("col2im 4×2048²", gpu.col2im(col.g, shape, g1), cpu.col2im(col.c, shape, g1));
});

gpuTest("zero-size arrays work in every kernel family", async () => {
  const z = gpu.full([0, 3], 1, "float32");
  assert.deepEqual(gpu.unary("exp", z).shape, [0, 3]);
  assert.deepEqual(gpu.binary("add", z, gpu.full([3], 1, "float32")).shape, [0, 3]);
  assert.deepEqual(gpu.matmul(z, gpu.full([3, 2], 1, "float32")).shape, [0, 2]);
  const k0 = gpu.matmul(gpu.full([2, 0], 1, "float32"), gpu.full([0, 2], 1, "float32"));
  assertAllClose(await gpu.read(k0), [0, 0, 0, 0]);
  assert.equal((await gpu.read(z)).length, 0);
});

gpuTest("float64 is a TypeError naming the dtype and gpu", () => {
  assert.throws(
    () => gpu.fromTyped(new Float64Array([1, 2]), [2]),
    (e: Error) => e instanceof TypeError && /float64/.test(e.message) && /gpu/.test(e.message),
  );
  assert.throws(
    () => gpu.full([2], 0, "float64"),
    /full: dtype float64 is not supported on device "gpu"/,
  );
  const i = gpu.full([2], 1, "float32");
  assert.throws(
    () => gpu.cast(i, "float64"),
    /cast: dtype float64 is not supported on device "gpu"/,
  );
});

gpuTest("a buffer beyond maxStorageBufferBindingSize is a RangeError naming size and limit", () => {
  const limit = runtime().maxBinding;
  const n = Math.floor(limit / 4) + 1;
  assert.throws(
    () => gpu.full([n], 1, "float32"),
    (e: Error) =>
      e instanceof RangeError && e.message.includes(`${n * 4} bytes`) &&
      e.message.includes(`maxStorageBufferBindingSize of ${limit}`),
  );
});

gpuTest("a shader compile error is thrown with the op name and the WGSL", async () => {
  const rt = runtime();
  rt.kernel(
    "brokenOp",
    "@compute @workgroup_size(1) fn main() { let x = undefined_thing; }",
    [],
    0,
  );
  await assert.rejects(
    () => rt.checkErrors(),
    (e: Error) =>
      e.name === "GpuShaderError" &&
      e.message.startsWith("brokenOp: WGSL shader failed to compile") &&
      e.message.includes("undefined_thing") && e.message.includes("--- WGSL ---"),
  );
  // The runtime stays usable afterwards.
  const x = gpu.fromTyped(new Float32Array([1, 2]), [2]);
  assertAllClose(await gpu.read(gpu.unary("neg", x)), [-1, -2]);
});

gpuTest("many ops share one submit and pipelines compile once", async () => {
  const rt = runtime();
  let x = gpu.fromTyped(new Float32Array([0.5, 1, 2]), [3]);
  await gpu.read(gpu.unary("sin", x)); // compile
  const compiled = rt.compiled;
  const submits = rt.submits;
  for (let i = 0; i < 100; i++) {
    const y = gpu.unary("sin", x);
    x.dispose();
    x = y;
  }
  assert.equal(rt.compiled, compiled, "no new pipelines for repeated ops");
  const got = await gpu.read(x);
  assert.equal(rt.submits - submits, 1, "one submit for 100 ops and a read");
  const want = [0.5, 1, 2].map((v) => {
    for (let i = 0; i < 100; i++) v = Math.fround(Math.sin(v));
    return v;
  });
  assertAllClose(got, want, { rtol: 1e-4, atol: 1e-6 });
});

gpuTest("released buffers return to the pool and are reused", () => {
  const rt = runtime();
  const before = rt.memory();
  const a = gpu.full([1000], 1, "float32");
  const mid = rt.memory();
  assert.ok(mid.liveBytes >= before.liveBytes + 4000);
  a.dispose();
  const after = rt.memory();
  assert.equal(after.liveBytes, before.liveBytes);
  assert.ok(after.pooledBytes >= 4000);
  const b = gpu.full([1000], 2, "float32");
  assert.equal(rt.memory().pooledBytes, after.pooledBytes - (mid.liveBytes - before.liveBytes));
  b.dispose();
});

gpuTest(
  "kernels with one binding signature but different uniform sizes share a batch",
  async () => {
    // Regression: wgpu checks late-sized uniform bindings per layout, so the
    // layout must include the uniform size.
    const a = rand([2, 3], { seed: 1 });
    const b = rand([3], { seed: 2 });
    const s = gpu.binary("add", a.g, b.g); // strided operand: 2 vec4 of params
    const p = gpu.binary("mul", s, s); // contiguous: 1 vec4
    const q = gpu.binary("add", p, b.g);
    const cs = cpu.binary("add", a.c, b.c);
    await same("mixed uniform sizes", q, cpu.binary("add", cpu.binary("mul", cs, cs), b.c));
  },
);

gpuTest(
  "NaN propagates like the CPU through unary, maximum/minimum and max/min/argmax",
  async () => {
    const a = both(new Float32Array([NaN, 1, -2, NaN, 0.5]), [5]);
    const b = both(new Float32Array([1, NaN, 3, NaN, -0.5]), [5]);
    for (const op of UNARY_OPS) {
      await same(`${op}(NaN)`, gpu.unary(op, a.g), cpu.unary(op, a.c), { rtol: 2e-6, atol: 2e-6 });
    }
    for (const op of BINARY_OPS) {
      await same(`${op} with NaN`, gpu.binary(op, a.g, b.g), cpu.binary(op, a.c, b.c));
    }
    for (const op of ["max", "min", "sum"] as const) {
      await same(
        `${op} with NaN`,
        gpu.reduce(op, a.g, [0], false),
        cpu.reduce(op, a.c, [0], false),
      );
      const long = rand([3, 200], { seed: 3 });
      const data = await cpu.read(long.c);
      data[257] = NaN; // row 1 of the tree reduction
      const withNan = both(data, [3, 200]);
      await same(
        `${op} tree`,
        gpu.reduce(op, withNan.g, [1], false),
        cpu.reduce(op, withNan.c, [1], false),
        {
          rtol: 1e-5,
          atol: 1e-5,
        },
      );
    }
    await same("where with a NaN condition", gpu.where(a.g, a.g, b.g), cpu.where(a.c, a.c, b.c));
    for (const op of ["argmax", "argmin"] as const) {
      await same(
        `${op} with NaN`,
        gpu.argReduce(op, b.g, 0, false),
        cpu.argReduce(op, b.c, 0, false),
      );
    }
  },
);

gpuTest("gather() and scatterAdd() report out-of-range indices at the next readback", async () => {
  const x = gpu.fromTyped(new Float32Array([1, 2, 3, 4, 5, 6]), [2, 3]);
  const bad = gpu.fromTyped(new Int32Array([0, 3]), [2]);
  const y = gpu.gather(x, 1, bad);
  await assert.rejects(
    () => gpu.read(y),
    (e: Error) =>
      e instanceof RangeError &&
      e.message.startsWith("gather: index 3 is out of range for axis 1 of size 3"),
  );
  // The record is cleared: the next read succeeds.
  assertAllClose(await gpu.read(x), [1, 2, 3, 4, 5, 6]);
  // The error names the op a caller gives, with one pipeline for every name.
  for (const op of ["embedId", "getItem", "embedId"]) {
    const w = gpu.gather(x, 1, bad, op);
    await assert.rejects(() => gpu.read(w), {
      name: "RangeError",
      message: new RegExp(`^${op}: index 3 `),
    });
  }
  const neg = gpu.fromTyped(new Int32Array([-3]), [1]);
  const z = gpu.scatterAdd([2], 0, neg, gpu.fromTyped(new Float32Array([1]), [1]));
  await assert.rejects(
    () => gpu.read(z),
    /scatterAdd: index -3 is out of range for axis 0 of size 2/,
  );
  // Valid negative indices are fine.
  const ok = gpu.gather(x, 1, gpu.fromTyped(new Int32Array([-1]), [1]));
  assertAllClose(await gpu.read(ok), [3, 6]);
  // Until the error is read, a bad index gathers 0 and scatters nothing: no other row (as the
  // last one, had it been clamped) takes its values or its gradient.
  const ids = gpu.fromTyped(new Int32Array([1, 7, 0]), [3]);
  const rows = gpu.gather(x, 0, ids, "embedId", "error");
  const ones = gpu.fromTyped(new Float32Array(9).fill(1), [3, 3]);
  const grads = gpu.scatterAdd([2, 3], 0, ids, ones, "embedId");
  await assert.rejects(() => gpu.read(rows), /embedId: index 7 is out of range/);
  assertAllClose(await gpu.read(rows), [4, 5, 6, 0, 0, 0, 1, 2, 3]);
  assertAllClose(await gpu.read(grads), [1, 1, 1, 1, 1, 1]);
});

gpuTest("readbacks return fresh data when read before Deno's map promise resolves", async () => {
  const rt = runtime();
  const before = rt.readsEarly;
  const x = gpu.fromTyped(new Float32Array([0, 0, 0]), [3]);
  const one = gpu.fromTyped(new Float32Array([1, 2, 3]), [3]);
  let acc = x;
  // Back-to-back reads of a value that changes every time: a stale staging buffer, or a range
  // read before the device finished, would show an old sum.
  for (let i = 1; i <= 20; i++) {
    const next = gpu.binary("add", acc, one);
    if (acc !== x) acc.dispose();
    acc = next;
    assert.deepEqual([...await gpu.read(acc)], [i, 2 * i, 3 * i], `read ${i}`);
  }
  // A longer run reuses its staging buffers while Deno's promises are still pending (they
  // settle only in event-loop turns, which a loop of reads hardly gives): no new buffer is
  // needed, and every value is still fresh.
  const device = rt.device;
  const createBuffer = device.createBuffer;
  let created = 0;
  device.createBuffer = function (desc) {
    if (desc.usage & GPUBufferUsage.MAP_READ) created++;
    return createBuffer.call(this, desc);
  };
  try {
    for (let i = 21; i <= 120; i++) {
      const next = gpu.binary("add", acc, one);
      acc.dispose();
      acc = next;
      assert.deepEqual([...await gpu.read(acc)], [i, 2 * i, 3 * i], `read ${i}`);
    }
  } finally {
    device.createBuffer = createBuffer;
  }
  if ("Deno" in globalThis) assert.equal(created, 0, "staging buffers created in a warm loop");
  // Concurrent reads of different sizes, each its own staging buffer.
  const big = gpu.fromTyped(Float32Array.from({ length: 5000 }, (_, i) => i), [5000]);
  const [a, b] = await Promise.all([gpu.read(acc), gpu.read(big)]);
  assert.deepEqual([...a], [120, 240, 360]);
  assert.equal(b[4999], 4999);
  // Deno's mapAsync completes the map inside the call; the early path must have been taken.
  if ("Deno" in globalThis) assert.ok(rt.readsEarly > before, "no readback took the early path");
  // The ordinary path gives the same results.
  rt.earlyReads = false;
  try {
    const early = rt.readsEarly;
    assert.deepEqual([...await gpu.read(acc)], [120, 240, 360]);
    assert.equal(rt.readsEarly, early);
  } finally {
    rt.earlyReads = true;
  }
  for (const t of [x, one, acc, big]) t.dispose();
});

gpuTest(
  "a loop binding the same pooled buffers reuses its bind groups, also after trim()",
  async () => {
    const rt = runtime();
    const x = gpu.fromTyped(new Float32Array([1, 2, 3, 4, 5]), [5]);
    const step = async (k: number) => {
      // Freed at once: the next iteration gets the same buffers back from the pool.
      const y = gpu.binary("mul", x, x);
      const z = gpu.unary("neg", y);
      y.dispose();
      const got = await gpu.read(z);
      z.dispose();
      assert.deepEqual([...got], [-1, -4, -9, -16, -25], `iteration ${k}`);
    };
    await step(0);
    await step(1);
    const created = rt.bindGroupsCreated;
    for (let k = 2; k < 6; k++) await step(k);
    assert.equal(rt.bindGroupsCreated, created, "no new bind groups once the loop is warm");
    // trim() destroys the pooled buffers: cached groups naming them must not be used again.
    rt.trim();
    for (let k = 6; k < 9; k++) await step(k);
    assert.ok(rt.bindGroupsCreated > created, "bind groups were rebuilt for the new buffers");
    x.dispose();
  },
);

gpuTest(
  "pow() special cases match the CPU (IEEE pow): infinities, zeros, NaN, negative bases",
  async () => {
    const A = [-Infinity, -3, -2, -1, -0.5, -0, 0, 0.5, 1, 2, 3, Infinity, NaN, -1e30];
    const B = [
      ...[-Infinity, -3, -2, -1.5, -1, -0.5, -0, 0, 0.5, 1, 1.5, 2, 3, Infinity, NaN],
      ...[1e30, -1e30, 0.1, 17, -17],
    ];
    const a = new Float32Array(A.length * B.length);
    const b = new Float32Array(a.length);
    A.forEach((x, i) => B.forEach((y, j) => (a[i * B.length + j] = x, b[i * B.length + j] = y)));
    const x = both(a, [a.length]);
    const y = both(b, [b.length]);
    const c = await cpu.read(cpu.binary("pow", x.c, y.c));
    const g = await gpu.read(gpu.binary("pow", x.g, y.g));
    for (let k = 0; k < a.length; k++) {
      const ok = Object.is(c[k], g[k]) || Math.abs(c[k] - g[k]) <= 1e-5 * Math.abs(c[k]);
      assert.ok(ok, `${a[k]} ** ${b[k]}: gpu ${g[k]}, cpu ${c[k]}`);
    }
    // Where IEEE pow (NumPy, C) and Math.pow differ, both devices follow IEEE.
    for (
      const [p, q] of [[1, NaN], [1, Infinity], [1, -Infinity], [-1, Infinity], [-1, -Infinity]]
    ) {
      const k = A.indexOf(p) * B.length + B.findIndex((v) => Object.is(v, q));
      assert.deepEqual([c[k], g[k]], [1, 1], `${p} ** ${q}`);
    }
    for (const t of [x.c, x.g, y.c, y.g]) t.dispose();
  },
);

gpuTest("float to int32 casts saturate and map NaN to 0 on both devices", async () => {
  const { cast } = await import("../core/ops.ts");
  const src = new Float32Array([3e9, -3e9, NaN, Infinity, -Infinity, 2.9, -2.9, 2147483520]);
  const x = both(src, [src.length]);
  const c = cast(x.c, "int32");
  const g = cast(x.g, "int32");
  const want = [2147483520, -2147483648, 0, 2147483520, -2147483648, 2, -2, 2147483520];
  assert.deepEqual([...await cpu.read(c)], want);
  assert.deepEqual([...await gpu.read(g)], want);
  // The backends' own cast, as the ops and the optimizers' kernels reach it.
  const bc = cpu.cast(x.c, "int32");
  const bg = gpu.cast(x.g, "int32");
  assert.deepEqual([...await cpu.read(bc)], want);
  assert.deepEqual([...await gpu.read(bg)], want);
  for (const t of [x.c, x.g, c, g, bc, bg]) t.dispose();
});

gpuTest("array operands, int32 mean and argmax keepdims work on the GPU", async () => {
  const { F, tensor } = await import("../mod.ts");
  const x = tensor([1, 2], { device: "gpu" });
  const y = x.add([10, 20] as any);
  assert.equal(y.device, "gpu");
  assert.deepEqual(await y.toArray(), [11, 22]);
  assert.deepEqual(await F.mul(x, new Float32Array([2, 3]) as any).toArray(), [2, 6]);
  const big = tensor([2 ** 30, 2 ** 30, 2 ** 30, 2147483647], { dtype: "int32", device: "gpu" });
  const m = big.mean();
  assert.equal(m.dtype, "float32");
  assert.equal(await m.item(), Math.fround(1342177279.75));
  const am = tensor([[1, 2], [4, 3]], { device: "gpu" }).argmax(undefined, true);
  assert.deepEqual(am.shape, [1, 1]);
  assert.deepEqual(await am.toArray(), [[2]]);
  assert.throws(() => tensor([1], { dtype: "int32", device: "gpu" }).pow(-1), RangeError);
});

gpuTest("readback buffers kept for reuse are counted and capped at 256 MiB", async () => {
  const rt = runtime();
  rt.trim();
  assert.equal(rt.memory().stagingBytes, 0);
  // Arrays of 4–73 MiB in distinct size buckets: one readback buffer kept per bucket would
  // hold more than the cap.
  let kept = 0;
  const buckets = new Set<number>();
  for (let k = 0; k < 24; k++) {
    const n = (1 << 20) + k * (3 << 18);
    buckets.add(bucketBytes(n * 4 + 16));
    const a = gpu.full([n], 1, "float32");
    assert.equal((await gpu.read(a))[n - 1], 1);
    a.dispose();
    kept = Math.max(kept, rt.memory().stagingBytes);
  }
  const uncapped = [...buckets].reduce((a, b) => a + b, 0);
  assert.ok(uncapped > 256 * 2 ** 20, `the sizes need more than the cap: ${uncapped}`);
  assert.ok(kept > 0, "readback buffers are counted");
  assert.ok(kept <= 256 * 2 ** 20, `kept ${kept} bytes`);
  rt.trim();
  assert.equal(rt.memory().stagingBytes, 0);
});

gpuTest("a buffer whose size bucket is above the binding limit is allocated at its size", () => {
  const rt = new GpuRuntime(runtime().device, runtime().adapterInfo);
  // A limit that is no bucket size (real GPUs report such ones, as 2^31 - 4).
  Object.defineProperty(rt, "maxBinding", { value: 1000 });
  const b = rt.alloc("test", 900);
  assert.equal(b.size, 900); // its bucket is 1024
  assert.equal(rt.alloc("test", 200).size, 256);
  assert.throws(() => rt.alloc("test", 1001), /test: buffer of 1001 bytes exceeds/);
  b.destroy();
});

gpuTest("concat over the binding limit names concat and the result's shape", () => {
  const half = runtime().maxBinding / 8 + 1; // two halves: 8 bytes over the limit
  const a = gpu.full([half], 1, "float32");
  try {
    assert.throws(
      () => ops.concat([a, a]),
      (e: Error) =>
        e instanceof RangeError &&
        e.message.startsWith(`concat: the result of shape [${2 * half}]: buffer of`) &&
        e.message.includes("maxStorageBufferBindingSize"),
    );
  } finally {
    a.dispose();
  }
});
