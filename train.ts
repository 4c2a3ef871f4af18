/**
 * `deno task train`: trains a classifier on MNIST, on the GPU when there is
 * one, with a progress bar per epoch, train and test loss and accuracy per
 * epoch, the weights saved as safetensors and a loss/accuracy plot as SVG.
 *
 * ```sh
 * deno task train                          # MLP 784-256-256-10, Adam, 5 epochs
 * deno task train --model cnn              # a small CNN, 3 epochs
 * deno task train --device cpu --epochs 2  # see --help for every flag
 * ```
 *
 * The functions are exported so that tests (and notebooks) can run a training
 * in-process with a small configuration.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  DataLoader,
  type Device,
  F,
  lossCurveSvg,
  manualSeed,
  noGrad,
  ProgressBar,
  type ProgressWriter,
  testMode,
  tidy,
  transforms,
  type Variable,
} from "./mod.ts";
import { writeFileAtomic } from "./core/_fs.ts";
import { MNIST } from "./data/datasets.ts";
import { joinPath, resolveDataRoot } from "./data/_files.ts";
import { L, MLP, Model, optimizers } from "./nn/mod.ts";
import { gpuAvailable, gpuInfo, initGpu, WebGpuUnavailableError } from "./shaders/mod.ts";

/** The networks `train.ts` knows. */
export type ModelKind = "mlp" | "cnn";

/** Everything a training run needs; {@linkcode parseTrainArgs} builds it from flags. */
export interface TrainConfig {
  /** `"mlp"` (784-256-256-10, ReLU) or `"cnn"` (two conv + pooling blocks, then 100-10). */
  model: ModelKind;
  /** Passes over the training set. */
  epochs: number;
  /** Samples per training batch. */
  batchSize: number;
  /** Adam's learning rate. */
  lr: number;
  /** `"auto"` (the GPU when there is one), `"gpu"` or `"cpu"`. */
  device: "auto" | Device;
  /** The data root holding `mnist/`; undefined: `$DEZERO_DATA`, else `~/.cache/dezero`. */
  dataRoot?: string;
  /** Folder for the weights and the plot. */
  out: string;
  /** Use only the first `trainSize` training samples (all when undefined). */
  trainSize?: number;
  /** Use only the first `testSize` test samples (all when undefined). */
  testSize?: number;
  /** Seed of the weights and the shuffling. */
  seed: number;
}

/** Per-model defaults: the settings the README's measured runs used. */
export const DEFAULTS: Record<ModelKind, { epochs: number; batchSize: number; lr: number }> = {
  mlp: { epochs: 5, batchSize: 100, lr: 0.001 },
  cnn: { epochs: 3, batchSize: 64, lr: 0.001 },
};

/** The text `--help` prints. */
export const HELP = `Train a classifier on MNIST (deno task train [flags])

  --model mlp|cnn     network: mlp = 784-256-256-10 with ReLU (default), cnn = LeNet-style conv8-pool-conv16-pool-100-10
  --epochs N          passes over the training set (mlp ${DEFAULTS.mlp.epochs}, cnn ${DEFAULTS.cnn.epochs})
  --batch-size N      samples per batch (mlp ${DEFAULTS.mlp.batchSize}, cnn ${DEFAULTS.cnn.batchSize})
  --lr X              Adam learning rate (${DEFAULTS.mlp.lr})
  --device auto|gpu|cpu
                      auto (default): the GPU (WebGPU) when there is an adapter, else the CPU
  --data-root DIR     folder holding mnist/ (default: $DEZERO_DATA, else ~/.cache/dezero)
  --out DIR           where the weights (.safetensors) and the plot (.svg) go (default out/)
  --train-size N      train on the first N samples only (default: all 60000)
  --test-size N       evaluate on the first N test samples only (default: all 10000)
  --seed N            seed of the weights and the shuffling (default 0)
  -h, --help          this text

MNIST files (train-images-idx3-ubyte.gz, ...) are read from <data root>/mnist/; when they are
missing, they are downloaded if the network allows it.`;

/**
 * Parses `train.ts` flags into a {@linkcode TrainConfig}, or returns `"help"` for `--help`.
 * Throws a TypeError or RangeError naming the bad flag.
 *
 * @example
 * ```ts
 * import { parseTrainArgs } from "./train.ts";
 * const config = parseTrainArgs(["--model", "cnn", "--epochs", "1"]);
 * console.log(config !== "help" && config.batchSize); // 64
 * ```
 */
export function parseTrainArgs(args: readonly string[]): TrainConfig | "help" {
  let parsed;
  try {
    parsed = parseArgs({
      args: joinNegativeValues(args),
      options: OPTIONS,
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (e) {
    throw new TypeError(`train: ${(e as Error).message} (see --help)`);
  }
  if (parsed.help) return "help";
  const model = parsed.model;
  if (model !== "mlp" && model !== "cnn") {
    throw new RangeError(`train: --model must be mlp or cnn, got ${show(model)}`);
  }
  const device = parsed.device;
  if (device !== "auto" && device !== "cpu" && device !== "gpu") {
    throw new RangeError(`train: --device must be auto, gpu or cpu, got ${show(device)}`);
  }
  const d = DEFAULTS[model];
  return {
    model,
    epochs: positiveInt("--epochs", parsed.epochs) ?? d.epochs,
    batchSize: positiveInt("--batch-size", parsed["batch-size"]) ?? d.batchSize,
    lr: positiveNumber("--lr", parsed.lr) ?? d.lr,
    device,
    dataRoot: folder("--data-root", parsed["data-root"]),
    out: folder("--out", parsed.out)!,
    trainSize: positiveInt("--train-size", parsed["train-size"]),
    testSize: positiveInt("--test-size", parsed["test-size"]),
    seed: seed(parsed.seed!),
  };
}

const OPTIONS = {
  model: { type: "string", default: "mlp" },
  epochs: { type: "string" },
  "batch-size": { type: "string" },
  lr: { type: "string" },
  device: { type: "string", default: "auto" },
  "data-root": { type: "string" },
  out: { type: "string", default: "out" },
  "train-size": { type: "string" },
  "test-size": { type: "string" },
  seed: { type: "string", default: "0" },
  help: { type: "boolean", short: "h", default: false },
} as const;

/**
 * `--epochs -1` as `--epochs=-1`: parseArgs takes a value that starts with a dash for a flag
 * ("argument is ambiguous"), so a negative number would never reach the flag's own check.
 */
function joinNegativeValues(args: readonly string[]): string[] {
  const takesValue = (arg: string) =>
    arg.startsWith("--") && OPTIONS[arg.slice(2) as keyof typeof OPTIONS]?.type === "string";
  const joined: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const next = args[i + 1];
    if (takesValue(args[i]) && next !== undefined && /^-[0-9.]/.test(next)) {
      joined.push(`${args[i]}=${next}`);
      i++;
    } else {
      joined.push(args[i]);
    }
  }
  return joined;
}

// Plain decimal digits only: Number() would also take "", " ", "0x10", "1e1" and "6e4 ".
const DIGITS = /^[0-9]+$/;
// A decimal number with an optional exponent (1e-3): no hex, no spaces, no trailing text.
const DECIMAL = /^(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/;

function positiveInt(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!DIGITS.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new RangeError(`train: ${flag} must be a positive integer, got ${show(value)}`);
  }
  return n;
}

/** The seed: the generators take 32 bits, so a larger one would quietly repeat a smaller one. */
function seed(value: string): number {
  const n = Number(value);
  if (!DIGITS.test(value) || n > 0xffffffff) {
    throw new RangeError(
      `train: --seed must be an integer from 0 to 4294967295, got ${show(value)}`,
    );
  }
  return n;
}

function positiveNumber(flag: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!DECIMAL.test(value) || !(n > 0) || !Number.isFinite(n)) {
    throw new RangeError(`train: ${flag} must be a positive number, got ${show(value)}`);
  }
  return n;
}

/** A folder flag: an empty value would name no folder (and joined paths would start at `/`). */
function folder(flag: string, value: string | undefined): string | undefined {
  if (value !== undefined && value.trim() === "") {
    throw new RangeError(`train: ${flag} must be a folder path, got ${show(value)}`);
  }
  return value;
}

/** A flag's value as typed, quoted so that an empty or blank value is visible. */
function show(value: string): string {
  return JSON.stringify(value);
}

/** What the loader's messages call the data root: this command line's flag. */
const ROOT_HINT = "--data-root";

/** This workplace's read-only MNIST mirror, beside the repository. */
const SHARED_DATA = new URL("../shared/data", import.meta.url);

const MNIST_NAMES = [
  "train-images-idx3-ubyte",
  "train-labels-idx1-ubyte",
  "t10k-images-idx3-ubyte",
  "t10k-labels-idx1-ubyte",
];

async function isFile(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

async function hasMnist(root: string): Promise<boolean> {
  for (const name of MNIST_NAMES) {
    const base = joinPath(root, "mnist", name);
    if (!(await isFile(base)) && !(await isFile(base + ".gz"))) return false;
  }
  return true;
}

/**
 * The data root to load MNIST from: `dataRoot`, else `$DEZERO_DATA`, else `~/.cache/dezero`;
 * when that holds no MNIST files but `../shared/data/mnist` (beside the repository) does, that
 * mirror, with a notice through `log`. Otherwise the first root, where the loader downloads the
 * files or says where to put them.
 *
 * @example
 * ```ts ignore
 * import { resolveMnistRoot } from "./train.ts";
 * console.log(await resolveMnistRoot(undefined, console.log));
 * ```
 */
export async function resolveMnistRoot(
  dataRoot: string | undefined,
  log: (line: string) => void,
): Promise<string> {
  const root = resolveDataRoot(dataRoot, ROOT_HINT);
  if (await hasMnist(root)) return root;
  const shared = decodeURIComponent(SHARED_DATA.pathname);
  if (await hasMnist(shared)) {
    log(`MNIST is not in ${root}/mnist: using the workplace mirror ${shared}/mnist`);
    return shared;
  }
  return root;
}

/** The first `n` samples of an MNIST split (all when `n` is undefined or too large). */
function head(ds: MNIST, n: number | undefined, transform: transforms.Compose | undefined): MNIST {
  const total = ds.length;
  const k = n === undefined ? total : Math.min(n, total);
  const images = (ds.data.data as Uint8Array).subarray(0, k * 784);
  const labels = (ds.label.data as Uint8Array).subarray(0, k);
  return new MNIST(images, labels, { train: ds.train, transform });
}

/**
 * The CNN of `--model cnn`, LeNet-style: two blocks of 5×5 convolution (8 and 16 channels),
 * ReLU and 2×2 max pooling, then a hidden layer of 100 ReLU units and the 10 classes.
 *
 * @example
 * ```ts
 * import { MnistCNN } from "./train.ts";
 * import { randn } from "./mod.ts";
 * console.log(new MnistCNN().apply(randn([2, 1, 28, 28])).shape); // [2, 10]
 * ```
 */
export class MnistCNN extends Model {
  /** 1 → 8 channels, 5×5: 28×28 → 24×24 (12×12 after pooling). */
  conv1: L.Conv2d = new L.Conv2d(8, 5, { inChannels: 1 });
  /** 8 → 16 channels, 5×5: 12×12 → 8×8 (4×4 after pooling). */
  conv2: L.Conv2d = new L.Conv2d(16, 5, { inChannels: 8 });
  /** 16·4·4 features → 100 hidden units. */
  fc1: L.Linear = new L.Linear(100, { inSize: 16 * 4 * 4 });
  /** 100 hidden units → 10 classes. */
  fc2: L.Linear = new L.Linear(10, { inSize: 100 });

  /** Applies the network to images `[N, 1, 28, 28]`. */
  forward(x: Variable): Variable {
    let h = F.pooling(F.relu(this.conv1.apply(x)), 2);
    h = F.pooling(F.relu(this.conv2.apply(h)), 2);
    return this.fc2.apply(F.relu(this.fc1.apply(h.reshape(h.shape[0], -1))));
  }
}

/**
 * The network of a {@linkcode ModelKind}: the MLP is 784-256-256-10 with ReLU.
 *
 * @example
 * ```ts
 * import { buildModel } from "./train.ts";
 * import { randn } from "./mod.ts";
 * console.log(buildModel("mlp").apply(randn([3, 784])).shape); // [3, 10]
 * ```
 */
export function buildModel(kind: ModelKind): Model {
  if (kind === "cnn") return new MnistCNN();
  return new MLP([256, 256, 10], { activation: F.relu });
}

/** Loss and accuracy of one epoch. */
export interface EpochStats {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch (while the weights changed). */
  trainLoss: number;
  /** Training accuracy over the epoch. */
  trainAcc: number;
  /** Mean test loss after the epoch. */
  testLoss: number;
  /** Test accuracy after the epoch. */
  testAcc: number;
  /** Seconds the epoch's training took (evaluation excluded). */
  seconds: number;
}

/** What {@linkcode train} returns. */
export interface TrainResult {
  /** The device the run used. */
  device: Device;
  /** The trained model. */
  model: Model;
  /** One entry per epoch. */
  history: EpochStats[];
  /** The saved weights (safetensors). */
  weightsPath: string;
  /** The loss/accuracy plot (SVG). */
  plotPath: string;
  /** Seconds for the whole run (loading, training, evaluating, saving). */
  seconds: number;
}

/** Options of {@linkcode train}. */
export interface TrainOptions {
  /** Receives each line of the report (default `console.log`). */
  log?: (line: string) => void;
  /** Where progress bars are drawn (default stdout). */
  progressWriter?: ProgressWriter;
  /** Called after each epoch's evaluation with its statistics. */
  onEpoch?: (stats: EpochStats) => void;
}

/**
 * Thrown by {@linkcode train} when the loss becomes NaN or infinite: the weights are lost, so
 * the run stops there, before anything is saved. A lower learning rate usually helps.
 *
 * @example
 * ```ts ignore
 * import { parseTrainArgs, train, TrainingDivergedError } from "./train.ts";
 * const config = parseTrainArgs(["--lr", "1e30", "--train-size", "300"]);
 * try {
 *   if (config !== "help") await train(config);
 * } catch (e) {
 *   if (e instanceof TrainingDivergedError) console.log(e.epoch, e.step);
 * }
 * ```
 */
export class TrainingDivergedError extends Error {
  /** The 1-based epoch. */
  readonly epoch: number;
  /** The training steps of that epoch done when the loss was found non-finite. */
  readonly step: number;

  /** `what` says which loss became what, and where. */
  constructor(what: string, { epoch, step, lr }: { epoch: number; step: number; lr: number }) {
    super(`train: training diverged: ${what}; try a lower --lr (it is ${lr})`);
    this.name = "TrainingDivergedError";
    this.epoch = epoch;
    this.step = step;
  }
}

/** Picks the device: the GPU for `"auto"` when there is one (with a notice otherwise). */
async function pickDevice(want: TrainConfig["device"], log: (s: string) => void): Promise<Device> {
  if (want === "cpu") return "cpu";
  if (want === "auto" && !(await gpuAvailable())) {
    log("No WebGPU adapter found: training on the CPU");
    return "cpu";
  }
  await initGpu();
  return "gpu";
}

/** `total + value·size` without a graph (`value·size` when `total` is null); disposes `total`. */
function accumulate(total: Variable | null, value: Variable, size: number): Variable {
  const next = tidy(() =>
    noGrad(() => (total === null ? value.mul(size) : total.add(value.mul(size))))
  );
  total?.dispose();
  return next;
}

/** Mean loss and accuracy of `model` over `loader`, in test mode without a graph. */
async function evaluate(model: Model, loader: DataLoader): Promise<[loss: number, acc: number]> {
  let lossSum = 0, accSum = 0, n = 0;
  for (const [x, t] of loader) {
    const [loss, acc] = tidy(() =>
      testMode(() =>
        noGrad(() => {
          const y = model.apply(x);
          return [F.softmaxCrossEntropy(y, t), F.accuracy(y, t)];
        })
      )
    );
    const size = x.shape[0];
    lossSum += (await loss.item()) * size;
    accSum += (await acc.item()) * size;
    n += size;
    loss.dispose();
    acc.dispose();
  }
  return [lossSum / n, accSum / n];
}

/**
 * Trains `config.model` on MNIST and evaluates it on the test split after every epoch;
 * saves the weights (`<out>/mnist_<model>.safetensors`) and a loss/accuracy plot
 * (`<out>/mnist_<model>.svg`). The output folder is created and checked for writing first, so
 * that an unusable one fails at once rather than after the training.
 *
 * @example
 * ```ts ignore
 * import { parseTrainArgs, train } from "./train.ts";
 * const config = parseTrainArgs(["--epochs", "1", "--train-size", "2000"]);
 * if (config !== "help") console.log((await train(config)).history);
 * ```
 */
export async function train(config: TrainConfig, options: TrainOptions = {}): Promise<TrainResult> {
  const log = options.log ?? console.log;
  const start = performance.now();
  // A bad output folder is found now, not after the training whose results it was to hold.
  await prepareOutDir(config.out);
  const device = await pickDevice(config.device, log);
  const where = device === "gpu" ? `the GPU (${gpuInfo().description})` : "the CPU";

  const root = await resolveMnistRoot(config.dataRoot, log);
  // The MLP sees flat [784] vectors in [0, 1] (MNIST's default); the CNN [1, 28, 28] images.
  const transform = config.model === "cnn"
    ? new transforms.Compose([new transforms.ToFloat(), new transforms.Normalize(0, 255)])
    : undefined;
  const fullTrain = await MNIST.load({ train: true, root, rootHint: ROOT_HINT });
  const fullTest = await MNIST.load({ train: false, root, rootHint: ROOT_HINT });
  // head() takes all samples when asked for more; say so rather than clamp silently.
  const clamped = (flag: string, n: number | undefined, ds: MNIST) => {
    const what = ds.train ? "training" : "test";
    if (n !== undefined && n > ds.length) {
      log(`${flag} ${n} is more than the ${ds.length} ${what} samples: using all ${ds.length}`);
    }
  };
  clamped("--train-size", config.trainSize, fullTrain);
  clamped("--test-size", config.testSize, fullTest);
  const trainSet = head(fullTrain, config.trainSize, transform);
  const testSet = head(fullTest, config.testSize, transform);

  manualSeed(config.seed);
  const trainLoader = new DataLoader(trainSet, config.batchSize, {
    shuffle: true,
    seed: config.seed,
    device,
  });
  const testLoader = new DataLoader(testSet, 500, { shuffle: false, device });
  const model = buildModel(config.model);
  if (device === "gpu") model.toGpu();
  const optimizer = new optimizers.Adam({ lr: config.lr }).setup(model);
  log(
    `MNIST ${config.model.toUpperCase()} on ${where}: ${trainSet.length} training and ` +
      `${testSet.length} test samples, batch ${config.batchSize}, Adam lr ${config.lr}, ` +
      `${config.epochs} epoch${config.epochs === 1 ? "" : "s"}`,
  );

  const history: EpochStats[] = [];
  for (let epoch = 1; epoch <= config.epochs; epoch++) {
    const t0 = performance.now();
    const bar = new ProgressBar({
      total: trainLoader.length,
      label: `epoch ${epoch}/${config.epochs}`,
      writer: options.progressWriter,
    });
    // The sums of loss·size and accuracy·size stay on the device; they are read back (which
    // waits for the device) every 10 steps only, for the progress bar.
    let lossTotal: Variable | null = null, accTotal: Variable | null = null;
    let lossSum = 0, accSum = 0, n = 0, step = 0, unread = 0;
    const read = async () => {
      lossSum = await lossTotal!.item();
      accSum = await accTotal!.item();
      bar.update(unread, { loss: formatLoss(lossSum / n), acc: (accSum / n).toFixed(4) });
      unread = 0;
      if (!Number.isFinite(lossSum)) {
        bar.finish();
        lossTotal!.dispose();
        accTotal!.dispose();
        throw new TrainingDivergedError(
          `the training loss is ${lossSum} by step ${step} of ${trainLoader.length} in epoch ` +
            `${epoch}`,
          { epoch, step, lr: config.lr },
        );
      }
    };
    for (const [x, t] of trainLoader) {
      // tidy() releases whatever the step created and did not return (gradients, anything a
      // graph left behind) right away instead of whenever the garbage collector runs.
      const [loss, acc] = tidy(() => {
        const y = model.apply(x);
        const loss = F.softmaxCrossEntropy(y, t);
        const acc = noGrad(() => F.accuracy(y, t));
        model.cleargrads();
        loss.backward();
        optimizer.update();
        return [loss, acc];
      });
      const size = x.shape[0];
      lossTotal = accumulate(lossTotal, loss, size);
      accTotal = accumulate(accTotal, acc, size);
      loss.dispose();
      acc.dispose();
      n += size;
      step++;
      if (++unread === 10) await read();
    }
    if (unread > 0 || lossTotal === null) await read();
    lossTotal?.dispose();
    accTotal?.dispose();
    bar.finish();
    const seconds = (performance.now() - t0) / 1000;
    const [testLoss, testAcc] = await evaluate(model, testLoader);
    if (!Number.isFinite(testLoss)) {
      throw new TrainingDivergedError(
        `the test loss is ${testLoss} after epoch ${epoch}`,
        { epoch, step, lr: config.lr },
      );
    }
    const stats = {
      epoch,
      trainLoss: lossSum / n,
      trainAcc: accSum / n,
      testLoss,
      testAcc,
      seconds,
    };
    history.push(stats);
    options.onEpoch?.(stats);
    log(
      `epoch ${epoch}: train loss ${formatLoss(stats.trainLoss)}, accuracy ${
        pct(stats.trainAcc)
      } | test loss ${formatLoss(testLoss)}, accuracy ${pct(testAcc)} | ${seconds.toFixed(1)} s`,
    );
  }

  const weightsPath = joinPath(config.out, `mnist_${config.model}.safetensors`);
  const plotPath = joinPath(config.out, `mnist_${config.model}.svg`);
  await model.saveWeights(weightsPath);
  await writeFileAtomic(plotPath, new TextEncoder().encode(trainingPlot(config, history)));
  const total = (performance.now() - start) / 1000;
  log(`Saved the weights to ${weightsPath} and the plot to ${plotPath} (${total.toFixed(1)} s)`);
  return { device, model, history, weightsPath, plotPath, seconds: total };
}

/**
 * Creates the output folder (and the folders above it) and checks that files can be written
 * there. Throws the file system's error class with a message naming the folder and the flag.
 */
async function prepareOutDir(out: string): Promise<void> {
  if (out.trim() === "") {
    throw new RangeError(
      `train: the output folder (--out) must be a folder path, got ${show(out)}`,
    );
  }
  try {
    await Deno.mkdir(out, { recursive: true });
    const probe = await Deno.makeTempFile({ dir: out, prefix: ".train_write_check_" });
    await Deno.remove(probe);
  } catch (e) {
    const notFolder = e instanceof Deno.errors.AlreadyExists ||
      e instanceof Deno.errors.NotADirectory;
    const why = notFolder
      ? "it or a folder above it is a file, not a folder"
      // "Permission denied (os error 13): tmpfile": the operation is ours, not the user's.
      : `cannot write there: ${(e as Error).message.replace(/ \(os error \d+\).*$/s, "")}`;
    const Class = (Object.values(Deno.errors) as ErrorConstructor[]).find((c) => e instanceof c) ??
      Error;
    // The os error code (EROFS, ENOSPC) marks errors that have no class as the user's to fix.
    const code = (e as { code?: unknown }).code;
    const error = new Class(`Cannot save the results in ${out} (--out): ${why}`, { cause: e });
    throw typeof code === "string" ? Object.assign(error, { code }) : error;
  }
}

/**
 * Whether `e` is a problem for the user to fix rather than a bug: a file system error (missing
 * or corrupt data, a bad output folder, a denied permission), a missing GPU or a training that
 * diverged. Its message says what is wrong, so the command line prints just that.
 */
function isUserError(e: unknown): e is Error {
  return e instanceof WebGpuUnavailableError || e instanceof TrainingDivergedError ||
    (Object.values(Deno.errors) as ErrorConstructor[]).some((c) => e instanceof c) ||
    // Operating system errors that Deno has no class for (a read-only file system, a full disk).
    (e instanceof Error && /^E[A-Z]+$/.test(String((e as { code?: unknown }).code)));
}

/**
 * A loss as the report prints it: four decimals (`0.2583`), or four significant digits with an
 * exponent where decimals would say too little or too much (`4.036e+31`, `1.234e-5`).
 *
 * @example
 * ```ts
 * import { formatLoss } from "./train.ts";
 * console.log(formatLoss(0.25831), formatLoss(4.0356678158798095e31)); // 0.2583 4.036e+31
 * ```
 */
export function formatLoss(x: number): string {
  const size = Math.abs(x);
  return size >= 1e4 || (size > 0 && size < 1e-3) ? x.toExponential(3) : x.toFixed(4);
}

function pct(x: number): string {
  return `${(x * 100).toFixed(2)}%`;
}

/** The SVG of loss and accuracy per epoch (train and test), two charts stacked. */
function trainingPlot(config: TrainConfig, history: readonly EpochStats[]): string {
  const width = 640, height = 320;
  const loss = lossCurveSvg({
    title: `MNIST ${config.model.toUpperCase()}: loss`,
    yLabel: "loss",
    width,
    height,
    series: [
      { name: "train", values: history.map((h) => h.trainLoss) },
      { name: "test", values: history.map((h) => h.testLoss) },
    ],
  });
  const acc = lossCurveSvg({
    title: `MNIST ${config.model.toUpperCase()}: accuracy`,
    yLabel: "accuracy",
    width,
    height,
    series: [
      { name: "train", values: history.map((h) => h.trainAcc) },
      { name: "test", values: history.map((h) => h.testAcc) },
    ],
  });
  // Nest the two charts in one document, one above the other.
  const nest = (svg: string, y: number) => svg.replace(/^<svg\b/, `<svg y="${y}"`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${2 * height}" ` +
    `viewBox="0 0 ${width} ${2 * height}">\n${nest(loss, 0)}\n${nest(acc, height)}\n</svg>\n`;
}

/**
 * The command line: parses the flags and trains. Exits with 2 on a bad flag, with 1 on an
 * error (one line for the user's problems: data files, output folder, GPU).
 */
async function main(args: readonly string[]): Promise<number> {
  let config;
  try {
    config = parseTrainArgs(args);
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  if (config === "help") {
    console.log(HELP);
    return 0;
  }
  try {
    await train(config);
    return 0;
  } catch (e) {
    // Missing or corrupt data files, an unusable output folder and a missing GPU are the
    // user's to fix: the message says how, and a stack trace would only hide it. Bugs keep theirs.
    if (!isUserError(e)) {
      console.error(e);
      return 1;
    }
    console.error(e.message.startsWith("train: ") ? e.message : `train: ${e.message}`);
    return 1;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
