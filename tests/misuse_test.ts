// Mistakes a plain-JavaScript or notebook user makes (no type checking there):
// DeZero's positional constructor forms, and wrong returns from a user Function.
import assert from "node:assert/strict";
import { assertThrows } from "./_assert.ts";
import {
  F,
  full,
  Function,
  initGpu,
  L,
  MLP,
  type NDArray,
  ones,
  ops,
  optimizers,
  randn,
  tensor,
  tidy,
  Variable,
  zeros,
} from "../mod.ts";
import { ResNet, VGG16 } from "../nn/models.ts";
import { gpuTest } from "../shaders/test_util.ts";

// deno-lint-ignore no-explicit-any
const untyped = (c: unknown) => c as any;

Deno.test("optimizers accept DeZero's positional hyperparameters", () => {
  assert.deepStrictEqual(new optimizers.SGD(0.5).lr, 0.5);
  const m = new optimizers.MomentumSGD(0.1, 0.5);
  assert.deepStrictEqual([m.lr, m.momentum], [0.1, 0.5]);
  const g = new optimizers.AdaGrad(0.02, 1e-3);
  assert.deepStrictEqual([g.lr, g.eps], [0.02, 1e-3]);
  const d = new optimizers.AdaDelta(0.9, 1e-5); // DeZero: AdaDelta(rho, eps), no lr
  assert.deepStrictEqual([d.rho, d.eps, d.lr], [0.9, 1e-5, 1]);
  const a = new optimizers.Adam(0.1, 0.8, 0.99, 1e-7);
  assert.deepStrictEqual([a.lr, a.beta1, a.beta2, a.eps], [0.1, 0.8, 0.99, 1e-7]);
  assert.deepStrictEqual(new optimizers.Adam(0.1).lr, 0.1);
  // The options form is unchanged.
  assert.deepStrictEqual(new optimizers.SGD({ lr: 0.2 }).lr, 0.2);
  assert.deepStrictEqual(new optimizers.Adam({ alpha: 0.02 }).lr, 0.02);
  const w = new optimizers.AdamW({ lr: 0.01, weightDecay: 0.1 });
  assert.deepStrictEqual([w.lr, w.weightDecay], [0.01, 0.1]);
  assert.deepStrictEqual(new optimizers.AdamW().weightDecay, 0.01);
});

Deno.test("optimizers reject wrong hyperparameters with a TypeError", () => {
  assertThrows(() => new (untyped(optimizers.SGD))("0.1"), TypeError, "SGD: expected an options");
  assertThrows(() => new (untyped(optimizers.SGD))(0.1, 0.9), TypeError, "at most 1 positional");
  assertThrows(() => new (untyped(optimizers.SGD))({ lr: "0.1" }), TypeError, '"lr" must be');
  assertThrows(
    () => new (untyped(optimizers.SGD))({ learningRate: 0.1 }),
    TypeError,
    'SGD: unknown option "learningRate"',
  );
  assertThrows(() => new (untyped(optimizers.AdamW))(0.1), TypeError, "AdamW: expected an options");
  assertThrows(
    () => new (untyped(optimizers.AdamW))({ weightDecay: 0.1, decay: 1 }),
    TypeError,
    'AdamW: unknown option "decay"',
  );
});

Deno.test("MLP accepts DeZero's activation argument", async () => {
  const mlp = new MLP([4, 1], F.relu);
  const x = tensor([[-1, 2]]);
  // Reference: the same layers with relu in between.
  const y = mlp.apply(x);
  const l0 = mlp.l0 as L.Linear, l1 = mlp.l1 as L.Linear;
  const ref = l1.apply(F.relu(l0.apply(x)));
  assert.deepStrictEqual(await y.toArray(), await ref.toArray());
  assertThrows(() => new (untyped(MLP))([4, 1], "relu"), TypeError, "MLP: options must be");
  assertThrows(() => new (untyped(MLP))(4), TypeError, "MLP: sizes must be");
  assertThrows(() => new (untyped(MLP))([4, 0]), TypeError, "MLP: sizes[1] must be");
});

Deno.test("layers reject positional options with a TypeError naming the layer", () => {
  assertThrows(
    () => new (untyped(L.Conv2d))(4, 3, 1, 1),
    TypeError,
    "Conv2d: options must be an object such as { stride: 1, pad: 1 }, got 1 (positional arguments after kernelSize are not accepted)",
  );
  assertThrows(() => new (untyped(L.Deconv2d))(4, 3, 2), TypeError, "Deconv2d: options must be");
  assertThrows(
    () => new (untyped(L.Linear))(5, true),
    TypeError,
    "Linear: options must be an object such as { nobias: true }, got true",
  );
  assertThrows(() => new (untyped(L.EmbedID))(10, 3, "float32"), TypeError, "EmbedID: options");
  assertThrows(() => new (untyped(L.RNN))(8, 3), TypeError, "RNN: options must be");
  assertThrows(() => new (untyped(L.LSTM))(8, 3), TypeError, "LSTM: options must be");
  assertThrows(() => new (untyped(L.GRU))(8, 3), TypeError, "GRU: options must be");
  assertThrows(() => new (untyped(L.BatchNorm))(16), TypeError, "BatchNorm: options must be");
  assertThrows(() => new (untyped(L.LayerNorm))(1e-5), TypeError, "LayerNorm: options must be");
  assertThrows(() => new (untyped(VGG16))(true), TypeError, "VGG16: options must be");
  assertThrows(() => new (untyped(ResNet))(20), RangeError, "ResNet: depth must be 18, 34 or 50");
});

Deno.test("layers reject option values of the wrong type", () => {
  assertThrows(() => new (untyped(L.Linear))("5"), TypeError, "Linear: outSize must be");
  assertThrows(() => new (untyped(L.Linear))(5, { nobias: 1 }), TypeError, '"nobias" must be');
  assertThrows(
    () => new (untyped(L.Linear))(5, { bias: false }),
    TypeError,
    'unknown option "bias"',
  );
  assertThrows(() => new (untyped(L.Conv2d))(4, 3, { pad: "1" }), TypeError, '"pad" must be');
  assertThrows(() => new (untyped(L.Conv2d))(4, "3"), TypeError, "Conv2d: kernelSize must be");
  assertThrows(() => new (untyped(L.Linear))(5, { dtype: "f32" }), TypeError, '"dtype" must be');
  assertThrows(() => new (untyped(L.Dropout))("0.5"), TypeError, "Dropout: ratio must be");
  assertThrows(() => new L.Dropout(1), RangeError, "Dropout: ratio must be in [0, 1)");
  // Good forms still work, undefined options included.
  new L.Conv2d(4, [3, 3], { stride: 1, pad: 0, inChannels: undefined });
  new L.Linear(5, { nobias: true, inSize: 3, dtype: "float64" });
  new L.BatchNorm({ decay: 0.9, size: 4 });
});

class ForgotReturn extends Function {
  forward(x: NDArray) {
    return ops.mul(x, x);
  }
  backward(gy: Variable): any {
    gy.mul(this.inputs[0]).mul(2);
  }
}
class ArrayBackward extends Function {
  forward(x: NDArray) {
    return ops.mul(x, x);
  }
  backward(gy: Variable): any {
    return ops.mul(ops.mul(this.inputs[0].array, 2), gy.array);
  }
}
class VariableForward extends Function {
  forward(x: NDArray): any {
    return new Variable(x.share()).mul(2);
  }
  backward(gy: Variable) {
    return gy.mul(2);
  }
}
class Square extends Function {
  forward(x: NDArray) {
    return ops.mul(x, x);
  }
  backward(gy: Variable) {
    return gy.mul(this.inputs[0]).mul(2);
  }
}

Deno.test("Function.backward() returning nothing is a TypeError naming the function", () => {
  assertThrows(
    () => new ForgotReturn().apply(tensor(3)).backward(),
    TypeError,
    "ForgotReturn.backward: must return a Variable, null or an array of them (one per input), got undefined (a missing return?)",
  );
});

Deno.test("Function.backward() returning an NDArray is a TypeError, with createGraph too", () => {
  for (const createGraph of [false, true]) {
    const x = tensor(3);
    assertThrows(
      () => new ArrayBackward().apply(x).backward({ createGraph }),
      TypeError,
      "ArrayBackward.backward: must return a Variable, null or an array of them (one per input), got an NDArray",
    );
    assert.strictEqual(x.grad, null);
  }
});

Deno.test("Function.forward() returning a Variable is a TypeError naming the function", () => {
  assertThrows(
    () => new VariableForward().apply(tensor(3)),
    TypeError,
    "VariableForward.forward: must return backend arrays (an NDArray or an array of them), got a Variable",
  );
});

Deno.test("Function.apply() twice on one instance is an Error", async () => {
  const sq = new Square();
  const a = tensor(2);
  const ya = sq.apply(a);
  assertThrows(
    () => sq.apply(tensor(3)),
    Error,
    "Square: this Function instance was already applied",
  );
  // The first call's graph is intact.
  ya.backward();
  assert.deepStrictEqual(await a.grad!.item(), 4);
});

gpuTest("mixed-device errors say that toCpu() must be awaited", async () => {
  await initGpu();
  const m = new MLP([3, 2]);
  const x = tensor([[1, 2]]);
  m.apply(x);
  m.toGpu();
  const pending = m.toCpu(); // not awaited
  assertThrows(() => m.apply(x), TypeError, "toCpu() is async: await it");
  await pending;
});

Deno.test("errors name a wrong value the same way in the core, the layers and the data", () => {
  // One wording everywhere: values shown, classes with their article, plain objects so called.
  const cases: [() => unknown, string][] = [
    [() => F.mul(untyped({}), 1), "got a plain object"],
    [() => F.mul(untyped(new Map()), 1), "got a Map"],
    [() => new (untyped(L.Linear))(5, new Error("x")), "got an Error"],
    [() => new optimizers.SGD(untyped({ lr: "0.1" })), 'got a string "0.1"'],
    [() => new optimizers.SGD(untyped({ lr: [1, "a", [2]] })), 'got an array [1, "a", […]]'],
    [() => new optimizers.SGD(untyped({ lr: Array(9).fill(0) })), "got an array of length 9"],
    [() => new optimizers.SGD(untyped({ lr: NaN })), "got NaN"],
    [() => new optimizers.SGD(untyped({ lr: () => 1 })), "got a function"],
    [() => tensor(untyped(Symbol("s"))), "got a symbol"],
    [() => tensor(untyped(10n)), "got 10n"],
    [() => tensor(untyped("x".repeat(50))), `got a string "${"x".repeat(40)}…"`],
  ];
  for (const [fn, text] of cases) assertThrows(fn, TypeError, text);
});

gpuTest("toGpu() inside tidy() on a Variable made outside it keeps the moved value", async () => {
  await initGpu();
  const z = tensor([1, 2, 3]);
  z.grad = tensor([4, 5, 6]);
  tidy(() => {
    z.toGpu();
    return null;
  });
  assert.equal(z.device, "gpu");
  assert.deepEqual(await z.toArray(), [1, 2, 3]);
  assert.deepEqual(await z.grad!.toArray(), [4, 5, 6]);
});

Deno.test("normalization and col2im check their parameters and name themselves", () => {
  const x = randn([5, 3]);
  const stats = () => [zeros([3]), ones([3])] as const;
  assertThrows(
    () => F.batchNorm(x, ones([4]), zeros([3]), ...stats()),
    TypeError,
    "batchNorm: gamma of shape [4] does not match 3 channels of [5,3]: expected [3]",
  );
  assertThrows(
    () => F.batchNorm(x, ones([3]), zeros([1, 3]), ...stats()),
    TypeError,
    "batchNorm: beta of shape [1,3] does not match",
  );
  const y = randn([4, 5]);
  assertThrows(
    () => F.layerNorm(y, ones([5]), zeros([4])),
    TypeError,
    "layerNorm: beta of shape [4] does not match gamma [5]",
  );
  // A beta over the whole input broadcast before; PyTorch wants the normalized shape too.
  assertThrows(() => F.layerNorm(y, ones([5]), zeros([4, 5])), TypeError, "layerNorm: beta");
  assertThrows(
    () => F.col2im(randn([5, 4]), [1, 1, 4, 4], 2),
    TypeError,
    "col2im: patches of shape [5,4] do not match input shape [1,1,4,4] with kernel 2x2, stride 1,1 and pad 0,0: expected [9,4]",
  );
});

gpuTest("functions mixing devices name themselves and the arguments", async () => {
  await initGpu();
  const cases: [() => unknown, string][] = [
    [
      () => F.conv2d(randn([1, 1, 4, 4]), randn([2, 1, 3, 3]).toGpu()),
      "conv2d: x is on the cpu and W on the gpu",
    ],
    [
      () => F.deconv2d(randn([1, 2, 4, 4]).toGpu(), randn([2, 1, 3, 3]).toGpu(), zeros([1])),
      "deconv2d: x is on the gpu and b on the cpu",
    ],
    [
      () => F.layerNorm(randn([2, 3]), ones([3]).toGpu(), zeros([3])),
      "layerNorm: x is on the cpu and gamma on the gpu",
    ],
    [
      () => F.sigmoidCrossEntropy(randn([2, 1]).toGpu(), tensor([[1], [0]])),
      "sigmoidCrossEntropy: input is on the gpu and targets on the cpu",
    ],
    [
      () =>
        F.batchNorm(
          randn([4, 3]).toGpu(),
          ones([3]).toGpu(),
          zeros([3]).toGpu(),
          zeros([3]),
          ones([3]),
        ),
      "batchNorm: x is on the gpu and runningMean on the cpu",
    ],
  ];
  for (const [fn, text] of cases) assertThrows(fn, TypeError, text);
});

Deno.test("clip, leakyRelu, pow and astype name a wrong number or dtype", () => {
  const x = tensor([-1, 0.5, 2]);
  assertThrows(() => F.clip(x, untyped("0"), 2), TypeError, "clip: lo must be a number");
  assertThrows(
    () => F.clip(x, 0, untyped(undefined)),
    TypeError,
    "clip: hi must be a number (±Infinity for no bound), got undefined",
  );
  assertThrows(
    () => F.clip(x, NaN, 1),
    TypeError,
    "clip: lo must be a number (±Infinity for no bound), got NaN",
  );
  assertThrows(
    () => F.leakyRelu(x, untyped("0.1")),
    TypeError,
    'leakyRelu: slope must be a finite number, got a string "0.1"',
  );
  assertThrows(
    () => F.pow(x, untyped("2")),
    TypeError,
    'pow: the exponent must be a number, got a string "2"',
  );
  assertThrows(() => F.astype(x, untyped("float16")), TypeError, 'astype: unknown dtype "float16"');
});

gpuTest("-0 stays -0 on the GPU: full() and number operands", async () => {
  await initGpu();
  const signs = (d: ArrayLike<number>) => Array.from(d, (v) => (Object.is(v, -0) ? "-0" : v));
  for (const device of ["cpu", "gpu"] as const) {
    assert.deepStrictEqual(
      signs(await full([3], -0, { device }).data()),
      ["-0", "-0", "-0"],
      device,
    );
    const x = tensor([1, -1], { device });
    assert.deepStrictEqual(await F.div(1, F.mul(x, -0)).toArray(), [-Infinity, Infinity], device);
  }
});
