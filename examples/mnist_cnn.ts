/**
 * MNIST with a small convolutional network, as a short run: one 5×5
 * convolution (8 filters) with ReLU and 2×2 max pooling, then a linear layer,
 * trained with Adam on the first 30,000 training images for one epoch (about
 * 94.5% test accuracy, some 20 s on a CPU). `deno task train --model cnn` runs the full training
 * (98.5%+).
 *
 * Run: `deno run -A examples/mnist_cnn.ts [--gpu]`
 *
 * @module
 */
import {
  DataLoader,
  type Device,
  F,
  manualSeed,
  noGrad,
  testMode,
  tidy,
  transforms,
} from "../mod.ts";
import type { Variable } from "../mod.ts";
import { MNIST } from "../data/datasets.ts";
import { L, Model, optimizers } from "../nn/mod.ts";
import { initGpu } from "../shaders/mod.ts";
import { resolveMnistRoot } from "../train.ts";
import { mnistHead } from "./mnist_mlp.ts";
import { runExample } from "./_args.ts";

/** Conv(8, 5×5) → ReLU → max pool 2×2 → Linear(10), on images `[N, 1, 28, 28]`. */
export class SmallCNN extends Model {
  /** 1 → 8 channels, 5×5, no padding: 28×28 → 24×24. */
  conv = new L.Conv2d(8, 5, { inChannels: 1 });
  /** 8·12·12 features → 10 classes. */
  fc = new L.Linear(10, { inSize: 8 * 12 * 12 });

  /** Applies the network. */
  forward(x: Variable): Variable {
    const h = F.pooling(F.relu(this.conv.apply(x)), 2);
    return this.fc.apply(h.reshape(h.shape[0], -1));
  }
}

/** Options of {@linkcode mnistCnn}. */
export interface MnistCnnOptions {
  /** Training images used (the first ones; 30000). */
  trainSize?: number;
  /** Test images used (the first ones; all 10000). */
  testSize?: number;
  /** Epochs (1). */
  epochs?: number;
  /** Batch size (50). */
  batchSize?: number;
  /** Where to train (`"gpu"` needs `await initGpu()` first). */
  device?: Device;
  /** The data root (`$DEZERO_DATA`, `~/.cache/dezero` or the workplace mirror when omitted). */
  root?: string;
  /** Receives progress lines. */
  log?: (line: string) => void;
}

/** Trains the CNN and returns its last epoch's training loss and its test accuracy. */
export async function mnistCnn(
  {
    trainSize = 30000,
    testSize = 10000,
    epochs = 1,
    batchSize = 50,
    device = "cpu",
    root,
    log = () => {},
  }: MnistCnnOptions = {},
): Promise<{ trainLoss: number; testAcc: number }> {
  root = await resolveMnistRoot(root, log);
  // Images stay [1, 28, 28] (no Flatten), as float32 in [0, 1].
  const transform = new transforms.Compose([
    new transforms.ToFloat(),
    new transforms.Normalize(0, 255),
  ]);
  const train = mnistHead(await MNIST.load({ train: true, root, transform }), trainSize);
  const test = mnistHead(await MNIST.load({ train: false, root, transform }), testSize);
  manualSeed(0);
  const trainLoader = new DataLoader(train, batchSize, { seed: 0, device });
  const testLoader = new DataLoader(test, 500, { shuffle: false, device });

  const model = new SmallCNN();
  if (device === "gpu") model.toGpu();
  const optimizer = new optimizers.Adam().setup(model);

  let trainLoss = NaN;
  for (let epoch = 1; epoch <= epochs; epoch++) {
    let sum = 0, n = 0;
    for (const [x, t] of trainLoader) {
      const loss = F.softmaxCrossEntropy(model.apply(x), t);
      model.cleargrads();
      loss.backward();
      optimizer.update();
      sum += (await loss.item()) * t.length;
      n += t.length;
    }
    trainLoss = sum / n;
    log(`epoch ${epoch}: train loss ${trainLoss.toFixed(4)}`);
  }

  let correct = 0;
  for (const [x, t] of testLoader) {
    // tidy() frees the logits at once; the GPU would otherwise wait for the garbage collector.
    const acc = tidy(() => testMode(() => noGrad(() => F.accuracy(model.apply(x), t))));
    correct += (await acc.item()) * t.length;
    acc.dispose();
  }
  const testAcc = correct / test.length;
  log(`test accuracy ${(testAcc * 100).toFixed(2)}%`);
  return { trainLoss, testAcc };
}

/** Runs the short training and prints its progress. */
export async function main(args: readonly string[] = Deno.args): Promise<void> {
  const device: Device = args.includes("--gpu") ? "gpu" : "cpu";
  if (device === "gpu") await initGpu();
  console.log(`MNIST, CNN conv8(5x5)-pool-linear (Adam), 30000 images, 1 epoch, on the ${device}`);
  const start = performance.now();
  await mnistCnn({ device, log: console.log });
  console.log(`${((performance.now() - start) / 1000).toFixed(1)} s`);
  console.log("The full training: deno task train --model cnn");
}

if (import.meta.main) {
  await runExample(main, { usage: "deno run -A examples/mnist_cnn.ts [--gpu]", flags: ["--gpu"] });
}
