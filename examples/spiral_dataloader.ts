/**
 * An MLP classifies DeZero's spiral with mini-batches from a `DataLoader` (the
 * book's steps 48–50): `MLP([10, 3])` with sigmoid, SGD at lr 1, batches of 30,
 * 300 epochs. The training accuracy reaches about 97% (DeZero's plot of step
 * 48 shows the three arms separated); the test split (another seed) is
 * evaluated under `testMode` / `noGrad` each epoch as in step 50.
 *
 * Run: `deno run -A examples/spiral_dataloader.ts [--gpu]`
 *
 * @module
 */
import {
  DataLoader,
  datasets,
  type Device,
  F,
  manualSeed,
  noGrad,
  testMode,
  tidy,
} from "../mod.ts";
import { MLP, optimizers } from "../nn/mod.ts";
import { initGpu } from "../shaders/mod.ts";
import { runExample } from "./_args.ts";

/** Options of {@linkcode spiralDataLoader}. */
export interface SpiralOptions {
  /** Epochs (300, as the book). */
  epochs?: number;
  /** Batch size (30). */
  batchSize?: number;
  /** SGD learning rate (1). */
  lr?: number;
  /** Where to train (`"cpu"`; `"gpu"` needs `await initGpu()` first). */
  device?: Device;
  /** Called after each epoch with its statistics. */
  onEpoch?: (stats: SpiralEpoch) => void;
}

/** One epoch of {@linkcode spiralDataLoader}. */
export interface SpiralEpoch {
  /** 1-based epoch. */
  epoch: number;
  /** Mean training loss over the epoch. */
  trainLoss: number;
  /** Training accuracy over the epoch. */
  trainAcc: number;
  /** Test loss after the epoch. */
  testLoss: number;
  /** Test accuracy after the epoch. */
  testAcc: number;
}

/** Trains the MLP; returns one entry per epoch. */
export async function spiralDataLoader(
  { epochs = 300, batchSize = 30, lr = 1, device = "cpu", onEpoch }: SpiralOptions = {},
): Promise<SpiralEpoch[]> {
  manualSeed(0);
  const trainLoader = new DataLoader(new datasets.Spiral({ train: true }), batchSize, {
    seed: 0,
    device,
  });
  const testLoader = new DataLoader(new datasets.Spiral({ train: false }), batchSize, {
    shuffle: false,
    device,
  });
  const model = new MLP([10, 3]);
  if (device === "gpu") model.toGpu();
  const optimizer = new optimizers.SGD({ lr }).setup(model);

  const history: SpiralEpoch[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    let lossSum = 0, accSum = 0, n = 0;
    for (const [x, t] of trainLoader) {
      const y = model.apply(x);
      const loss = F.softmaxCrossEntropy(y, t);
      // `using`: freed at the end of the step, not when the garbage collector runs.
      using acc = noGrad(() => F.accuracy(y, t));
      model.cleargrads();
      loss.backward();
      optimizer.update();
      lossSum += (await loss.item()) * t.length;
      accSum += (await acc.item()) * t.length;
      n += t.length;
    }
    let testLoss = 0, testAcc = 0, m = 0;
    for (const [x, t] of testLoader) {
      // model.apply() under noGrad frees its own intermediates; tidy() frees y too
      // (made in the callback, not returned), and the two results go once read.
      const [loss, acc] = tidy(() =>
        testMode(() =>
          noGrad(() => {
            const y = model.apply(x);
            return [F.softmaxCrossEntropy(y, t), F.accuracy(y, t)];
          })
        )
      );
      testLoss += (await loss.item()) * t.length;
      testAcc += (await acc.item()) * t.length;
      loss.dispose();
      acc.dispose();
      m += t.length;
    }
    const stats = {
      epoch,
      trainLoss: lossSum / n,
      trainAcc: accSum / n,
      testLoss: testLoss / m,
      testAcc: testAcc / m,
    };
    history.push(stats);
    onEpoch?.(stats);
  }
  return history;
}

/** Prints the statistics every 30 epochs. */
export async function main(args: readonly string[] = Deno.args): Promise<void> {
  const device: Device = args.includes("--gpu") ? "gpu" : "cpu";
  if (device === "gpu") await initGpu();
  console.log(`Spiral, MLP([10, 3]) with sigmoid, SGD lr 1, batch 30, on the ${device}`);
  const start = performance.now();
  await spiralDataLoader({
    device,
    onEpoch: (s) => {
      if (s.epoch % 30 !== 0 && s.epoch !== 1) return;
      console.log(
        `epoch ${String(s.epoch).padStart(3)}: train loss ${s.trainLoss.toFixed(4)}, accuracy ${
          s.trainAcc.toFixed(4)
        } | test loss ${s.testLoss.toFixed(4)}, accuracy ${s.testAcc.toFixed(4)}`,
      );
    },
  });
  console.log(`${((performance.now() - start) / 1000).toFixed(1)} s`);
}

if (import.meta.main) {
  await runExample(main, {
    usage: "deno run -A examples/spiral_dataloader.ts [--gpu]",
    flags: ["--gpu"],
  });
}
