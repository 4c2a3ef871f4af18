/**
 * `Layer`: a container of parameters and sublayers, as DeZero's `Layer`, with
 * dotted parameter names in a stable declaration order, device moves,
 * train/eval switches and safetensors weights. `Model` adds `plot`.
 *
 * @module
 */
import "../core/backend_cpu.ts"; // the CPU backend registers itself
import { Config, usingConfig } from "../core/config.ts";
import { getBackend } from "../core/backend.ts";
import { allocTyped, type DType, isFloat, type TypedArray } from "../core/dtype.ts";
import { type NDArray, withScope } from "../core/ndarray.ts";
import { fmtShape } from "../core/shape.ts";
import { getDotGraph, plotDotGraph, writeDotFile } from "../core/utils.ts";
import {
  asLayerCall,
  asVariable,
  type Operand,
  Parameter,
  type TensorOptions,
  Variable,
} from "../core/variable.ts";
import { loadSafetensors, type SafetensorsTensor, saveSafetensors } from "./io.ts";

/**
 * State a layer keeps that is not learned by the optimizer but belongs to its
 * weights (batch norm's running statistics): saved, loaded and moved between
 * devices with the parameters, never returned by `params()`.
 *
 * @example
 * ```ts
 * import { Buffer } from "./layer.ts";
 * const runningMean = new Buffer(new Float32Array(3), { name: "avgMean" });
 * ```
 */
export class Buffer extends Parameter {}

/**
 * What is known of a parameter whose size is only known at the first call: its
 * expected shape (null = unknown) and whether its layer fixed its dtype.
 */
interface Pending {
  shape: readonly LazySize[];
  dtypeFixed: boolean;
}

/**
 * One size of a {@linkcode lazyParameter}'s shape: known (a number), unknown
 * (null), or unknown but shared with other lazy parameters (a {@linkcode LazyDim}:
 * BatchNorm's channel count sizes four of them), which `loadWeights` checks.
 */
export type LazySize = number | null | LazyDim;

/** An unknown size shared by several lazy parameters; compared by identity. */
export class LazyDim {
  /** A shared size, named for error messages. */
  constructor(readonly name: string) {}
}

/**
 * Ties axis `axis` of the lazy parameters `params` (still unknown there) to one
 * {@linkcode LazyDim}: `loadWeights` then requires one size for all of them (an
 * LSTM's four input weights take the same input size).
 */
export function tieLazyDim(name: string, axis: number, params: Iterable<Parameter>): LazyDim {
  const dim = new LazyDim(name);
  for (const p of params) {
    const pending = pendingParams.get(p);
    if (pending === undefined || pending.shape[axis] !== null) continue;
    const shape = [...pending.shape];
    shape[axis] = dim;
    pendingParams.set(p, { ...pending, shape });
  }
  return dim;
}
const pendingParams = new WeakMap<Parameter, Pending>();

const JUPYTER_DISPLAY = Symbol.for("Jupyter.display");

/**
 * A parameter whose shape is only partly known until the layer first sees its
 * input (as `Linear`'s input size): it holds an empty array, of `opts.dtype` and
 * on `opts.device`, until {@linkcode initParameter} fills it, or `loadWeights`
 * gives it the file's values. It is the same object before and after, so it is
 * listed by `params()` from the start and an optimizer set up before the first
 * call trains it (as PyTorch's lazy modules).
 *
 * Without `opts.dtype` the layer leaves the float type open: it comes from the
 * first input or from the loaded file.
 *
 * @example
 * ```ts
 * import { isInitialized, lazyParameter } from "./layer.ts";
 * const W = lazyParameter([null, 10], { name: "W" });
 * console.log(isInitialized(W), W.shape); // false [0]
 * ```
 */
export function lazyParameter(
  shape: readonly LazySize[],
  opts: TensorOptions & { name?: string; buffer?: boolean } = {},
): Parameter {
  const empty = allocTyped(opts.dtype ?? "float32", 0);
  const p = opts.buffer
    ? new Buffer(empty, { name: opts.name })
    : new Parameter(empty, { name: opts.name });
  if (opts.device === "gpu") p.toGpu();
  pendingParams.set(p, { shape: [...shape], dtypeFixed: opts.dtype !== undefined });
  // Printed as what it is until then, not as an empty tensor (DeZero shows variable(None)).
  const show = function (this: Parameter): string {
    const pending = pendingParams.get(this);
    if (pending === undefined) return Variable.prototype.toString.call(this);
    const dims = pending.shape.map((d) => (typeof d === "number" ? d : "?")).join(", ");
    return `${opts.buffer ? "buffer" : "parameter"}(<not initialised: shape [${dims}] is ` +
      `inferred from the first input>${opts.dtype ? `, dtype=${opts.dtype}` : ""})`;
  };
  Object.defineProperty(p, "toString", { value: show, configurable: true });
  Object.defineProperty(p, Symbol.for("Deno.customInspect"), { value: show, configurable: true });
  const display = Object.getOwnPropertyDescriptor(Variable.prototype, JUPYTER_DISPLAY)!.value;
  Object.defineProperty(p, JUPYTER_DISPLAY, {
    value: function (this: Parameter) {
      if (!pendingParams.has(this)) return display.call(this);
      return { "text/plain": show.call(this) };
    },
    configurable: true,
  });
  return p;
}

/**
 * Whether a parameter holds its values (false for a {@linkcode lazyParameter} not yet initialised).
 *
 * @example
 * ```ts
 * import { isInitialized } from "./layer.ts";
 * import { Parameter } from "../mod.ts";
 * console.log(isInitialized(new Parameter([1, 2]))); // true
 * ```
 */
export function isInitialized(p: Parameter): boolean {
  return !pendingParams.has(p);
}

/**
 * Gives a lazy parameter its values (and marks it initialised).
 *
 * @example
 * ```ts
 * import { initParameter, isInitialized, lazyParameter } from "./layer.ts";
 * import { randn } from "../mod.ts";
 * const W = lazyParameter([null, 2]);
 * initParameter(W, randn([3, 2]));
 * console.log(isInitialized(W), W.shape); // true [3, 2]
 * ```
 */
export function initParameter(p: Parameter, value: Variable): void {
  p.array = value.array.share();
  value.dispose();
  pendingParams.delete(p);
}

/**
 * The dtype a parameter takes from a file holding `fileDtype`: its own, except
 * that a lazy parameter whose layer left the float type open takes the file's
 * float type (float32 on the GPU, which has no float64, as an eager float32
 * parameter converts). An int32 tensor never fits a float parameter (nor the reverse).
 */
function loadDtype(p: Parameter, fileDtype: DType): DType {
  const pending = pendingParams.get(p);
  if (pending === undefined || pending.dtypeFixed || !isFloat(fileDtype)) return p.dtype;
  return fileDtype === "float64" && p.device === "gpu" ? "float32" : fileDtype;
}

function shapeFits(pattern: readonly LazySize[], shape: readonly number[]): boolean {
  return pattern.length === shape.length &&
    pattern.every((d, i) => typeof d !== "number" || d === shape[i]);
}

function fmtPattern(pattern: readonly LazySize[]): string {
  return `[${pattern.map((d) => d === null ? "?" : d instanceof LazyDim ? d.name : d).join(",")}]`;
}

/**
 * The innermost running {@linkcode Layer.apply}: the `Config.train` the user set
 * and the one the call set for its forward (null outside any layer call).
 */
let activeCall: { user: boolean; train: boolean; scoped: boolean } | null = null;

const RELEASED_BY_APPLY =
  "was released by Layer.apply(): it was made inside forward() under noGrad and is neither " +
  "the output nor kept by the layer; store it in a field of the layer, or call keep() on it";

/**
 * The base of layers and models: holds Parameters, Buffers and sublayers as
 * fields (or arrays or Maps of them), discovered in declaration order.
 * Subclasses implement `forward`; call a layer with `apply`.
 *
 * Only public fields (and arrays and Maps in them) are searched: a sublayer or
 * Parameter held in a `#private` field, a plain object or a closure is not in
 * `params()`, so it is not trained, saved, moved by `toGpu()` or cleared by
 * `cleargrads()`, even when `forward` applies it. (That is also how to keep a
 * frozen helper, such as a teacher network, out of a model's weights.)
 *
 * @example
 * ```ts
 * import { L, Layer } from "./mod.ts";
 * import { F, randn, type Variable } from "../mod.ts";
 *
 * class TwoLayerNet extends Layer {
 *   l1 = new L.Linear(10);
 *   l2 = new L.Linear(1);
 *   forward(x: Variable): Variable {
 *     return this.l2.apply(F.tanh(this.l1.apply(x)));
 *   }
 * }
 * const net = new TwoLayerNet();
 * const y = net.apply(randn([5, 3]));
 * console.log([...net.namedParams()].map(([n]) => n)); // ["l1.W", "l1.b", "l2.W", "l2.b"]
 * ```
 */
export abstract class Layer {
  #training = true;
  /** Carried states that this layer's calls retained for the next call's graph. */
  #heldStates: Variable[] = [];

  /** Computes the output from the inputs. */
  abstract forward(...inputs: Variable[]): Variable;

  /**
   * Applies the layer (DeZero's `layer(x)`); numbers and arrays become Variables.
   * `forward` runs with `Config.train` set from this layer's own mode (as each
   * PyTorch module's `training` flag), so a sublayer switched back with `train()`
   * inside an `eval()` model trains; under a `testMode` block every layer runs in
   * test mode.
   *
   * Under `noGrad` (no graph), the outermost call frees the arrays `forward` made when
   * it returns, except the output and what the layers keep (parameters, buffers,
   * carried state, Variables stored in their fields, values passed to `keep()`), so an
   * evaluation loop's memory stays flat without `tidy()`. With a graph nothing is freed
   * here: backward() frees it.
   */
  apply(...inputs: Operand[]): Variable {
    const xs = inputs.map((x) => asVariable(x));
    // Inside an enclosing layer's forward, Config.train holds that layer's mode, not
    // the user's: the user's flag is the one the enclosing call saw, unless code in
    // its forward changed Config.train since (a testMode block around a sublayer of a
    // training layer; under an eval layer such a block cannot be told apart and the
    // sublayer's own mode decides).
    const user = activeCall !== null && Config.train === activeCall.train
      ? activeCall.user
      : Config.train;
    // Without a graph (inference under noGrad), the outermost such call frees what its
    // forward made and neither returned nor kept as layer state, as PyTorch frees them by
    // refcount: an evaluation loop's memory stays flat without tidy() or the collector.
    const scoped = !Config.enableBackprop && !(activeCall?.scoped ?? false);
    const call = { user, train: user && this.#training, scoped };
    const enclosing = activeCall;
    activeCall = call;
    const carried = this.carriedState();
    try {
      const run = () =>
        asLayerCall(() => usingConfig({ train: call.train }, () => this.forward(...xs)));
      const y = scoped ? withScope(run, (y) => this.#keptArrays(y), RELEASED_BY_APPLY) : run();
      this.#releaseReplacedState(carried);
      return y;
    } finally {
      activeCall = enclosing;
    }
  }

  /**
   * A recurrent layer retains its state (`retainData()`) so that backward() leaves it
   * to the next call's graph; once a later call replaced it (or `resetState()` dropped
   * it), that hold is undone, so that backward() frees it as any activation and
   * truncated BPTT stays flat without the garbage collector.
   */
  #releaseReplacedState(before: Variable[]): void {
    const after = this.carriedState();
    const held: Variable[] = [];
    for (const v of this.#heldStates) {
      if (after.includes(v)) held.push(v);
      else v.unretainData();
    }
    for (const v of after) {
      if (!before.includes(v) && !held.includes(v) && v.retained) held.push(v);
    }
    this.#heldStates = held;
  }

  /**
   * What a scoped {@linkcode Layer.apply} keeps: the output and what the layers hold
   * (Variables in their fields or arrays of them, carried state). Parameters, buffers
   * and carried state escape scopes anyway.
   */
  #keptArrays(y: Variable): NDArray[] {
    const kept: NDArray[] = [];
    const add = (v: unknown) => {
      if (!(v instanceof Variable)) return;
      if (v.isAlive) kept.push(v.array);
      if (v.grad?.isAlive) kept.push(v.grad.array);
    };
    add(y);
    if (Array.isArray(y)) y.forEach(add);
    for (const layer of this.#layers()) {
      for (const v of Object.values(layer)) {
        if (Array.isArray(v)) v.forEach(add);
        else add(v);
      }
      layer.carriedState().forEach(add);
    }
    return kept;
  }

  /** Whether the layer is in training mode (see {@linkcode Layer.train}). */
  get training(): boolean {
    return this.#training;
  }

  /**
   * Sets training mode (the default) on this layer and every sublayer. In eval
   * mode the layer runs as under `testMode`: dropout is the identity and batch
   * norm uses its running statistics.
   */
  train(mode = true): this {
    this.#training = mode;
    for (const [, child] of this.children()) if (child instanceof Layer) child.train(mode);
    return this;
  }

  /** Eval mode: `train(false)`. */
  eval(): this {
    return this.train(false);
  }

  /**
   * The direct children (parameters, buffers, sublayers) with their names:
   * the own fields in declaration order, arrays expanded as `name.0`, `name.1`
   * and Maps (PyTorch's ModuleDict) as `name.key`, in insertion order.
   */
  *children(): Generator<[string, Layer | Parameter]> {
    for (const [key, value] of Object.entries(this)) {
      if (value instanceof Layer || value instanceof Parameter) yield [key, value];
      else if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const item = value[i];
          if (item instanceof Layer || item instanceof Parameter) yield [`${key}.${i}`, item];
        }
      } else if (value instanceof Map) {
        for (const [k, item] of value) {
          if (item instanceof Layer || item instanceof Parameter) yield [`${key}.${k}`, item];
        }
      }
    }
  }

  /** Every parameter and buffer (initialised or not) with its dotted name. */
  *namedState(prefix = ""): Generator<[string, Parameter]> {
    const seen = new Set<Parameter>();
    for (const [name, p] of this.#walk(prefix)) {
      if (seen.has(p)) continue; // a shared parameter appears once, under its first name
      seen.add(p);
      yield [name, p];
    }
  }

  *#walk(prefix: string): Generator<[string, Parameter]> {
    for (const [key, child] of this.children()) {
      const name = prefix ? `${prefix}.${key}` : key;
      if (child instanceof Layer) yield* child.#walk(name);
      else yield [name, child];
    }
  }

  /**
   * The learnable parameters with dotted names (`l1.W`), recursively, in
   * declaration order; buffers are left out. A lazy parameter is listed before
   * the first call too (empty until then, see {@linkcode lazyParameter}), so
   * `optimizer.setup(model.params())` before the first call covers it.
   */
  *namedParams(): Generator<[string, Parameter]> {
    for (const [name, p] of this.namedState()) {
      if (!(p instanceof Buffer)) yield [name, p];
    }
  }

  /** The learnable parameters, recursively, in declaration order. */
  *params(): Generator<Parameter> {
    for (const [, p] of this.namedParams()) yield p;
  }

  /** Clears every parameter's gradient. */
  cleargrads(): void {
    for (const p of this.params()) p.cleargrad();
  }

  /**
   * Moves every parameter and buffer to the GPU (needs `await initGpu()` first),
   * and what layers carry between calls (a recurrent layer's state). A lazy
   * parameter moves its empty placeholder, so that weights loaded or created
   * later land on the GPU too.
   *
   * The GPU has no float64: a float64 parameter, buffer or carried state is a
   * TypeError naming it (`"1.gamma" (LayerNorm)`), thrown before anything moves, so
   * the model stays whole on the CPU. It is not converted to float32, as PyTorch's
   * `.to("mps")` refuses float64 too: the precision a layer was given stays its own.
   * (`loadWeights` on a model already on the GPU converts a float64 file to float32,
   * as PyTorch's `load_state_dict` copies into the parameters' dtype.)
   */
  toGpu(): this {
    const f64: string[] = [];
    const seen = new Set<Parameter>();
    for (const [path, layer] of this.#namedLayers()) {
      const owner = `(${layer.constructor.name})`;
      for (const [key, p] of layer.children()) {
        if (!(p instanceof Parameter) || seen.has(p)) continue;
        seen.add(p);
        if (p.dtype === "float64") f64.push(`"${path ? `${path}.${key}` : key}" ${owner}`);
      }
      if (layer.carriedState().some((v) => v.dtype === "float64")) {
        f64.push(`the state carried by ${path ? `"${path}"` : "the model"} ${owner}`);
      }
    }
    if (f64.length > 0) {
      throw new TypeError(
        `toGpu: ${f64.join(", ")} ${f64.length === 1 ? "is" : "are"} float64, which device ` +
          `"gpu" does not support (WGSL has no f64): nothing was moved; make the layers ` +
          `float32 (the default), or call toGpu() before loadWeights() (which loads a ` +
          `float64 file as float32 on the GPU)`,
      );
    }
    for (const [, p] of this.namedState()) p.toGpu();
    for (const layer of this.#layers()) for (const v of layer.carriedState()) v.toGpu();
    return this;
  }

  /** Moves every parameter and buffer, and what layers carry between calls, to the CPU. */
  async toCpu(): Promise<this> {
    for (const [, p] of this.namedState()) await p.toCpu();
    for (const layer of this.#layers()) for (const v of layer.carriedState()) await v.toCpu();
    return this;
  }

  /**
   * Variables the layer carries from one call to the next that are not
   * parameters (a recurrent layer's hidden state); `toGpu()` and `toCpu()` move them.
   */
  protected carriedState(): Variable[] {
    return [];
  }

  /** This layer and every sublayer, each once, with its dotted path ("" for this one). */
  *#namedLayers(prefix = "", seen = new Set<Layer>()): Generator<[string, Layer]> {
    if (seen.has(this)) return;
    seen.add(this);
    yield [prefix, this];
    for (const [key, child] of this.children()) {
      if (child instanceof Layer) {
        yield* child.#namedLayers(prefix ? `${prefix}.${key}` : key, seen);
      }
    }
  }

  /** This layer and every sublayer, each once. */
  *#layers(): Generator<Layer> {
    for (const [, layer] of this.#namedLayers()) yield layer;
  }

  /**
   * Writes the parameters and buffers to `path` in the safetensors format
   * (atomically), under their dotted names.
   */
  async saveWeights(path: string): Promise<void> {
    const tensors: Record<string, Parameter> = {};
    for (const [name, p] of this.namedState()) {
      if (!isInitialized(p)) {
        throw new Error(
          `saveWeights: parameter "${name}" is not initialised yet: call the model once ` +
            `(its input size is inferred from the first input) before saving`,
        );
      }
      tensors[name] = p;
    }
    await saveSafetensors(path, tensors);
  }

  /**
   * Reads weights written by {@linkcode Layer.saveWeights} (or any safetensors
   * file with the same names). Every name, shape and dtype is checked against
   * the layer before anything is assigned, so a wrong or corrupted file leaves
   * the layer untouched. Lazy parameters take their shape from the file.
   */
  async loadWeights(path: string): Promise<void> {
    const tensors = await loadSafetensors(path);
    this.loadTensors(tensors, path);
  }

  /** Assigns named tensors to the parameters and buffers, validating everything first. */
  loadTensors(tensors: Record<string, SafetensorsTensor>, source = "<tensors>"): void {
    const op = `loadWeights: ${source}`;
    const state = [...this.namedState()];
    const problems: string[] = [];
    const names = new Set(state.map(([n]) => n));
    // The size each shared lazy dimension takes, and the first tensor that set it.
    const sizes = new Map<LazyDim, { size: number; name: string }>();
    for (const [name, p] of state) {
      const t = tensors[name];
      if (t === undefined) {
        problems.push(`"${name}" is missing from the file`);
        continue;
      }
      const pending = pendingParams.get(p)?.shape;
      const fits = pending ? shapeFits(pending, t.shape) : fmtShape(p.shape) === fmtShape(t.shape);
      if (!fits) {
        const want = pending ? fmtPattern(pending) : fmtShape(p.shape);
        problems.push(
          `"${name}" has shape ${fmtShape(t.shape)} in the file but ${want} in the model`,
        );
      } else if (pending) {
        pending.forEach((d, axis) => {
          if (!(d instanceof LazyDim)) return;
          const size = t.shape[axis], first = sizes.get(d);
          if (first === undefined) sizes.set(d, { size, name });
          else if (first.size !== size) {
            problems.push(
              `"${name}" has shape ${
                fmtShape(t.shape)
              } in the file but ${d.name} is ${first.size} ` +
                `in "${first.name}" (shape ${fmtPattern(pending)} in the model)`,
            );
          }
        });
      }
      const want = loadDtype(p, t.dtype);
      if ((want === "int32") !== (t.dtype === "int32")) {
        problems.push(`"${name}" is ${t.dtype} in the file but ${want} in the model`);
      }
    }
    for (const name of Object.keys(tensors)) {
      if (!names.has(name)) problems.push(`"${name}" in the file is not a parameter of the model`);
    }
    if (problems.length > 0) {
      throw new TypeError(`${op}: the weights do not match the model: ${problems.join("; ")}`);
    }
    // Every new array is made before any is assigned: a failure here (out of device
    // memory) leaves the model as it was.
    const arrays: NDArray[] = [];
    try {
      for (const [name, p] of state) {
        const t = tensors[name];
        // A lazy parameter's placeholder sits on the device the layer was moved to.
        const data = convert(t.data, loadDtype(p, t.dtype));
        arrays.push(getBackend(p.device).fromTyped(data, t.shape));
      }
    } catch (e) {
      for (const a of arrays) a.dispose();
      throw e;
    }
    state.forEach(([, p], i) => {
      p.array = arrays[i];
      pendingParams.delete(p);
    });
  }
}

function convert(data: TypedArray, dtype: DType): TypedArray {
  if (dtype === "float32" && !(data instanceof Float32Array)) return Float32Array.from(data);
  if (dtype === "float64" && !(data instanceof Float64Array)) return Float64Array.from(data);
  return data;
}

/** Options of {@linkcode Model.plot}. */
export interface PlotOptions {
  /** Show shapes and dtypes on the variable nodes (default true). */
  verbose?: boolean;
  /**
   * Also write the graph to this file (DeZero's `to_file`): `.dot` / `.gv` as DOT text, any
   * other extension (svg, png, pdf) rendered by Graphviz's `dot`. Written atomically.
   */
  toFile?: string;
}

const PLOT_OPTIONS = new Set(["verbose", "toFile"]);

/** The inputs of `plot`: one operand (as DeZero's `model.plot(x)`) or an array of them. */
function operands(inputs: Operand | readonly Operand[]): readonly Operand[] {
  // Operand has no array form (data is wrapped by tensor()), so an array is the list of inputs.
  return Array.isArray(inputs) ? inputs : [inputs as Operand];
}

/**
 * A Layer that is a whole network: adds `plot`, the DOT graph of a forward pass.
 *
 * @example
 * ```ts
 * import { L, Model } from "./mod.ts";
 * import { F, randn, type Variable } from "../mod.ts";
 * class Net extends Model {
 *   l1 = new L.Linear(3);
 *   forward(x: Variable): Variable {
 *     return F.tanh(this.l1.apply(x));
 *   }
 * }
 * const dot = new Net().plot([randn([2, 4])]);
 * console.log(dot.startsWith("digraph")); // true
 * ```
 */
export abstract class Model extends Layer {
  /**
   * Runs a forward pass on `inputs` (one input, or an array of the inputs) and returns its
   * computational graph as DOT text; with `toFile` (DeZero's `plot(x, to_file=...)`) also
   * writes it there (see {@linkcode PlotOptions.toFile}). An unknown option is a TypeError.
   */
  plot(inputs: Operand | readonly Operand[], options: PlotOptions = {}): string {
    const unknown = Object.keys(options ?? {}).filter((k) => !PLOT_OPTIONS.has(k));
    if (unknown.length > 0) {
      throw new TypeError(
        `Model.plot: unknown option ${unknown.join(", ")}: the options are verbose and toFile`,
      );
    }
    const y = usingConfig({ enableBackprop: true }, () => this.apply(...operands(inputs)));
    const dot = getDotGraph(y, { verbose: options.verbose ?? true });
    if (options.toFile !== undefined) writeDotFile("Model.plot", dot, options.toFile);
    return dot;
  }

  /**
   * DeZero's `plot(..., to_file=...)`: renders the graph of a forward pass with
   * Graphviz into `toFile` (svg, png or pdf by extension). Returns the path.
   */
  async plotToFile(
    inputs: Operand | readonly Operand[],
    toFile: string,
    options: PlotOptions = {},
  ): Promise<string> {
    const y = usingConfig({ enableBackprop: true }, () => this.apply(...operands(inputs)));
    return await plotDotGraph(y, { verbose: options.verbose ?? true, toFile });
  }
}

/**
 * Layers applied one after the other. Parameters are named by position
 * (`0.W`, `1.W`), as in PyTorch's `Sequential`.
 *
 * @example
 * ```ts
 * import { L, Sequential } from "./mod.ts";
 * import { randn } from "../mod.ts";
 * const net = new Sequential(new L.Linear(4), new L.Linear(2));
 * console.log(net.apply(randn([3, 5])).shape); // [3, 2]
 * ```
 */
export class Sequential extends Model {
  /** The layers, in order. */
  readonly layers: Layer[];

  /** Chains `layers` (a plain function `(x) => y` can stand in as a layer). */
  constructor(...layers: (Layer | ((x: Variable) => Variable))[]) {
    super();
    this.layers = layers.map((l) => (l instanceof Layer ? l : new Lambda(l)));
  }

  /** The layers, named by position. */
  override *children(): Generator<[string, Layer | Parameter]> {
    for (let i = 0; i < this.layers.length; i++) yield [String(i), this.layers[i]];
  }

  /** Applies the layer. */
  forward(x: Variable): Variable {
    for (const l of this.layers) x = l.apply(x);
    return x;
  }
}

/**
 * A parameterless layer wrapping a function (an activation in a `Sequential`).
 *
 * @example
 * ```ts
 * import { Lambda } from "./layer.ts";
 * import { F, tensor } from "../mod.ts";
 * const act = new Lambda(F.tanh);
 * console.log(await act.apply(tensor([0])).toArray()); // [0]
 * ```
 */
export class Lambda extends Layer {
  #fn: (x: Variable) => Variable;
  /** Wraps `fn`. */
  constructor(fn: (x: Variable) => Variable) {
    super();
    this.#fn = fn;
  }
  /** Applies the layer. */
  forward(x: Variable): Variable {
    return this.#fn(x);
  }
}
