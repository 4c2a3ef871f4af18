/**
 * The soak benchmark of the WebGPU issue: 1,000 MLP training steps written as
 * in the book (forward, `cleargrads`, `backward`, `update`, an occasional
 * `await loss.item()`, no manual dispose), sampling `memoryStats()` every 50
 * steps. Exits with 1 when GPU bytes (live, pooled, readback buffers and operand
 * textures) or live tensors grow after
 * warm-up: memory must be released deterministically, not by the garbage
 * collector.
 *
 * ```sh
 * deno run -A --no-lock bench/soak.ts                 # batch 32, 784-100-10, GPU
 * deno run -A --no-lock bench/soak.ts --full          # batch 100, 784-1000-1000-10
 * deno run -A --no-lock bench/soak.ts --steps=300 --device=cpu
 * ```
 *
 * Options: `--steps=n` (1000), `--every=n` (sample interval, 50),
 * `--warmup=n` (steps before the baseline sample, 100), `--device=gpu|cpu`,
 * `--full` (the MLP sizes).
 *
 * @module
 */
import {
  ArrayDataset,
  DataLoader,
  F,
  initGpu,
  type MemoryStats,
  memoryStats,
  MLP,
  optimizers,
} from "../mod.ts";
import { BenchRandom, labelData } from "./workloads.ts";

interface Options {
  steps: number;
  every: number;
  warmup: number;
  device: "gpu" | "cpu";
  full: boolean;
}

function parseArgs(args: readonly string[]): Options {
  const opts: Options = { steps: 1000, every: 50, warmup: 100, device: "gpu", full: false };
  for (const arg of args) {
    const [key, value] = arg.split("=", 2);
    if (key === "--steps") opts.steps = Number(value);
    else if (key === "--every") opts.every = Number(value);
    else if (key === "--warmup") opts.warmup = Number(value);
    else if (key === "--device" && (value === "gpu" || value === "cpu")) opts.device = value;
    else if (key === "--full") opts.full = true;
    else throw new TypeError(`soak: unknown argument ${arg} (see the header of bench/soak.ts)`);
  }
  if (opts.warmup % opts.every !== 0 || opts.warmup >= opts.steps) {
    throw new RangeError(
      `soak: --warmup=${opts.warmup} must be a multiple of --every=${opts.every} below --steps=${opts.steps}`,
    );
  }
  return opts;
}

interface Sample {
  step: number;
  loss: number;
  ms: number;
  stats: MemoryStats;
}

function gpuBytes(s: MemoryStats): number {
  return s.gpuLiveBytes + s.gpuPooledBytes + s.gpuStagingBytes + s.gpuTextureBytes;
}

function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(2);
}

async function main(): Promise<number> {
  const opts = parseArgs(Deno.args);
  const [batch, hidden] = opts.full ? [100, [1000, 1000]] : [32, [100]];
  if (opts.device === "gpu") await initGpu();

  // A synthetic MNIST-shaped dataset: 50 batches of 784 normals and labels.
  const n = batch * 50;
  const r = new BenchRandom(5);
  const data = new ArrayDataset(
    { data: r.normals(n * 784, 0.5), shape: [n, 784] },
    { data: labelData(n, 10), shape: [n] },
  );
  const loader = new DataLoader(data, batch, { shuffle: true, seed: 0, device: opts.device });

  const model = new MLP([...hidden, 10], { activation: F.relu });
  if (opts.device === "gpu") model.toGpu();
  const optimizer = new optimizers.SGD({ lr: 0.01 }).setup(model);

  console.log(
    `soak: ${opts.steps} steps, batch ${batch}, 784-${hidden.join("-")}-10, ${opts.device}; ` +
      `sampling every ${opts.every} steps, baseline at step ${opts.warmup}`,
  );
  console.log(
    "| step | loss | ms/step | GPU live MiB | GPU pooled MiB | GPU readback + texture MiB | CPU live MiB | live tensors |",
  );
  console.log("|---:|---:|---:|---:|---:|---:|---:|---:|");
  const samples: Sample[] = [];
  let step = 0;
  let t0 = performance.now();
  while (step < opts.steps) {
    for (const [x, t] of loader) {
      const y = model.apply(x);
      const loss = F.softmaxCrossEntropy(y, t);
      model.cleargrads();
      loss.backward();
      optimizer.update();
      step++;
      if (step % opts.every === 0) {
        const value = await loss.item();
        const ms = (performance.now() - t0) / opts.every;
        const stats = memoryStats();
        samples.push({ step, loss: value, ms, stats });
        console.log(
          `| ${step} | ${value.toFixed(4)} | ${ms.toFixed(1)} | ${mib(stats.gpuLiveBytes)} | ${
            mib(stats.gpuPooledBytes)
          } | ${mib(stats.gpuStagingBytes + stats.gpuTextureBytes)} | ${
            mib(stats.cpuLiveBytes)
          } | ${stats.liveTensors} |`,
        );
        t0 = performance.now();
      }
      if (step >= opts.steps) break;
    }
  }

  const base = samples.find((s) => s.step === opts.warmup)!;
  const after = samples.filter((s) => s.step > opts.warmup);
  const maxBytes = Math.max(...after.map((s) => gpuBytes(s.stats)));
  const maxTensors = Math.max(...after.map((s) => s.stats.liveTensors));
  const problems: string[] = [];
  if (maxBytes > gpuBytes(base.stats)) {
    problems.push(
      `GPU bytes (live, pooled, readback and texture) grew from ${
        gpuBytes(base.stats)
      } at step ${base.step} to ${maxBytes}`,
    );
  }
  if (maxTensors > base.stats.liveTensors) {
    problems.push(
      `live tensors grew from ${base.stats.liveTensors} at step ${base.step} to ${maxTensors}`,
    );
  }
  const drops = after.filter((s, i) =>
    i > 0 && s.stats.liveTensors < after[i - 1].stats.liveTensors
  );
  if (problems.length > 0 && drops.length > 0) {
    problems.push(
      `live tensors fell at steps ${
        drops.map((s) => s.step).join(", ")
      }: the garbage collector (the FinalizationRegistry backstop) freed what the loop left, ` +
        "so release is not deterministic",
    );
  }
  const first = samples[0].loss;
  const last = samples.at(-1)!.loss;
  console.log(`\nloss ${first.toFixed(4)} -> ${last.toFixed(4)}`);
  if (problems.length > 0) {
    console.log(`FAIL: memory grows after warm-up: ${problems.join("; ")}`);
    return 1;
  }
  console.log(`OK: memory flat after step ${opts.warmup}`);
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main());
}
