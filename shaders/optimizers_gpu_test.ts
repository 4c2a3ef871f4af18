import assert from "node:assert/strict";
import type { Backend } from "../core/backend.ts";
import { cpuBackend } from "../core/backend_cpu.ts";
import { manualSeed } from "../core/random.ts";
import { Parameter, tensor, Variable } from "../core/variable.ts";
import type { NDArray } from "../core/ndarray.ts";
import { F } from "../mod.ts";
import { MLP } from "../nn/models.ts";
import { Adam, AdamW, MomentumSGD, SGD } from "../nn/optimizers.ts";
import { gpuBackend } from "./backend_gpu.ts";
import { assertAllClose, gpuTest, randomTyped } from "./test_util.ts";

/** Runs 3 updates of `make()` on both backends from the same data and compares the parameters. */
async function sameUpdates(make: () => SGD | MomentumSGD): Promise<void> {
  for (const shape of [[], [1], [7], [4], [3, 5, 17], [64, 33]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const w = randomTyped(n, { seed: 41 }) as Float32Array;
    const results: Float32Array[] = [];
    for (const be of [cpuBackend, gpuBackend]) {
      const p = new Parameter(be.fromTyped(w, shape));
      const opt = make().setup([p]);
      for (let step = 0; step < 3; step++) {
        p.grad = new Variable(be.fromTyped(randomTyped(n, { seed: 50 + step }), shape));
        opt.update();
      }
      results.push((await p.data()) as Float32Array);
      p.dispose();
    }
    assertAllClose(results[1], results[0], {
      rtol: 1e-6,
      atol: 1e-6,
      what: `${make().constructor.name} ${JSON.stringify(shape)}`,
    });
  }
}

gpuTest("SGD updates on the GPU (fused axpby) match the CPU on awkward shapes", async () => {
  await sameUpdates(() => new SGD({ lr: 0.1 }));
});

gpuTest("MomentumSGD updates on the GPU (fused axpby) match the CPU", async () => {
  await sameUpdates(() => new MomentumSGD({ lr: 0.1, momentum: 0.9 }));
});

/** Runs `fn` counting the calls of `gpuBackend.adamUpdate` (or with it removed: `fused` false). */
async function withAdamSpy<T>(fused: boolean, fn: () => Promise<T>): Promise<[T, number]> {
  const be = gpuBackend as Backend;
  const original = be.adamUpdate!;
  let calls = 0;
  be.adamUpdate = fused
    ? (...args) => {
      calls++;
      return original(...args);
    }
    : undefined;
  try {
    return [await fn(), calls];
  } finally {
    be.adamUpdate = original;
  }
}

// 262147: large enough for several quads per invocation, with a tail.
const ADAM_SHAPES = [[1], [3], [5], [1023], [4097], [33, 65], [262147]];

/** 4 steps of `make()` on `be` from fixed data: the parameter and the m, v state. */
async function adamRun(
  be: Backend,
  shape: number[],
  make: () => Adam,
): Promise<Float32Array[]> {
  const n = shape.reduce((a, b) => a * b, 1);
  const p = new Parameter(be.fromTyped(randomTyped(n, { seed: 7 }), shape));
  const opt = make().setup([p]);
  for (let step = 0; step < 4; step++) {
    // Gradients of mixed scales, some tiny (eps matters there).
    const g = randomTyped(n, { seed: 60 + step }) as Float32Array;
    for (let i = 0; i < n; i += 7) g[i] *= 1e-6;
    p.grad = new Variable(be.fromTyped(g, shape));
    opt.update();
  }
  const { tensors } = await opt.stateDict();
  const out = [
    (await p.data()) as Float32Array,
    tensors["0/m"].data as Float32Array,
    tensors["0/v"].data as Float32Array,
  ];
  p.dispose();
  return out;
}

gpuTest(
  "Adam and AdamW on the GPU (fused kernel) match the CPU composition on awkward sizes",
  async () => {
    const makers: [string, () => Adam][] = [
      ["Adam", () => new Adam({ lr: 0.01 })],
      ["AdamW", () => new AdamW({ lr: 0.01, weightDecay: 0.1 })],
      ["AdamW wd 0", () => new AdamW({ lr: 0.01, weightDecay: 0 })],
    ];
    for (const [name, make] of makers) {
      for (const shape of ADAM_SHAPES) {
        const want = await adamRun(cpuBackend, shape, make);
        const [got, calls] = await withAdamSpy(true, () => adamRun(gpuBackend, shape, make));
        assert.equal(calls, 4, `${name}: the fused kernel ran for every step`);
        ["param", "m", "v"].forEach((what, k) => {
          assertAllClose(got[k], want[k], {
            rtol: 1e-6,
            atol: 1e-7,
            what: `${name} ${what} ${JSON.stringify(shape)}`,
          });
        });
      }
    }
  },
);

gpuTest("the fused Adam step matches the unfused GPU composition", async () => {
  for (const shape of [[5], [4097]]) {
    const make = () => new AdamW({ lr: 0.003, weightDecay: 0.05 });
    const [fused] = await withAdamSpy(true, () => adamRun(gpuBackend, shape, make));
    const [plain, calls] = await withAdamSpy(false, () => adamRun(gpuBackend, shape, make));
    assert.equal(calls, 0);
    for (let k = 0; k < 3; k++) {
      assertAllClose(fused[k], plain[k], { rtol: 1e-6, atol: 1e-7, what: `slot ${k} ${shape}` });
    }
  }
});

gpuTest("adamUpdate() computes the documented rule and checks its operands", async () => {
  const n = 6; // one vec4 and a 2-lane tail
  const data = [0, 1, 2, 3].map((s) => randomTyped(n, { seed: 90 + s }) as Float32Array);
  const v0 = data[3].map(Math.abs);
  const step = { stepSize: 0.02, beta1: 0.9, beta2: 0.999, eps: 1e-8, decay: 0.999 };
  const [p, m, v] = gpuBackend.adamUpdate!(
    ...[data[0], data[1], data[2], v0].map((d) => gpuBackend.fromTyped(d, [2, 3])) as [
      NDArray,
      NDArray,
      NDArray,
      NDArray,
    ],
    step,
  );
  const f = Math.fround;
  const c1 = f(1 - step.beta1), c2 = f(1 - step.beta2);
  const wantM = data[2].map((m0, i) => f(m0 + f(f(data[1][i] - m0) * c1)));
  const wantV = v0.map((x, i) => f(x + f(f(f(data[1][i] * data[1][i]) - x) * c2)));
  const wantP = data[0].map((x, i) =>
    f(
      f(x * f(step.decay)) -
        f(f(wantM[i] * f(step.stepSize)) / f(f(Math.sqrt(wantV[i])) + f(step.eps))),
    )
  );
  assert.deepEqual(p.shape, [2, 3]);
  assertAllClose((await gpuBackend.read(m)) as Float32Array, wantM, { rtol: 1e-6, what: "m" });
  assertAllClose((await gpuBackend.read(v)) as Float32Array, wantV, { rtol: 1e-6, what: "v" });
  assertAllClose((await gpuBackend.read(p)) as Float32Array, wantP, { rtol: 1e-6, what: "p" });
  const a = gpuBackend.full([2, 3], 1, "float32");
  assert.throws(
    () => gpuBackend.adamUpdate!(a, a, a, gpuBackend.full([3, 2], 1, "float32"), step),
    /adamUpdate: shapes \[2,3\] \(param\) and \[3,2\] \(v\) differ/,
  );
  assert.throws(
    () => gpuBackend.adamUpdate!(a, gpuBackend.full([2, 3], 1, "int32"), a, a, step),
    /adamUpdate: expected float32 operands, got int32 for grad/,
  );
});

gpuTest("Adam on the GPU resumes exactly from stateDict/loadStateDict", async () => {
  const shape = [3, 7];
  const run = async (resume: boolean) => {
    const p = new Parameter(gpuBackend.fromTyped(randomTyped(21, { seed: 3 }), shape));
    let opt = new AdamW({ lr: 0.01 }).setup([p]);
    for (let step = 0; step < 4; step++) {
      if (resume && step === 2) {
        const state = await opt.stateDict();
        opt = new AdamW({ lr: 0.01 }).setup([p]);
        opt.loadStateDict(state);
      }
      p.grad = new Variable(gpuBackend.fromTyped(randomTyped(21, { seed: 70 + step }), shape));
      opt.update();
    }
    const out = (await p.data()) as Float32Array;
    p.dispose();
    return out;
  };
  assert.deepEqual(await run(true), await run(false));
});

gpuTest("a few Adam steps of an MLP give the same weights on the GPU as on the CPU", async () => {
  const run = async (device: "cpu" | "gpu") => {
    manualSeed(11);
    const model = new MLP([32, 3]);
    const xs = randomTyped(30, { seed: 5 });
    model.apply(tensor(xs, { shape: [10, 3] })); // the same initial weights on both
    if (device === "gpu") model.toGpu();
    const x = tensor(xs, { shape: [10, 3], device });
    const t = tensor(new Int32Array(10).map((_, i) => i % 3), { device });
    const opt = new Adam({ lr: 0.01 }).setup(model);
    for (let i = 0; i < 5; i++) {
      const loss = F.softmaxCrossEntropy(model.apply(x), t);
      model.cleargrads();
      loss.backward();
      opt.update();
    }
    const weights: Float32Array[] = [];
    for (const [, p] of model.namedParams()) weights.push((await p.data()) as Float32Array);
    return weights;
  };
  const cpu = await run("cpu");
  const [gpu, calls] = await withAdamSpy(true, () => run("gpu"));
  assert.equal(calls, 5 * cpu.length, "every parameter update was fused");
  cpu.forEach((w, k) => assertAllClose(gpu[k], w, { rtol: 1e-5, atol: 1e-6, what: `param ${k}` }));
});
