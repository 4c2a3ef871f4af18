/**
 * Convergence on the CPU: the networks of the book's steps actually learn.
 * Sizes are the book's where that stays fast, reduced (and said so) where not.
 */
import { ok } from "node:assert/strict";
import { trainBars, trainSine, trainSpiral } from "./_train_fixtures.ts";
import { F, randn, tensor, type Variable } from "../mod.ts";
import { liveArrayCount } from "../core/ndarray.ts";
import { L, Model, optimizers } from "./mod.ts";

Deno.test("MLP learns the spiral to DeZero's ~97% train accuracy (step 48, 300 epochs)", async () => {
  const acc = await trainSpiral(300);
  ok(acc >= 0.96, `train accuracy ${acc}`);
});

Deno.test("LSTM fits the sine curve and predicts the cosine (step 60, hidden 30, 40 epochs)", async () => {
  const { loss, cosMse } = await trainSine({ hidden: 30, epochs: 40, lr: 0.005 });
  ok(loss < 0.01, `final epoch loss ${loss}`);
  ok(cosMse < 0.005, `cosine prediction MSE ${cosMse}`);
});

Deno.test("a small CNN learns to tell horizontal from vertical bars", async () => {
  const acc = await trainBars(40);
  ok(acc >= 0.95, `test accuracy ${acc}`);
});

Deno.test("a training step leaves no arrays behind (CNN with batch norm, dropout, padding, hooks)", () => {
  class Net extends Model {
    conv = new L.Conv2d(4, 3, { pad: 1 });
    bn = new L.BatchNorm();
    fc = new L.Linear(2);
    forward(x: Variable): Variable {
      const h = F.pooling(F.relu(this.bn.apply(this.conv.apply(x))), 2, { pad: 1 });
      return this.fc.apply(F.dropout(h.reshape(h.shape[0], -1)));
    }
  }
  const net = new Net();
  const opt = new optimizers.MomentumSGD().setup(net)
    .addHook(new optimizers.ClipGrad(1))
    .addHook(new optimizers.WeightDecay(1e-4));
  const x = randn([4, 1, 6, 6]);
  const t = tensor(new Int32Array([0, 1, 0, 1]));
  const step = () => {
    const loss = F.softmaxCrossEntropy(net.apply(x), t);
    net.cleargrads();
    loss.backward();
    opt.update();
    loss.dispose();
  };
  step(); // creates the lazy weights and the optimizer state
  const before = liveArrayCount();
  for (let i = 0; i < 10; i++) step();
  // Finalizers of earlier tests' garbage may lower the count, never raise it.
  ok(liveArrayCount() <= before, `${liveArrayCount() - before} arrays left by 10 steps`);
});
