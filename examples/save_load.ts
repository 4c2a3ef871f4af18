/**
 * Saving and loading weights (the book's step 53): an MLP trains briefly on
 * MNIST, its parameters are written with `saveWeights` (the safetensors
 * format, readable by PyTorch and Hugging Face tools), and a fresh model of
 * the same architecture loads them and predicts exactly the same outputs.
 * Running it twice continues the training from the saved file, as in the
 * book.
 *
 * Run: `deno run -A examples/save_load.ts [path]` (default `out/my_mlp.safetensors`)
 *
 * @module
 */
import { DataLoader, F, manualSeed, noGrad, tensor, testMode } from "../mod.ts";
import { MNIST } from "../data/datasets.ts";
import { MLP, optimizers } from "../nn/mod.ts";
import { resolveMnistRoot } from "../train.ts";
import { mnistHead } from "./mnist_mlp.ts";
import { runExample } from "./_args.ts";

/** Options of {@linkcode saveLoad}. */
export interface SaveLoadOptions {
  /** The weights file (`out/my_mlp.safetensors`). */
  path?: string;
  /** Training images used (2000). */
  trainSize?: number;
  /** Continue from `path` when it exists (default true, as the book). */
  resume?: boolean;
  /** The data root (`$DEZERO_DATA`, `~/.cache/dezero` or the workplace mirror when omitted). */
  root?: string;
  /** Receives progress lines. */
  log?: (line: string) => void;
}

/** What {@linkcode saveLoad} found. */
export interface SaveLoadResult {
  /** Whether training started from the saved file. */
  resumed: boolean;
  /** Training loss of the epoch. */
  trainLoss: number;
  /** Largest difference between the trained and the reloaded model's outputs (0). */
  maxDiff: number;
  /** Bytes of the weights file. */
  bytes: number;
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

function newModel(): MLP {
  return new MLP([100, 10], { activation: F.relu });
}

/** Trains one epoch (from `path` when it exists), saves, reloads into a new model and compares. */
export async function saveLoad(
  { path = "out/my_mlp.safetensors", trainSize = 2000, resume = true, root, log = () => {} }:
    SaveLoadOptions = {},
): Promise<SaveLoadResult> {
  root = await resolveMnistRoot(root, log);
  const train = mnistHead(await MNIST.load({ train: true, root }), trainSize);
  manualSeed(0);
  const loader = new DataLoader(train, 100, { seed: 0 });

  const model = newModel();
  const resumed = resume && await exists(path);
  if (resumed) {
    try {
      await model.loadWeights(path);
    } catch (e) {
      // Another model's weights (TypeError) or not a safetensors file (RangeError): the user's
      // file, not a bug, so the command line prints the message without a stack trace.
      if (!(e instanceof TypeError || e instanceof RangeError)) throw e;
      throw new Deno.errors.InvalidData(
        `${e.message} (pass another path, or delete the file to train from scratch)`,
        { cause: e },
      );
    }
    log(`loaded ${path}`);
  }
  const optimizer = new optimizers.Adam().setup(model);
  let sum = 0;
  for (const [x, t] of loader) {
    const loss = F.softmaxCrossEntropy(model.apply(x), t);
    model.cleargrads();
    loss.backward();
    optimizer.update();
    sum += (await loss.item()) * t.length;
  }
  const trainLoss = sum / train.length;
  log(`train loss ${trainLoss.toFixed(4)}`);

  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  await Deno.mkdir(dir, { recursive: true });
  await model.saveWeights(path);
  const bytes = (await Deno.stat(path)).size;
  log(`saved ${path} (${bytes} bytes)`);

  // A new model (its input size is taken from the file) gives the same outputs.
  const loaded = newModel();
  await loaded.loadWeights(path);
  const [x] = train.getBatch([0, 1, 2, 3, 4]);
  const predict = (m: MLP): Promise<Float32Array | Float64Array | Int32Array> => {
    const y = testMode(() =>
      noGrad(() => m.apply(tensor(x.data as Float32Array, { shape: x.shape })))
    );
    return y.data();
  };
  const [a, b] = [await predict(model), await predict(loaded)];
  let maxDiff = 0;
  for (let i = 0; i < a.length; i++) maxDiff = Math.max(maxDiff, Math.abs(a[i] - b[i]));
  log(`largest output difference after reloading: ${maxDiff}`);
  return { resumed, trainLoss, maxDiff, bytes };
}

/** The command line, for usage messages. */
export const USAGE = "deno run -A examples/save_load.ts [path]";

/** Runs it and prints what happened; run it twice to continue training from the file. */
export async function main(args: readonly string[] = Deno.args): Promise<void> {
  const path = args[0] ?? "out/my_mlp.safetensors";
  const r = await saveLoad({ path, log: console.log });
  console.log(r.resumed ? "continued from the saved weights" : "trained from scratch");
  console.log(r.maxDiff === 0 ? "reloaded model: identical outputs" : "reloaded model DIFFERS");
}

if (import.meta.main) await runExample(main, { usage: USAGE, positionals: 1 });
