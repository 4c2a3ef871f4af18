/**
 * The benchmark workloads of the WebGPU issue, written once for dezero and
 * parameterised by device and size: matmul, an MLP training step, a conv
 * training step, an elementwise chain and higher-order derivatives of tanh.
 *
 * The inputs and initial weights come from a seeded generator of this module
 * (`*Data` functions), so that the TF.js versions (`tfjs_workloads.ts`) start
 * from the same numbers and their first results can be compared with ours.
 *
 * Every `step()` waits for the device: it reads back the loss or one element
 * of the result, so a GPU timing includes the kernels it enqueued.
 *
 * @module
 */
import { F, initGpu, noGrad, optimizers, Parameter, tensor, tidy, type Variable } from "../mod.ts";

/** Where a dezero workload runs. */
export type BenchDevice = "cpu" | "gpu";

/** The sizes of every workload (the sizes are {@linkcode FULL_SIZES}). */
export interface Sizes {
  /** Square matmul size n (n×n @ n×n). */
  matmul: number;
  /** MLP batch size and layer widths (input first). */
  mlp: { batch: number; dims: readonly number[] };
  /** Conv step: batch, image side, output channels (3×3 kernels, pad 1), classes. */
  conv: { batch: number; side: number; channels: number; classes: number };
  /** Elements of the elementwise chain. */
  elementwise: number;
  /** Elements of the tanh higher-order workload. */
  tanh: number;
}

/** The sizes the issue names. */
export const FULL_SIZES: Sizes = {
  matmul: 1024,
  mlp: { batch: 100, dims: [784, 1000, 1000, 10] },
  conv: { batch: 32, side: 28, channels: 16, classes: 10 },
  elementwise: 4 * 1024 * 1024,
  tanh: 1024 * 1024,
};

/** Small sizes for `deno bench` (the same computations, a few ms each on a CPU). */
export const SMALL_SIZES: Sizes = {
  matmul: 256,
  mlp: { batch: 32, dims: [784, 100, 10] },
  conv: { batch: 8, side: 28, channels: 16, classes: 10 },
  elementwise: 256 * 1024,
  tanh: 64 * 1024,
};

/** A prepared workload: `step()` runs one iteration and waits for it to finish. */
export interface Runner {
  /** Runs one iteration; resolves once the device finished it, with the loss or a read element. */
  step(): Promise<number>;
  /** Frees the workload's tensors. */
  dispose(): void;
}

/**
 * Names of the workloads, in run order: the MLP first, so that its first step
 * includes every shader compilation it needs.
 */
export const WORKLOADS = [
  "mlp",
  "conv",
  "matmul",
  "elementwise",
  "tanh2",
  "tanh3",
  "tanh4",
] as const;

/** One workload's name. */
export type WorkloadName = typeof WORKLOADS[number];

/** A human-readable title of a workload at the given sizes. */
export function describe(name: WorkloadName, s: Sizes): string {
  switch (name) {
    case "matmul":
      return `matmul ${s.matmul}×${s.matmul} f32`;
    case "mlp":
      return `MLP train step (batch ${s.mlp.batch}, ${s.mlp.dims.join("-")})`;
    case "conv": {
      const c = s.conv;
      return `conv train step (${c.batch}×1×${c.side}×${c.side}, conv ${c.channels} 3×3)`;
    }
    case "elementwise":
      return `tanh(x*2+1)*x, ${fmtCount(s.elementwise)} elements`;
    case "tanh2":
    case "tanh3":
    case "tanh4":
      return `tanh ${ordinal(Number(name.at(-1)))} derivative, ${fmtCount(s.tanh)} elements`;
  }
}

function ordinal(n: number): string {
  return `${n}${n === 2 ? "nd" : n === 3 ? "rd" : "th"}`;
}

/** `4M`, `64K` or the plain number. */
export function fmtCount(n: number): string {
  if (n % (1024 * 1024) === 0) return `${n / (1024 * 1024)}M`;
  if (n % 1024 === 0) return `${n / 1024}K`;
  return String(n);
}

/** Floating-point operations of one n×n matmul (2n³). */
export function matmulFlops(n: number): number {
  return 2 * n ** 3;
}

/** Initialises the GPU when `device` is "gpu" (idempotent). */
export async function prepareDevice(device: BenchDevice): Promise<void> {
  if (device === "gpu") await initGpu();
}

// ------------------------------------------------------------ shared data

/** A seeded generator (mulberry32 with Box-Muller normals) shared by both implementations. */
export class BenchRandom {
  #s: number;
  #spare: number | null = null;
  /** A generator seeded with `seed`. */
  constructor(seed: number) {
    this.#s = seed >>> 0;
  }
  /** Uniform in [0, 1). */
  uniform(): number {
    let t = (this.#s = (this.#s + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** Standard normal. */
  normal(): number {
    if (this.#spare !== null) {
      const s = this.#spare;
      this.#spare = null;
      return s;
    }
    const u = 1 - this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const a = 2 * Math.PI * this.uniform();
    this.#spare = r * Math.sin(a);
    return r * Math.cos(a);
  }
  /** `n` normals times `scale`. */
  normals(n: number, scale = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal() * scale;
    return out;
  }
}

/** Labels `(7i + 3) mod classes`. */
export function labelData(n: number, classes: number): Int32Array {
  const t = new Int32Array(n);
  for (let i = 0; i < n; i++) t[i] = (i * 7 + 3) % classes;
  return t;
}

/** The two matmul operands, row-major n×n. */
export function matmulData(n: number): { a: Float32Array; b: Float32Array } {
  const r = new BenchRandom(1);
  return { a: r.normals(n * n), b: r.normals(n * n) };
}

/** A dense layer's initial values: `W` is `[in, out]` row-major (He scale), `b` zeros. */
export interface DenseData {
  /** Weight `[in, out]`. */
  W: Float32Array;
  /** Bias `[out]`. */
  b: Float32Array;
}

/** The MLP's batch, labels and layers. */
export interface MlpData {
  /** Inputs `[batch, dims[0]]`. */
  x: Float32Array;
  /** Labels `[batch]`. */
  t: Int32Array;
  /** One entry per layer. */
  layers: DenseData[];
}

/** The MLP's data at the given sizes. */
export function mlpData(opts: { batch: number; dims: readonly number[] }): MlpData {
  const r = new BenchRandom(2);
  const { batch, dims } = opts;
  const layers: DenseData[] = [];
  for (let i = 0; i + 1 < dims.length; i++) {
    layers.push({
      W: r.normals(dims[i] * dims[i + 1], Math.sqrt(2 / dims[i])),
      b: new Float32Array(dims[i + 1]),
    });
  }
  return { x: r.normals(batch * dims[0], 0.5), t: labelData(batch, dims.at(-1)!), layers };
}

/** The conv step's data, in dezero's layouts (NCHW input, `[OC, C, KH, KW]` filters). */
export interface ConvData {
  /** Images `[N, 1, H, W]` (the same bytes as NHWC, since C = 1). */
  x: Float32Array;
  /** Labels `[N]`. */
  t: Int32Array;
  /** Filters `[OC, 1, 3, 3]`. */
  W1: Float32Array;
  /** Conv bias `[OC]`. */
  b1: Float32Array;
  /** Classifier `[OC·(H/2)·(W/2), classes]`, rows in (C, H, W) order. */
  W2: Float32Array;
  /** Classifier bias `[classes]`. */
  b2: Float32Array;
}

/** The conv step's data at the given sizes. */
export function convData(s: Sizes["conv"]): ConvData {
  const r = new BenchRandom(3);
  const pooled = s.channels * Math.floor(s.side / 2) ** 2;
  return {
    x: r.normals(s.batch * s.side * s.side, 0.5),
    t: labelData(s.batch, s.classes),
    W1: r.normals(s.channels * 9, Math.sqrt(2 / 9)),
    b1: new Float32Array(s.channels),
    W2: r.normals(pooled * s.classes, Math.sqrt(2 / pooled)),
    b2: new Float32Array(s.classes),
  };
}

/** `n` standard normals (the elementwise chain's input). */
export function vectorData(n: number): Float32Array {
  return new BenchRandom(4).normals(n);
}

/** `n` points evenly spaced over [-3, 3] (the tanh derivatives' input, as the book's plot). */
export function linspaceData(n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = -3 + (6 * i) / Math.max(1, n - 1);
  return out;
}

// ------------------------------------------------------------ dezero runners

/** Reads one element of `x`, which waits for every kernel that produced it. */
export async function firstElement(x: Variable): Promise<number> {
  const e = tidy(() => F.getItem(F.reshape(x, [x.size]), 0));
  try {
    return await e.item();
  } finally {
    e.dispose();
  }
}

/** A leaf Variable (no graph above it) of `shape` holding `data` on `device`. */
function leaf(
  data: Float32Array | Int32Array,
  shape: readonly number[],
  device: BenchDevice,
): Variable {
  return tidy(() => noGrad(() => tensor(data, { device }).reshape(shape)));
}

function param(data: Float32Array, shape: readonly number[], device: BenchDevice): Parameter {
  return new Parameter(leaf(data, shape, device).array);
}

function disposeAll(xs: readonly Variable[]): void {
  for (const x of xs) x.dispose();
}

/**
 * A training step as in the book: forward, cleargrads, backward, SGD update
 * (lr 0.01). Resolves with the loss after reading it back.
 */
function trainRunner(
  loss: () => Variable,
  params: Parameter[],
  others: Variable[],
): Runner {
  const opt = new optimizers.SGD({ lr: 0.01 }).setup(params);
  return {
    async step() {
      const l = loss();
      for (const p of params) p.cleargrad();
      l.backward();
      opt.update();
      try {
        return await l.item();
      } finally {
        l.dispose();
      }
    },
    dispose() {
      disposeAll([...params, ...others]);
    },
  };
}

function mlpRunner(device: BenchDevice, s: Sizes): Runner {
  const d = mlpData(s.mlp);
  const { batch, dims } = s.mlp;
  const params = d.layers.flatMap((l, i) => [
    param(l.W, [dims[i], dims[i + 1]], device),
    param(l.b, [dims[i + 1]], device),
  ]);
  const x = leaf(d.x, [batch, dims[0]], device);
  x.requiresGrad = false; // a DataLoader batch: no input gradient (TF.js computes none either)
  const t = tensor(d.t, { dtype: "int32", device });
  return trainRunner(
    () => {
      let h: Variable = x;
      for (let i = 0; i < params.length; i += 2) {
        h = F.linear(h, params[i], params[i + 1]);
        if (i + 2 < params.length) h = F.relu(h);
      }
      return F.softmaxCrossEntropy(h, t);
    },
    params,
    [x, t],
  );
}

function convRunner(device: BenchDevice, s: Sizes): Runner {
  const { batch, side, channels, classes } = s.conv;
  const d = convData(s.conv);
  const pooled = channels * Math.floor(side / 2) ** 2;
  const params = [
    param(d.W1, [channels, 1, 3, 3], device),
    param(d.b1, [channels], device),
    param(d.W2, [pooled, classes], device),
    param(d.b2, [classes], device),
  ];
  const [W1, b1, W2, b2] = params;
  const x = leaf(d.x, [batch, 1, side, side], device);
  x.requiresGrad = false; // a DataLoader batch: no input gradient (TF.js computes none either)
  const t = tensor(d.t, { dtype: "int32", device });
  return trainRunner(
    () => {
      const c = F.relu(F.conv2d(x, W1, b1, { stride: 1, pad: 1 }));
      const h = F.pooling(c, 2, { stride: 2 });
      return F.softmaxCrossEntropy(F.linear(F.reshape(h, [batch, pooled]), W2, b2), t);
    },
    params,
    [x, t],
  );
}

function matmulRunner(device: BenchDevice, n: number): Runner {
  const d = matmulData(n);
  const a = leaf(d.a, [n, n], device);
  const b = leaf(d.b, [n, n], device);
  return {
    async step() {
      const c = F.matmul(a, b);
      try {
        return await firstElement(c);
      } finally {
        c.dispose();
      }
    },
    dispose() {
      disposeAll([a, b]);
    },
  };
}

function elementwiseRunner(device: BenchDevice, n: number): Runner {
  const x = tensor(vectorData(n), { device });
  return {
    async step() {
      // Forward only, as a user evaluates an expression: x*2+1, tanh, *x.
      const y = tidy(() => F.mul(F.tanh(F.add(F.mul(x, 2), 1)), x));
      try {
        return await firstElement(y);
      } finally {
        y.dispose();
      }
    },
    dispose() {
      x.dispose();
    },
  };
}

/**
 * The `order`-th derivative of tanh at every element of `x`, by repeated
 * `backward({ createGraph: true })` as in the book's step 35. The graph is
 * freed when it returns; the caller owns the result.
 */
export function tanhDerivative(x: Variable, order: number): Variable {
  return tidy(() => {
    F.tanh(x).backward({ createGraph: true });
    for (let i = 1; i < order; i++) {
      const gx = x.grad!;
      x.cleargrad();
      gx.backward({ createGraph: true });
    }
    const g = x.grad!;
    x.grad = null; // tidy keeps g because it is returned
    return g;
  });
}

function tanhRunner(device: BenchDevice, n: number, order: number): Runner {
  const x = tensor(linspaceData(n), { device });
  return {
    async step() {
      const g = tanhDerivative(x, order);
      try {
        return await firstElement(g);
      } finally {
        g.dispose();
      }
    },
    dispose() {
      x.dispose();
    },
  };
}

/** Prepares a dezero workload on `device` (call {@linkcode prepareDevice} first for the GPU). */
export function dezeroWorkload(name: WorkloadName, device: BenchDevice, s: Sizes): Runner {
  switch (name) {
    case "matmul":
      return matmulRunner(device, s.matmul);
    case "mlp":
      return mlpRunner(device, s);
    case "conv":
      return convRunner(device, s);
    case "elementwise":
      return elementwiseRunner(device, s.elementwise);
    case "tanh2":
    case "tanh3":
    case "tanh4":
      return tanhRunner(device, s.tanh, Number(name.at(-1)));
  }
}
