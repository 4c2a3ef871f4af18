/**
 * MNIST with an MLP (the book's step 51), as a short run: `MLP([1000, 10])`
 * with ReLU and Adam on the first 10,000 training images for one epoch, then
 * the test accuracy (about 92%). `deno task train` runs the full 5-epoch
 * training (97.5%+).
 *
 * The files are read from `$DEZERO_DATA` or `~/.cache/dezero` (`mnist/`), or
 * this workplace's mirror beside the repository.
 *
 * Run: `deno run -A examples/mnist_mlp.ts [--gpu]`
 *
 * @module
 */
import { DataLoader, type Device, F, manualSeed, noGrad, testMode, tidy } from "../mod.ts";
import { MNIST } from "../data/datasets.ts";
import { MLP, optimizers } from "../nn/mod.ts";
import { initGpu } from "../shaders/mod.ts";
import { resolveMnistRoot } from "../train.ts";
import { runExample } from "./_args.ts";

/** Options of {@linkcode mnistMlp}. */
export interface MnistMlpOptions {
  /** Training images used (the first ones; 10000). */
  trainSize?: number;
  /** Test images used (the first ones; all 10000). */
  testSize?: number;
  /** Epochs (1). */
  epochs?: number;
  /** Hidden units (1000, as the book). */
  hidden?: number;
  /** Batch size (100). */
  batchSize?: number;
  /** Where to train (`"gpu"` needs `await initGpu()` first). */
  device?: Device;
  /** The data root (`$DEZERO_DATA`, `~/.cache/dezero` or the workplace mirror when omitted). */
  root?: string;
  /** Receives progress lines. */
  log?: (line: string) => void;
}

/** The first `n` samples of an MNIST split. */
export function mnistHead(ds: MNIST, n: number): MNIST {
  const k = Math.min(n, ds.length);
  const size = ds.data.data.length / ds.length;
  return new MNIST(
    (ds.data.data as Uint8Array).subarray(0, k * size),
    (ds.label.data as Uint8Array).subarray(0, k),
    { train: ds.train, transform: ds.transform },
  );
}

/** Trains the MLP and returns its final training loss and its test accuracy. */
export async function mnistMlp(
  {
    trainSize = 10000,
    testSize = 10000,
    epochs = 1,
    hidden = 1000,
    batchSize = 100,
    device = "cpu",
    root,
    log = () => {},
  }: MnistMlpOptions = {},
): Promise<{ trainLoss: number; testAcc: number }> {
  root = await resolveMnistRoot(root, log);
  const train = mnistHead(await MNIST.load({ train: true, root }), trainSize);
  const test = mnistHead(await MNIST.load({ train: false, root }), testSize);
  manualSeed(0);
  const trainLoader = new DataLoader(train, batchSize, { seed: 0, device });
  const testLoader = new DataLoader(test, 500, { shuffle: false, device });

  const model = new MLP([hidden, 10], { activation: F.relu });
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
  console.log(`MNIST, MLP 784-1000-10 (ReLU, Adam), 10000 images, 1 epoch, on the ${device}`);
  const start = performance.now();
  await mnistMlp({ device, log: console.log });
  console.log(`${((performance.now() - start) / 1000).toFixed(1)} s`);
  console.log("The full training: deno task train (or deno run -A train.ts --help)");
}

if (import.meta.main) {
  await runExample(main, { usage: "deno run -A examples/mnist_mlp.ts [--gpu]", flags: ["--gpu"] });
}
