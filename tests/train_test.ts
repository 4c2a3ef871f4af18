/**
 * `train.ts` (`deno task train`): flag parsing, the data-root fallback, an
 * in-process run that writes its weights and plot, and short end-to-end
 * trainings on the real MNIST mirror (CPU, and the GPU where there is one)
 * whose accuracy must rise well above chance.
 */
import assert from "node:assert/strict";
import { DataLoader, F, memoryStats, noGrad, randn } from "../mod.ts";
import { joinPath } from "../data/_files.ts";
import { MNIST } from "../data/datasets.ts";
import { loadSafetensors } from "../nn/mod.ts";
import { gpuTest } from "../shaders/test_util.ts";
import {
  buildModel,
  DEFAULTS,
  formatLoss,
  HELP,
  parseTrainArgs,
  resolveMnistRoot,
  train,
  type TrainConfig,
  TrainingDivergedError,
  type TrainResult,
} from "../train.ts";

const quiet = { log: () => {}, progressWriter: { writeSync: (p: Uint8Array) => p.length } };

Deno.test("parseTrainArgs() gives the MLP defaults without flags", () => {
  const c = parseTrainArgs([]);
  assert.notEqual(c, "help");
  assert.deepEqual(c, {
    model: "mlp",
    epochs: DEFAULTS.mlp.epochs,
    batchSize: DEFAULTS.mlp.batchSize,
    lr: DEFAULTS.mlp.lr,
    device: "auto",
    dataRoot: undefined,
    out: "out",
    trainSize: undefined,
    testSize: undefined,
    seed: 0,
  });
});

Deno.test("parseTrainArgs() reads every flag, in both --flag value and --flag=value forms", () => {
  const c = parseTrainArgs([
    "--model=cnn",
    "--epochs",
    "2",
    "--batch-size=32",
    "--lr",
    "0.003",
    "--device",
    "cpu",
    "--data-root",
    "/data",
    "--out=results",
    "--train-size",
    "1000",
    "--test-size=500",
    "--seed",
    "7",
  ]) as TrainConfig;
  assert.deepEqual(c, {
    model: "cnn",
    epochs: 2,
    batchSize: 32,
    lr: 0.003,
    device: "cpu",
    dataRoot: "/data",
    out: "results",
    trainSize: 1000,
    testSize: 500,
    seed: 7,
  });
  // The CNN has its own defaults for what is not given.
  const cnn = parseTrainArgs(["--model", "cnn"]) as TrainConfig;
  assert.equal(cnn.epochs, DEFAULTS.cnn.epochs);
  assert.equal(cnn.batchSize, DEFAULTS.cnn.batchSize);
});

Deno.test("parseTrainArgs() answers --help and -h, and HELP lists every flag", () => {
  assert.equal(parseTrainArgs(["--help"]), "help");
  assert.equal(parseTrainArgs(["-h"]), "help");
  for (const flag of ["--model", "--epochs", "--batch-size", "--lr", "--device", "--data-root"]) {
    assert.ok(HELP.includes(flag), flag);
  }
  assert.ok(HELP.includes("--out"));
});

Deno.test("parseTrainArgs() rejects bad values and unknown flags with a clear error", () => {
  assert.throws(() => parseTrainArgs(["--model", "rnn"]), {
    name: "RangeError",
    message: 'train: --model must be mlp or cnn, got "rnn"',
  });
  assert.throws(() => parseTrainArgs(["--device", "tpu"]), RangeError);
  assert.throws(() => parseTrainArgs(["--epochs", "0"]), {
    name: "RangeError",
    message: 'train: --epochs must be a positive integer, got "0"',
  });
  assert.throws(() => parseTrainArgs(["--batch-size", "1.5"]), RangeError);
  assert.throws(() => parseTrainArgs(["--lr=-1"]), RangeError);
  assert.throws(() => parseTrainArgs(["--lr", "abc"]), RangeError);
  assert.throws(() => parseTrainArgs(["--epoch", "3"]), TypeError);
  assert.throws(() => parseTrainArgs(["extra"]), TypeError);
});

Deno.test("parseTrainArgs() rejects an empty --out or --data-root (they meant the root /)", () => {
  for (const flag of ["--out", "--data-root"]) {
    for (const value of ["", " "]) {
      assert.throws(() => parseTrainArgs([flag, value]), {
        name: "RangeError",
        message: `train: ${flag} must be a folder path, got ${JSON.stringify(value)}`,
      });
    }
  }
  // An empty first segment joins to a relative path, as path.join does, never to "/...".
  assert.equal(joinPath("", "mnist_mlp.svg"), "mnist_mlp.svg");
  assert.equal(joinPath("/", "mnist"), "/mnist");
  assert.equal(joinPath("/"), "/");
  assert.equal(joinPath("out/", "/a/", "", "b"), "out/a/b");
});

Deno.test("parseTrainArgs() takes plain decimal numbers only, naming the flag otherwise", () => {
  const rejected: [string, string, string][] = [
    ["--seed", "", "an integer from 0 to 4294967295"],
    ["--seed", " ", "an integer from 0 to 4294967295"],
    ["--seed", "-1", "an integer from 0 to 4294967295"],
    ["--seed", "4294967296", "an integer from 0 to 4294967295"],
    ["--batch-size", "0x10", "a positive integer"],
    ["--batch-size", "", "a positive integer"],
    ["--epochs", "1e1", "a positive integer"],
    ["--epochs", "1e", "a positive integer"],
    ["--epochs", "2.0", "a positive integer"],
    ["--epochs", "3 ", "a positive integer"],
    ["--epochs", "-2", "a positive integer"],
    ["--epochs", "99999999999999999999", "a positive integer"],
    ["--train-size", "6e4", "a positive integer"],
    ["--train-size", "60k", "a positive integer"],
    ["--test-size", "0", "a positive integer"],
    ["--lr", "0x1", "a positive number"],
    ["--lr", "", "a positive number"],
    ["--lr", "1e", "a positive number"],
    ["--lr", "0.01x", "a positive number"],
    ["--lr", "0", "a positive number"],
    ["--lr", "Infinity", "a positive number"],
  ];
  for (const [flag, value, what] of rejected) {
    // The --flag=value form: parseArgs takes "--seed -1" for two flags.
    assert.throws(() => parseTrainArgs([`${flag}=${value}`]), {
      name: "RangeError",
      message: `train: ${flag} must be ${what}, got ${JSON.stringify(value)}`,
    }, `${flag} ${JSON.stringify(value)}`);
  }
  const c = parseTrainArgs([
    "--seed=4294967295",
    "--epochs=007",
    "--lr=1e-3",
    "--batch-size=16",
    "--train-size=60000",
  ]) as TrainConfig;
  assert.deepEqual([c.seed, c.epochs, c.lr, c.batchSize, c.trainSize], [
    4294967295,
    7,
    0.001,
    16,
    60000,
  ]);
  assert.equal((parseTrainArgs(["--lr", ".5"]) as TrainConfig).lr, 0.5);
});

Deno.test("parseTrainArgs() gives '--flag -1' (with a space) the flag's own message, as '--flag=-1'", () => {
  const cases = [
    ["--epochs", "-1"],
    ["--lr", "-1"],
    ["--lr", "-.5"],
    ["--lr", "-1e-3"],
    ["--seed", "-1"],
    ["--test-size", "-5"],
    ["--train-size", "-1"],
    ["--batch-size", "-3"],
  ];
  for (const [flag, value] of cases) {
    let joined = "";
    try {
      parseTrainArgs([`${flag}=${value}`]);
    } catch (e) {
      joined = (e as Error).message;
    }
    assert.match(joined, new RegExp(`^train: ${flag} must be .*, got "${value}"$`));
    assert.throws(() => parseTrainArgs([flag, value]), { name: "RangeError", message: joined });
  }
  // Only a value that looks like a number is taken: a flag after a flag is still a parse error.
  assert.throws(() => parseTrainArgs(["--epochs", "--lr", "1"]), TypeError);
  assert.throws(() => parseTrainArgs(["--epochs", "-x"]), TypeError);
  // The flags after a joined one are read as usual.
  assert.throws(() => parseTrainArgs(["--epochs", "-1", "--seed", "3"]), RangeError);
  const c = parseTrainArgs(["--epochs", "2", "--seed", "3"]) as TrainConfig;
  assert.deepEqual([c.epochs, c.seed], [2, 3]);
});

Deno.test("formatLoss() prints four decimals, or four significant digits with an exponent", () => {
  assert.equal(formatLoss(0.25831), "0.2583");
  assert.equal(formatLoss(2.302585), "2.3026");
  assert.equal(formatLoss(4.0356678158798095e31), "4.036e+31");
  assert.equal(formatLoss(12345.678), "1.235e+4");
  assert.equal(formatLoss(0.000123456), "1.235e-4");
  assert.equal(formatLoss(0), "0.0000");
  assert.equal(formatLoss(NaN), "NaN");
});

Deno.test("train() checks the output folder before it loads data or trains", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dezero_out_" });
  try {
    const file = `${dir}/a_file`;
    await Deno.writeTextFile(file, "x");
    const config = parseTrainArgs([
      "--device=cpu",
      "--epochs=1",
      "--train-size=100",
    ]) as TrainConfig;
    for (
      const [out, cls] of [[file, Deno.errors.AlreadyExists], [
        `${file}/sub`,
        Deno.errors.NotADirectory,
      ]] as const
    ) {
      const lines: string[] = [];
      let epochs = 0;
      await assert.rejects(
        () =>
          train({ ...config, out }, {
            ...quiet,
            log: (l) => lines.push(l),
            onEpoch: () => epochs++,
          }),
        (e: Error) => {
          assert.ok(e instanceof cls, `${e.name}: ${e.message}`);
          assert.equal(
            e.message,
            `Cannot save the results in ${out} (--out): it or a folder above it is a file, not a folder`,
          );
          return true;
        },
      );
      assert.equal(epochs, 0);
      assert.deepEqual(lines, [], "nothing was loaded or trained");
    }
    // A folder that cannot be written to (root may write anywhere: then there is nothing to see).
    const locked = `${dir}/locked`;
    await Deno.mkdir(locked, { mode: 0o555 });
    await Deno.chmod(locked, 0o555);
    const writable = await Deno.writeTextFile(`${locked}/probe`, "").then(() => true, () => false);
    if (!writable) {
      await assert.rejects(() => train({ ...config, out: `${locked}/out` }, quiet), {
        name: "PermissionDenied",
        message: new RegExp(
          `^Cannot save the results in ${locked}/out \\(--out\\): cannot write there`,
        ),
      });
    }
    // A folder that does not exist yet is created, with the folders above it, before training.
    const fresh = `${dir}/new/deeper`;
    let createdFirst = false;
    const r = await train({ ...config, out: fresh, testSize: 100 }, {
      ...quiet,
      onEpoch: () => createdFirst = Deno.statSync(fresh).isDirectory,
    });
    assert.ok(createdFirst);
    assert.equal(r.weightsPath, `${fresh}/mnist_mlp.safetensors`);
    assert.deepEqual([...Deno.readDirSync(fresh)].map((e) => e.name).sort(), [
      "mnist_mlp.safetensors",
      "mnist_mlp.svg",
    ]);
  } finally {
    await Deno.chmod(`${dir}/locked`, 0o755).catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("Model.plot() takes one input as well as an array of inputs", () => {
  const model = buildModel("mlp");
  const x = randn([2, 784]);
  const one = model.plot(x);
  assert.ok(one.startsWith("digraph"));
  assert.equal(one, model.plot([x]));
  assert.ok((one.match(/shape=box/g) ?? []).length >= 5, "the layers' functions are drawn");
});

const SHARED = decodeURIComponent(new URL("../../shared/data", import.meta.url).pathname);
const hasMirror = (() => {
  try {
    return Deno.statSync(`${SHARED}/mnist/train-images-idx3-ubyte.gz`).isFile;
  } catch {
    return false;
  }
})();

Deno.test("resolveMnistRoot() keeps a root that holds MNIST and falls back to the mirror", async () => {
  const empty = await Deno.makeTempDir({ prefix: "dezero_root_" });
  try {
    const lines: string[] = [];
    const root = await resolveMnistRoot(empty, (l) => lines.push(l));
    if (hasMirror) {
      assert.equal(root, SHARED);
      assert.equal(lines.length, 1);
      assert.match(lines[0], /MNIST is not in .*dezero_root_.*: using the workplace mirror/);
      // A root that has the files is used as it is, silently.
      const again: string[] = [];
      assert.equal(await resolveMnistRoot(SHARED, (l) => again.push(l)), SHARED);
      assert.equal(again.length, 0);
    } else {
      assert.equal(root, empty);
      assert.equal(lines.length, 0);
    }
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("train() stops with TrainingDivergedError when the loss becomes NaN, saving nothing", async () => {
  const out = await Deno.makeTempDir({ prefix: "dezero_diverge_" });
  try {
    const config = parseTrainArgs([
      "--device=cpu",
      "--lr=1e30",
      "--epochs=2",
      "--train-size=300",
      "--test-size=100",
      `--out=${out}`,
    ]) as TrainConfig;
    let epochs = 0;
    await assert.rejects(() => train(config, { ...quiet, onEpoch: () => epochs++ }), (e) => {
      assert.ok(e instanceof TrainingDivergedError, String(e));
      assert.match(
        e.message,
        /^train: training diverged: the training loss is (NaN|Infinity) by step 3 of 3 in epoch 1; try a lower --lr \(it is 1e\+30\)$/,
      );
      assert.deepEqual([e.epoch, e.step], [1, 3]);
      return true;
    });
    assert.equal(epochs, 0);
    assert.deepEqual([...Deno.readDirSync(out)], [], "no weights, no plot of NaN");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train() says when --train-size or --test-size is more than the split holds", async () => {
  const out = await Deno.makeTempDir({ prefix: "dezero_clamp_" });
  try {
    const config = parseTrainArgs([
      "--device=cpu",
      "--epochs=1",
      "--train-size=100",
      "--test-size=99999",
      `--out=${out}`,
    ]) as TrainConfig;
    const lines: string[] = [];
    await train(config, { ...quiet, log: (l) => lines.push(l) });
    assert.ok(
      lines.includes("--test-size 99999 is more than the 10000 test samples: using all 10000"),
      lines.join("\n"),
    );
    assert.ok(!lines.some((l) => l.startsWith("--train-size")), lines.join("\n"));
    assert.ok(lines.some((l) => l.includes("100 training and 10000 test samples")));
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train(): missing MNIST files are all named at once, with --data-root to set", async () => {
  const empty = await Deno.makeTempDir({ prefix: "dezero_nodata_" });
  const out = await Deno.makeTempDir({ prefix: "dezero_nodata_out_" });
  // The workplace mirror would stand in for the empty root, and a download would need the
  // network: the loader gets the empty root, without downloads, and train.ts's other options.
  const load = MNIST.load;
  MNIST.load = (options = {}) => load.call(MNIST, { ...options, root: empty, download: false });
  try {
    const config = parseTrainArgs(["--device=cpu", "--data-root", empty, "--out", out]);
    await assert.rejects(() => train(config as TrainConfig, quiet), (e) => {
      assert.ok(e instanceof Deno.errors.NotFound, String(e));
      const listed = e.message.split("\n").filter((l) => l.startsWith("  "));
      assert.deepEqual(listed.map((l) => l.trim().split(" ")[0]), [
        "train-images-idx3-ubyte.gz",
        "train-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
      ]);
      assert.match(e.message, /set --data-root or \$DEZERO_DATA to a folder that holds mnist\//);
      assert.ok(!e.message.includes("root option"), e.message);
      return true;
    });
  } finally {
    MNIST.load = load;
    await Deno.remove(empty, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

/** Test accuracy of the trained model recomputed from its saved weights. */
async function reloadedAccuracy(r: TrainResult, config: TrainConfig): Promise<number> {
  const model = buildModel(config.model);
  await model.loadWeights(r.weightsPath);
  const root = await resolveMnistRoot(config.dataRoot, () => {});
  const test = await MNIST.load({ train: false, root });
  const loader = new DataLoader(test, 1000, { shuffle: false });
  const [x, t] = loader.next()!;
  return await noGrad(() => F.accuracy(model.apply(x), t)).item();
}

Deno.test("train() writes safetensors weights and an SVG plot and reports each epoch", async () => {
  const out = await Deno.makeTempDir({ prefix: "dezero_train_" });
  try {
    const lines: string[] = [];
    const config: TrainConfig = {
      ...(parseTrainArgs(["--device", "cpu", "--epochs", "2", "--out", out]) as TrainConfig),
      trainSize: 600,
      testSize: 1000,
      batchSize: 50,
    };
    const r = await train(config, { ...quiet, log: (l) => lines.push(l) });
    assert.equal(r.device, "cpu");
    assert.equal(r.history.length, 2);
    assert.equal(lines.filter((l) => /^epoch \d: train loss/.test(l)).length, 2);
    for (const h of r.history) {
      for (const v of [h.trainLoss, h.trainAcc, h.testLoss, h.testAcc]) {
        assert.ok(Number.isFinite(v));
      }
    }
    assert.ok(r.history[1].trainLoss < r.history[0].trainLoss, "training loss falls");

    assert.equal(r.weightsPath, `${out}/mnist_mlp.safetensors`);
    const tensors = await loadSafetensors(r.weightsPath);
    assert.deepEqual(Object.keys(tensors).sort(), ["l0.W", "l0.b", "l1.W", "l1.b", "l2.W", "l2.b"]);
    assert.deepEqual(tensors["l0.W"].shape, [784, 256]);
    // The saved weights are the trained ones: reloaded, they give the reported test accuracy.
    assert.ok(Math.abs((await reloadedAccuracy(r, config)) - r.history[1].testAcc) < 1e-6);

    const svg = await Deno.readTextFile(r.plotPath);
    assert.equal(r.plotPath, `${out}/mnist_mlp.svg`);
    assert.ok(svg.startsWith("<svg"));
    assert.ok(svg.trimEnd().endsWith("</svg>"));
    assert.ok(svg.includes("MNIST MLP: loss") && svg.includes("MNIST MLP: accuracy"));
    assert.equal(svg.match(/<polyline|<path/g)!.length >= 4, true, "four curves drawn");
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/** One epoch on the first 3000 training images (batches of 32), tested on 2000. */
async function shortRun(device: "cpu" | "gpu", model: "mlp" | "cnn" = "mlp"): Promise<TrainResult> {
  const out = await Deno.makeTempDir({ prefix: "dezero_e2e_" });
  try {
    const config = parseTrainArgs([
      `--model=${model}`,
      `--device=${device}`,
      "--epochs=1",
      "--batch-size=32",
      "--train-size=3000",
      "--test-size=2000",
      `--out=${out}`,
    ]) as TrainConfig;
    return await train(config, quiet);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

let cpuMlp: TrainResult | null = null;

Deno.test("train(): one short epoch of the MLP on real MNIST reaches well above chance (CPU)", async () => {
  cpuMlp = await shortRun("cpu");
  const [h] = cpuMlp.history;
  assert.ok(h.testAcc > 0.85, `test accuracy ${h.testAcc} (chance is 0.1)`);
  assert.ok(h.testLoss < 0.6, `test loss ${h.testLoss}`);
});

Deno.test("train(): one short epoch of the CNN on real MNIST reaches well above chance (CPU)", async () => {
  const [h] = (await shortRun("cpu", "cnn")).history;
  assert.ok(h.testAcc > 0.8, `test accuracy ${h.testAcc} (chance is 0.1)`);
});

gpuTest("train(): the short MNIST run on the GPU learns as on the CPU", async () => {
  const r = await shortRun("gpu");
  assert.equal(r.device, "gpu");
  const [h] = r.history;
  assert.ok(h.testAcc > 0.85, `test accuracy ${h.testAcc} (chance is 0.1)`);
  if (cpuMlp) {
    // Same seeds, same data order: the two devices follow the same trajectory up to rounding.
    const [c] = cpuMlp.history;
    assert.ok(Math.abs(h.testAcc - c.testAcc) < 0.01, `GPU ${h.testAcc} vs CPU ${c.testAcc}`);
    assert.ok(
      Math.abs(h.trainLoss - c.trainLoss) < 0.01,
      `GPU ${h.trainLoss} vs CPU ${c.trainLoss}`,
    );
  }
});

async function runTrainTs(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../train.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout), err: dec.decode(stderr) };
}

Deno.test("train.ts on the command line: --help exits 0, a bad flag exits 2 with the error", async () => {
  const help = await runTrainTs("--help");
  assert.equal(help.code, 0);
  assert.equal(help.out.trim(), HELP.trim());
  const bad = await runTrainTs("--model", "rnn");
  assert.equal(bad.code, 2);
  assert.equal(bad.out, "");
  assert.match(bad.err, /train: --model must be mlp or cnn, got "rnn"/);
  const empty = await runTrainTs("--out", "");
  assert.equal(empty.code, 2);
  assert.equal(empty.err.trim(), 'train: --out must be a folder path, got ""');
  // A negative number after a space: the flag's message, not the parser's "ambiguous".
  const negative = await runTrainTs("--epochs", "-1");
  assert.equal(negative.code, 2);
  assert.equal(negative.err.trim(), 'train: --epochs must be a positive integer, got "-1"');
});

/** Whether stderr is one line of message, without a stack trace. */
function oneLine(err: string): boolean {
  return err.trim().split("\n").length === 1 && !/^\s+at /m.test(err);
}

Deno.test("train.ts on the command line: a bad --out is one line, exit 1, before any training", async () => {
  const dir = await Deno.makeTempDir({ prefix: "dezero_cli_out_" });
  try {
    const file = `${dir}/a_file`;
    await Deno.writeTextFile(file, "x");
    for (const out of [file, `${file}/below`]) {
      const r = await runTrainTs(
        "--device=cpu",
        "--train-size=100",
        "--test-size=100",
        "--out",
        out,
      );
      assert.equal(r.code, 1, r.err);
      assert.ok(oneLine(r.err), r.err);
      assert.equal(
        r.err.trim(),
        `train: Cannot save the results in ${out} (--out): it or a folder above it is a file, ` +
          "not a folder",
      );
      assert.ok(!r.out.includes("epoch"), r.out);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train.ts on the command line: corrupt data files are one line, exit 1", async () => {
  const root = await Deno.makeTempDir({ prefix: "dezero_cli_corrupt_" });
  const out = await Deno.makeTempDir({ prefix: "dezero_cli_corrupt_out_" });
  try {
    await Deno.mkdir(`${root}/mnist`);
    // gzip's magic bytes, then nothing a gzip reader accepts.
    const junk = new Uint8Array([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff]);
    for (const split of ["train", "t10k"]) {
      await Deno.writeFile(`${root}/mnist/${split}-images-idx3-ubyte.gz`, junk);
      await Deno.writeFile(`${root}/mnist/${split}-labels-idx1-ubyte.gz`, junk);
    }
    const r = await runTrainTs("--device=cpu", "--data-root", root, "--out", out);
    assert.equal(r.code, 1, r.err);
    assert.ok(oneLine(r.err), r.err);
    assert.match(
      r.err,
      /^train: MNIST: file .*mnist\/train-images-idx3-ubyte\.gz is not a valid gzip/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("train.ts on the command line: a diverging training is one line, exit 1, no files", async () => {
  const out = await Deno.makeTempDir({ prefix: "dezero_cli_diverge_" });
  try {
    const r = await runTrainTs(
      "--device=cpu",
      "--lr",
      "1e30",
      "--epochs=2",
      "--train-size=300",
      "--test-size=100",
      "--out",
      out,
    );
    assert.equal(r.code, 1, r.err);
    assert.ok(oneLine(r.err), r.err);
    assert.match(
      r.err.trim(),
      /^train: training diverged: the training loss is (NaN|Infinity) by step 3 of 3 in epoch 1; try a lower --lr/,
    );
    assert.ok(!/^epoch \d:/m.test(r.out), r.out);
    assert.deepEqual([...Deno.readDirSync(out)], []);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

/** Live tensors and GPU bytes after each of 4 short epochs of `model` on `device`. */
async function memoryPerEpoch(device: "cpu" | "gpu", model: "mlp" | "cnn") {
  const out = await Deno.makeTempDir({ prefix: "dezero_mem_" });
  try {
    const config = parseTrainArgs([
      `--device=${device}`,
      `--model=${model}`,
      "--epochs=4",
      "--train-size=640",
      "--test-size=500",
      `--out=${out}`,
    ]) as TrainConfig;
    const seen: { liveTensors: number; gpuLiveBytes: number; cpuLiveBytes: number }[] = [];
    await train(config, {
      ...quiet,
      onEpoch: () => {
        const { liveTensors, gpuLiveBytes, cpuLiveBytes } = memoryStats();
        seen.push({ liveTensors, gpuLiveBytes, cpuLiveBytes });
      },
    });
    assert.equal(seen.length, 4);
    // After the first epochs (optimizer state created), nothing accumulates. (Counts may
    // drop when the garbage collector finalizes what earlier tests dropped, never rise.)
    for (const later of [seen[2], seen[3]]) {
      for (const key of ["liveTensors", "gpuLiveBytes", "cpuLiveBytes"] as const) {
        assert.ok(later[key] <= seen[1][key], `${key} grew: ${JSON.stringify(seen)}`);
      }
    }
  } finally {
    await Deno.remove(out, { recursive: true });
  }
}

for (const model of ["mlp", "cnn"] as const) {
  Deno.test(`train() releases each step's tensors: memory is flat across epochs (${model}, CPU)`, async () => {
    await memoryPerEpoch("cpu", model);
  });
  gpuTest(
    `train() releases each step's tensors: memory is flat across epochs (${model}, GPU)`,
    async () => {
      await memoryPerEpoch("gpu", model);
    },
  );
}
