/**
 * dezero (CPU and GPU) against TensorFlow.js's WebGPU backend, side by side in
 * one run, on the workloads of the WebGPU issue. Prints a markdown report and
 * writes it to `bench/results.md` (and, with `--json`, the raw numbers).
 *
 * ```sh
 * deno run -A --no-lock --v8-flags=--expose-gc bench/compare.ts   # the issue's sizes
 * deno run -A --no-lock bench/compare.ts --quick    # fewer repetitions
 * deno run -A --no-lock bench/compare.ts --small --only=mlp,matmul --no-tfjs
 * ```
 *
 * Options: `--quick` (no warm-up step, 2–5 timed rounds), `--small` (the
 * `deno bench` sizes), `--only=a,b` (workloads: mlp conv matmul elementwise
 * tanh2 tanh3 tanh4), `--impls=cpu,gpu,tfjs` (which implementations),
 * `--no-tfjs`, `--out=path` (`-` for none), `--json=path`,
 * `--step-timeout=s` (a step slower than this stops that implementation's
 * runs of the workload; 300 by default), `--shader-cache` (keep the driver's
 * on-disk shader cache, which is disabled by default so that first steps
 * include compiling), `--settle=ms` (idle pause before each timed step; 200
 * by default). With `--v8-flags=--expose-gc` every timed step also starts
 * after a full garbage collection.
 *
 * Every step waits for its device (it reads back the loss or one element), so
 * the medians are wall-clock times of finished work. The first step is timed
 * apart: on the GPU it includes compiling the shaders.
 *
 * @module
 */
import { gpuInfo, memoryStats, tensor, tidy } from "../mod.ts";
import {
  describe,
  dezeroWorkload,
  FULL_SIZES,
  matmulFlops,
  prepareDevice,
  type Runner,
  SMALL_SIZES,
  type WorkloadName,
  WORKLOADS,
} from "./workloads.ts";

/** An implementation compared. */
type Impl = "cpu" | "gpu" | "tfjs";
const IMPLS: readonly Impl[] = ["cpu", "gpu", "tfjs"];
const IMPL_TITLES: Record<Impl, string> = {
  cpu: "dezero CPU",
  gpu: "dezero GPU",
  tfjs: "TF.js WebGPU",
};

/** One implementation's measurement of one workload. */
interface Measurement {
  /** Median of the timed steps, ms. */
  medianMs?: number;
  /** The first step (shaders compiled then on the GPU), ms. */
  firstMs?: number;
  /** Every timed step, ms. */
  stepsMs?: number[];
  /** The first step's result (a loss or one element of the output). */
  value?: number;
  /** Why it failed. */
  error?: string;
}

interface Options {
  quick: boolean;
  small: boolean;
  only: WorkloadName[];
  impls: Impl[];
  out: string | null;
  json: string | null;
  stepTimeoutMs: number;
  shaderCache: boolean;
  /** Idle pause before each timed step, ms. */
  settleMs: number;
}

function parseArgs(args: readonly string[]): Options {
  const opts: Options = {
    quick: false,
    small: false,
    only: [...WORKLOADS],
    impls: [...IMPLS],
    out: new URL("./results.md", import.meta.url).pathname,
    json: null,
    stepTimeoutMs: 300_000,
    shaderCache: false,
    settleMs: 200,
  };
  for (const arg of args) {
    const [key, value] = arg.split("=", 2);
    if (key === "--quick") opts.quick = true;
    else if (key === "--small") opts.small = true;
    else if (key === "--no-tfjs") opts.impls = opts.impls.filter((i) => i !== "tfjs");
    else if (key === "--only") opts.only = list(value, WORKLOADS, "--only");
    else if (key === "--impls") opts.impls = list(value, IMPLS, "--impls");
    else if (key === "--out") opts.out = value === "-" ? null : value;
    else if (key === "--json") opts.json = value;
    else if (key === "--step-timeout") opts.stepTimeoutMs = Number(value) * 1000;
    else if (key === "--shader-cache") opts.shaderCache = true;
    else if (key === "--settle") opts.settleMs = nonNegative(value, "--settle");
    else {throw new TypeError(
        `compare: unknown argument ${arg} (see the header of bench/compare.ts)`,
      );}
  }
  return opts;
}

function list<T extends string>(
  value: string | undefined,
  allowed: readonly T[],
  flag: string,
): T[] {
  const items = (value ?? "").split(",").filter((s) => s !== "");
  for (const item of items) {
    if (!allowed.includes(item as T)) {
      throw new TypeError(`compare: ${flag} got ${item}: expected some of ${allowed.join(",")}`);
    }
  }
  return items as T[];
}

function nonNegative(value: string | undefined, flag: string): number {
  const n = Number(value);
  if (value === undefined || value === "" || !Number.isFinite(n) || n < 0) {
    throw new TypeError(`compare: ${flag} got ${value}: expected a number of ms, 0 or more`);
  }
  return n;
}

/**
 * Lets the machine settle before a timed step: a full garbage collection where
 * V8 exposes it (`--v8-flags=--expose-gc`), then an idle pause. On a small VM a
 * step right after another implementation's CPU-heavy step runs ~50% slower
 * (measured with a plain busy loop as the neighbour, so not a GC effect); the
 * pause gives every implementation the same quiet start.
 */
async function settle(ms: number): Promise<void> {
  (globalThis as { gc?: () => void }).gc?.();
  if (ms > 0) await new Promise((resolve) => setTimeout(resolve, ms));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let id: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    id = setTimeout(() => reject(new Error(`${what}: step timed out after ${ms / 1000} s`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(id));
}

function errorLine(e: unknown): string {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  const line = msg.split("\n")[0];
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}

/**
 * Runs one workload on every implementation: each one's first step and
 * warm-up in turn, then timed rounds that step every implementation once, in
 * rotating order, so that a machine's changing load falls on all of them alike.
 * Rounds go on until the minimum count, then until the budget (time in timed
 * steps) or the maximum. Each timed step starts after {@linkcode settle}.
 */
async function measureRow(
  name: WorkloadName,
  makers: Partial<Record<Impl, () => Runner>>,
  opts: Options,
): Promise<Partial<Record<Impl, Measurement>>> {
  const minReps = opts.quick ? 2 : 3;
  const maxReps = opts.quick ? 5 : 15;
  const budgetMs = (opts.quick ? 2_000 : 8_000) * Object.keys(makers).length;
  const warmup = opts.quick ? 0 : 1; // after the first step
  const row: Partial<Record<Impl, Measurement>> = {};
  const runners = new Map<Impl, Runner>();
  const step = (impl: Impl) =>
    withTimeout(runners.get(impl)!.step(), opts.stepTimeoutMs, `${name} on ${IMPL_TITLES[impl]}`);
  const fail = (impl: Impl, e: unknown) => {
    row[impl]!.error = errorLine(e);
    try {
      runners.get(impl)?.dispose();
    } catch { /* the first error is the one to report */ }
    runners.delete(impl);
  };
  for (const [impl, make] of Object.entries(makers) as [Impl, () => Runner][]) {
    const m: Measurement = (row[impl] = { stepsMs: [] });
    try {
      runners.set(impl, make());
      const t0 = performance.now();
      m.value = await step(impl);
      m.firstMs = performance.now() - t0;
      for (let i = 0; i < warmup; i++) await step(impl);
    } catch (e) {
      fail(impl, e);
    }
  }
  let spent = 0; // in timed steps, pauses excluded
  for (let round = 0; runners.size > 0; round++) {
    if (round >= maxReps || (round >= minReps && spent > budgetMs)) break;
    const order = [...runners.keys()];
    for (let k = 0; k < order.length; k++) {
      const impl = order[(k + round) % order.length];
      try {
        await settle(opts.settleMs);
        const t0 = performance.now();
        await step(impl);
        const ms = performance.now() - t0;
        row[impl]!.stepsMs!.push(ms);
        spent += ms;
      } catch (e) {
        fail(impl, e);
      }
    }
  }
  for (const [impl, runner] of runners) {
    const m = row[impl]!;
    m.medianMs = median(m.stepsMs!);
    try {
      runner.dispose();
    } catch (e) {
      m.error = `dispose: ${errorLine(e)}`;
    }
  }
  return row;
}

// ------------------------------------------------------------ report

function fmtMs(ms: number | undefined): string {
  if (ms === undefined) return "—";
  if (ms >= 1000) return `${(ms / 1000).toFixed(ms >= 10_000 ? 1 : 2)} s`;
  if (ms >= 100) return `${ms.toFixed(0)} ms`;
  if (ms >= 10) return `${ms.toFixed(1)} ms`;
  return `${ms.toFixed(2)} ms`;
}

function fmtRatio(num: number | undefined, den: number | undefined): string {
  if (num === undefined || den === undefined) return "—";
  const r = num / den;
  return r >= 10 ? `${r.toFixed(0)}×` : `${r.toFixed(2)}×`;
}

function gflops(name: WorkloadName, n: number, ms: number | undefined): string {
  if (name !== "matmul" || ms === undefined) return "";
  return ` (${(matmulFlops(n) / (ms * 1e6)).toFixed(2)} GFLOP/s)`;
}

function cell(
  m: Measurement | undefined,
  name: WorkloadName,
  n: number,
  key: "medianMs" | "firstMs",
) {
  if (!m) return "not run";
  if (m.error && m[key] === undefined) return "fails¹";
  return fmtMs(m[key]) + (key === "medianMs" ? gflops(name, n, m[key]) : "");
}

/** Whether the first results agree (float32 tolerance; every implementation starts from the same data). */
function agreement(ms: Partial<Record<Impl, Measurement>>): string {
  const vals = Object.values(ms).map((m) => m?.value).filter((v): v is number => v !== undefined);
  if (vals.length < 2) return "—";
  const ref = vals[0];
  const ok = vals.every((v) => Math.abs(v - ref) <= 1e-3 + 1e-3 * Math.abs(ref));
  return ok ? "yes" : "**no**";
}

interface Env {
  date: string;
  machine: string;
  adapter: string;
  dezeroGpu: string;
  deno: string;
  tfjs: string;
}

async function environment(opts: Options): Promise<Env> {
  let cpu = "unknown CPU";
  try {
    const info = await Deno.readTextFile("/proc/cpuinfo");
    cpu = info.match(/model name\s*:\s*(.*)/)?.[1] ?? cpu;
  } catch { /* not Linux */ }
  let adapter = "no WebGPU adapter";
  const gpu = (globalThis.navigator as Navigator | undefined)?.gpu;
  if (gpu) {
    const a = await gpu.requestAdapter();
    if (a) {
      const i = a.info;
      const extra = [`vendor ${i.vendor}`, i.architecture, i.device && `device ${i.device}`];
      adapter = `${i.description || "unnamed adapter"} (${extra.filter((s) => s).join(", ")})`;
    }
  }
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, "Z"),
    machine: `${Deno.hostname()}: ${cpu}, ${navigator.hardwareConcurrency} threads, ${
      Math.round(Deno.systemMemoryInfo().total / 2 ** 30)
    } GiB, ${Deno.build.os} ${Deno.build.arch} ${Deno.osRelease()}`,
    adapter,
    dezeroGpu: "",
    deno: Deno.version.deno,
    tfjs: opts.impls.includes("tfjs") ? "" : "not run",
  };
}

function report(
  opts: Options,
  env: Env,
  results: Map<WorkloadName, Partial<Record<Impl, Measurement>>>,
  leaks: Map<WorkloadName, number>,
): string {
  const s = opts.small ? SMALL_SIZES : FULL_SIZES;
  const impls = opts.impls;
  const lines: string[] = [];
  lines.push(
    `# dezero vs TensorFlow.js: benchmark results`,
    "",
    `- Date: ${env.date}`,
    `- Machine: ${env.machine}`,
    `- WebGPU adapter: ${env.adapter}; wgpu backend: ${
      Deno.env.get("DENO_WEBGPU_BACKEND") ?? "default (wgpu prefers Vulkan, then GL)"
    }`,
    `- dezero GPU backend: ${env.dezeroGpu || "not run"}`,
    `- Deno ${env.deno}; TF.js ${env.tfjs || "not run"}`,
    `- Driver shader disk cache: ${
      opts.shaderCache ? "allowed (first steps may hit it)" : "disabled"
    }`,
    `- Sizes: ${opts.small ? "small (deno bench sizes)" : "full (the issue's)"}; mode: ${
      opts.quick
        ? "quick (1 first step, 2–5 timed rounds)"
        : "full (1 first + 1 warm-up step, 3–15 timed rounds)"
    }`,
    "",
    "Median wall-clock time per step, each waiting for its device (a loss or one element is read back);",
    "timed rounds step every implementation once, in rotating order, so load changes hit all alike.",
    `Before each timed step: ${
      (globalThis as { gc?: unknown }).gc ? "a full garbage collection and " : ""
    }${opts.settleMs} ms idle, so no step inherits the previous one's load.`,
    "Ratios above 1 mean dezero is faster.",
    "",
  );
  const head = ["workload", ...impls.map((i) => IMPL_TITLES[i])];
  if (impls.includes("tfjs") && impls.includes("gpu")) head.push("TF.js ÷ dezero GPU");
  if (impls.includes("tfjs") && impls.includes("cpu")) head.push("TF.js ÷ dezero CPU");
  if (impls.includes("gpu") && impls.includes("cpu")) head.push("dezero CPU ÷ GPU");
  head.push("same result");
  lines.push(
    `| ${head.join(" | ")} |`,
    `|${head.map((_, i) => (i === 0 ? "---" : "---:")).join("|")}|`,
  );
  const footnotes: string[] = [];
  for (const [name, ms] of results) {
    const row = [describe(name, s), ...impls.map((i) => cell(ms[i], name, s.matmul, "medianMs"))];
    if (impls.includes("tfjs") && impls.includes("gpu")) {
      row.push(fmtRatio(ms.tfjs?.medianMs, ms.gpu?.medianMs));
    }
    if (impls.includes("tfjs") && impls.includes("cpu")) {
      row.push(fmtRatio(ms.tfjs?.medianMs, ms.cpu?.medianMs));
    }
    if (impls.includes("gpu") && impls.includes("cpu")) {
      row.push(fmtRatio(ms.cpu?.medianMs, ms.gpu?.medianMs));
    }
    row.push(agreement(ms));
    lines.push(`| ${row.join(" | ")} |`);
    for (const i of impls) {
      const m = ms[i];
      if (m?.error) footnotes.push(`- ${describe(name, s)}, ${IMPL_TITLES[i]}: \`${m.error}\``);
    }
  }
  lines.push(
    "",
    "First step (on the GPU this includes compiling every shader the workload needs; the MLP runs first):",
    "",
    `| workload | ${impls.map((i) => IMPL_TITLES[i]).join(" | ")} |`,
    `|---|${impls.map(() => "---:").join("|")}|`,
  );
  for (const [name, ms] of results) {
    lines.push(
      `| ${describe(name, s)} | ${
        impls.map((i) => cell(ms[i], name, s.matmul, "firstMs")).join(" | ")
      } |`,
    );
  }
  lines.push(
    "",
    "First-step results (every implementation starts from the same seeded data; losses or one output element):",
    "",
    `| workload | ${impls.map((i) => IMPL_TITLES[i]).join(" | ")} |`,
    `|---|${impls.map(() => "---:").join("|")}|`,
  );
  for (const [name, ms] of results) {
    const vals = impls.map((
      i,
    ) => (ms[i]?.value === undefined ? "—" : ms[i]!.value!.toPrecision(7)));
    lines.push(`| ${describe(name, s)} | ${vals.join(" | ")} |`);
  }
  const leaked = [...leaks].filter(([, n]) => n > 0).map(([name, n]) =>
    `- ${
      describe(name, s)
    }: ${n} dezero tensors left alive after its runs were disposed (and two more backward() calls)`
  );
  if (footnotes.length > 0) lines.push("", "¹ Failures:", "", ...footnotes);
  if (leaked.length > 0) lines.push("", "Leaks:", "", ...leaked);
  return lines.join("\n") + "\n";
}

// ------------------------------------------------------------ main

/**
 * Two throwaway backward() calls: a training step's per-step values computed from inputs
 * that need no gradient are freed two backward() calls after their own (see the README's
 * memory rules), so the last steps' ones are not counted as leaks.
 */
function settleDeferred(): void {
  for (let i = 0; i < 2; i++) {
    tidy(() => {
      const y = tensor([1]).mul(2).sum();
      y.backward();
      y.dispose();
    });
  }
}

async function main(): Promise<void> {
  const opts = parseArgs(Deno.args);
  if (!opts.shaderCache) {
    // Drivers cache compiled shaders on disk (Mesa's llvmpipe in ~/.cache/mesa_shader_cache,
    // NVIDIA's in ~/.nv); first steps then measure a cache hit, not a compile. Set before the
    // first adapter request, when the driver reads its environment.
    Deno.env.set("MESA_SHADER_CACHE_DISABLE", "true");
    Deno.env.set("__GL_SHADER_DISK_CACHE", "0");
  }
  const s = opts.small ? SMALL_SIZES : FULL_SIZES;
  const env = await environment(opts);
  let tfjs: typeof import("./tfjs_workloads.ts") | null = null;
  if (opts.impls.includes("gpu")) {
    try {
      await prepareDevice("gpu");
      const g = gpuInfo();
      env.dezeroGpu = `${g.description}, matmul kernel "${g.matmul}"${
        g.textureOperands ? ", operands through textures" : ""
      }`;
    } catch (e) {
      env.dezeroGpu = `unavailable: ${errorLine(e)}`;
    }
  }
  if (opts.impls.includes("tfjs")) {
    try {
      tfjs = await import("./tfjs_workloads.ts");
      await tfjs.initTfjs("webgpu");
      env.tfjs = `${tfjs.TFJS_VERSION} (webgpu backend)`;
    } catch (e) {
      env.tfjs = `unavailable: ${errorLine(e)}`;
      tfjs = null;
    }
  }
  console.error(`compare: ${env.adapter}; sizes ${opts.small ? "small" : "full"}`);
  const results = new Map<WorkloadName, Partial<Record<Impl, Measurement>>>();
  const leaks = new Map<WorkloadName, number>();
  for (const name of WORKLOADS) {
    if (!opts.only.includes(name)) continue;
    const makers: Partial<Record<Impl, () => Runner>> = {};
    const unavailable: Partial<Record<Impl, Measurement>> = {};
    for (const impl of opts.impls) {
      if (impl === "tfjs") {
        if (tfjs) makers.tfjs = () => tfjs!.tfjsWorkload(name, s);
        else unavailable.tfjs = { error: env.tfjs };
      } else if (impl === "gpu" && env.dezeroGpu.startsWith("unavailable")) {
        unavailable.gpu = { error: env.dezeroGpu };
      } else {
        makers[impl] = () => dezeroWorkload(name, impl, s);
      }
    }
    const before = memoryStats().liveTensors;
    const measured = await measureRow(name, makers, opts);
    settleDeferred();
    leaks.set(name, memoryStats().liveTensors - before);
    const row = { ...measured, ...unavailable };
    results.set(name, row);
    for (const impl of opts.impls) {
      const m = row[impl]!;
      console.error(
        `  ${name} on ${IMPL_TITLES[impl]}: ${
          m.error ? `FAILED ${m.error}` : `median ${fmtMs(m.medianMs)}, first ${fmtMs(m.firstMs)}`
        }`,
      );
    }
    await save(opts, env, results, leaks, false);
  }
  const md = await save(opts, env, results, leaks, true);
  console.log(md);
}

/** Writes the report (and the JSON) so far; partial reports survive a run stopped by a timeout. */
async function save(
  opts: Options,
  env: Env,
  results: Map<WorkloadName, Partial<Record<Impl, Measurement>>>,
  leaks: Map<WorkloadName, number>,
  final: boolean,
): Promise<string> {
  let md = report(opts, env, results, leaks);
  if (!final) md += "\n_Partial: the run was still going when this was written._\n";
  if (opts.out) {
    await Deno.writeTextFile(opts.out, md);
    // Keep the report in `deno fmt` style (tables aligned), so that `deno task check` stays green.
    if (final) {
      await new Deno.Command(Deno.execPath(), { args: ["fmt", "--quiet", opts.out] }).output()
        .catch(() => {});
    }
  }
  if (opts.json) {
    const json = {
      env,
      sizes: opts.small ? SMALL_SIZES : FULL_SIZES,
      quick: opts.quick,
      complete: final,
      results: Object.fromEntries(results),
      leakedTensors: Object.fromEntries(leaks),
    };
    await Deno.writeTextFile(opts.json, JSON.stringify(json, null, 2) + "\n");
  }
  return md;
}

if (import.meta.main) {
  await main();
  // TF.js and the GPU runtime may keep timers or devices alive.
  Deno.exit(0);
}
