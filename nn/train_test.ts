/**
 * Convergence on the CPU: the networks of the book's steps actually learn.
 * Sizes are the book's where that stays fast, reduced (and said so) where not.
 */
import { ok } from "node:assert/strict";
import { trainBars, trainSine, trainSpiral } from "./_train_fixtures.ts";

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
