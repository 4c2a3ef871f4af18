import assert from "node:assert/strict";
import {
  type Device,
  F,
  initGpu,
  memoryStats,
  MLP,
  noGrad,
  optimizers,
  randn,
  slice,
  tensor,
  testMode,
  tidy,
  utils,
  type Variable,
} from "../mod.ts";
import { gpuTest } from "../shaders/test_util.ts";

Deno.test("softmaxCrossEntropy() names an out-of-range label on the CPU", () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.throws(
    () => F.softmaxCrossEntropy(x, tensor([0, 3], { dtype: "int32" })),
    {
      name: "RangeError",
      message: "softmaxCrossEntropy: label 3 at index 1 is out of range for 3 classes",
    },
  );
  assert.throws(
    () => F.softmaxCrossEntropy(x, tensor([-1, 0], { dtype: "int32" })),
    /label -1 at index 0/,
  );
});

gpuTest(
  "softmaxCrossEntropy() on the GPU: an out-of-range label fails the next readback",
  async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], { device: "gpu" });
    const loss = F.softmaxCrossEntropy(x, tensor([0, 7], { dtype: "int32", device: "gpu" }));
    await assert.rejects(() => loss.item(), /out of range/);
    // the error is reported once; later work is unaffected
    const ok = F.softmaxCrossEntropy(x, tensor([0, 2], { dtype: "int32", device: "gpu" }));
    assert.ok(Number.isFinite(await ok.item()));
  },
);

gpuTest(
  "softmaxCrossEntropy(), accuracy() and embedId() on the GPU reject negative labels at readback",
  async () => {
    const device = "gpu";
    const x = tensor([[0, 1, 2], [1, 2, 3]], { device });
    const W = tensor([[1, 2], [3, 4], [5, 6]], { device });
    // -1 and -3 would wrap to a valid class in a NumPy-style take; -4 is past even that.
    for (const label of [-1, -3, -4]) {
      const t = tensor(new Int32Array([label, 0]), { device });
      const loss = F.softmaxCrossEntropy(x, t);
      await assert.rejects(() => loss.item(), {
        name: "RangeError",
        message: new RegExp(`^softmaxCrossEntropy: index ${label} is out of range`),
      }, `label ${label}`);
      await assert.rejects(() => F.accuracy(x, t).item(), {
        name: "RangeError",
        message: new RegExp(`^accuracy: index ${label} is out of range`),
      }, `label ${label}`);
      await assert.rejects(() => F.embedId(t, W).data(), {
        name: "RangeError",
        message: new RegExp(`^embedId: index ${label} is out of range`),
      }, `id ${label}`);
    }
    // The error is reported once; valid labels (and later work) are unaffected.
    const ok = F.softmaxCrossEntropy(x, tensor(new Int32Array([2, 0]), { device }));
    assert.ok(Number.isFinite(await ok.item()));
  },
);

Deno.test("accuracy() and embedId() name an out-of-range or negative label on the CPU", () => {
  const y = tensor([[1, 2, 3], [3, 2, 1]]);
  assert.throws(() => F.accuracy(y, tensor(new Int32Array([2, 3]))), {
    name: "RangeError",
    message: "accuracy: label 3 at index 1 is out of range for 3 classes",
  });
  assert.throws(() => F.accuracy(y, tensor(new Int32Array([-1, 0]))), {
    name: "RangeError",
    message: "accuracy: label -1 at index 0 is out of range for 3 classes",
  });
  // PyTorch's embedding rejects negative ids; a NumPy-style wrap would pick the last row.
  assert.throws(() => F.embedId(tensor(new Int32Array([0, -1])), tensor([[1, 2], [3, 4]])), {
    name: "RangeError",
    message: "embedId: id -1 at index 1 is out of range for 2 rows",
  });
});

for (const device of ["cpu", "gpu"] as const) {
  const test = device === "cpu" ? Deno.test : gpuTest;
  test(`softmaxCrossEntropy(), accuracy() and embedId() take host labels (${device})`, async () => {
    const y = tensor([[1, 2, 3], [3, 2, 1]], { device });
    const W = tensor([[1, 2], [3, 4], [5, 6]], { device });
    const want = await F.softmaxCrossEntropy(y, tensor(new Int32Array([2, 0]), { device })).item();
    // DeZero's labels are NumPy arrays: plain arrays, nested [N, 1] arrays and integer TypedArrays.
    for (const t of [[2, 0], [[2], [0]], new Int32Array([2, 0]), new Uint8Array([2, 0])]) {
      const what = `${device} ${t.constructor.name} ${JSON.stringify(t)}`;
      const loss = F.softmaxCrossEntropy(y, t);
      assert.equal(loss.device, device, what);
      assert.ok(Math.abs((await loss.item()) - want) < 1e-6, what);
      assert.equal(await F.accuracy(y, t).item(), 1, what);
    }
    assert.equal(await F.accuracy(y, [2, 1]).item(), 0.5);
    assert.deepEqual(await F.embedId([[2, 0]], W).toArray(), [[[5, 6], [1, 2]]]);
    // Host labels are checked at once, on every device.
    assert.throws(() => F.softmaxCrossEntropy(y, [0, -1]), {
      name: "RangeError",
      message: "softmaxCrossEntropy: label -1 at index 1 is out of range for 3 classes",
    });
    assert.throws(() => F.accuracy(y, new Int32Array([3, 0])), {
      name: "RangeError",
      message: "accuracy: label 3 at index 0 is out of range for 3 classes",
    });
    assert.throws(() => F.softmaxCrossEntropy(y, [1.5, 0]), {
      name: "TypeError",
      message: "softmaxCrossEntropy: labels must be integers, got 1.5 at index 0",
    });
    assert.throws(() => F.softmaxCrossEntropy(y, new Float32Array([NaN, 0])), {
      name: "TypeError",
      message: "softmaxCrossEntropy: labels must be integers, got NaN at index 0",
    });
    assert.throws(() => F.softmaxCrossEntropy(y, [[1], [0, 2]]), {
      name: "TypeError",
      message: /^softmaxCrossEntropy: labels are a ragged array/,
    });
    assert.throws(() => F.accuracy(y, "2,0" as never), {
      name: "TypeError",
      message: /^accuracy: labels must be an int32 tensor, an array or a TypedArray of integers/,
    });
    assert.throws(() => F.softmaxCrossEntropy(y, [2, 0, 1]), /3 labels of shape \[3\] for 2 rows/);
    // Differentiable through the scores, as with tensor labels.
    const r = await utils.gradientCheck(
      (x) => F.softmaxCrossEntropy(x, [2, 0]),
      [tensor([[0.1, -0.3, 0.2], [0.5, 0.4, -1]], { device })],
      { order: 2 },
    );
    assert.ok(r.ok, r.failures.join("\n"));
  });
}

Deno.test("int32 values need no gradient, as in PyTorch: labels and indices", () => {
  const t = tensor([0, 1, 2], { dtype: "int32" });
  assert.equal(t.requiresGrad, false);
  assert.equal(t.getItem(slice(0, 2)).requiresGrad, false);
  assert.equal(tensor([1.5]).requiresGrad, true);
  assert.throws(
    () => tensor([1], { dtype: "int32", requiresGrad: true, name: "t" }),
    /Variable: only floating-point values can require gradients, got dtype int32 for "t"/,
  );
});

/** The book's step 48 loop: each step slices its batch of inputs and of labels. */
async function slicedLabelsLoop(device: Device): Promise<void> {
  if (device === "gpu") await initGpu();
  const x = randn([60, 2], { device });
  const t = tensor(Array.from({ length: 60 }, (_, i) => i % 3), { dtype: "int32", device });
  const model = new MLP([6, 3]);
  if (device === "gpu") model.toGpu();
  const opt = new optimizers.SGD({ lr: 0.1 }).setup(model);
  let before = 0;
  for (let step = 0; step < 60; step++) {
    const s = (step * 10) % 60;
    const loss = F.softmaxCrossEntropy(
      model.apply(x.getItem(slice(s, s + 10))),
      t.getItem(slice(s, s + 10)),
    );
    model.cleargrads();
    loss.backward();
    opt.update();
    if (step === 9) before = memoryStats().liveTensors;
  }
  // The label slices are freed as the input slices are (they grew by one a step).
  assert.equal(memoryStats().liveTensors, before);
}

Deno.test("a loop slicing its labels per step stays flat (CPU)", () => slicedLabelsLoop("cpu"));
gpuTest("a loop slicing its labels per step stays flat (GPU)", () => slicedLabelsLoop("gpu"));

Deno.test("a step's accuracy stays readable for two more steps, then backward() frees it", async () => {
  const x = randn([12, 2]);
  const t = tensor(Array.from({ length: 12 }, (_, i) => i % 3), { dtype: "int32" });
  const model = new MLP([5, 3]);
  const opt = new optimizers.SGD({ lr: 0.1 }).setup(model);
  const accs: Variable[] = [];
  let before = 0;
  for (let step = 0; step < 30; step++) {
    const y = model.apply(x);
    const loss = F.softmaxCrossEntropy(y, t);
    accs.push(F.accuracy(y, t));
    model.cleargrads();
    loss.backward();
    opt.update();
    if (step === 9) before = memoryStats().liveTensors;
  }
  // The book's step 51 loop without reads: flat (it grew by one accuracy a step).
  assert.equal(memoryStats().liveTensors, before);
  // The last two are readable, the one before was freed by the last backward().
  assert.ok((await accs[29].item()) >= 0);
  assert.ok((await accs[28].item()) >= 0);
  await assert.rejects(
    () => accs[27].item(),
    /computed outside the graph from a training step's activations .* retainData\(\)/,
  );
  // retainData() keeps one; under noGrad (evaluation) nothing is freed by a later backward().
  const y = model.apply(x);
  const kept = F.accuracy(y, t).retainData();
  const evaluated = noGrad(() => F.accuracy(model.apply(x), t));
  for (let i = 0; i < 3; i++) {
    model.cleargrads();
    F.softmaxCrossEntropy(model.apply(x), t).backward();
  }
  assert.ok((await kept.item()) >= 0);
  assert.ok((await evaluated.item()) >= 0);
});

Deno.test("an accuracy returned from tidy() is the caller's: backward() does not free it", async () => {
  const x = randn([12, 2]);
  const t = tensor(Array.from({ length: 12 }, (_, i) => i % 3), { dtype: "int32" });
  const model = new MLP([5, 3]);
  model.apply(x);
  // Returned from tidy(): the caller's, as tidy() documents; three training steps later it
  // is still readable (it was parked for the third backward()).
  const held = tidy(() => testMode(() => F.accuracy(model.apply(x), t)));
  for (let i = 0; i < 3; i++) {
    model.cleargrads();
    F.softmaxCrossEntropy(model.apply(x), t).backward();
  }
  assert.ok((await held.item()) >= 0);
});
