/**
 * The workloads of `workloads.ts` for TensorFlow.js (its WebGPU backend, or
 * its CPU backend for reference), started from the same data so that the
 * first results match ours. Bench-only: the library has no npm dependencies.
 *
 * TF.js is loaded from one bundle (`_tfjs_entry.ts` built with `deno bundle`
 * into {@linkcode TFJS_BUNDLE}); the bundle is built on first use where the npm
 * registry is reachable, and runs offline afterwards.
 *
 * TF.js lacks an NCHW conv on its WebGPU backend, so the conv step runs NHWC on
 * the same numbers: the filters and the classifier rows are permuted to match.
 *
 * @module
 */
// Bench-only npm type import, pinned inline so that the library's deno.json keeps no npm entries.
// deno-lint-ignore-file no-import-prefix
import type * as TF from "npm:@tensorflow/tfjs-core@4.22.0";
import {
  convData,
  linspaceData,
  matmulData,
  mlpData,
  type Runner,
  type Sizes,
  vectorData,
  type WorkloadName,
} from "./workloads.ts";

/** The TF.js version benchmarked (pinned in `_tfjs_entry.ts`). */
export const TFJS_VERSION = "4.22.0";

/** Where the TF.js bundle lives (an ignored folder that the device run carries). */
export const TFJS_BUNDLE: URL = new URL(
  `../.deno-carry/tfjs-${TFJS_VERSION}.bundle.js`,
  import.meta.url,
);

/** Which TF.js backend to use. */
export type TfBackend = "webgpu" | "cpu";

let tf: typeof TF;

async function exists(url: URL): Promise<boolean> {
  try {
    await Deno.stat(url);
    return true;
  } catch {
    return false;
  }
}

/** Builds the TF.js bundle with `deno bundle` (needs the npm registry), unless it exists. */
export async function buildTfjsBundle(): Promise<URL> {
  if (await exists(TFJS_BUNDLE)) return TFJS_BUNDLE;
  const entry = new URL("./_tfjs_entry.ts", import.meta.url);
  await Deno.mkdir(new URL(".", TFJS_BUNDLE), { recursive: true });
  const tmp = new URL(TFJS_BUNDLE.href.replace(/\.js$/, ".tmp.js"));
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--no-lock",
      "--platform",
      "deno",
      "-o",
      tmp.pathname,
      entry.pathname,
    ],
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (!out.success) {
    throw new Error(
      `TF.js: deno bundle failed (the npm registry must be reachable once): ${
        new TextDecoder().decode(out.stderr).trim()
      }`,
    );
  }
  await Deno.rename(tmp, TFJS_BUNDLE);
  return TFJS_BUNDLE;
}

/** Loads TF.js (building the bundle if needed) and selects `backend`; throws when unavailable. */
export async function initTfjs(backend: TfBackend): Promise<void> {
  tf ??= await import((await buildTfjsBundle()).href) as typeof TF;
  const ok = await tf.setBackend(backend);
  await tf.ready();
  if (!ok || tf.getBackend() !== backend) {
    throw new Error(`TF.js: backend ${backend} failed to initialise (got ${tf.getBackend()})`);
  }
}

/** Reads one element of `x` (which waits for the device), then disposes `x`. */
async function firstElement(x: TF.Tensor): Promise<number> {
  const e = tf.tidy(() => tf.slice(tf.reshape(x, [-1]), 0, 1));
  try {
    return (await e.data())[0];
  } finally {
    e.dispose();
    x.dispose();
  }
}

function oneHot(t: Int32Array, classes: number): TF.Tensor {
  return tf.tidy(() => tf.cast(tf.oneHot(tf.tensor1d(t, "int32"), classes), "float32"));
}

/** A training step: `opt.minimize` (forward, gradients, SGD lr 0.01); resolves with the loss. */
function trainRunner(lossFn: () => TF.Scalar, vars: TF.Variable[], others: TF.Tensor[]): Runner {
  const opt = tf.train.sgd(0.01);
  return {
    async step() {
      const loss = opt.minimize(lossFn, true, vars)!;
      try {
        return (await loss.data())[0];
      } finally {
        loss.dispose();
      }
    },
    dispose() {
      opt.dispose();
      for (const t of [...vars, ...others]) t.dispose();
    },
  };
}

function mlpRunner(s: Sizes): Runner {
  const { batch, dims } = s.mlp;
  const d = mlpData(s.mlp);
  const vars = d.layers.flatMap((l, i) => [
    tf.variable(tf.tensor2d(l.W, [dims[i], dims[i + 1]])),
    tf.variable(tf.tensor1d(l.b)),
  ]);
  const x = tf.tensor2d(d.x, [batch, dims[0]]);
  const t = oneHot(d.t, dims.at(-1)!);
  return trainRunner(
    () => {
      let h: TF.Tensor = x;
      for (let i = 0; i < vars.length; i += 2) {
        h = tf.add(tf.matMul(h, vars[i]), vars[i + 1]);
        if (i + 2 < vars.length) h = tf.relu(h);
      }
      return tf.losses.softmaxCrossEntropy(t, h) as TF.Scalar;
    },
    vars,
    [x, t],
  );
}

function convRunner(s: Sizes): Runner {
  const { batch, side, channels, classes } = s.conv;
  const half = Math.floor(side / 2);
  const pooled = channels * half * half;
  const d = convData(s.conv);
  const vars = tf.tidy(() => [
    // [OC, 1, 3, 3] -> [3, 3, 1, OC]
    tf.variable(tf.transpose(tf.tensor4d(d.W1, [channels, 1, 3, 3]), [2, 3, 1, 0])),
    tf.variable(tf.tensor1d(d.b1)),
    // rows (C, H, W) -> (H, W, C), the order of an NHWC flatten
    tf.variable(
      tf.reshape(
        tf.transpose(tf.tensor4d(d.W2, [channels, half, half, classes]), [1, 2, 0, 3]),
        [pooled, classes],
      ),
    ),
    tf.variable(tf.tensor1d(d.b2)),
  ]);
  const [W1, b1, W2, b2] = vars;
  const x = tf.tensor4d(d.x, [batch, side, side, 1]); // the same bytes as NCHW with C = 1
  const t = oneHot(d.t, classes);
  return trainRunner(
    () => {
      const c = tf.relu(tf.add(tf.conv2d(x, W1 as TF.Tensor4D, 1, "same"), b1));
      const h = tf.maxPool(c as TF.Tensor4D, 2, 2, "valid");
      const y = tf.add(tf.matMul(tf.reshape(h, [batch, pooled]), W2), b2);
      return tf.losses.softmaxCrossEntropy(t, y) as TF.Scalar;
    },
    vars,
    [x, t],
  );
}

function matmulRunner(n: number): Runner {
  const d = matmulData(n);
  const a = tf.tensor2d(d.a, [n, n]);
  const b = tf.tensor2d(d.b, [n, n]);
  return {
    step: () => firstElement(tf.matMul(a, b)),
    dispose() {
      a.dispose();
      b.dispose();
    },
  };
}

function elementwiseRunner(n: number): Runner {
  const x = tf.tensor1d(vectorData(n));
  return {
    step: () => firstElement(tf.tidy(() => tf.mul(tf.tanh(tf.add(tf.mul(x, 2), 1)), x))),
    dispose() {
      x.dispose();
    },
  };
}

/** The `order`-th derivative of tanh by nesting `tf.grad` (TF.js throws from the 2nd on). */
export function tanhDerivativeFn(order: number): (x: TF.Tensor) => TF.Tensor {
  let f: (x: TF.Tensor) => TF.Tensor = (x) => tf.tanh(x);
  for (let i = 0; i < order; i++) f = tf.grad(f);
  return f;
}

function tanhRunner(n: number, order: number): Runner {
  const x = tf.tensor1d(linspaceData(n));
  const f = tanhDerivativeFn(order);
  return {
    step: () => firstElement(tf.tidy(() => f(x))),
    dispose() {
      x.dispose();
    },
  };
}

/** Prepares a TF.js workload on the current backend (call {@linkcode initTfjs} first). */
export function tfjsWorkload(name: WorkloadName, s: Sizes): Runner {
  switch (name) {
    case "matmul":
      return matmulRunner(s.matmul);
    case "mlp":
      return mlpRunner(s);
    case "conv":
      return convRunner(s);
    case "elementwise":
      return elementwiseRunner(s.elementwise);
    case "tanh2":
    case "tanh3":
    case "tanh4":
      return tanhRunner(s.tanh, Number(name.at(-1)));
  }
}

/** Live TF.js tensors (to check the TF.js side for leaks). */
export function tfjsLiveTensors(): number {
  return tf.memory().numTensors;
}
