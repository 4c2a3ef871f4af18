import assert from "node:assert/strict";
import type { Backend } from "../core/backend.ts";
import { cpuBackend } from "../core/backend_cpu.ts";
import { manualSeed } from "../core/random.ts";
import { Parameter, tensor, Variable } from "../core/variable.ts";
import { liveArrayCount, type NDArray } from "../core/ndarray.ts";
import { F } from "../mod.ts";
import { MLP } from "../nn/models.ts";
import {
  AdaDelta,
  AdaGrad,
  Adam,
  AdamW,
  MomentumSGD,
  type Optimizer,
  SGD,
} from "../nn/optimizers.ts";
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

/** The GPU backend's optional fused optimizer steps. */
type FusedStep = "adamUpdate" | "adagradUpdate" | "adadeltaUpdate";

/** Runs `fn` counting the calls of `gpuBackend[name]` (or with it removed: `fused` false). */
async function withSpy<T>(
  name: FusedStep,
  fused: boolean,
  fn: () => Promise<T>,
): Promise<[T, number]> {
  const be = gpuBackend as unknown as Record<
    FusedStep,
    ((...args: unknown[]) => unknown) | undefined
  >;
  const original = be[name]!;
  let calls = 0;
  be[name] = fused
    ? (...args) => {
      calls++;
      return original(...args);
    }
    : undefined;
  try {
    return [await fn(), calls];
  } finally {
    be[name] = original;
  }
}

/** Runs `fn` counting the calls of `gpuBackend.adamUpdate` (or with it removed: `fused` false). */
function withAdamSpy<T>(fused: boolean, fn: () => Promise<T>): Promise<[T, number]> {
  return withSpy("adamUpdate", fused, fn);
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

/** `steps` updates by `make()` of a small MLP on `device` from fixed data: the weights. */
async function mlpWeights(
  device: "cpu" | "gpu",
  make: () => Optimizer,
  steps: number,
): Promise<Float32Array[]> {
  manualSeed(11);
  const model = new MLP([32, 3]);
  const xs = randomTyped(30, { seed: 5 });
  model.apply(tensor(xs, { shape: [10, 3] })); // the same initial weights on both
  if (device === "gpu") model.toGpu();
  const x = tensor(xs, { shape: [10, 3], device });
  const t = tensor(new Int32Array(10).map((_, i) => i % 3), { device });
  const opt = make().setup(model);
  for (let i = 0; i < steps; i++) {
    const loss = F.softmaxCrossEntropy(model.apply(x), t);
    model.cleargrads();
    loss.backward();
    opt.update();
  }
  const weights: Float32Array[] = [];
  for (const [, p] of model.namedParams()) weights.push((await p.data()) as Float32Array);
  return weights;
}

gpuTest("a few Adam steps of an MLP give the same weights on the GPU as on the CPU", async () => {
  const make = () => new Adam({ lr: 0.01 });
  const cpu = await mlpWeights("cpu", make, 5);
  const [gpu, calls] = await withAdamSpy(true, () => mlpWeights("gpu", make, 5));
  assert.equal(calls, 5 * cpu.length, "every parameter update was fused");
  cpu.forEach((w, k) => assertAllClose(gpu[k], w, { rtol: 1e-5, atol: 1e-6, what: `param ${k}` }));
});

gpuTest(
  "AdaGrad and AdaDelta steps of an MLP are fused on the GPU and match the CPU",
  async () => {
    const cases: [FusedStep, () => Optimizer][] = [
      ["adagradUpdate", () => new AdaGrad({ lr: 0.05 })],
      ["adadeltaUpdate", () => new AdaDelta()],
    ];
    for (const [method, make] of cases) {
      const cpu = await mlpWeights("cpu", make, 3);
      const [gpu, calls] = await withSpy(method, true, () => mlpWeights("gpu", make, 3));
      assert.equal(calls, 3 * cpu.length, `${method}: every parameter update was fused`);
      cpu.forEach((w, k) => {
        assertAllClose(gpu[k], w, { rtol: 1e-5, atol: 1e-6, what: `${method} param ${k}` });
      });
    }
  },
);

// 1 to 5: a lone tail, one partial quad, one whole quad, a quad and a tail;
// 262149: 65538 quads, so each invocation takes several, and a 1-lane tail.
const ADA_SIZES = [1, 3, 4, 5, 1023, 262149];
const ADA_STEPS = 4;

/**
 * `ADA_STEPS` steps of `make()` on `be` from fixed float32 data of `n`
 * elements: the parameter, then the state slots in `slots` order.
 */
async function adaRun(
  be: Backend,
  n: number,
  make: () => Optimizer,
  slots: string[],
): Promise<Float32Array[]> {
  const p = new Parameter(be.fromTyped(randomTyped(n, { seed: 17 }), [n]));
  const opt = make().setup([p]);
  for (let step = 0; step < ADA_STEPS; step++) {
    // Gradients of mixed scales, some tiny (eps matters there).
    const g = randomTyped(n, { seed: 80 + step }) as Float32Array;
    for (let i = 0; i < n; i += 7) g[i] *= 1e-6;
    p.grad = new Variable(be.fromTyped(g, [n]));
    opt.update();
  }
  const { tensors } = await opt.stateDict();
  const out = [
    (await p.data()) as Float32Array,
    ...slots.map((s) => tensors[`0/${s}`].data as Float32Array),
  ];
  p.dispose();
  return out;
}

const ADA_CASES: [string, FusedStep, string[], () => Optimizer][] = [
  ["AdaGrad", "adagradUpdate", ["h"], () => new AdaGrad({ lr: 0.01 })],
  ["AdaGrad eps 1e-3", "adagradUpdate", ["h"], () => new AdaGrad({ lr: 0.05, eps: 1e-3 })],
  ["AdaDelta", "adadeltaUpdate", ["msg", "msdx"], () => new AdaDelta()],
  ["AdaDelta lr 0.5", "adadeltaUpdate", ["msg", "msdx"], () => new AdaDelta({ lr: 0.5, rho: 0.9 })],
];

gpuTest(
  "AdaGrad and AdaDelta on the GPU (fused kernels) match the CPU composition on awkward sizes",
  async () => {
    for (const [name, method, slots, make] of ADA_CASES) {
      for (const n of ADA_SIZES) {
        const want = await adaRun(cpuBackend, n, make, slots);
        const [got, calls] = await withSpy(method, true, () => adaRun(gpuBackend, n, make, slots));
        assert.equal(calls, ADA_STEPS, `${name}: the fused kernel ran for every step`);
        ["param", ...slots].forEach((what, k) => {
          assertAllClose(got[k], want[k], { rtol: 1e-6, atol: 1e-7, what: `${name} ${what} ${n}` });
        });
      }
    }
  },
);

gpuTest("the fused AdaGrad and AdaDelta steps match the unfused GPU composition", async () => {
  for (const [name, method, slots, make] of ADA_CASES) {
    for (const n of [5, 4097]) {
      const [fused] = await withSpy(method, true, () => adaRun(gpuBackend, n, make, slots));
      const [plain, calls] = await withSpy(method, false, () => adaRun(gpuBackend, n, make, slots));
      assert.equal(calls, 0);
      fused.forEach((a, k) => {
        assertAllClose(a, plain[k], { rtol: 1e-6, atol: 1e-7, what: `${name} slot ${k} ${n}` });
      });
    }
  }
});

/** `data` as GPU arrays of shape [2, 3]. */
function gpuArrays(...data: Float32Array[]): NDArray[] {
  return data.map((d) => gpuBackend.fromTyped(d, [2, 3]));
}

gpuTest("adagradUpdate() computes the documented rule and checks its operands", async () => {
  const n = 6; // one vec4 and a 2-lane tail
  const [p0, g] = [0, 1].map((s) => randomTyped(n, { seed: 95 + s }) as Float32Array);
  const h0 = (randomTyped(n, { seed: 97 }) as Float32Array).map(Math.abs);
  const step = { lr: 0.03, eps: 1e-4 };
  const [pa, ga, ha] = gpuArrays(p0, g, h0);
  const [p, h] = gpuBackend.adagradUpdate!(pa, ga, ha, step);
  const f = Math.fround;
  const wantH = h0.map((x, i) => f(x + f(g[i] * g[i])));
  const wantP = p0.map((x, i) =>
    f(x - f(f(g[i] * f(step.lr)) / f(f(Math.sqrt(wantH[i])) + f(step.eps))))
  );
  assert.deepEqual(p.shape, [2, 3]);
  assert.deepEqual(h.shape, [2, 3]);
  assertAllClose((await gpuBackend.read(h)) as Float32Array, wantH, { rtol: 1e-6, what: "h" });
  assertAllClose((await gpuBackend.read(p)) as Float32Array, wantP, { rtol: 1e-6, what: "p" });
  const a = gpuBackend.full([2, 3], 1, "float32");
  assert.throws(
    () => gpuBackend.adagradUpdate!(a, a, gpuBackend.full([6], 1, "float32"), step),
    /adagradUpdate: shapes \[2,3\] \(param\) and \[6\] \(h\) differ/,
  );
  assert.throws(
    () => gpuBackend.adagradUpdate!(a, gpuBackend.full([2, 3], 1, "int32"), a, step),
    /adagradUpdate: expected float32 operands, got int32 for grad/,
  );
});

gpuTest("adadeltaUpdate() computes the documented rule and checks its operands", async () => {
  const n = 6; // one vec4 and a 2-lane tail
  const [p0, g] = [0, 1].map((s) => randomTyped(n, { seed: 98 + s }) as Float32Array);
  const [s0, d0] = [2, 3].map((s) =>
    (randomTyped(n, { seed: 98 + s }) as Float32Array).map(Math.abs)
  );
  const step = { rho: 0.9, eps: 1e-3, lr: 0.7 };
  const [pa, ga, sa, da] = gpuArrays(p0, g, s0, d0);
  const [p, msg, msdx] = gpuBackend.adadeltaUpdate!(pa, ga, sa, da, step);
  const f = Math.fround;
  const rho = f(step.rho), c = f(1 - step.rho), eps = f(step.eps);
  const wantS = s0.map((x, i) => f(f(x * rho) + f(f(g[i] * g[i]) * c)));
  const dx = d0.map((x, i) => f(f(Math.sqrt(f(f(x + eps) / f(wantS[i] + eps)))) * g[i]));
  const wantD = d0.map((x, i) => f(f(x * rho) + f(f(dx[i] * dx[i]) * c)));
  const wantP = p0.map((x, i) => f(x - f(dx[i] * f(step.lr))));
  assert.deepEqual(p.shape, [2, 3]);
  assertAllClose((await gpuBackend.read(msg)) as Float32Array, wantS, { rtol: 1e-6, what: "msg" });
  assertAllClose((await gpuBackend.read(msdx)) as Float32Array, wantD, {
    rtol: 1e-6,
    what: "msdx",
  });
  assertAllClose((await gpuBackend.read(p)) as Float32Array, wantP, { rtol: 1e-6, what: "p" });
  // Without lr the step is DeZero's: param - dx.
  const [p1] = gpuBackend.adadeltaUpdate!(pa, ga, sa, da, { rho: step.rho, eps: step.eps });
  assertAllClose((await gpuBackend.read(p1)) as Float32Array, p0.map((x, i) => f(x - dx[i])), {
    rtol: 1e-6,
    what: "p (lr omitted)",
  });
  const a = gpuBackend.full([2, 3], 1, "float32");
  assert.throws(
    () => gpuBackend.adadeltaUpdate!(a, a, a, gpuBackend.full([3, 2], 1, "float32"), step),
    /adadeltaUpdate: shapes \[2,3\] \(param\) and \[3,2\] \(msdx\) differ/,
  );
  assert.throws(
    () => gpuBackend.adadeltaUpdate!(a, a, gpuBackend.full([2, 3], 1, "int32"), a, step),
    /adadeltaUpdate: expected float32 operands, got int32 for msg/,
  );
});

gpuTest("AdamW on the GPU matches PyTorch's AdamW by hand, tiny gradients included", async () => {
  const o = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 };
  const n = 6; // one vec4 and a 2-lane tail
  const p0 = randomTyped(n, { seed: 21 }) as Float32Array;
  // Gradients near eps (where adding it before the bias correction shortens the step by
  // a quarter at 1e-6) and ordinary ones.
  const grads = [0, 1, 2, 3, 4, 5].map((step) =>
    (randomTyped(n, { seed: 120 + step }) as Float32Array).map((g, i) => i % 2 ? g * 1e-6 : g)
  );
  for (const fused of [true, false]) {
    const [got, calls] = await withAdamSpy(fused, async () => {
      const p = new Parameter(gpuBackend.fromTyped(p0, [2, 3]));
      const opt = new AdamW(o).setup([p]);
      const out: Float32Array[] = [];
      for (const g of grads) {
        p.grad = new Variable(gpuBackend.fromTyped(g, [2, 3]));
        opt.update();
        out.push((await p.data()) as Float32Array);
      }
      p.dispose();
      return out;
    });
    assert.equal(calls, fused ? grads.length : 0);
    // PyTorch's rule in float64 from the same float32 inputs.
    const want = [...p0], m = want.map(() => 0), v = want.map(() => 0);
    grads.forEach((g, k) => {
      const t = k + 1;
      for (let i = 0; i < n; i++) {
        want[i] -= o.lr * o.weightDecay * want[i];
        m[i] = o.beta1 * m[i] + (1 - o.beta1) * g[i];
        v[i] = o.beta2 * v[i] + (1 - o.beta2) * g[i] * g[i];
        const mHat = m[i] / (1 - o.beta1 ** t), vHat = v[i] / (1 - o.beta2 ** t);
        want[i] -= o.lr * mHat / (Math.sqrt(vHat) + o.eps);
      }
      assertAllClose(got[k], want, { rtol: 1e-5, atol: 1e-6, what: `fused ${fused} step ${t}` });
    });
  }
});

gpuTest("a function hook that replaces gradients works on the GPU and leaks nothing", async () => {
  const p = new Parameter(gpuBackend.fromTyped(new Float32Array([1, 2, 3, 4, 5]), [5]));
  const opt = new SGD({ lr: 0.1 }).setup([p]).addHook((params) => {
    for (const q of params) q.grad = F.clip(q.grad!.mul(0.5), -1, 1);
  });
  const want = [1, 2, 3, 4, 5];
  let live = 0;
  for (let step = 0; step < 4; step++) {
    p.cleargrad();
    p.mul(p).sum().backward(); // grad 2p
    opt.update();
    const g = want.map((w) => Math.min(w, 1)); // clip(0.5 · 2p, -1, 1)
    for (let i = 0; i < want.length; i++) want[i] -= 0.1 * g[i];
    assert.equal(p.device, "gpu");
    assertAllClose((await p.data()) as Float32Array, want, { rtol: 1e-6, what: `p ${step}` });
    assertAllClose((await p.grad!.data()) as Float32Array, g, { rtol: 1e-6, what: `grad ${step}` });
    if (step === 1) live = liveArrayCount();
    if (step > 1) assert.equal(liveArrayCount(), live, "no array leaks across updates");
  }
  p.dispose();
});
