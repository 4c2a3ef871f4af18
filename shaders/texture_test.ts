/**
 * Operands read through textures (the `texture` matmul variant and the texture path of the
 * elementwise and optimizer kernels, see `GpuRuntime.operandTexture`): the same results as
 * the CPU on awkward shapes, whatever path `initGpu` chose for this adapter.
 */
import assert from "node:assert/strict";
import { cpuBackend as cpu } from "../core/backend_cpu.ts";
import { memoryStats } from "../core/memory.ts";
import type { NDArray } from "../core/ndarray.ts";
import { gpuBackend as gpu } from "./backend_gpu.ts";
import { runtime } from "./_context.ts";
import { matmul as gpuMatmul, storageLoadSlowdown } from "./matmul.ts";
import { gpuInfo, initGpu, trimGpuPool } from "./mod.ts";
import { OPERAND_TEXTURE_WIDTH } from "./runtime.ts";
import { both, gpuTest, kernelTitle, logKernels, randBoth as rand, same } from "./test_util.ts";

/** How a matmul operand of logical shape `shape` is stored: last two axes swapped if `trans`. */
function stored(shape: readonly number[], trans: boolean): number[] {
  const r = shape.length;
  return trans ? [...shape.slice(0, -2), shape[r - 1], shape[r - 2]] : [...shape];
}

/**
 * Runs `fn` with texture operands on or off, logging every dispatched kernel's title (its
 * first WGSL line) and binding accesses into `seen`, which `fn` may clear.
 */
async function withTextures(
  on: boolean,
  fn: (seen: { title: string; access: string }[]) => void | Promise<void>,
): Promise<void> {
  const rt = runtime();
  const before = rt.textureOperands;
  rt.textureOperands = on;
  try {
    await logKernels(fn, (k) => ({ title: kernelTitle(k), access: k.access.join("") }));
  } finally {
    rt.textureOperands = before;
  }
}

gpuTest(
  "matmul() texture matches the CPU: transposes, batches, ragged blocks, fallbacks",
  async () => {
    await withTextures(false, async (seen) => {
      const cases: [number[], number[]][] = [
        [[1, 4], [4, 4]], // one row
        [[4, 4], [4, 1]], // N = 1: B's texels would cross rows, falls back where B is not Bᵀ
        [[9, 12], [12, 20]], // M = 9: Aᵀ falls back
        [[20, 12], [12, 20]],
        [[36, 8], [8, 44]], // ragged last blocks of 16 rows and 8 columns
        [[2, 100, 8], [8, 36]], // batched, M = 100 (20-row blocks)
        [[2, 1, 8, 12], [3, 12, 4]], // broadcast batch
        [[7, 13], [13, 5]], // nothing aligned: every case falls back
        [[8, 13], [13, 12]], // Aᵀ @ B with K = 13: one k a loop step
        [[100, 784], [784, 100]], // the MLP's shapes, smaller
      ];
      for (const [sa, sb] of cases) {
        for (const transA of [false, true]) {
          for (const transB of [false, true]) {
            const shA = stored(sa, transA), shB = stored(sb, transB);
            const a = rand(shA, { seed: 21 }), b = rand(shB, { seed: 22 });
            const what = `matmul ${JSON.stringify(shA)}${transA ? "ᵀ" : ""} @ ${
              JSON.stringify(shB)
            }${transB ? "ᵀ" : ""}`;
            seen.length = 0;
            await same(
              what,
              gpuMatmul(a.g, b.g, { transA, transB, variant: "texture" }),
              cpu.matmul(a.c, b.c, { transA, transB }),
              { rtol: 1e-4, atol: 1e-5 },
            );
            // Textures exactly where both operands are 4-aligned along their contiguous axis.
            const [M, K] = sa.slice(-2), N = sb[sb.length - 1];
            const aligned = (transA ? M % 4 === 0 : K % 4 === 0) &&
              (transB ? K % 4 === 0 : N % 4 === 0);
            const used = seen.find((s) => s.title.startsWith("// matmul"))!;
            assert.equal(used.title.includes("(texture"), aligned, `${what}: ${used.title}`);
            assert.equal(used.access === "ttw", aligned, `${what}: ${used.access}`);
            // The big blocks of later calls (20×16: five texels of Aᵀ rows), and the smallest
            // (on a few cases: big blocks take ~1 s each to compile on llvmpipe).
            const blocks = sa[0] === 36 || sa[1] === 13
              ? [{ tm: 20, tn: 16 }]
              : sa[0] === 20
              ? [{ tm: 4, tn: 4 }]
              : [];
            for (const block of blocks) {
              await same(
                `${what} ${block.tm}x${block.tn}`,
                gpuMatmul(a.g, b.g, { transA, transB, variant: "texture", block }),
                cpu.matmul(a.c, b.c, { transA, transB }),
                { rtol: 1e-4, atol: 1e-5 },
              );
            }
          }
        }
      }
      // A given block whose height is no multiple of 4 cannot read Aᵀ's 4-row texels: blocked.
      for (const tm of [1, 3, 5, 6]) {
        const a = rand([13, 16], { seed: 23 }), b = rand([13, 8], { seed: 24 });
        seen.length = 0;
        await same(
          `Aᵀ @ B, ${tm}-row blocks`,
          gpuMatmul(a.g, b.g, { transA: true, variant: "texture", block: { tm, tn: 8 } }),
          cpu.matmul(a.c, b.c, { transA: true }),
          { rtol: 1e-4, atol: 1e-5 },
        );
        assert.match(seen[0].title, /matmul \(blocked/);
      }
      // int32 has no texture format here: the blocked kernel runs it.
      const ai = rand([5, 8], { dtype: "int32", lo: -9, hi: 9 });
      const bi = rand([8, 4], { dtype: "int32", lo: -9, hi: 9 });
      await same(
        "matmul int32",
        gpuMatmul(ai.g, bi.g, { variant: "texture" }),
        cpu.matmul(ai.c, bi.c),
      );
    });
  },
);

gpuTest("matmul() texture splits a long K and dispatches more than 65,535 workgroups", async () => {
  await withTextures(false, async (seen) => {
    // A conv's weight gradient: 16×8 outputs over K = 25,088, split and summed.
    for (const [transA, transB] of [[false, false], [true, false], [false, true]]) {
      const shA = stored([16, 25_088], transA), shB = stored([25_088, 8], transB);
      const a = rand(shA, { seed: 81 }), b = rand(shB, { seed: 82 });
      seen.length = 0;
      await same(
        `split ${transA} ${transB}`,
        gpuMatmul(a.g, b.g, { transA, transB, variant: "texture" }),
        cpu.matmul(a.c, b.c, { transA, transB }),
        { rtol: 1e-4, atol: 1e-3 },
      );
      assert.match(seen.map((s) => s.title).join(" | "), /matmul \(texture .* \| \/\/ sum/);
    }
    // 4×4 blocks one per workgroup: 257·256 = 65,792 workgroups, a 2-D grid.
    const a = rand([1028, 4], { seed: 83 }), b = rand([4, 1024], { seed: 84 });
    seen.length = 0;
    await same(
      "65,792 workgroups",
      gpuMatmul(a.g, b.g, { variant: "texture", block: { tm: 4, tn: 4, wg: 1 } }),
      cpu.matmul(a.c, b.c),
      { rtol: 1e-5, atol: 1e-6 },
    );
    assert.match(seen[0].title, /matmul \(texture 4x4/);
  });
});

gpuTest("operand textures grow within one batch and keep every product's operands", async () => {
  // Small, large (the textures grow: the old ones are still used by recorded work), small,
  // and the first again, all recorded before any read.
  const shapes: [number[], number[]][] = [
    [[8, 16], [16, 8]],
    [[64, 1024], [1024, 256]], // B: 256k elements, 16 texture rows
    [[12, 4], [4, 8]],
  ];
  const ins = shapes.map(([sa, sb], i) => [rand(sa, { seed: 90 + i }), rand(sb, { seed: 95 + i })]);
  const outs: [NDArray, NDArray][] = [];
  for (const [a, b] of [...ins, ins[0]]) {
    outs.push([gpuMatmul(a.g, b.g, { variant: "texture" }), cpu.matmul(a.c, b.c)]);
  }
  // At least A's 4 rows of texels (64·1024 elements) and B's 16 (1024·256).
  assert.ok(memoryStats().gpuTextureBytes >= (4 + 16) * OPERAND_TEXTURE_WIDTH * 16);
  for (const [i, [g, c]] of outs.entries()) {
    await same(`product ${i}`, g, c, { rtol: 1e-4, atol: 1e-4 });
  }
  // trimGpuPool() frees them; the next product makes new ones.
  trimGpuPool();
  assert.equal(memoryStats().gpuTextureBytes, 0);
  const [a, b] = ins[2];
  await same("after trim", gpuMatmul(a.g, b.g, { variant: "texture" }), cpu.matmul(a.c, b.c));
  assert.ok(memoryStats().gpuTextureBytes > 0);
});

gpuTest("elementwise kernels read large operands through textures and match the CPU", async () => {
  for (const on of [false, true]) {
    await withTextures(on, async (seen) => {
      // 16,384 elements (the threshold) and 65,537 vec4s (4 per invocation, ragged span).
      for (const n of [16_384, 65_537 * 4]) {
        const x = rand([n], { seed: 61 }), y = rand([n], { seed: 62 });
        seen.length = 0;
        await same(`tanh ${n}`, gpu.unary("tanh", x.g), cpu.unary("tanh", x.c), { atol: 1e-6 });
        await same(`mul ${n}`, gpu.binary("mul", x.g, y.g), cpu.binary("mul", x.c, y.c));
        const two = both(new Float32Array([2]), []);
        await same(`sub scalar ${n}`, gpu.binary("sub", x.g, two.g), cpu.binary("sub", x.c, two.c));
        assert.deepEqual(
          seen.map((s) => s.access),
          on ? ["tw", "ttw", "trw"] : ["rw", "rrw", "rrw"],
        );
      }
      // A row broadcast (the bias of a linear layer): the matrix through a texture.
      const m = rand([100, 1000], { seed: 63 }), row = rand([1000], { seed: 64 });
      seen.length = 0;
      await same("add row", gpu.binary("add", m.g, row.g), cpu.binary("add", m.c, row.c));
      assert.deepEqual(seen.map((s) => s.access), [on ? "trw" : "rrw"]);
      // Below the threshold, int32 and odd sizes (no vec4 path): storage buffers.
      const small = rand([16_380], { seed: 65 });
      const ints = rand([20_000], { dtype: "int32", lo: -50, hi: 50 });
      const odd = rand([20_001], { seed: 66 });
      seen.length = 0;
      await same("neg small", gpu.unary("neg", small.g), cpu.unary("neg", small.c));
      await same("neg int32", gpu.unary("neg", ints.g), cpu.unary("neg", ints.c));
      await same("neg odd", gpu.unary("neg", odd.g), cpu.unary("neg", odd.c));
      assert.deepEqual(seen.map((s) => s.access), ["rw", "rw", "rw"]);
      // axpby (the SGD update): both operands through textures, or neither.
      for (const shape of [[1000, 1000], [16_384], [20_001]]) {
        const p = rand(shape, { seed: 67 }), g = rand(shape, { seed: 68 });
        const want = cpu.binary(
          "add",
          cpu.binary("mul", p.c, cpu.fromTyped(new Float32Array([0.9]), [])),
          cpu.binary("mul", g.c, cpu.fromTyped(new Float32Array([-0.01]), [])),
        );
        seen.length = 0;
        await same(`axpby ${shape}`, gpu.axpby!(0.9, p.g, -0.01, g.g), want, {
          rtol: 1e-6,
          atol: 1e-7,
        });
        const tex = on && shape[0] !== 20_001;
        assert.equal(seen[0].access, tex ? "ttw" : "rrw", `axpby ${shape}`);
      }
    });
  }
});

gpuTest("im2col() reads a large image through a texture and matches the CPU", async () => {
  // 16,385 elements (a partial last texel), padding and stride; and the CNN's first layer.
  const cases: [
    number[],
    { kh: number; kw: number; sh: number; sw: number; ph: number; pw: number },
  ][] = [
    [[1, 1, 113, 145], { kh: 3, kw: 3, sh: 1, sw: 1, ph: 1, pw: 1 }],
    [[5, 3, 33, 35], { kh: 5, kw: 4, sh: 2, sw: 3, ph: 2, pw: 0 }],
    [[64, 1, 28, 28], { kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0 }],
  ];
  for (const on of [false, true]) {
    await withTextures(on, async (seen) => {
      for (const [shape, g] of cases) {
        const x = rand(shape, { seed: 70 });
        seen.length = 0;
        await same(`im2col ${shape} ${on}`, gpu.im2col(x.g, g), cpu.im2col(x.c, g));
        assert.equal(seen[0].access, on ? "tw" : "rw", `${shape}`);
      }
    });
  }
});

gpuTest("fused optimizer steps give the same bits through textures as from buffers", async () => {
  // 16,384: whole quads; 262,149: 4 quads per invocation and a 1-lane tail quad.
  for (const n of [16_384, 262_149]) {
    const [p, g, a, b] = [0, 1, 2, 3].map((i) => rand([n], { seed: 40 + i, lo: 0.01, hi: 1 }).g);
    const adam = { stepSize: 0.02, beta1: 0.9, beta2: 0.999, eps: 1e-8, decay: 0.999 };
    const runs = () => [
      ...gpu.adamUpdate!(p, g, a, b, adam),
      ...gpu.adagradUpdate!(p, g, a, { lr: 0.01, eps: 1e-7 }),
      ...gpu.adadeltaUpdate!(p, g, a, b, { rho: 0.95, eps: 1e-6, lr: 1 }),
    ];
    let plain: NDArray[] = [], tex: NDArray[] = [];
    await withTextures(false, (seen) => {
      plain = runs();
      assert.ok(seen.every((s) => !s.title.includes("(textures)")));
    });
    await withTextures(true, (seen) => {
      tex = runs();
      assert.equal(seen.filter((s) => s.title.includes("(textures)")).length, 3);
      assert.deepEqual(seen.map((s) => s.access), ["ttttwww", "tttww", "ttttwww"]);
    });
    for (const [i, x] of tex.entries()) {
      assert.deepEqual(await gpu.read(x), await gpu.read(plain[i]), `output ${i} of ${n}`);
    }
  }
});

gpuTest("initGpu() names a wrong matmul choice; the texture probe measures a ratio", async () => {
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    () => initGpu({ matmul: "fast" as any }),
    (e: Error) =>
      e instanceof TypeError && e.message.includes('initGpu: matmul must be one of "auto"') &&
      e.message.includes('got "fast"'),
  );
  const ratio = await storageLoadSlowdown();
  assert.ok(Number.isFinite(ratio) && ratio > 0, `ratio ${ratio}`);
  // Only CPU-emulated adapters are measured; GPUs keep storage buffers. gpuInfo() tells.
  if (!runtime().software) assert.equal(runtime().textureOperands, false);
  assert.equal(gpuInfo().textureOperands, runtime().textureOperands);
});
