import { deepStrictEqual, equal, ok, rejects, throws } from "node:assert/strict";
import { F, initGpu, manualSeed, Parameter, randn, Sequential, tensor, tidy } from "../mod.ts";
import { liveArrayCount } from "../core/ndarray.ts";
import { gpuTest } from "../shaders/test_util.ts";
import { loadSafetensorsFile, saveSafetensors } from "./io.ts";
import { L, MLP, optimizers } from "./mod.ts";

const f64 = { dtype: "float64" as const };
const {
  AdaDelta,
  AdaGrad,
  Adam,
  AdamW,
  ClipGrad,
  cosineAnnealing,
  FreezeParam,
  LRScheduler,
  MomentumSGD,
  SGD,
  stepDecay,
  warmup,
  WeightDecay,
} = optimizers;

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-12): void {
  equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    ok(
      Math.abs(actual[i] - expected[i]) <= tol * (1 + Math.abs(expected[i])),
      `${i}: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

const GRADS = [[0.5, -1], [0.2, 0.3], [-0.7, 0.1]];

/** Runs three updates of `opt` on p = [1, 2] with fixed gradients; returns the values. */
async function run(opt: optimizers.Optimizer): Promise<number[]> {
  const p = new Parameter([1, 2], f64);
  opt.setup([p]);
  for (const g of GRADS) {
    p.grad = tensor(g, f64);
    opt.update();
  }
  return [...await p.data()];
}

/** Plain-number reference: `step(p, g, state, t)` per element. */
function reference(
  step: (p: number, g: number, s: Record<string, number>, t: number) => number,
): number[] {
  const p = [1, 2];
  const state = [{}, {}] as Record<string, number>[];
  GRADS.forEach((g, k) => {
    for (let i = 0; i < 2; i++) p[i] = step(p[i], g[i], state[i], k + 1);
  });
  return p;
}

Deno.test("SGD and MomentumSGD follow DeZero's update rules", async () => {
  close(await run(new SGD({ lr: 0.1 })), reference((p, g) => p - 0.1 * g));
  close(
    await run(new MomentumSGD()),
    reference((p, g, s) => {
      s.v = 0.9 * (s.v ?? 0) - 0.01 * g;
      return p + s.v;
    }),
  );
  equal(new SGD().lr, 0.01);
});

Deno.test("AdaGrad and AdaDelta follow DeZero's update rules", async () => {
  close(
    await run(new AdaGrad()),
    reference((p, g, s) => {
      s.h = (s.h ?? 0) + g * g;
      return p - 0.001 * g / (Math.sqrt(s.h) + 1e-8);
    }),
  );
  close(
    await run(new AdaDelta()),
    reference((p, g, s) => {
      s.msg = 0.95 * (s.msg ?? 0) + 0.05 * g * g;
      const dx = Math.sqrt(((s.msdx ?? 0) + 1e-6) / (s.msg + 1e-6)) * g;
      s.msdx = 0.95 * (s.msdx ?? 0) + 0.05 * dx * dx;
      return p - dx;
    }),
  );
});

/**
 * PyTorch's `torch.optim.AdamW` step on one element, as its docs write it:
 * decay first, then `lr·m̂ / (√v̂ + eps)` with the bias-corrected moments.
 */
function pytorchAdamW(
  { lr = 0.001, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = 0.01 } = {},
) {
  return (p: number, g: number, s: Record<string, number>, t: number): number => {
    p = p - lr * weightDecay * p;
    s.m = beta1 * (s.m ?? 0) + (1 - beta1) * g;
    s.v = beta2 * (s.v ?? 0) + (1 - beta2) * g * g;
    const mHat = s.m / (1 - beta1 ** t);
    const vHat = s.v / (1 - beta2 ** t);
    return p - lr * mHat / (Math.sqrt(vHat) + eps);
  };
}

Deno.test("Adam and AdamW follow their update rules", async () => {
  // DeZero's Adam: the bias correction folded into the step size, eps added to √v.
  const adam = (p: number, g: number, s: Record<string, number>, t: number) => {
    s.m = (s.m ?? 0) + 0.1 * (g - (s.m ?? 0));
    s.v = (s.v ?? 0) + 0.001 * (g * g - (s.v ?? 0));
    const lr = 0.001 * Math.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t);
    return p - lr * s.m / (Math.sqrt(s.v) + 1e-8);
  };
  close(await run(new Adam()), reference(adam));
  close(await run(new AdamW({ weightDecay: 0.1 })), reference(pytorchAdamW({ weightDecay: 0.1 })));
  const a = new Adam({ lr: 0.01 });
  equal(a.alpha, 0.01);
  equal(new Adam({ alpha: 0.02 }).lr, 0.02); // DeZero's keyword
  throws(() => new Adam({ lr: 0.1, alpha: 0.2 }), /give one/);
});

Deno.test("update() skips parameters without gradients and frees what it replaces", () => {
  const p = new Parameter([1, 2], f64);
  const q = new Parameter([3], f64);
  const opt = new Adam().setup([p, q]);
  p.grad = tensor([1, 1], f64);
  opt.update();
  deepStrictEqual(q.shape, [1]);
  const live = liveArrayCount();
  for (let i = 0; i < 5; i++) opt.update();
  equal(liveArrayCount(), live, "no array leaks across updates");
  throws(() => new SGD().update(), /call setup\(model\) before update\(\)/);
});

Deno.test("setup(model.params()) before the first call trains lazily sized weights", async () => {
  manualSeed(0);
  const model = new MLP([4, 2]);
  const opt = new MomentumSGD({ lr: 0.1 }).setup(model.params()); // before W is sized
  equal(opt.namedParams().length, 4);
  const loss = F.sum(model.apply(randn([3, 5])));
  const W = (model.l0 as L.Linear).W;
  const w0 = [...await W.data()];
  model.cleargrads();
  loss.backward();
  const g = [...await W.grad!.data()];
  opt.update();
  close(await W.data(), w0.map((w, i) => w - 0.1 * g[i]), 1e-6);
  // Its state does not load into a model whose weights are not sized yet.
  const state = await opt.stateDict();
  const fresh = new MomentumSGD().setup(new MLP([4, 2]).params());
  throws(() => fresh.loadStateDict(state), /"0\/v" is for a parameter that is not initialised yet/);
});

Deno.test("WeightDecay, ClipGrad and FreezeParam hooks adjust gradients before the update", async () => {
  const p = new Parameter([1, 2], f64);
  const opt = new SGD({ lr: 1 }).setup([p]).addHook(new WeightDecay(0.5));
  p.grad = tensor([0, 0], f64);
  opt.update();
  close(await p.data(), [0.5, 1]);

  const a = new Parameter([0, 0], f64);
  const b = new Parameter([0], f64);
  const clip = new SGD({ lr: 1 }).setup([a, b]).addHook(new ClipGrad(1));
  a.grad = tensor([3, 0], f64);
  b.grad = tensor([4], f64); // global norm 5 -> scaled by 1/5
  clip.update();
  close(await a.data(), [-0.6, 0], 1e-6);
  close(await b.data(), [-0.8], 1e-6);
  a.grad = tensor([0.3, 0], f64);
  b.grad = tensor([0.4], f64); // norm 0.5 <= 1: unchanged
  clip.update();
  close(await a.data(), [-0.9, 0], 1e-6);

  const frozen = new L.Linear(2, { inSize: 2 });
  const head = new L.Linear(1, { inSize: 2 });
  const model = new MLP([2]);
  const before = [...await frozen.W.data()];
  const all = new SGD({ lr: 1 }).setup([...frozen.params(), ...head.params(), ...model.params()])
    .addHook(new FreezeParam(frozen));
  head.apply(frozen.apply(randn([3, 2]))).sum().backward();
  all.update();
  deepStrictEqual([...await frozen.W.data()], before);
  equal(frozen.W.grad, null);
});

Deno.test("learning-rate schedules: step decay, cosine annealing, warm-up", () => {
  const s = stepDecay({ stepSize: 3, gamma: 0.5 });
  deepStrictEqual([0, 2, 3, 6].map(s), [1, 1, 0.5, 0.25]);
  const c = cosineAnnealing({ tMax: 10, minFactor: 0.1 });
  close([0, 5, 10, 20].map(c), [1, 0.55, 0.1, 0.1]);
  const w = warmup(4, stepDecay({ stepSize: 1, gamma: 0.5 }));
  deepStrictEqual([0, 1, 3, 4, 5].map(w), [0.25, 0.5, 1, 1, 0.5]);
  const opt = new SGD({ lr: 0.2 });
  const sched = new LRScheduler(opt, w);
  equal(opt.lr, 0.05);
  for (let i = 0; i < 5; i++) sched.step();
  equal(opt.lr, 0.1);
  const again = new LRScheduler(new SGD({ lr: 0.2 }), w, { baseLr: 0.2 });
  again.loadStateDict(sched.stateDict());
  equal(again.optimizer.lr, 0.1);
  throws(() => stepDecay({ stepSize: 0 }), RangeError);
});

async function trainSteps(model: MLP, opt: optimizers.Optimizer, steps: number): Promise<void> {
  const x = tensor([[0.1, 0.5], [-0.3, 0.8], [0.9, -0.2], [0.4, 0.4]]);
  const t = tensor([0, 1, 2, 1], { dtype: "int32" });
  for (let i = 0; i < steps; i++) {
    const loss = F.softmaxCrossEntropy(model.apply(x), t);
    model.cleargrads();
    loss.backward();
    opt.update();
  }
  await Promise.resolve();
}

async function weights(model: MLP): Promise<number[][]> {
  return await Promise.all([...model.params()].map(async (p) => [...await p.data()]));
}

Deno.test("saveState() / loadState() resume training exactly", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const make of [
        () => new Adam({ lr: 0.05 }),
        () => new MomentumSGD({ lr: 0.1 }),
        () => new AdaDelta(),
      ]
    ) {
      manualSeed(3);
      const model = new MLP([8, 3]);
      const opt = make().setup(model);
      await trainSteps(model, opt, 3);
      await model.saveWeights(`${dir}/m.safetensors`);
      await opt.saveState(`${dir}/o.safetensors`);
      await trainSteps(model, opt, 4);
      const expected = await weights(model);

      const resumed = new MLP([8, 3]);
      await resumed.loadWeights(`${dir}/m.safetensors`);
      const opt2 = make().setup(resumed);
      await opt2.loadState(`${dir}/o.safetensors`);
      equal(opt2.t, 3);
      await trainSteps(resumed, opt2, 4);
      deepStrictEqual(await weights(resumed), expected, opt.constructor.name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadStateDict() validates before changing anything", async () => {
  const model = new MLP([2]);
  model.apply(randn([1, 3]));
  const opt = new Adam().setup(model);
  model.apply(randn([1, 3])).sum().backward();
  opt.update();
  const state = await opt.stateDict();
  deepStrictEqual(Object.keys(state.tensors), ["l0.W/m", "l0.W/v", "l0.b/m", "l0.b/v"]);
  throws(() => new SGD().setup(model).loadStateDict(state), /state is of a Adam, not a SGD/);
  const bad = {
    ...state,
    tensors: { ...state.tensors, "l0.W/m": { ...state.tensors["l0.W/m"], shape: [2, 3] } },
  };
  const other = new Adam().setup(model);
  throws(
    () => other.loadStateDict(bad),
    /"l0\.W\/m" is float32 \[2,3\] but the parameter is float32 \[3,2\]/,
  );
  equal(other.t, 0);
  await rejects(other.loadState("/nonexistent.safetensors"));
  ok((model.l0 as L.Linear).W.shape[0] === 3);
});

Deno.test("setup() keeps a parameter listed twice (tied weights) once", async () => {
  const shared = new Parameter([1, 2], f64);
  const other = new Parameter([3], f64);
  const opt = new SGD({ lr: 0.1 }).setup([shared, other, shared]);
  deepStrictEqual(opt.namedParams(), [["0", shared], ["1", other]]);
  shared.grad = tensor([1, 1], f64);
  opt.update();
  close(await shared.data(), [0.9, 1.9]); // one step, not two

  const emb = new L.EmbedID(3, 2);
  const head = new L.Linear(2, { inSize: 2 });
  const adam = new Adam().setup([...emb.params(), ...head.params(), ...emb.params()]);
  deepStrictEqual(adam.namedParams().map(([n]) => n), ["0", "1", "2"]);
});

Deno.test("update() leaves the step count as it was when it fails", () => {
  const p = new Parameter([1, 2], f64);
  const q = new Parameter([1, 2, 3], f64);
  const opt = new Adam().setup([p, q]);
  p.grad = tensor([1, 1], f64);
  opt.update();
  equal(opt.t, 1);
  q.grad = tensor([1, 1], f64); // shape [2] for a [3] parameter
  throws(() => opt.update(), /the gradient of parameter 1 has shape \[2\] but the parameter/);
  equal(opt.t, 1, "a retry takes the same step");
  // A failure inside a parameter's step (here, a gradient whose array was freed) too.
  q.grad = tensor([1, 1, 1], f64);
  q.grad.array.dispose();
  throws(() => opt.update(), /used after it was disposed/);
  equal(opt.t, 1, "a retry takes the same step");
});

/** One step of `opt` on `model` from fixed data (lazy weights sized on the way). */
function stepOnce(model: Sequential, opt: optimizers.Optimizer): void {
  manualSeed(1);
  const loss = F.sum(model.apply(randn([2, 3])));
  model.cleargrads();
  loss.backward();
  opt.update();
}

Deno.test("loadState() rejects a state that lacks parameters of the model, loading nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    manualSeed(0);
    const small = new Sequential(new L.Linear(4, { inSize: 3 }));
    const o1 = new Adam().setup(small);
    stepOnce(small, o1);
    await o1.saveState(`${dir}/small.safetensors`);

    const big = new Sequential(new L.Linear(4, { inSize: 3 }), new L.Linear(2, { inSize: 4 }));
    const o2 = new Adam().setup(big);
    stepOnce(big, o2);
    stepOnce(big, o2);
    const before = await o2.stateDict();
    await rejects(
      o2.loadState(`${dir}/small.safetensors`),
      TypeError,
      `Adam.loadState: ${dir}/small.safetensors: the state lacks parameters "1.W", "1.b" of the model`,
    );
    const state = await o1.stateDict();
    throws(
      () => o2.loadStateDict(state),
      /Adam\.loadStateDict: the state lacks parameters "1\.W", "1\.b"/,
    );
    equal(o2.t, 2, "nothing loaded");
    deepStrictEqual(await o2.stateDict(), before);

    // A state lacking one of a parameter's arrays, or with an unknown one.
    const { "0.W/v": _, ...noV } = state.tensors;
    throws(
      () => o2.loadStateDict({ ...state, tensors: noV }),
      /the state of "0\.W" lacks "0\.W\/v"/,
    );
    const extra = { ...state.tensors, "0.W/h": state.tensors["0.W/m"] };
    throws(
      () => o1.loadStateDict({ ...state, tensors: extra }),
      /"0\.W\/h" is not a state of Adam/,
    );
    // States saved before the parameter names were recorded: those with arrays stand for them.
    throws(
      () => o2.loadStateDict({ ...state, params: undefined }),
      /lacks parameters "1\.W", "1\.b"/,
    );
    new Adam().setup(small).loadStateDict({ ...state, params: undefined });
    deepStrictEqual(await o2.stateDict(), before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadState() loads parameters that legitimately have no state", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // Frozen and unused parameters have no state: saving then loading into the same model works.
    manualSeed(0);
    const frozen = new L.Linear(4, { inSize: 3 });
    const head = new L.Linear(2, { inSize: 4 });
    const unused = new L.Linear(5, { inSize: 3 }); // never called: no gradient
    const model = new Sequential(frozen, head, unused);
    const opt = new Adam().setup(model).addHook(new FreezeParam(frozen));
    for (let i = 0; i < 2; i++) {
      const loss = F.sum(head.apply(frozen.apply(tensor([[0.1, 0.5, -0.3], [0.8, 0.9, -0.2]]))));
      model.cleargrads();
      loss.backward();
      opt.update();
    }
    await opt.saveState(`${dir}/o.safetensors`);
    const state = await opt.stateDict();
    deepStrictEqual(Object.keys(state.tensors), ["1.W/m", "1.W/v", "1.b/m", "1.b/v"]);
    deepStrictEqual(state.params, ["0.W", "0.b", "1.W", "1.b", "2.W", "2.b"]);
    const again = new Adam().setup(model);
    await again.loadState(`${dir}/o.safetensors`);
    equal(again.t, 2);
    deepStrictEqual(await again.stateDict(), state);

    // No per-parameter state to lack: plain SGD, or an optimizer that took no step yet.
    const small = new Sequential(new L.Linear(4, { inSize: 3 }));
    const big = new Sequential(new L.Linear(4, { inSize: 3 }), new L.Linear(2, { inSize: 4 }));
    const sgd = new SGD({ lr: 0.3 }).setup(small);
    stepOnce(small, sgd);
    const sgdBig = new SGD().setup(big);
    sgdBig.loadStateDict(await sgd.stateDict());
    equal(sgdBig.lr, 0.3);
    equal(sgdBig.t, 1);
    new Adam().setup(big).loadStateDict(await new Adam().setup(small).stateDict());
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const X = [[0.1, 0.5, -0.3], [0.8, 0.9, -0.2], [-0.6, 0.2, 0.4]];

/** One step of `opt` on `model` from fixed data, on the model's device. */
function deviceStep(model: MLP, opt: optimizers.Optimizer): void {
  const device = (model.l0 as L.Linear).W.device;
  const loss = F.sum(model.apply(tensor(X, { device })));
  model.cleargrads();
  loss.backward();
  opt.update();
}

/** Two Adam steps of an MLP, `resume` between them: the weights and the state. */
async function adamSteps(
  resume: (model: MLP, opt: optimizers.Optimizer) => Promise<optimizers.Optimizer>,
): Promise<number[][]> {
  manualSeed(4);
  const model = new MLP([5, 2]);
  const opt = new Adam({ lr: 0.05 }).setup(model);
  deviceStep(model, opt);
  const next = await resume(model, opt);
  deviceStep(model, next);
  equal(next.t, 2);
  const out = await weights(model);
  for (const t of Object.values((await next.stateDict()).tensors)) out.push([...t.data]);
  return out;
}

function allClose(got: number[][], want: number[][]): void {
  equal(got.length, want.length);
  got.forEach((g, k) => close(g, want[k], 1e-5));
}

gpuTest(
  "update() moves state to parameters moved to the GPU (after a step or a load)",
  async () => {
    await initGpu();
    const want = await adamSteps((_, opt) => Promise.resolve(opt));
    // Train on the CPU, then move the model.
    const moved = await adamSteps((model, opt) => {
      model.toGpu();
      return Promise.resolve(opt);
    });
    allClose(moved, want);
    // The usual resume order: load the state, then move the model.
    const dir = await Deno.makeTempDir();
    try {
      const resumed = await adamSteps(async (model, opt) => {
        await opt.saveState(`${dir}/o.safetensors`);
        const fresh = new Adam({ lr: 0.05 }).setup(model);
        await fresh.loadState(`${dir}/o.safetensors`);
        model.toGpu();
        return fresh;
      });
      allClose(resumed, want);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

gpuTest("update() names moveState() for state left on the GPU, and keeps t", async () => {
  await initGpu();
  const make = () => {
    manualSeed(5);
    const model = new MLP([3, 2]);
    model.apply(tensor(X));
    return model;
  };
  const step = deviceStep;
  const ref = make();
  const refOpt = new Adam({ lr: 0.05 }).setup(ref);
  step(ref, refOpt);
  step(ref, refOpt);

  const model = make().toGpu();
  const opt = new Adam({ lr: 0.05 }).setup(model);
  step(model, opt);
  await model.toCpu();
  throws(
    () => step(model, opt),
    /Adam\.update: the state "l0\.W\/m" is on the gpu but the parameter is on the cpu: call await optimizer\.moveState\(\)/,
  );
  equal(opt.t, 1);
  await opt.moveState();
  step(model, opt);
  equal(opt.t, 2);
  allClose(await weights(model), await weights(ref));

  // A gradient on another device than its parameter is named too, before any change.
  const p = new Parameter(tensor([1, 2]).toGpu().array);
  const sgd = new SGD().setup([p]);
  p.grad = tensor([1, 1]);
  throws(
    () => sgd.update(),
    /SGD\.update: the gradient of parameter 0 is on the cpu but the parameter is on the gpu/,
  );
  equal(sgd.t, 0);
  equal(p.device, "gpu");
});

Deno.test("SGD(lr) and MomentumSGD(lr, momentum) positional forms update with those values", async () => {
  const p = new Parameter(tensor([1, 2]).array, { name: "p" });
  p.grad = tensor([1, 1]);
  new optimizers.SGD(0.5).setup([p]).update();
  deepStrictEqual(await p.toArray(), [0.5, 1.5]);
  const q = new Parameter(tensor([1]).array, { name: "q" });
  const opt = new optimizers.MomentumSGD(0.1, 0.5).setup([q]);
  for (let i = 0; i < 2; i++) {
    q.grad = tensor([1]);
    opt.update();
  }
  // v1 = -0.1, v2 = 0.5·(-0.1) - 0.1 = -0.15: q = 1 - 0.25
  ok(Math.abs((await q.item()) - 0.75) < 1e-6);
  throws(() => new (optimizers.SGD as any)(true), /SGD: expected an options object/);
});

Deno.test("AdamW matches PyTorch's AdamW over several steps, tiny gradients included", async () => {
  // Gradients near eps, where adding eps before or after the bias correction differs
  // (by a quarter of the step at 1e-6), and ordinary ones.
  const grads = [[1e-6, 0.5, 3e-9], [2e-6, -0.2, -1e-8], [-1e-6, 0.3, 2e-9], [5e-7, 0.1, 0]];
  const settings = [
    {},
    { lr: 0.01, weightDecay: 0.1, beta1: 0.8, beta2: 0.99, eps: 1e-7 },
  ];
  for (const o of settings) {
    const p = new Parameter([1, -2, 0.5], f64);
    const opt = new AdamW(o).setup([p]);
    const want = [1, -2, 0.5];
    const states = want.map(() => ({}));
    const step = pytorchAdamW(o);
    for (const [k, g] of [...grads, ...grads].entries()) {
      p.grad = tensor(g, f64);
      opt.update();
      for (let i = 0; i < want.length; i++) want[i] = step(want[i], g[i], states[i], k + 1);
      close(await p.data(), want, 1e-13);
    }
  }
  // Adam keeps DeZero's formula: its first step from a 1e-6 gradient is 23% shorter.
  const p = new Parameter([1], f64);
  const adam = new Adam().setup([p]);
  p.grad = tensor([1e-6], f64);
  adam.update();
  const dezero = 0.001 * Math.sqrt(0.001) / 0.1 * 1e-7 / (Math.sqrt(1e-15) + 1e-8);
  close(await p.data(), [1 - dezero], 1e-13);
  ok(Math.abs(dezero - 0.001) > 2e-4);
});

/** A user hook that halves the gradients, then clips their values to [-1, 1]. */
function halveAndClip(params: Parameter[]): void {
  for (const p of params) p.grad = F.clip(p.grad!.mul(0.5), -1, 1);
}

Deno.test("a function hook may replace gradients: they are kept, its temporaries freed", async () => {
  const p = new Parameter([1, 2, 3], f64);
  const q = new Parameter([4], f64);
  const opt = new SGD({ lr: 0.1 }).setup([p, q]).addHook(halveAndClip);
  const want = [1, 2, 3, 4];
  let live = 0;
  for (let step = 0; step < 4; step++) {
    p.cleargrad();
    q.cleargrad();
    p.mul(p).sum().add(q.mul(q).sum()).backward(); // grad 2p
    if (step % 2 === 0) opt.update();
    else tidy(() => opt.update()); // the new gradients outlive an enclosing tidy()
    const g = want.map((w) => Math.min(w, 1)); // clip(0.5 · 2p, -1, 1)
    for (let i = 0; i < 4; i++) want[i] -= 0.1 * g[i];
    close([...await p.data(), ...await q.data()], want);
    close([...await p.grad!.data(), ...await q.grad!.data()], g);
    equal(p.grad!.creator, null, "the hook recorded no graph");
    if (step === 1) live = liveArrayCount();
    if (step > 1) equal(liveArrayCount(), live, "no array leaks across updates");
  }
  // A hook may drop a gradient (as FreezeParam does) by setting it to null.
  p.grad = tensor([1, 1, 1], f64);
  q.grad = tensor([1], f64);
  const before = [...await p.data()];
  new SGD({ lr: 0.1 }).setup([p, q]).addHook(() => p.grad = null).update();
  deepStrictEqual([...await p.data()], before);
  close(await q.data(), [want[3] - 0.1]);
});

Deno.test("setup() takes a layer or an iterable of Parameters and rejects anything else", async () => {
  const p = new Parameter([1, 2]);
  const opt = new SGD().setup([p]);
  deepStrictEqual(new SGD().setup(new Set([p])).namedParams(), [["0", p]]);
  const x = tensor([1, 2]);
  const cases: [unknown, RegExp][] = [
    [42, /SGD\.setup: expected a Layer or an iterable of Parameters .*, got 42$/],
    [null, /got null$/],
    [undefined, /got undefined$/],
    [{ W: p }, /got a plain object$/],
    ["W", /got a string "W"$/],
    [x, /got a Variable: only Parameters are optimized: make one with new Parameter\(x\)/],
    [p, /got a single Parameter: put it in a list: setup\(\[p\]\)/],
    [[p, x], /SGD\.setup: item 1 is a Variable, not a Parameter: only Parameters are optimized/],
    [[p, 3], /SGD\.setup: item 1 is 3, not a Parameter$/],
  ];
  for (const [target, message] of cases) {
    throws(() => opt.setup(target as Parameter[]), (e: Error) => {
      ok(e instanceof TypeError && message.test(e.message), e.message);
      return true;
    });
  }
  deepStrictEqual(opt.namedParams(), [["0", p]], "a rejected setup() changes nothing");
  deepStrictEqual(await x.toArray(), [1, 2], "the Variable is left as it was");
  throws(() => new Adam().setup(untyped(42)), /Adam\.setup: expected a Layer/);
});

function untyped<T>(x: unknown): T {
  return x as T;
}

Deno.test("update() rejects a gradient of another shape than its parameter, for every optimizer", async () => {
  const makers = [
    () => new SGD({ lr: 1 }),
    () => new MomentumSGD(),
    () => new AdaGrad(),
    () => new AdaDelta(),
    () => new Adam(),
    () => new AdamW(),
  ];
  for (const make of makers) {
    const name = make().constructor.name;
    const w = new Parameter([[1, 2], [3, 4]], { name: "W2" });
    const b = new Parameter([5, 6]);
    const opt = make().setup([b, w]);
    b.grad = tensor([1, 1]);
    w.grad = tensor([1]); // would broadcast
    throws(
      () => opt.update(),
      new RegExp(
        `^TypeError: ${name}\\.update: the gradient of parameter 1 \\("W2"\\) has shape \\[1\\] ` +
          `but the parameter has shape \\[2,2\\]$`,
      ),
    );
    w.grad = tensor([1, 1]);
    throws(() => opt.update(), /has shape \[2\] but the parameter has shape \[2,2\]/);
    equal(opt.t, 0);
    deepStrictEqual(await w.toArray(), [[1, 2], [3, 4]], `${name}: nothing changed`);
    deepStrictEqual(await b.toArray(), [5, 6], `${name}: nothing changed`);
  }
  // A layer's parameter is named by its path; a gradient set by a hook is checked too.
  const model = new MLP([2]);
  model.apply(tensor([[1, 2, 3]])).sum().backward();
  const opt = new Adam().setup(model);
  const W = (model.l0 as L.Linear).W;
  const right = W.grad;
  W.grad = tensor([[1, 2, 3]]);
  throws(
    () => opt.update(),
    /Adam\.update: the gradient of "l0\.W" has shape \[1,3\] but the parameter has shape \[3,2\]/,
  );
  W.grad = right;
  opt.addHook((params) => params[0].grad = params[0].grad!.sum(0));
  throws(
    () => opt.update(),
    /Adam\.update \(after the hooks\): the gradient of "l0\.W" has shape \[2\] but the parameter has shape \[3,2\]/,
  );
  equal(opt.t, 0);
});

Deno.test("optimizers and hooks reject out-of-range hyperparameters with a RangeError", () => {
  const cases: [() => unknown, string][] = [
    [() => new SGD({ lr: -0.1 }), "SGD: lr must be ≥ 0, got -0.1"],
    [() => new SGD(-1), "SGD: lr must be ≥ 0, got -1"],
    [() => new MomentumSGD({ lr: -1 }), "MomentumSGD: lr must be ≥ 0, got -1"],
    [() => new MomentumSGD({ momentum: -0.5 }), "MomentumSGD: momentum must be ≥ 0, got -0.5"],
    [() => new AdaGrad({ lr: -1 }), "AdaGrad: lr must be ≥ 0, got -1"],
    [() => new AdaGrad({ eps: 0 }), "AdaGrad: eps must be > 0 (an element whose gradients"],
    [() => new AdaGrad(0.1, -1e-8), "AdaGrad: eps must be > 0"],
    [() => new AdaDelta({ rho: 1.5 }), "AdaDelta: rho must be in [0, 1], got 1.5"],
    [() => new AdaDelta({ rho: -0.1 }), "AdaDelta: rho must be in [0, 1], got -0.1"],
    [() => new AdaDelta({ eps: 0 }), "AdaDelta: eps must be > 0"],
    [() => new AdaDelta({ lr: -1 }), "AdaDelta: lr must be ≥ 0, got -1"],
    [() => new Adam({ lr: -0.001 }), "Adam: lr must be ≥ 0, got -0.001"],
    [() => new Adam({ alpha: -1 }), "Adam: lr must be ≥ 0, got -1"],
    [() => new Adam({ beta1: 1 }), "Adam: beta1 must be in [0, 1), got 1"],
    [() => new Adam({ beta1: -0.1 }), "Adam: beta1 must be in [0, 1), got -0.1"],
    [() => new Adam({ beta2: 1 }), "Adam: beta2 must be in [0, 1), got 1"],
    [() => new Adam(0.001, 0.9, 1.5), "Adam: beta2 must be in [0, 1), got 1.5"],
    [() => new Adam({ eps: 0 }), "Adam: eps must be > 0"],
    [() => new AdamW({ beta1: 1 }), "AdamW: beta1 must be in [0, 1), got 1"],
    [() => new AdamW({ eps: -1 }), "AdamW: eps must be > 0"],
    [() => new AdamW({ lr: -1 }), "AdamW: lr must be ≥ 0, got -1"],
    [() => new AdamW({ weightDecay: -0.01 }), "AdamW: weightDecay must be ≥ 0, got -0.01"],
    [() => new WeightDecay(-5), "WeightDecay: rate must be ≥ 0, got -5"],
    [() => new ClipGrad(-1), "ClipGrad: maxNorm must be > 0, got -1"],
    [() => new ClipGrad(0), "ClipGrad: maxNorm must be > 0, got 0"],
    [() => new ClipGrad(-Infinity), "ClipGrad: maxNorm must be > 0, got -Infinity"],
  ];
  for (const [make, message] of cases) {
    throws(make, (e: Error) => {
      ok(e instanceof RangeError && e.message.startsWith(message), `${message}: got ${e}`);
      return true;
    });
  }
  // Wrong types are TypeErrors.
  throws(
    () => new WeightDecay(untyped("1")),
    /WeightDecay: rate must be a finite number, got a string "1"/,
  );
  throws(() => new WeightDecay(NaN), TypeError);
  throws(() => new ClipGrad(NaN), /ClipGrad: maxNorm must be a number, got NaN/);
  throws(() => new ClipGrad(untyped(null)), TypeError);
  // The edges of each range are accepted.
  equal(new SGD({ lr: 0 }).lr, 0);
  equal(new MomentumSGD({ momentum: 0 }).momentum, 0);
  equal(new AdaGrad({ eps: 1e-30 }).eps, 1e-30);
  deepStrictEqual([new AdaDelta({ rho: 0 }).rho, new AdaDelta({ rho: 1 }).rho], [0, 1]);
  const a = new Adam({ beta1: 0, beta2: 0 });
  deepStrictEqual([a.beta1, a.beta2], [0, 0]);
  equal(new AdamW({ weightDecay: 0 }).weightDecay, 0);
  equal(new WeightDecay(0).rate, 0);
  equal(new ClipGrad(Infinity).maxNorm, Infinity);
});

Deno.test("update() rejects a gradient of another dtype, a bad lr set later, FreezeParam junk", () => {
  const p = new Parameter(tensor([1, 2], { dtype: "float32" }), { name: "w" });
  const opt = new Adam().setup([p]);
  p.grad = tensor([0.5, 0.5], { dtype: "float64" });
  throws(
    () => opt.update(),
    (e: Error) =>
      e instanceof TypeError &&
      e.message.includes(
        'the gradient of parameter 0 ("w") is float64 but the parameter is float32',
      ),
  );
  equal(p.dtype, "float32");
  // A float64 constant in the graph promotes, but the gradient comes back float32.
  p.cleargrad();
  F.mul(p, tensor([3, 4], { dtype: "float64" })).sum().backward();
  equal(p.grad!.dtype, "float32");
  opt.update();
  equal(p.dtype, "float32");
  const sgd = new SGD(0.1).setup([p]);
  for (const lr of [-0.1, NaN]) {
    sgd.lr = lr;
    p.grad = tensor([1, 1], { dtype: "float32" });
    throws(
      () => sgd.update(),
      (e: Error) => e instanceof RangeError && e.message.includes("SGD.update: lr must be ≥ 0"),
    );
  }
  // deno-lint-ignore no-explicit-any
  const junk = (x: unknown) => x as any;
  throws(() => new FreezeParam(junk(3)), /FreezeParam: target 0 is 3, not a Layer or a Parameter/);
  throws(() => new FreezeParam(p, junk(tensor([1]))), /target 1 is a Variable.*new Parameter/);
});

/** Everything an optimizer loads: `t`, `lr`, its hyperparameters and state arrays. */
async function loaded(opt: optimizers.Optimizer): Promise<unknown> {
  const { scalars, tensors } = await opt.stateDict();
  return { scalars, tensors, update: typeof opt.update };
}

/** One optimizer of each kind, with hyperparameters other than the defaults. */
const TUNED: (() => optimizers.Optimizer)[] = [
  () => new SGD({ lr: 0.2 }),
  () => new MomentumSGD({ lr: 0.05, momentum: 0.5 }),
  () => new AdaGrad({ lr: 0.02, eps: 1e-6 }),
  () => new AdaDelta({ rho: 0.9, eps: 1e-5, lr: 0.5 }),
  () => new Adam({ lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-7 }),
  () => new AdamW({ lr: 0.01, beta1: 0.8, beta2: 0.99, eps: 1e-7, weightDecay: 0.1 }),
];

Deno.test("saveState() / loadState() and loadStateDict() restore every optimizer's scalars and state", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const make of TUNED) {
      manualSeed(6);
      const model = new MLP([4, 3]);
      const opt = make().setup(model);
      await trainSteps(model, opt, 2);
      const kind = opt.constructor.name;
      const want = await loaded(opt);
      await opt.saveState(`${dir}/o.safetensors`);
      // A default one: every hyperparameter has to come from the state.
      const Class = opt.constructor as new () => optimizers.Optimizer;
      const fromFile = new Class().setup(model);
      await fromFile.loadState(`${dir}/o.safetensors`);
      deepStrictEqual(await loaded(fromFile), want, kind);
      equal(fromFile.t, 2, kind);
      const fromDict = new Class().setup(model);
      fromDict.loadStateDict(await opt.stateDict());
      deepStrictEqual(await loaded(fromDict), want, kind);
      // Both go on as the original does.
      await trainSteps(model, fromFile, 1);
      equal(fromFile.t, 3, kind);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadState() / loadStateDict() reject bad scalars by key and value, changing nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    manualSeed(7);
    const model = new MLP([4, 3]);
    // The state to load: one step with other hyperparameters than `opt`'s.
    const source = new Adam({ lr: 0.01, beta1: 0.5 }).setup(model);
    await trainSteps(model, source, 1);
    const good = await source.stateDict();
    const file = `${dir}/good.safetensors`;
    await source.saveState(file);
    const { tensors, metadata } = await loadSafetensorsFile(file);
    const opt = new Adam({ lr: 0.05 }).setup(model);
    await trainSteps(model, opt, 2);
    const before = await loaded(opt);

    const scalars = (change: Record<string, unknown>) =>
      JSON.stringify({ ...good.scalars, ...change });
    const { beta2: _, ...noBeta2 } = good.scalars;
    const cases: [string, ErrorConstructor, string][] = [
      [
        scalars({ update: 1 }),
        TypeError,
        'scalars have an unknown key "update" (1): Adam saves t, lr, beta1, beta2, eps',
      ],
      [scalars({ momentum: 0.9 }), TypeError, 'unknown key "momentum" (0.9)'],
      [scalars({ alpha: 0.01 }), TypeError, 'unknown key "alpha" (0.01)'],
      [`{"__proto__": {"lr": 1}, ${scalars({}).slice(1)}`, TypeError, 'unknown key "__proto__"'],
      [
        scalars({ beta1: "abc" }),
        TypeError,
        'scalar "beta1" must be a finite number, got a string "abc"',
      ],
      [scalars({ lr: null }), TypeError, 'scalar "lr" must be a finite number, got null'],
      [scalars({ beta1: 1 }), RangeError, 'scalar "beta1" must be in [0, 1), got 1'],
      [scalars({ beta2: -0.5 }), RangeError, 'scalar "beta2" must be in [0, 1), got -0.5'],
      [scalars({ eps: 0 }), RangeError, 'scalar "eps" must be > 0'],
      [scalars({ lr: -1 }), RangeError, 'scalar "lr" must be ≥ 0, got -1'],
      [scalars({ t: -5 }), RangeError, 'scalar "t" must be a non-negative integer, got -5'],
      [scalars({ t: 1.5 }), RangeError, 'scalar "t" must be a non-negative integer, got 1.5'],
      [scalars({ t: "1" }), TypeError, 'scalar "t" must be a finite number, got a string "1"'],
      [
        JSON.stringify(noBeta2),
        TypeError,
        'scalars lack "beta2": Adam saves t, lr, beta1, beta2, eps',
      ],
      ["{}", TypeError, 'scalars lack "t", "lr", "beta1", "beta2", "eps"'],
      [
        "null",
        TypeError,
        "scalars must be an object (Adam saves t, lr, beta1, beta2, eps), got null",
      ],
      ["[1, 2]", TypeError, "scalars must be an object"],
      ["3", TypeError, "scalars must be an object"],
    ];
    for (const [json, Class, message] of cases) {
      const path = `${dir}/bad.safetensors`;
      await saveSafetensors(path, tensors, { metadata: { ...metadata, scalars: json } });
      await rejects(opt.loadState(path), (e: Error) => {
        const prefix = `Adam.loadState: ${path}: the file's `;
        ok(e instanceof Class && e.message.startsWith(prefix), `${json}: ${e}`);
        ok(e.message.includes(message), `${json}: ${e.message}`);
        return true;
      });
      deepStrictEqual(await loaded(opt), before, json);
      throws(
        () => opt.loadStateDict({ ...good, scalars: JSON.parse(json) }),
        (e: Error) => {
          const prefix = "Adam.loadStateDict: the state dict's ";
          ok(e instanceof Class && e.message.startsWith(prefix), `${json}: ${e}`);
          ok(e.message.includes(message), `${json}: ${e.message}`);
          return true;
        },
      );
      deepStrictEqual(await loaded(opt), before, json);
    }
    equal(Object.getPrototypeOf(opt), Adam.prototype);
    // Still usable, and the good state still loads.
    await trainSteps(model, opt, 1);
    opt.loadStateDict(good);
    deepStrictEqual(await loaded(opt), await loaded(source));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadStateDict() accepts only each optimizer's own hyperparameters, in its constructor's range", () => {
  const model = new MLP([2]);
  model.apply(tensor([[1, 2]]));
  const cases: [optimizers.Optimizer, Record<string, unknown>, string][] = [
    [new SGD(), { momentum: 0.9 }, 'unknown key "momentum" (0.9): SGD saves t, lr'],
    [new MomentumSGD(), { momentum: -1 }, 'scalar "momentum" must be ≥ 0, got -1'],
    [
      new MomentumSGD(),
      { beta1: 0.9 },
      'unknown key "beta1" (0.9): MomentumSGD saves t, lr, momentum',
    ],
    [new AdaGrad(), { eps: -1e-8 }, 'scalar "eps" must be > 0'],
    [new AdaDelta(), { rho: 1.5 }, 'scalar "rho" must be in [0, 1], got 1.5'],
    [new AdaDelta(), { lr: Infinity }, 'scalar "lr" must be a finite number, got Infinity'],
    [new Adam(), { weightDecay: 0.01 }, 'unknown key "weightDecay" (0.01)'],
    [new AdamW(), { weightDecay: -0.01 }, 'scalar "weightDecay" must be ≥ 0, got -0.01'],
    [new AdamW(), { beta2: NaN }, 'scalar "beta2" must be a finite number, got NaN'],
  ];
  for (const [opt, change, message] of cases) {
    opt.setup(model);
    const kind = opt.constructor.name;
    const state: optimizers.OptimizerState = {
      kind,
      scalars: { t: 0, lr: opt.lr, ...hyperOf(opt), ...change } as Record<string, number>,
      tensors: {},
    };
    const before = { ...hyperOf(opt), t: opt.t, lr: opt.lr };
    throws(
      () => opt.loadStateDict(state),
      (e: Error) =>
        e.message.startsWith(`${kind}.loadStateDict: the state dict's `) &&
        e.message.includes(message),
      `${kind} ${JSON.stringify(change)}`,
    );
    deepStrictEqual({ ...hyperOf(opt), t: opt.t, lr: opt.lr }, before);
  }
});

/** The hyperparameters an optimizer saves besides `t` and `lr`. */
function hyperOf(opt: optimizers.Optimizer): Record<string, number> {
  const names = ["momentum", "eps", "rho", "beta1", "beta2", "weightDecay"];
  // deno-lint-ignore no-explicit-any
  return Object.fromEntries(names.filter((n) => n in opt).map((n) => [n, (opt as any)[n]]));
}
