/**
 * The stage 4–5 demos of examples/ run and learn: each is called in-process
 * through its exported function, with the book's settings where that stays
 * fast and fewer iterations (said so) where not.
 */
import assert from "node:assert/strict";
import { charLstm } from "../examples/char_lstm.ts";
import { dropoutDemo } from "../examples/dropout.ts";
import { lstmSine } from "../examples/lstm_sine.ts";
import { mnistCnn } from "../examples/mnist_cnn.ts";
import { mnistMlp } from "../examples/mnist_mlp.ts";
import { sineSeq } from "../examples/rnn_sine.ts";
import { saveLoad } from "../examples/save_load.ts";
import { sineMlp } from "../examples/sine_mlp.ts";
import { spiralDataLoader } from "../examples/spiral_dataloader.ts";
import { MLP } from "../nn/mod.ts";
import { randn } from "../mod.ts";

Deno.test("sineMlp(): MLP + SGD fit the book's noisy sine (steps 45-46, 6000 iterations)", async () => {
  const r = await sineMlp({ iters: 6000 });
  assert.ok(r.checkpoints[0][1] > 0.3, `initial loss ${r.checkpoints[0][1]}`);
  assert.ok(r.finalLoss < 0.09, `final loss ${r.finalLoss}`);
  // The fit follows sin(2πx) + 0.5 (the mean of the uniform noise) inside the data range.
  r.grid.slice(1, -1).forEach((g, i) => {
    const want = Math.sin(2 * Math.PI * g) + 0.5;
    assert.ok(
      Math.abs(r.predictions[i + 1] - want) < 0.2,
      `x=${g}: ${r.predictions[i + 1]} vs ${want}`,
    );
  });
});

Deno.test("spiralDataLoader() reaches DeZero's ~97% train accuracy in 300 epochs (steps 48-50)", async () => {
  const history = await spiralDataLoader();
  assert.equal(history.length, 300);
  const last = history.at(-1)!;
  assert.ok(last.trainAcc >= 0.95, `train accuracy ${last.trainAcc}`);
  assert.ok(last.testAcc >= 0.9, `test accuracy ${last.testAcc}`);
  assert.ok(
    last.trainLoss < history[0].trainLoss / 5,
    `loss ${history[0].trainLoss} -> ${last.trainLoss}`,
  );
});

Deno.test("dropoutDemo(): zeros and scaled ones in training, the identity in test mode", async () => {
  const r = await dropoutDemo({ iters: 150 });
  assert.ok(r.trainValues.every((v) => v === 0 || v === 2), `${r.trainValues}`);
  assert.ok(r.trainValues.includes(0) && r.trainValues.includes(2));
  assert.deepEqual(r.testValues, Array(10).fill(1));
  assert.ok(Math.abs(r.zeroFraction - 0.5) < 0.01, `zero fraction ${r.zeroFraction}`);
  assert.ok(Math.abs(r.mean - 1) < 0.02, `mean ${r.mean}`);
  assert.ok(r.trainModeVaries, "training-mode predictions should differ between calls");
  assert.ok(r.evalModeDeterministic, "eval-mode predictions should be identical");
  assert.ok(r.evalAccuracy > 0.85, `spiral accuracy with dropout ${r.evalAccuracy}`);
});

Deno.test("saveLoad() reloads identical weights and resumes from the file (step 53)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dezero_saveload_" });
  try {
    const path = `${dir}/nested/mlp.safetensors`;
    const first = await saveLoad({ path, trainSize: 1000 });
    assert.equal(first.resumed, false);
    assert.equal(first.maxDiff, 0);
    // 784·100 + 100 + 100·10 + 10 float32 values plus a small header.
    assert.ok(first.bytes > 79510 * 4 && first.bytes < 79510 * 4 + 1024, `${first.bytes} bytes`);
    const second = await saveLoad({ path, trainSize: 1000 });
    assert.equal(second.resumed, true);
    assert.equal(second.maxDiff, 0);
    assert.ok(second.trainLoss < first.trainLoss, `${first.trainLoss} -> ${second.trainLoss}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("saveLoad() given another model's weights: the mismatch as InvalidData, one line and exit 1 on the command line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dezero_saveload_other_" });
  try {
    const path = `${dir}/other.safetensors`;
    const other = new MLP([8, 3]);
    other.apply(randn([2, 5]));
    await other.saveWeights(path);
    const message =
      /^loadWeights: .*other\.safetensors: the weights do not match the model: .* \(pass another path, or delete the file to train from scratch\)$/;
    await assert.rejects(() => saveLoad({ path, trainSize: 100 }), {
      name: "InvalidData",
      message,
    });
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../examples/save_load.ts", import.meta.url).pathname, path],
      stdout: "null",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 1, err);
    assert.equal(err.trim().split("\n").length, 1, err);
    assert.match(err.trim(), message);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("sineSeq(): an RNN with truncated BPTT fits the sine and predicts the cosine (step 59, 10 epochs)", async () => {
  const r = await sineSeq({ epochs: 10 });
  assert.equal(r.losses.length, 10);
  assert.ok(r.losses[9] < 0.01, `final loss ${r.losses[9]}`);
  assert.ok(r.losses[9] < r.losses[0], `${r.losses[0]} -> ${r.losses[9]}`);
  assert.equal(r.predictions.length, 999);
  assert.ok(r.cosMse < 0.01, `cosine MSE ${r.cosMse}`);
});

Deno.test("lstmSine(): the LSTM learns the sine with SeqDataLoader (step 60, 8 epochs, lr 0.005)", async () => {
  const r = await lstmSine({ epochs: 8, lr: 0.005, hidden: 50 });
  assert.ok(r.losses[7] < r.losses[0] / 5, `${r.losses[0]} -> ${r.losses[7]}`);
  assert.ok(r.cosMse < 0.05, `cosine MSE ${r.cosMse}`);
});

Deno.test("charLstm() learns the sonnets' characters and samples text from the vocabulary", async () => {
  const text =
    "Shall I compare thee to a summer's day?\nThou art more lovely and more temperate:\n";
  const r = await charLstm({ text: text.repeat(4), epochs: 12, batchSize: 8, sampleLength: 40 });
  assert.ok(r.losses[0] > 2.5, `first epoch ${r.losses[0]} nats (uniform is ln ${r.vocabSize})`);
  assert.ok(r.losses.at(-1)! < 1, `last epoch ${r.losses.at(-1)} nats`);
  assert.ok(r.sample.startsWith("Shall I "));
  assert.equal(Array.from(r.sample).length, "Shall I ".length + 40);
  assert.ok(Array.from(r.sample).every((c) => text.includes(c)), r.sample);
});

Deno.test("mnistMlp() short run on real MNIST reaches well above chance", async () => {
  const r = await mnistMlp({ trainSize: 3000, testSize: 2000, batchSize: 25, hidden: 300 });
  assert.ok(r.testAcc > 0.8, `test accuracy ${r.testAcc}`);
});

Deno.test("mnistCnn() short run on real MNIST reaches well above chance", async () => {
  const r = await mnistCnn({ trainSize: 3000, testSize: 1000, batchSize: 25 });
  assert.ok(r.testAcc > 0.8, `test accuracy ${r.testAcc}`);
});
