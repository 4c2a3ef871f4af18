/**
 * The layers of DeZero's `layers.py`: Linear, Conv2d, Deconv2d, BatchNorm,
 * LayerNorm, Dropout, EmbedID and the recurrent RNN, LSTM and GRU. Sizes that
 * depend on the input (Linear's input size, a convolution's input channels)
 * are inferred on the first call unless given.
 *
 * @module
 */
import type { Device } from "../core/backend.ts";
import type { DType } from "../core/dtype.ts";
import { fmtShape } from "../core/shape.ts";
import { keepArrays } from "../core/ndarray.ts";
import { full, Parameter, randn, tidy, Variable } from "../core/variable.ts";
import { linear } from "../core/functions.ts";
import * as N from "./functions.ts";
import { checkArg, checkOptions, checkPair, checkRange, isPlainObject } from "./_options.ts";
import { initParameter, isInitialized, Layer, lazyParameter, tieLazyDim } from "./layer.ts";

/** Options shared by layers that create weights. */
export interface WeightOptions {
  /** Element type of the weights (float32 by default, as DeZero). */
  dtype?: DType;
}

function floatDtype(x: Variable, fallback: DType | undefined): DType {
  return fallback ?? (x.dtype === "int32" ? "float32" : x.dtype);
}

/** Scaled normal initial values, DeZero's `randn(...) * sqrt(1 / fanIn)`. */
function scaledNormal(shape: number[], fanIn: number, dtype: DType, device: Device): Variable {
  const w = randn(shape, { dtype, device });
  const out = w.mul(Math.sqrt(1 / fanIn));
  w.dispose();
  return out;
}

/**
 * A normalization's eps must be > 0: a channel (or row) whose values are all equal has
 * variance 0, which eps 0 divides by (NaN), and a negative eps takes the square root of a
 * negative number.
 */
function checkEps(op: string, eps: number | undefined): void {
  if (eps === undefined) return;
  checkRange(
    op,
    'option "eps"',
    eps,
    eps > 0,
    "> 0 (equal values have variance 0, which eps 0 would divide by)",
  );
}

function constantParam(shape: number[], value: number, name: string, dtype: DType): Parameter {
  return new Parameter(full(shape, value, { dtype }).array, { name });
}

// ------------------------------------------------------------ Linear

/** Options of {@linkcode Linear}. */
export interface LinearOptions extends WeightOptions {
  /** Input size (inferred from the first input when omitted). */
  inSize?: number;
  /** Leave out the bias. */
  nobias?: boolean;
}

const LINEAR_OPTIONS = { inSize: "count", nobias: "boolean", dtype: "dtype" } as const;

/**
 * A parameter made eagerly on the CPU (a bias) follows its layer's lazily
 * created weights onto the GPU at the first call.
 */
function followDevice(p: Parameter | null, device: Device): void {
  if (p !== null && device === "gpu" && p.device === "cpu") p.toGpu();
}

/**
 * The affine layer `x @ W + b` with `W: [in, out]` (initialised as DeZero:
 * normal with variance `1 / in`) and `b: [out]` (zeros).
 *
 * @example
 * ```ts
 * import { Linear } from "./layers.ts";
 * import { randn } from "../mod.ts";
 * const l = new Linear(10);           // the input size comes from the first call
 * console.log(l.apply(randn([4, 3])).shape, l.W.shape); // [4, 10] [3, 10]
 * ```
 */
export class Linear extends Layer {
  /** The weight `[in, out]`. */
  W: Parameter;
  /** The bias `[out]`, or null with `nobias`. */
  b: Parameter | null;
  readonly #outSize: number;
  readonly #dtype: DType | undefined;

  /** A layer with `outSize` outputs. */
  constructor(outSize: number, options: LinearOptions = {}) {
    super();
    checkArg("Linear", "outSize", "count", outSize);
    checkOptions("Linear", options, LINEAR_OPTIONS, "{ nobias: true }", "outSize");
    this.#outSize = outSize;
    this.#dtype = options.dtype;
    const dtype = options.dtype ?? "float32";
    // With a bias, W takes the bias's dtype; without one, the first input's float type.
    this.W = lazyParameter([options.inSize ?? null, outSize], {
      name: "W",
      dtype: options.nobias ? options.dtype : dtype,
    });
    if (options.inSize !== undefined) {
      initParameter(this.W, scaledNormal([options.inSize, outSize], options.inSize, dtype, "cpu"));
    }
    this.b = options.nobias ? null : constantParam([outSize], 0, "b", dtype);
  }

  /** Applies the layer. */
  forward(x: Variable): Variable {
    if (!isInitialized(this.W)) {
      const inSize = x.shape[x.ndim - 1];
      const dtype = this.b?.dtype ?? floatDtype(x, this.#dtype);
      initParameter(this.W, scaledNormal([inSize, this.#outSize], inSize, dtype, x.device));
      followDevice(this.b, x.device);
    }
    return linear(x, this.W, this.b);
  }
}

// ------------------------------------------------------------ convolution

/** Options of {@linkcode Conv2d} and {@linkcode Deconv2d}. */
export interface Conv2dOptions extends WeightOptions {
  /** Stride (1 by default). */
  stride?: N.Pair;
  /** Zero padding (0 by default). */
  pad?: N.Pair;
  /** Leave out the bias. */
  nobias?: boolean;
  /** Input channels (inferred from the first input when omitted). */
  inChannels?: number;
}

const CONV_OPTIONS = {
  stride: "pair",
  pad: "pair",
  nobias: "boolean",
  inChannels: "count",
  dtype: "dtype",
} as const;

function kernelPair(k: N.Pair): [number, number] {
  return typeof k === "number" ? [k, k] : [k[0], k[1]];
}

/** What sets {@linkcode Conv2d} and {@linkcode Deconv2d} apart: the weight layout and the op. */
interface ConvKind {
  /** The weight shape for `c` input and `oc` output channels (`c` null while unknown). */
  weightShape<C extends number | null>(c: C, oc: number, kh: number, kw: number): (C | number)[];
  op: typeof N.conv2d;
}

/**
 * The body shared by {@linkcode Conv2d} and {@linkcode Deconv2d}: the bias,
 * the weights (initialised from the first input's channels unless
 * `inChannels` is given) and `forward`.
 *
 * @internal
 */
abstract class ConvLayer extends Layer {
  /** The filters (laid out by the subclass). */
  W: Parameter;
  /** The bias `[OC]`, or null with `nobias`. */
  b: Parameter | null;
  readonly #kind: ConvKind;
  readonly #opts: Conv2dOptions;
  readonly #k: [number, number];
  readonly #oc: number;

  constructor(kind: ConvKind, outChannels: number, kernelSize: N.Pair, options: Conv2dOptions) {
    super();
    const op = this.constructor.name;
    checkArg(op, "outChannels", "count", outChannels);
    checkPair(op, "kernelSize", kernelSize, 1);
    // Checked here first: the option kind "pair" allows a stride of 0.
    if (isPlainObject(options)) {
      if (options.stride !== undefined) checkPair(op, 'option "stride"', options.stride, 1);
      if (options.pad !== undefined) checkPair(op, 'option "pad"', options.pad, 0);
    }
    checkOptions(op, options, CONV_OPTIONS, "{ stride: 1, pad: 1 }", "kernelSize");
    this.#kind = kind;
    this.#opts = options;
    this.#k = kernelPair(kernelSize);
    this.#oc = outChannels;
    const [kh, kw] = this.#k;
    const c = options.inChannels;
    this.W = lazyParameter(kind.weightShape(c ?? null, outChannels, kh, kw), {
      name: "W",
      dtype: options.nobias ? options.dtype : options.dtype ?? "float32",
    });
    this.b = options.nobias
      ? null
      : constantParam([outChannels], 0, "b", options.dtype ?? "float32");
    if (c !== undefined) this.#init(c, options.dtype ?? "float32", "cpu");
  }

  #init(c: number, dtype: DType, device: Device): void {
    const [kh, kw] = this.#k;
    const shape = this.#kind.weightShape(c, this.#oc, kh, kw);
    initParameter(this.W, scaledNormal(shape, c * kh * kw, dtype, device));
    followDevice(this.b, device);
  }

  /** Applies the layer. */
  forward(x: Variable): Variable {
    if (!isInitialized(this.W)) {
      this.#init(x.shape[1], this.b?.dtype ?? floatDtype(x, this.#opts.dtype), x.device);
    }
    return this.#kind.op(x, this.W, this.b, { stride: this.#opts.stride, pad: this.#opts.pad });
  }
}

const CONV2D: ConvKind = { weightShape: (c, oc, kh, kw) => [oc, c, kh, kw], op: N.conv2d };
const DECONV2D: ConvKind = { weightShape: (c, oc, kh, kw) => [c, oc, kh, kw], op: N.deconv2d };

/**
 * 2-D convolution with filters `W: [OC, C, KH, KW]` and bias `b: [OC]`.
 *
 * @example
 * ```ts
 * import { Conv2d } from "./layers.ts";
 * import { randn } from "../mod.ts";
 * const conv = new Conv2d(8, 3, { pad: 1 });
 * console.log(conv.apply(randn([2, 3, 16, 16])).shape); // [2, 8, 16, 16]
 * ```
 */
export class Conv2d extends ConvLayer {
  /** The filters `[OC, C, KH, KW]`. */
  declare W: Parameter;

  /** A convolution with `outChannels` filters of `kernelSize`. */
  constructor(outChannels: number, kernelSize: N.Pair, options: Conv2dOptions = {}) {
    super(CONV2D, outChannels, kernelSize, options);
  }
}

/**
 * Transposed 2-D convolution with `W: [C, OC, KH, KW]` and bias `b: [OC]`.
 *
 * @example
 * ```ts
 * import { Deconv2d } from "./layers.ts";
 * import { randn } from "../mod.ts";
 * const up = new Deconv2d(3, 2, { stride: 2 });
 * console.log(up.apply(randn([1, 8, 4, 4])).shape); // [1, 3, 8, 8]
 * ```
 */
export class Deconv2d extends ConvLayer {
  /** The filters `[C, OC, KH, KW]`. */
  declare W: Parameter;

  /** A transposed convolution producing `outChannels` channels. */
  constructor(outChannels: number, kernelSize: N.Pair, options: Conv2dOptions = {}) {
    super(DECONV2D, outChannels, kernelSize, options);
  }
}

// ------------------------------------------------------------ normalization

/**
 * Batch normalization over the channel axis (1) of `[N, C]` or `[N, C, H, W]`
 * input, with learned `gamma` / `beta` and running statistics `avgMean` /
 * `avgVar` (buffers: saved with the weights, not optimized). Training mode
 * uses batch statistics; eval mode (or `testMode`) the running ones.
 *
 * @example
 * ```ts
 * import { BatchNorm } from "./layers.ts";
 * import { randn } from "../mod.ts";
 * const bn = new BatchNorm();
 * const y = bn.apply(randn([8, 4]));
 * console.log(bn.avgMean.shape); // [4]
 * ```
 */
export class BatchNorm extends Layer {
  /** Running mean (a buffer). */
  avgMean: Parameter;
  /** Running variance (a buffer). */
  avgVar: Parameter;
  /** Scale. */
  gamma: Parameter;
  /** Shift. */
  beta: Parameter;
  readonly #opts: N.BatchNormOptions & WeightOptions;

  /**
   * A batch-norm layer (DeZero's defaults: decay 0.9, eps 2e-5); the channel
   * count `size` is inferred from the first input when omitted.
   */
  constructor(options: N.BatchNormOptions & WeightOptions & { size?: number } = {}) {
    super();
    checkOptions(
      "BatchNorm",
      options,
      { decay: "number", eps: "number", size: "count", dtype: "dtype" },
      "{ size: 16 }",
      "the options",
    );
    const { decay } = options;
    if (decay !== undefined) {
      checkRange("BatchNorm", 'option "decay"', decay, decay >= 0 && decay <= 1, "in [0, 1]");
    }
    checkEps("BatchNorm", options.eps);
    this.#opts = options;
    const dtype = options.dtype;
    this.avgMean = lazyParameter([null], { name: "avgMean", buffer: true, dtype });
    this.avgVar = lazyParameter([null], { name: "avgVar", buffer: true, dtype });
    this.gamma = lazyParameter([null], { name: "gamma", dtype });
    this.beta = lazyParameter([null], { name: "beta", dtype });
    tieLazyDim("channels", 0, [this.avgMean, this.avgVar, this.gamma, this.beta]);
    if (options.size !== undefined) this.#init(options.size, options.dtype ?? "float32", "cpu");
  }

  #init(c: number, dtype: DType, device: Device): void {
    const o = { dtype, device };
    initParameter(this.avgMean, full([c], 0, o));
    initParameter(this.avgVar, full([c], 1, o));
    initParameter(this.gamma, full([c], 1, o));
    initParameter(this.beta, full([c], 0, o));
  }

  /** Applies the layer. */
  forward(x: Variable): Variable {
    // An input of another rank is left to batchNorm's error, with the layer still unsized.
    if (!isInitialized(this.gamma) && (x.ndim === 2 || x.ndim === 4)) {
      this.#init(x.shape[1], floatDtype(x, this.#opts.dtype), x.device);
    }
    const { decay, eps } = this.#opts;
    return N.batchNorm(x, this.gamma, this.beta, this.avgMean, this.avgVar, { decay, eps });
  }
}

/**
 * Layer normalization over the last axis, with learned `gamma` and `beta`.
 *
 * @example
 * ```ts
 * import { LayerNorm } from "./layers.ts";
 * import { randn } from "../mod.ts";
 * console.log(new LayerNorm().apply(randn([2, 6])).shape); // [2, 6]
 * ```
 */
export class LayerNorm extends Layer {
  /** Scale. */
  gamma: Parameter = lazyParameter([null], { name: "gamma" });
  /** Shift. */
  beta: Parameter = lazyParameter([null], { name: "beta" });
  readonly #eps: number;

  /** A layer-norm layer (eps 1e-5, as PyTorch). */
  constructor(options: { eps?: number } = {}) {
    super();
    checkOptions("LayerNorm", options, { eps: "number" }, "{ eps: 1e-5 }", "the options");
    checkEps("LayerNorm", options.eps);
    this.#eps = options.eps ?? 1e-5;
    tieLazyDim("size", 0, [this.gamma, this.beta]);
  }

  /** Applies the layer. */
  forward(x: Variable): Variable {
    if (!isInitialized(this.gamma)) {
      const d = x.shape[x.ndim - 1];
      const o = { dtype: floatDtype(x, undefined), device: x.device };
      initParameter(this.gamma, full([d], 1, o));
      initParameter(this.beta, full([d], 0, o));
    }
    return N.layerNorm(x, this.gamma, this.beta, { eps: this.#eps });
  }
}

/**
 * Dropout with `ratio` in training mode; the identity in eval / test mode.
 *
 * @example
 * ```ts
 * import { Dropout } from "./layers.ts";
 * import { ones } from "../mod.ts";
 * const drop = new Dropout(0.5).eval();
 * console.log(await drop.apply(ones([2])).toArray()); // [1, 1]
 * ```
 */
export class Dropout extends Layer {
  /** The drop probability. */
  readonly ratio: number;
  /** A dropout layer. */
  constructor(ratio = 0.5) {
    super();
    checkArg("Dropout", "ratio", "number", ratio);
    if (!(ratio >= 0 && ratio < 1)) {
      throw new RangeError(`Dropout: ratio must be in [0, 1), got ${ratio}`);
    }
    this.ratio = ratio;
  }
  /** Applies the layer. */
  forward(x: Variable): Variable {
    return N.dropout(x, this.ratio);
  }
}

/**
 * An embedding table `W: [inSize, outSize]` looked up by int32 ids.
 *
 * @example
 * ```ts
 * import { EmbedID } from "./layers.ts";
 * import { tensor } from "../mod.ts";
 * const emb = new EmbedID(100, 8);
 * console.log(emb.apply(tensor([3, 14], { dtype: "int32" })).shape); // [2, 8]
 * ```
 */
export class EmbedID extends Layer {
  /** The table. */
  W: Parameter;
  /** A table of `inSize` vectors of `outSize` (standard normal, as DeZero). */
  constructor(inSize: number, outSize: number, options: WeightOptions = {}) {
    super();
    checkArg("EmbedID", "inSize", "count", inSize);
    checkArg("EmbedID", "outSize", "count", outSize);
    checkOptions("EmbedID", options, { dtype: "dtype" }, '{ dtype: "float32" }', "outSize");
    this.W = new Parameter(randn([inSize, outSize], { dtype: options.dtype }).array, { name: "W" });
  }
  /** Applies the layer. */
  forward(x: Variable): Variable {
    return N.embedId(x, this.W);
  }
}

// ------------------------------------------------------------ recurrent

/** Options of the recurrent layers. */
export interface RecurrentOptions extends WeightOptions {
  /** Input size (inferred from the first input when omitted). */
  inSize?: number;
}

const RECURRENT_OPTIONS = { inSize: "count", dtype: "dtype" } as const;

/**
 * Checks a recurrent layer's input: one time step `[N, inSize]` (as DeZero's layers take
 * it), of the batch size of the carried state.
 */
function checkStep(op: string, x: Variable, h: Variable | null): void {
  if (x.ndim !== 2) {
    const hint = x.ndim === 3
      ? `: ${op} takes one time step per call; for a sequence batch [N, T, inSize], call ` +
        `apply() once per step t with x.getItem([":", t]) (as DeZero does)`
      : x.ndim === 1
      ? ": add the batch axis for one sample (x.reshape(1, -1))"
      : "";
    throw new TypeError(`${op}: expected input [N, inSize], got ${fmtShape(x.shape)}${hint}`);
  }
  if (h !== null && !h.isAlive) {
    throw new ReferenceError(
      `${op}: the state carried from the previous call was freed (by dispose(), or by a ` +
        `tidy() that recorded a graph and did not return it): call resetState() to start over`,
    );
  }
  if (h !== null && h.shape[0] !== x.shape[0]) {
    throw new TypeError(
      `${op}: input batch ${fmtShape(x.shape)} does not match the hidden state ${
        fmtShape(h.shape)
      }: call resetState() when the batch size changes`,
    );
  }
}

/**
 * Makes a gate's lazy input weight at a call that does not use the gate (the first step,
 * without carried state), computing nothing that is kept: every weight exists after the
 * first call (so the layer can be saved) and is drawn there in the gates' order, so a seed
 * gives the same weights whatever step first uses a gate.
 */
function initUnusedGate(gate: Linear, x: Variable): void {
  if (!isInitialized(gate.W)) tidy(() => void gate.apply(x));
}

/**
 * A recurrent layer's hidden weights (sized at construction, so made on the CPU) follow
 * its lazily sized input weights onto the first input's device, as a Linear's bias does.
 */
function followInput(x: Variable, input: Linear, hidden: Linear[]): void {
  if (isInitialized(input.W)) return;
  for (const l of hidden) followDevice(l.W, x.device);
}

/** States that {@linkcode carry} made as the layer's own handles. */
const ownStates = new WeakSet<Variable>();

/**
 * A recurrent layer's next state, carried to its next call. With a graph
 * (training), the output itself, kept from backward's release so that the next
 * call's graph reaches back through it (BPTT). Without one (inference under
 * `noGrad`), a handle of the layer's own, and the previous own handle is freed
 * now, so an inference loop's memory stays flat without the garbage collector.
 * Either way the state outlives the `tidy()` it was made in.
 */
function carry(prev: Variable | null, next: Variable): Variable {
  if (next.creator !== null) {
    keepArrays(next.array);
    return next.retainData();
  }
  dropState(prev);
  const own = new Variable(next.array.share());
  keepArrays(own.array);
  ownStates.add(own);
  return own;
}

/** Frees a state if it is the layer's own handle (an output the user holds is left alone). */
function dropState(state: Variable | null): void {
  if (state !== null && ownStates.has(state)) state.dispose();
}

/**
 * An Elman RNN: `h = tanh(x W_x + b + h W_h)`. The hidden state carries over
 * between calls until `resetState()`; cut the graph with `unchainBackward()`
 * for truncated backpropagation through time. (DeZero sized `h2h` by the input
 * size; here it is hidden × hidden, so any input size works.)
 *
 * @example
 * ```ts
 * import { RNN } from "./layers.ts";
 * import { randn } from "../mod.ts";
 * const rnn = new RNN(16);
 * const h = rnn.apply(randn([1, 1]));
 * console.log(h.shape); // [1, 16]
 * ```
 */
export class RNN extends Layer {
  /** Input to hidden. */
  x2h: Linear;
  /** Hidden to hidden (no bias). */
  h2h: Linear;
  #h: Variable | null = null;

  /** An RNN with `hiddenSize` units. */
  constructor(hiddenSize: number, options: RecurrentOptions = {}) {
    super();
    checkArg("RNN", "hiddenSize", "count", hiddenSize);
    checkOptions("RNN", options, RECURRENT_OPTIONS, "{ inSize: 3 }", "hiddenSize");
    this.x2h = new Linear(hiddenSize, { inSize: options.inSize, dtype: options.dtype });
    this.h2h = new Linear(hiddenSize, { inSize: hiddenSize, nobias: true, dtype: options.dtype });
  }

  /** The current hidden state (null after `resetState()`). */
  get h(): Variable | null {
    return this.#h;
  }

  /** Forgets the hidden state. */
  resetState(): void {
    dropState(this.#h);
    this.#h = null;
  }

  /** The hidden state moves with the parameters. */
  protected override carriedState(): Variable[] {
    return this.#h ? [this.#h] : [];
  }

  /** Applies the layer. */
  forward(x: Variable): Variable {
    checkStep("RNN", x, this.#h);
    followInput(x, this.x2h, [this.h2h]);
    const pre = this.x2h.apply(x);
    const hNew = (this.#h === null ? pre : pre.add(this.h2h.apply(this.#h))).tanh();
    // The state feeds the next call's graph: backward must not release it. (After that
    // backward it is a leaf, which is truncated backpropagation through time.)
    this.#h = carry(this.#h, hNew);
    return hNew;
  }
}

/**
 * A long short-term memory layer (DeZero's gate layout: forget, input, output
 * and candidate, each with its own input and hidden Linear).
 *
 * @example
 * ```ts
 * import { LSTM } from "./layers.ts";
 * import { randn } from "../mod.ts";
 * const lstm = new LSTM(8);
 * console.log(lstm.apply(randn([2, 3])).shape); // [2, 8]
 * ```
 */
export class LSTM extends Layer {
  /** Input to forget gate. */
  x2f: Linear;
  /** Input to input gate. */
  x2i: Linear;
  /** Input to output gate. */
  x2o: Linear;
  /** Input to candidate. */
  x2u: Linear;
  /** Hidden to forget gate. */
  h2f: Linear;
  /** Hidden to input gate. */
  h2i: Linear;
  /** Hidden to output gate. */
  h2o: Linear;
  /** Hidden to candidate. */
  h2u: Linear;
  #h: Variable | null = null;
  #c: Variable | null = null;

  /** An LSTM with `hiddenSize` units. */
  constructor(hiddenSize: number, options: RecurrentOptions = {}) {
    super();
    checkArg("LSTM", "hiddenSize", "count", hiddenSize);
    checkOptions("LSTM", options, RECURRENT_OPTIONS, "{ inSize: 3 }", "hiddenSize");
    const xo = { inSize: options.inSize, dtype: options.dtype };
    const ho = { inSize: hiddenSize, nobias: true, dtype: options.dtype };
    this.x2f = new Linear(hiddenSize, xo);
    this.x2i = new Linear(hiddenSize, xo);
    this.x2o = new Linear(hiddenSize, xo);
    this.x2u = new Linear(hiddenSize, xo);
    tieLazyDim("inSize", 0, [this.x2f.W, this.x2i.W, this.x2o.W, this.x2u.W]);
    this.h2f = new Linear(hiddenSize, ho);
    this.h2i = new Linear(hiddenSize, ho);
    this.h2o = new Linear(hiddenSize, ho);
    this.h2u = new Linear(hiddenSize, ho);
  }

  /** The hidden state (null after `resetState()`). */
  get h(): Variable | null {
    return this.#h;
  }
  /** The cell state (null after `resetState()`). */
  get c(): Variable | null {
    return this.#c;
  }

  /** Forgets the hidden and cell states. */
  resetState(): void {
    dropState(this.#h);
    dropState(this.#c);
    this.#h = null;
    this.#c = null;
  }

  /** The hidden and cell states move with the parameters. */
  protected override carriedState(): Variable[] {
    return [this.#h, this.#c].filter((v): v is Variable => v !== null);
  }

  /** Applies the layer. */
  forward(x: Variable): Variable {
    checkStep("LSTM", x, this.#h);
    followInput(x, this.x2f, [this.h2f, this.h2i, this.h2o, this.h2u]);
    const h = this.#h;
    const gate = (xl: Linear, hl: Linear) => {
      const a = xl.apply(x);
      return h === null ? a : a.add(hl.apply(h));
    };
    // Without a cell state the forget gate is unused: only its lazy weight is made.
    const c = this.#c;
    if (c === null) initUnusedGate(this.x2f, x);
    const f = c === null ? null : N.sigmoid(gate(this.x2f, this.h2f));
    const i = N.sigmoid(gate(this.x2i, this.h2i));
    const o = N.sigmoid(gate(this.x2o, this.h2o));
    const u = gate(this.x2u, this.h2u).tanh();
    const cNew = f === null || c === null ? i.mul(u) : f.mul(c).add(i.mul(u));
    const hNew = o.mul(cNew.tanh());
    this.#h = carry(this.#h, hNew);
    this.#c = carry(this.#c, cNew);
    return hNew;
  }
}

/**
 * A gated recurrent unit: `z = σ(x W_z + h U_z)`, `r = σ(x W_r + h U_r)`,
 * `n = tanh(x W_n + r ⊙ (h U_n))`, `h' = (1 - z) ⊙ n + z ⊙ h`.
 *
 * @example
 * ```ts
 * import { GRU } from "./layers.ts";
 * import { randn } from "../mod.ts";
 * const gru = new GRU(8);
 * console.log(gru.apply(randn([2, 3])).shape); // [2, 8]
 * ```
 */
export class GRU extends Layer {
  /** Input to update gate. */
  x2z: Linear;
  /** Input to reset gate. */
  x2r: Linear;
  /** Input to candidate. */
  x2n: Linear;
  /** Hidden to update gate. */
  h2z: Linear;
  /** Hidden to reset gate. */
  h2r: Linear;
  /** Hidden to candidate. */
  h2n: Linear;
  #h: Variable | null = null;

  /** A GRU with `hiddenSize` units. */
  constructor(hiddenSize: number, options: RecurrentOptions = {}) {
    super();
    checkArg("GRU", "hiddenSize", "count", hiddenSize);
    checkOptions("GRU", options, RECURRENT_OPTIONS, "{ inSize: 3 }", "hiddenSize");
    const xo = { inSize: options.inSize, dtype: options.dtype };
    const ho = { inSize: hiddenSize, nobias: true, dtype: options.dtype };
    this.x2z = new Linear(hiddenSize, xo);
    this.x2r = new Linear(hiddenSize, xo);
    this.x2n = new Linear(hiddenSize, xo);
    tieLazyDim("inSize", 0, [this.x2z.W, this.x2r.W, this.x2n.W]);
    this.h2z = new Linear(hiddenSize, ho);
    this.h2r = new Linear(hiddenSize, ho);
    this.h2n = new Linear(hiddenSize, ho);
  }

  /** The hidden state (null after `resetState()`). */
  get h(): Variable | null {
    return this.#h;
  }

  /** Forgets the hidden state. */
  resetState(): void {
    dropState(this.#h);
    this.#h = null;
  }

  /** The hidden state moves with the parameters. */
  protected override carriedState(): Variable[] {
    return this.#h ? [this.#h] : [];
  }

  /** Applies the layer. */
  forward(x: Variable): Variable {
    checkStep("GRU", x, this.#h);
    followInput(x, this.x2z, [this.h2z, this.h2r, this.h2n]);
    const h = this.#h;
    let hNew: Variable;
    if (h === null) {
      // Without a hidden state the reset gate is unused: only its lazy weight is made.
      const z = N.sigmoid(this.x2z.apply(x));
      initUnusedGate(this.x2r, x);
      const n = this.x2n.apply(x).tanh();
      hNew = n.sub(z.mul(n)); // (1 - z)·n, with no constant in the graph
    } else {
      const z = N.sigmoid(this.x2z.apply(x).add(this.h2z.apply(h)));
      const r = N.sigmoid(this.x2r.apply(x).add(this.h2r.apply(h)));
      const n = this.x2n.apply(x).add(r.mul(this.h2n.apply(h))).tanh();
      hNew = n.add(z.mul(h.sub(n))); // (1 - z)·n + z·h
    }
    this.#h = carry(this.#h, hNew);
    return hNew;
  }
}
