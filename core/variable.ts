/**
 * The dynamic graph: {@linkcode Variable} and {@linkcode Function}, in DeZero's
 * spirit. `forward` works on backend arrays, `backward` on Variables through the
 * public functions, so gradients are differentiable again (`createGraph`).
 *
 * @module
 */
import { type Device, getBackend } from "./backend.ts";
import { Config, noGrad, usingConfig } from "./config.ts";
import { describeValue } from "./_validate.ts";
import {
  allocTyped,
  assertDType,
  type DType,
  dtypeOfTyped,
  isFloat,
  type TypedArray,
} from "./dtype.ts";
import { adoptInto, currentScope, keepArrays, NDArray, withScope } from "./ndarray.ts";
import * as ops from "./ops.ts";
import { defaultGenerator, type Generator } from "./random.ts";
import { assertShape, fmtShape, shapesEqual, stridesOf } from "./shape.ts";
import type * as Fns from "./functions.ts";

/** Nested arrays of numbers, as accepted by {@linkcode tensor}. */
export type NestedArray = number | readonly NestedArray[];

/** What {@linkcode tensor} accepts. */
export type TensorData = NestedArray | TypedArray;

/** Options of the Variable constructor and {@linkcode tensor}. */
export interface VariableOptions extends TensorOptions {
  /** A name shown in graphs and errors. */
  name?: string;
  /** Whether backward computes a gradient for it (default true; int32 values never do). */
  requiresGrad?: boolean;
}

/** An operand of a function: a Variable, a backend array or a number. */
export type Operand = Variable | NDArray | number;

/** Where and as what a tensor is created. */
export interface TensorOptions {
  /** Element type (float32 by default; int32 for TypedArray input Int32Array). */
  dtype?: DType;
  /** Device ("cpu" by default). */
  device?: Device;
}

// The functions module installs itself here (it imports this module, so this
// module may not import it back at load time).
type FnTable = Pick<
  typeof Fns,
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "neg"
  | "pow"
  | "sin"
  | "cos"
  | "tanh"
  | "exp"
  | "log"
  | "sqrt"
  | "abs"
  | "clip"
  | "astype"
  | "reshape"
  | "transpose"
  | "expandDims"
  | "flatten"
  | "broadcastTo"
  | "sumTo"
  | "sum"
  | "mean"
  | "max"
  | "min"
  | "logsumexp"
  | "matmul"
  | "linear"
  | "getItem"
  | "concat"
  | "stack"
>;
let fns: FnTable | null = null;
/** Called once by functions.ts. @internal */
export function installFunctions(table: FnTable): void {
  fns = table;
}
function F(): FnTable {
  if (fns === null) throw new Error("dezero functions are not loaded: import from mod.ts");
  return fns;
}

// The activations of nn/functions.ts, which installs them (core does not import nn).
interface NnFnTable {
  sigmoid(x: Variable): Variable;
  relu(x: Variable): Variable;
  leakyRelu(x: Variable, slope?: number): Variable;
  gelu(x: Variable): Variable;
  softmax(x: Variable, axis?: number): Variable;
  logSoftmax(x: Variable, axis?: number): Variable;
}
let nnFns: NnFnTable | null = null;
/** Called once by nn/functions.ts. @internal */
export function installNnFunctions(table: NnFnTable): void {
  nnFns = table;
}
function N(): NnFnTable {
  if (nnFns === null) throw new Error("dezero nn functions are not loaded: import from mod.ts");
  return nnFns;
}

// ------------------------------------------------------------------ Variable

// The root of the last backward() without retainGraph (see Variable.backward).
let lastRoot: WeakRef<Variable> | null = null;
/** Releasing backward() calls started so far (see `deferred`). */
let backwardCount = 0;
/**
 * Graph values computed from no Parameter (input preprocessing such as
 * `tensor(data).reshape(...)` on a tensor that requires grad, as tensors do by
 * default, or a Parameter-free graph as in the book's first stages), and results
 * of inputs that need no gradient (`x.reshape(...)` of a `requiresGrad: false`
 * batch), that a backward() reached. Unlike activations, such a value is often
 * built once and reused by every step, so backward does not free it at once.
 * When two backward() calls in a row have not reached it, the graph that made
 * it is freed, and so is the value if only one backward() call ever reached it
 * (a per-step value: it lives two backward() calls longer). A value that
 * several backward() calls reached is data prepared once and reused: it stays
 * readable (as a leaf), also when another model trains in between. Two, so that
 * a loop alternating two graphs (a GAN's discriminator and generator) keeps what
 * only one of them uses.
 */
const deferred = new Set<Variable>();

/**
 * Values computed outside the graph from a step's activations (an accuracy: no creator, so
 * no backward() reaches them), by age: made since the last releasing backward(), then one
 * and two such calls older. The third such call frees them, so that a training loop that
 * reads its accuracy each step (as the book's step 51) stays flat, also when a step runs two
 * backward() calls (a GAN's). retainData() keeps one.
 */
const stepResults: WeakRef<Variable>[][] = [[], [], []];

/**
 * Registers `v`, computed outside the graph from `from` (an accuracy of a model's output), to be
 * freed by the third backward() after it when `from` is an activation of a graph that records
 * (see `stepResults`); returns `v`. @internal
 */
export function stepResult(v: Variable, from: Variable): Variable {
  // In tidy() the scope owns it: freed at its end unless returned, and then the caller's.
  if (currentScope() !== null) return v;
  if (Config.enableBackprop && layerCalls === 0 && from.fromParameter && from.creator !== null) {
    // Held weakly: one the caller dropped is collected in an evaluation loop that runs no
    // backward() (testMode without noGrad); the dead references are pruned now and then.
    const young = stepResults[0];
    if (young.length >= 1024 && young.length % 1024 === 0) {
      stepResults[0] = young.filter((r) => r.deref() !== undefined);
    }
    stepResults[0].push(new WeakRef(v));
  }
  return v;
}

/** How many `Layer.apply` calls are running (see `Variable.madeInLayer`). */
let layerCalls = 0;

/** Runs `fn` as a layer's forward: results needing no gradient made there are the layer's. @internal */
export function asLayerCall<T>(fn: () => T): T {
  layerCalls++;
  try {
    return fn();
  } finally {
    layerCalls--;
  }
}

/**
 * A node of the graph: a value (a backend array) with an optional gradient and
 * the Function that created it.
 *
 * @example
 * ```ts
 * import { tensor } from "../mod.ts";
 * const x = tensor([1, 2, 3]);
 * const y = x.mul(x).sum();
 * y.backward();
 * console.log(await x.grad!.toArray()); // [2, 4, 6]
 * ```
 */
export class Variable {
  #array: NDArray | null;
  #released: string | null = null;
  /** Shape, dtype and device of a value that was released or disposed (kept for display). */
  #gone: { shape: readonly number[]; dtype: DType; device: Device } | null = null;
  /** retainData() calls not yet undone by {@linkcode Variable.unretainData} (kept while > 0). */
  #retain = 0;
  #noGradResult = false;
  #madeInLayer = false;
  /** A carried state that its layer replaced while it was a leaf (see `unretainData`). */
  #retiredState = false;
  /** Deferred as a value of a graph that a createGraph backward() kept (see `backward`). */
  #createGraphValue = false;
  /** A seed gradient a createGraph backward() made: it goes when no graph node takes it. */
  #graphOwned = false;
  #noGradParents: Variable[] = [];
  #fromParameter = false;
  #reachedAt = 0;
  /** How many releasing backward() calls reached this value (see `deferred`). */
  #reaches = 0;
  /** Values computed from no Parameter that this root's backward() kept (see `deferred`). */
  #keptUpstream: Variable[] = [];
  /** Graph nodes (Functions not yet released) that have this Variable as an input. */
  #consumers = 0;
  /** A name shown in graphs and errors. */
  name: string | null;
  #grad: Variable | null = null;
  /**
   * The scope open where this Variable was made (see `adoptInto`): a value or gradient stored
   * into it inside a later scope (a `tidy()`) outlives that scope. Null for none, and for
   * Parameters, whose values escape every scope.
   */
  #scope: Set<NDArray> | null = currentScope();
  /** The scope this gradient was made in, before storing it into a Variable moved it out. */
  #movedFrom: Set<NDArray> | null | undefined = undefined;
  /** The Function that produced this Variable, or null for a leaf. */
  creator: Function | null = null;
  /** Topological depth: backward visits higher generations first. */
  generation = 0;
  /**
   * Whether backward computes a gradient for this variable (true by default for floats, as
   * in DeZero; false for int32, as in PyTorch: labels and indices have no gradient). Data
   * batches turn it off, which skips work such as the input gradient of a first layer; a
   * function of inputs that all opt out records no graph.
   */
  requiresGrad = true;

  /**
   * Wraps a backend array (taking ownership) or builds one from data as {@linkcode tensor}
   * does (a Variable is copied: the new one is a leaf with values of its own).
   */
  constructor(data: NDArray | TensorData | Variable, opts: VariableOptions = {}) {
    this.#array = data instanceof NDArray ? data : makeArray(data, opts);
    this.name = opts.name ?? null;
    if (this.#array.dtype === "int32") {
      if (opts.requiresGrad === true) {
        throw new TypeError(
          `Variable: only floating-point values can require gradients, got dtype int32${
            this.name ? ` for "${this.name}"` : ""
          }: make it float32 (or leave requiresGrad out)`,
        );
      }
      this.requiresGrad = false;
    } else if (opts.requiresGrad === false) this.requiresGrad = false;
  }

  /** The gradient, a Variable (differentiable again under `createGraph`). */
  get grad(): Variable | null {
    return this.#grad;
  }
  set grad(g: Variable | null) {
    const old = this.#grad;
    this.#grad = g;
    if (g !== null && g.#array !== null && this.#scope !== currentScope()) {
      g.#movedFrom ??= g.#scope;
      adoptInto(this.#scope, g.#array);
      g.#scope = this.#scope;
    }
    // A gradient no longer stored here goes back to the scope it was made in, if that is
    // still open: `tidy(() => { gx = x.grad; x.cleargrad(); gx.backward(...) })` frees gx
    // (a createGraph gradient, which cleargrad leaves to its graph) with the tidy.
    if (old !== null && old !== g && old.#movedFrom !== undefined && old.#array !== null) {
      const from = old.#movedFrom;
      old.#movedFrom = undefined;
      adoptInto(from, old.#array);
      old.#scope = from;
    }
  }

  /** Makes this Variable's values escape every scope (a Parameter's). @internal */
  protected escapeScopes(): void {
    this.#scope = null;
    keepArrays(this.array);
  }

  /** The backend array; throws when backward released it. */
  get array(): NDArray {
    if (this.#array === null) {
      throw new ReferenceError(
        this.#released ??
          `Variable${this.name ? ` "${this.name}"` : ""} was disposed`,
      );
    }
    return this.#array;
  }

  /** Replaces the value, releasing the old array. */
  set array(a: NDArray) {
    const old = this.#array;
    if (this.#scope !== currentScope()) adoptInto(this.#scope, a);
    this.#array = a;
    this.#released = null;
    this.#gone = null;
    if (old !== null && old !== a) old.dispose();
  }

  /** Whether the value is still held (not disposed nor released by backward). */
  get isAlive(): boolean {
    return this.#array !== null && !this.#array.disposed;
  }

  /** The shape (still known once the value was released or disposed). */
  get shape(): readonly number[] {
    return this.#gone?.shape ?? this.array.shape;
  }
  /** Number of axes. */
  get ndim(): number {
    return this.array.shape.length;
  }
  /** Number of elements. */
  get size(): number {
    return this.array.size;
  }
  /** Length of the first axis (as `len()` in Python). */
  get length(): number {
    if (this.ndim === 0) throw new TypeError("length: a rank-0 variable has no length");
    return this.array.shape[0];
  }
  /** The element type (still known once the value was released or disposed). */
  get dtype(): DType {
    return this.#gone?.dtype ?? this.array.dtype;
  }
  /** The device the value lives on (or lived on, once released or disposed). */
  get device(): Device {
    return this.#gone?.device ?? this.array.backend.device;
  }

  /** Sets the creator and the generation (called by Function). */
  setCreator(f: Function): void {
    this.creator = f;
    this.generation = f.generation + 1;
  }

  /**
   * Keeps the value past the enclosing {@linkcode tidy} (and every other scope), as
   * TensorFlow.js's `tf.keep`: it lives until disposed or collected.
   *
   * @example
   * ```ts
   * import { tensor, tidy, type Variable } from "../mod.ts";
   * const x = tensor([1, 2, 3]);
   * let log: Variable | null = null;
   * const y = tidy(() => {
   *   log = x.mul(3).keep();
   *   return x.add(1);
   * });
   * console.log(await log!.toArray()); // [3, 6, 9]
   * ```
   */
  keep(): this {
    keepArrays(this.array);
    return this;
  }

  /** Keeps this (intermediate) value readable after `backward()` (stateful layers use it). */
  retainData(): this {
    this.#retain++;
    return this;
  }

  /** Whether `retainData()` keeps the value. @internal */
  get retained(): boolean {
    return this.#retain > 0;
  }

  /**
   * Undoes one `retainData()` call (a layer's carried state once the next call replaced
   * it), so that backward() frees the value as any other activation. A value that was
   * already a leaf then (a truncation point of BPTT, still an input of the current graph)
   * is freed once two more backward() calls have run. @internal
   */
  unretainData(): void {
    if (this.#retain === 0) return;
    this.#retain--;
    if (this.#retain === 0 && this.creator === null && this.#array !== null) {
      this.#retiredState = true;
      this.defer();
    }
  }

  /** Frees the value because backward no longer needs it. @internal */
  releaseByBackward(): void {
    this.#release(
      "was released by backward(): call backward({ retainGraph: true }) to keep intermediate values, or retainData() on this one",
    );
  }

  /** Frees the value unless retained; reading it later throws, saying `why`. */
  #release(why: string): void {
    if (this.#retain > 0 || this.#array === null) return;
    const shape = this.#array.shape;
    this.#gone = { shape, dtype: this.#array.dtype, device: this.#array.backend.device };
    this.#array.dispose();
    this.#array = null;
    this.#released = `Variable${this.name ? ` "${this.name}"` : ""} of shape ${
      fmtShape(shape)
    } ${why}`;
  }

  /** Marks a function result that needs no gradient (freed by backward). @internal */
  markNoGradResult(parents: Variable[]): void {
    this.#noGradResult = true;
    this.#noGradParents = parents;
    this.#madeInLayer = layerCalls > 0;
  }

  /**
   * Whether this no-gradient result was made inside a layer's forward (a batch's im2col or
   * reshape there): never held by the user, so backward frees it at once. @internal
   */
  get madeInLayer(): boolean {
    return this.#madeInLayer;
  }

  /** The no-gradient results this one was computed from (kept). @internal */
  get noGradParents(): readonly Variable[] {
    return this.#noGradParents;
  }

  /**
   * Frees a deferred value that the last two backward() calls did not reach, and the
   * graph that made it. A value that several backward() calls reached is prepared input
   * reused across steps (or models): its graph goes, the value stays (a leaf now). @internal
   */
  releaseDeferred(): void {
    const f = this.creator;
    if (this.#createGraphValue && this.#reaches < 2) {
      this.#release(
        "was released by backward(): it belonged to a graph that backward({ createGraph: true }) kept, and the two backward() calls after it did not reach it; pass retainGraph: true to that backward() or call retainData() on it to keep it",
      );
      if (this.#retain === 0) this.cleargrad();
    } else if (this.#retiredState) {
      this.#release(
        "was released by backward(): it was a layer's carried state, replaced by a later call and no longer part of any graph; call retainData() on it to keep it",
      );
      if (this.#retain === 0) this.cleargrad();
    } else if (this.#reaches < 2) {
      this.#release(
        `was released by backward(): it was computed ${
          this.#noGradResult
            ? "from inputs that need no gradient (requiresGrad: false)"
            : "from no Parameter"
        }, one backward() used it and the two after it did not, so it was taken for a per-step value; call retainData() on it to keep it`,
      );
    }
    this.#noGradParents = [];
    f?.releaseGraph();
  }

  /** Whether this is a function result that needs no gradient. @internal */
  get isNoGradResult(): boolean {
    return this.#noGradResult;
  }

  /** Whether this is a Parameter or was computed from one (an activation). @internal */
  get fromParameter(): boolean {
    return this.#fromParameter;
  }

  /** Marks a Parameter, or a result computed from one. @internal */
  markFromParameter(): void {
    this.#fromParameter = true;
  }

  /**
   * Defers a value of the graph a createGraph backward() kept without being asked to
   * (`retainGraph` not given): freed with its graph as a per-step value. @internal
   */
  deferAsCreateGraphValue(): void {
    if (this.#array === null || this.#retain > 0) return;
    this.#createGraphValue = true;
    this.defer();
  }

  /** Keeps this value past the current backward() (see `deferred`). @internal */
  defer(): void {
    if (this.#reachedAt !== backwardCount) this.#reaches++;
    this.#reachedAt = backwardCount;
    deferred.add(this);
  }

  /** Whether neither this backward() nor the previous one reached this deferred value. @internal */
  get stale(): boolean {
    return backwardCount - this.#reachedAt >= 2;
  }

  /** Frees a step result that three backward() calls outlived (see `stepResults`). @internal */
  releaseAsStepResult(): void {
    this.#release(
      "was computed outside the graph from a training step's activations (as an accuracy) and released by the third backward() after it: read it before then (await acc.item()) or call retainData() to keep it",
    );
  }

  /** Frees the value of an earlier backward()'s root. @internal */
  releaseAsOldRoot(): void {
    this.#keptUpstream = [];
    this.#release(
      "was the root of an earlier backward() and was released by the next one: read it before then (await loss.item()) or call retainData() to keep it",
    );
    // Its gradient (the seed of ones, plus what a later backward() through it added, as
    // truncated BPTT's `loss = loss.add(...)` does) goes with it.
    if (this.#retain === 0) this.cleargrad();
  }

  /** Clears the gradient (releasing its memory). */
  cleargrad(): void {
    const g = this.grad;
    this.grad = null;
    if (g && !g.creator) {
      g.dispose();
      if (g.#gone !== null) {
        g.#released = `Variable of shape ${
          fmtShape(g.#gone.shape)
        } (a gradient) was released by cleargrad(), which frees the old gradient: copy it first to keep it (tensor(x.grad) or await x.grad.data())`;
      }
    }
  }

  /** Frees the value and the gradient now. Idempotent. */
  dispose(): void {
    this.#keptUpstream = [];
    if (this.#array !== null) {
      const a = this.#array;
      this.#gone = { shape: a.shape, dtype: a.dtype, device: a.backend.device };
    }
    this.#array?.dispose();
    this.#array = null;
    this.#released = `Variable${this.name ? ` "${this.name}"` : ""} was disposed`;
    const g = this.grad;
    this.grad = null;
    g?.dispose();
    if (this.#consumers === 0) Variable.#releaseChain(this);
  }

  /** Counts a graph node that takes this Variable as an input. @internal */
  addConsumer(): void {
    this.#consumers++;
  }

  /** Uncounts a released graph node that took this Variable as an input. @internal */
  dropConsumer(): void {
    if (--this.#consumers > 0) return;
    if (this.#graphOwned) {
      this.#release(
        "was a gradient seed of backward({ createGraph: true }), released with the graph that used it",
      );
    }
    if (this.#array === null) Variable.#releaseChain(this);
  }

  /** Variables whose creators {@linkcode Variable.#releaseChain} has yet to look at. */
  static #chain: Variable[] | null = null;

  /** Releases dead creators from `v` upward, iteratively (a long chain needs no deep stack). */
  static #releaseChain(v: Variable): void {
    if (Variable.#chain !== null) {
      Variable.#chain.push(v);
      return;
    }
    const chain = Variable.#chain = [v];
    try {
      while (chain.length > 0) chain.pop()!.#releaseDeadCreator();
    } finally {
      Variable.#chain = null;
    }
  }

  /**
   * Releases the creator's graph (what it saved, its constants: the tensor `x.mul(2)` made of
   * the 2) once no backward() can reach it: every output gone and no graph node consuming any.
   * Disposing the last of a chain (`using y = x.mul(2); using z = y.add(1)`) so frees the chain
   * now, not when the collector finds it.
   */
  #releaseDeadCreator(): void {
    const f = this.creator;
    if (f === null) return;
    for (const w of f.outputs) {
      const y = w.deref();
      if (y !== undefined && (y.#array !== null || y.#consumers > 0)) return;
    }
    f.releaseGraph();
  }

  /** `using x = ...` releases the variable at the end of the block. */
  [Symbol.dispose](): void {
    this.dispose();
  }

  /** Cuts the graph above this variable: every creator upstream is forgotten. */
  unchainBackward(): void {
    // Values computed from no Parameter outlive this root's backward() with their graph
    // (see `deferred`); cutting here releases what their creators saved.
    for (const v of this.#keptUpstream) {
      const f = v.creator;
      v.creator = null;
      f?.releaseGraph();
    }
    this.#keptUpstream = [];
    if (this.creator === null) return;
    const stack: Function[] = [this.creator];
    const seen = new Set<Function>(stack);
    while (stack.length > 0) {
      const f = stack.pop()!;
      for (const x of f.inputs) {
        if (x.creator !== null && !seen.has(x.creator)) {
          seen.add(x.creator);
          stack.push(x.creator);
        }
        x.creator = null;
      }
    }
    this.creator = null;
  }

  /**
   * Backpropagates from this variable, visiting Functions in generation order
   * so any graph shape (shared inputs, diamonds, many outputs) is correct.
   * Gradients accumulate into `grad`. Unless `retainGraph`, the values of
   * intermediate variables computed from a Parameter (activations) are released
   * as soon as they are no longer needed; graph values computed from no
   * Parameter (input preprocessing such as `tensor(data).reshape(...)`,
   * Parameter-free graphs) and results of inputs that need no gradient
   * (`requiresGrad: false`, as DataLoader batches) stay readable, and those that
   * only one such backward() used are released once two more in a row have not
   * reached them, so inputs prepared once can be reused by every step, also when
   * steps alternate two graphs or another model trains in between; leaves (tensors
   * you made) are never released;
   * the root of the previous such backward() (last step's loss, with its gradient) is released
   * when this one ends; and a step's accuracy (computed outside the graph from its model's
   * output) when the third such call after it ends. With `createGraph` (and no explicit
   * `retainGraph`), the graph is kept for the gradients' graph, and its values go as per-step
   * values do: once two backward() calls after it have not reached them (Newton's method stays
   * flat). A training loop's memory stays flat without waiting for the garbage collector.
   * `retainData()` exempts a variable from all of these.
   */
  backward(
    opts: { retainGrad?: boolean; createGraph?: boolean; retainGraph?: boolean } = {},
  ): void {
    const retainGrad = opts.retainGrad ?? false;
    const createGraph = opts.createGraph ?? false;
    const retainGraph = opts.retainGraph ?? createGraph;
    if (!retainGraph) backwardCount++;
    // The root of the previous backward() (a training loop's last loss) is released
    // when this one ends: its graph is gone and a loop must not grow while it waits
    // for the garbage collector. Not before the end, since it may be an input of this
    // graph (DeZero's truncated BPTT carries `loss = loss + ...` across backward() and
    // unchainBackward() calls). retainData() keeps it.
    let previousRoot: Variable | undefined;
    if (!retainGraph && this.creator !== null) {
      previousRoot = lastRoot?.deref();
      if (previousRoot === this) previousRoot = undefined;
      lastRoot = new WeakRef(this);
    }
    // Seeds (ones at the root, zeros for outputs no gradient reached) that a createGraph
    // backward() feeds into the gradients' graph go with that graph (see `#graphOwned`).
    const seeds: Variable[] = [];
    if (this.grad === null) {
      // No gradient with respect to a seed (a later backward() through the gradients' graph
      // would keep one on this leaf), as PyTorch's grad_output.
      this.grad = new Variable(ops.fullLike(this.array, 1), { requiresGrad: false });
      seeds.push(this.grad);
    }
    const funcs: Function[] = [];
    const seen = new Set<Function>();
    const addFunc = (f: Function) => {
      if (seen.has(f)) return;
      f.assertAlive();
      seen.add(f);
      // Insert keeping ascending generation; pop() takes the highest.
      let i = funcs.length;
      while (i > 0 && funcs[i - 1].generation > f.generation) i--;
      funcs.splice(i, 0, f);
    };
    if (this.creator) addFunc(this.creator);

    // Variables visited are held until the end, so that weakly held outputs
    // stay reachable until their creator has run.
    const hold: Variable[] = [this];
    // Results computed only from inputs that need no gradient are not part of
    // the traversal; they are freed at the end, as the graph's intermediates are.
    const noGradResults = new Set<Variable>();
    const kept: Variable[] = [];
    while (funcs.length > 0) {
      const f = funcs.pop()!;
      const outputs = f.outputs.map((w) => w.deref());
      for (const y of outputs) if (y) hold.push(y);
      const fresh = outputs.map((y) => y !== undefined && y.grad === null);
      const gys = outputs.map((y) => {
        if (y === undefined) return null;
        if (y.grad !== null) return y.grad;
        const zeros = new Variable(ops.fullLike(y.array, 0), { requiresGrad: false });
        seeds.push(zeros);
        return zeros;
      });
      let gxs: (Variable | null)[];
      if (createGraph) {
        gxs = usingConfig({ enableBackprop: true }, () => f.runBackward(gys as Variable[]));
      } else {
        // Everything the step allocates is freed except the gradients it returns,
        // which get handles of their own so that no two grads alias one handle.
        const created: NDArray[] = [];
        gxs = withScope(
          () => noGrad(() => f.runBackward(gys as Variable[])),
          (r) => r.filter((g): g is Variable => g !== null).map((g) => g.array),
        ).map((g) => {
          if (g === null) return null;
          created.push(g.array);
          return new Variable(g.array.share());
        });
        // A backward that passes a gradient on (add, reshape) returns the output's own: that
        // handle stays with the output's grad (retainGrad keeps it).
        const incoming = new Set(gys.map((g) => g?.array));
        for (const a of created) if (!incoming.has(a)) a.dispose();
      }
      if (gxs.length !== f.inputs.length) {
        throw new TypeError(
          `${f.name}.backward: returned ${gxs.length} gradients for ${f.inputs.length} inputs`,
        );
      }
      for (let i = 0; i < f.inputs.length; i++) {
        const x = f.inputs[i];
        let gx = gxs[i];
        if (gx === null) continue;
        if (!f.needsInputGrad(i)) {
          if (!createGraph) gx.dispose();
          continue;
        }
        if (!shapesEqual(gx.shape, x.shape)) {
          throw new TypeError(
            `${f.name}.backward: gradient of shape ${fmtShape(gx.shape)} for input ${i} of shape ${
              fmtShape(x.shape)
            }`,
          );
        }
        if (gx.dtype !== x.dtype) {
          // A gradient has its input's dtype, as in PyTorch: an op that promoted a float32
          // input to float64 sends float64 back, which would make an updated Parameter float64.
          const g: Variable = gx;
          gx = createGraph ? F().astype(g, x.dtype) : new Variable(ops.cast(g.array, x.dtype));
          if (!createGraph) g.dispose();
        }
        if (x.grad === null) {
          x.grad = gx;
        } else if (createGraph || x.grad.creator !== null) {
          const old = x.grad;
          x.grad = usingConfig({ enableBackprop: createGraph }, () => F().add(old, gx));
        } else {
          const sum = new Variable(ops.add(x.grad.array, gx.array));
          x.grad.dispose();
          gx.dispose();
          x.grad = sum;
        }
        if (x.creator !== null) addFunc(x.creator);
      }
      if (!retainGrad) {
        for (const y of outputs) {
          if (!y || y.grad === null) continue;
          const g = y.grad;
          y.grad = null;
          if (!createGraph && g.creator === null) g.dispose();
        }
      }
      if (!createGraph) {
        gys.forEach((g, i) => {
          if (fresh[i] && g !== null) g.dispose();
        });
      }
      if (!retainGraph) {
        for (const x of f.inputs) if (x.isNoGradResult && x !== this) noGradResults.add(x);
        // Every consumer of f's outputs has run (generation order), so their
        // values are no longer needed: activations go now, values computed from
        // no Parameter (with the graph that made them) when a later backward()
        // does not reach them.
        let keepGraph = false;
        for (const y of outputs) {
          if (!y || y === this) continue;
          if (y.fromParameter) y.releaseByBackward();
          else {
            y.defer();
            kept.push(y);
            keepGraph = true;
          }
        }
        if (!keepGraph) f.releaseGraph(this);
      }
    }
    // Results of inputs that need no gradient made inside a layer's forward (a DataLoader
    // batch's im2col or reshape, made again by every step) are freed at once: only the layer
    // saw them. Others (data prepared once with requiresGrad: false and reused) are deferred
    // as values computed from no Parameter are: a per-step one is freed two backward() calls
    // later, one that every step uses stays.
    const stack = [...noGradResults];
    while (stack.length > 0) {
      const x = stack.pop()!;
      for (const p of x.noGradParents) {
        if (p !== this && !noGradResults.has(p)) {
          noGradResults.add(p);
          stack.push(p);
        }
      }
      if (x.madeInLayer && !retainGraph) x.releaseByBackward();
      else x.defer();
    }
    if (createGraph && !retainGrad) {
      // retainGrad keeps the root's seed as its gradient; otherwise no Variable holds a seed,
      // only the graph nodes that take it.
      for (const g of seeds) {
        if (!g.isAlive) continue;
        g.#graphOwned = true;
        if (g.#consumers === 0) g.dispose();
      }
    }
    if (createGraph && opts.retainGraph === undefined) {
      // The graph is kept for the gradients' graph, which may use its values (PyTorch keeps it
      // while referenced). Without reference counting, its values (the root, with its seed
      // gradient, included) go as per-step values do: two non-retaining backward() calls
      // later, unless one reaches them (a gradient penalty's loss.backward() does). Newton's
      // method (the book's step 33) so stays flat.
      this.deferAsCreateGraphValue();
      for (const f of seen) {
        for (const w of f.outputs) w.deref()?.deferAsCreateGraphValue();
      }
    }
    if (!retainGraph) {
      this.#keptUpstream = kept;
      for (const v of deferred) {
        if (!v.stale) continue;
        deferred.delete(v);
        v.releaseDeferred();
      }
    }
    previousRoot?.releaseAsOldRoot();
    if (!retainGraph) {
      for (const r of stepResults.pop()!) r.deref()?.releaseAsStepResult();
      stepResults.unshift([]);
    }
    hold.length = 0;
  }

  // ---------------------------------------------------------------- readback

  /** The values as a flat TypedArray (waits for the device). */
  async data(): Promise<TypedArray> {
    return await this.array.backend.read(this.array);
  }

  /** The values as nested arrays (a number for rank 0). */
  async toArray(): Promise<NestedArray> {
    return nest(await this.data(), this.shape);
  }

  /** The single value of a one-element variable. */
  async item(): Promise<number> {
    if (this.size !== 1) {
      throw new TypeError(
        `item: variable of shape ${fmtShape(this.shape)} has ${this.size} elements, not 1`,
      );
    }
    return (await this.data())[0];
  }

  // ---------------------------------------------------------------- devices

  /** Moves the value (and gradient) to the GPU in place; needs `await initGpu()` first. */
  toGpu(): this {
    if (this.device === "gpu") return this;
    const gpu = getBackend("gpu");
    const cpu = this.array.backend;
    this.array = gpu.fromTyped(cpu.readSync!(this.array), this.shape);
    this.grad?.toGpu();
    return this;
  }

  /** Moves the value (and gradient) to the CPU in place (reads the device, hence async). */
  async toCpu(): Promise<this> {
    if (this.device === "cpu") return this;
    const data = await this.data();
    this.array = getBackend("cpu").fromTyped(data, this.shape);
    await this.grad?.toCpu();
    return this;
  }

  // ---------------------------------------------------------------- display

  /** `variable([[1, 2], [3, 4]], shape=[2,2], dtype=float32)`; GPU values are not read synchronously. */
  toString(): string {
    if (!this.isAlive) {
      let why = this.#released ?? "disposed";
      // An array a scope released (tidy) knows why: its storage getter says it.
      try {
        void this.#array?.storage;
      } catch (e) {
        why = (e as Error).message;
      }
      return `variable(<${why}>)`;
    }
    const meta = `shape=${fmtShape(this.shape)}, dtype=${this.dtype}${
      this.device === "gpu" ? ", device=gpu" : ""
    }`;
    const read = this.array.backend.readSync;
    if (!read) return `variable(<on gpu: await toArray() to read>, ${meta})`;
    return `variable(${
      formatValues(read.call(this.array.backend, this.array), this.shape)
    }, ${meta})`;
  }

  /** Deno's inspect output (console.log). */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /** Rich display in Deno's Jupyter kernel: an HTML table with shape, dtype and device. */
  async [Symbol.for("Jupyter.display")](): Promise<Record<string, string>> {
    const { variableMimeBundle } = await import("../data/display.ts");
    return { ...await variableMimeBundle(this) };
  }

  // ---------------------------------------------------------------- operators

  /** `this + other` with broadcasting. */
  add(other: Operand): Variable {
    return F().add(this, other);
  }
  /** `this - other`. */
  sub(other: Operand): Variable {
    return F().sub(this, other);
  }
  /** `other - this`. */
  rsub(other: Operand): Variable {
    return F().sub(other, this);
  }
  /** `this * other`. */
  mul(other: Operand): Variable {
    return F().mul(this, other);
  }
  /** `this / other`. */
  div(other: Operand): Variable {
    return F().div(this, other);
  }
  /** `other / this`. */
  rdiv(other: Operand): Variable {
    return F().div(other, this);
  }
  /** `-this`. */
  neg(): Variable {
    return F().neg(this);
  }
  /** `this ** c`. */
  pow(c: number): Variable {
    return F().pow(this, c);
  }
  /** Matrix product. */
  matmul(other: Variable | NDArray): Variable {
    return F().matmul(this, other);
  }
  /** Same values, another shape (`-1` infers one axis). */
  reshape(...shape: (number | readonly number[])[]): Variable {
    const s = shape.length === 1 && Array.isArray(shape[0]) ? shape[0] : shape as number[];
    return F().reshape(this, s as readonly number[]);
  }
  /** Permutes axes (reverses them when none are given). */
  transpose(...axes: (number | readonly number[])[]): Variable {
    const a = axes.length === 1 && Array.isArray(axes[0]) ? axes[0] : axes as number[];
    return F().transpose(this, a.length === 0 ? undefined : a as readonly number[]);
  }
  /** The transpose (reversed axes). */
  get T(): Variable {
    return F().transpose(this);
  }
  /** Sum over axes. */
  sum(axis?: number | readonly number[] | null, keepdims = false): Variable {
    return F().sum(this, axis, keepdims);
  }
  /** Mean over axes. */
  mean(axis?: number | readonly number[] | null, keepdims = false): Variable {
    return F().mean(this, axis, keepdims);
  }
  /** Max over axes. */
  max(axis?: number | readonly number[] | null, keepdims = false): Variable {
    return F().max(this, axis, keepdims);
  }
  /** Min over axes. */
  min(axis?: number | readonly number[] | null, keepdims = false): Variable {
    return F().min(this, axis, keepdims);
  }
  /** NumPy-style indexing (see `F.getItem`). */
  getItem(index: Fns.Index): Variable {
    return F().getItem(this, index);
  }
  /** Elementwise sine. */
  sin(): Variable {
    return F().sin(this);
  }
  /** Elementwise cosine. */
  cos(): Variable {
    return F().cos(this);
  }
  /** Elementwise tanh. */
  tanh(): Variable {
    return F().tanh(this);
  }
  /** Elementwise exp. */
  exp(): Variable {
    return F().exp(this);
  }
  /** Elementwise natural log. */
  log(): Variable {
    return F().log(this);
  }
  /** Elementwise square root. */
  sqrt(): Variable {
    return F().sqrt(this);
  }
  /** Elementwise absolute value. */
  abs(): Variable {
    return F().abs(this);
  }
  /** `log(sum(exp(x)))` over `axis` (all by default), computed stably (see `F.logsumexp`). */
  logsumexp(axis: number | readonly number[] | null = null, keepdims = false): Variable {
    return F().logsumexp(this, axis, keepdims);
  }
  /** Elementwise logistic sigmoid. */
  sigmoid(): Variable {
    return N().sigmoid(this);
  }
  /** Elementwise `max(x, 0)`. */
  relu(): Variable {
    return N().relu(this);
  }
  /** Elementwise leaky ReLU: negative values times `slope` (default 0.2, as DeZero). */
  leakyRelu(slope?: number): Variable {
    return N().leakyRelu(this, slope);
  }
  /** Elementwise GELU (the erf form). */
  gelu(): Variable {
    return N().gelu(this);
  }
  /** Softmax along `axis` (default 1, as DeZero). */
  softmax(axis?: number): Variable {
    return N().softmax(this, axis);
  }
  /** Log-softmax along `axis` (default 1, as DeZero). */
  logSoftmax(axis?: number): Variable {
    return N().logSoftmax(this, axis);
  }
  /** Clips values to [lo, hi]. */
  clip(lo: number, hi: number): Variable {
    return F().clip(this, lo, hi);
  }
  /** Flattens to rank 1... or to [N, -1] as DeZero's flatten (see `F.flatten`). */
  flatten(): Variable {
    return F().flatten(this);
  }
  /** Inserts an axis of size 1. */
  expandDims(axis: number): Variable {
    return F().expandDims(this, axis);
  }
  /** Broadcasts to `shape`. */
  broadcastTo(shape: readonly number[]): Variable {
    return F().broadcastTo(this, shape);
  }
  /** Sums down to `shape`. */
  sumTo(shape: readonly number[]): Variable {
    return F().sumTo(this, shape);
  }
  /** Converts the dtype (not differentiable across int32). */
  astype(dtype: DType): Variable {
    return F().astype(this, dtype);
  }
  /** Index of the maximum along `axis` (int32, not differentiable). */
  argmax(axis?: number, keepdims = false): Variable {
    return new Variable(ops.argmax(this.array, axis, keepdims));
  }
  /** Elementwise `this > other` as 1/0 in this dtype (not differentiable). */
  gt(other: Operand): Variable {
    return compare("gt", this, other);
  }
  /** Elementwise `this >= other`. */
  ge(other: Operand): Variable {
    return compare("ge", this, other);
  }
  /** Elementwise `this < other`. */
  lt(other: Operand): Variable {
    return compare("lt", this, other);
  }
  /** Elementwise `this <= other`. */
  le(other: Operand): Variable {
    return compare("le", this, other);
  }
  /** Elementwise `this == other`. */
  eq(other: Operand): Variable {
    return compare("eq", this, other);
  }
  /** Elementwise `this != other`. */
  ne(other: Operand): Variable {
    return compare("ne", this, other);
  }
  /** A new leaf with the same values (shared storage) and no graph. */
  detach(): Variable {
    return new Variable(this.array.share(), { name: this.name ?? undefined });
  }
}

function compare(
  op: "gt" | "ge" | "lt" | "le" | "eq" | "ne",
  x: Variable,
  other: Operand,
): Variable {
  if (other instanceof Variable) return new Variable(ops.binary(op, x.array, other.array));
  const b = operandArray(other, x.array, `${op}: the operand`);
  try {
    return new Variable(ops.binary(op, x.array, b));
  } finally {
    b.dispose();
  }
}

/**
 * A Variable that a Layer learns. Its values are never freed by scopes: a
 * parameter lives until replaced or disposed.
 *
 * @example
 * ```ts
 * import { Parameter } from "../mod.ts";
 * const w = new Parameter([[1, 2], [3, 4]], { name: "W" });
 * console.log(w.shape); // [2, 2]
 * ```
 */
export class Parameter extends Variable {
  /**
   * A parameter from an array (ownership taken) or data, as {@linkcode tensor} builds it
   * (from a Variable, a copy of its values: `new Parameter(randn([3, 4]).mul(0.01))`).
   */
  constructor(data: NDArray | TensorData | Variable, opts: VariableOptions = {}) {
    super(data, opts);
    this.escapeScopes();
    this.markFromParameter();
  }

  /** The backend array. */
  override get array(): NDArray {
    return super.array;
  }
  /** Replaces the value, releasing the old array; the new one escapes every scope. */
  override set array(a: NDArray) {
    keepArrays(a);
    super.array = a;
  }
}

/**
 * Converts an operand to a Variable: a Variable as it is, a backend array wrapped (ownership
 * taken), a number a scalar of `like`'s dtype and device, nested arrays or a TypedArray a
 * tensor (as {@linkcode tensor} makes it) on `like`'s device. Anything else is a TypeError
 * naming `op`.
 *
 * @example
 * ```ts
 * import { asVariable, tensor } from "../mod.ts";
 * const x = tensor([1, 2], { dtype: "int32" });
 * console.log(asVariable(3, x).dtype); // int32
 * console.log(asVariable([[1, 2]], x).shape); // [1, 2]
 * ```
 */
export function asVariable(x: Operand | TensorData, like?: Variable, op = "asVariable"): Variable {
  if (x instanceof Variable) return x;
  if (x instanceof NDArray) return new Variable(x);
  return new Variable(operandArray(x, like?.array, `${op}: the input`));
}

// ------------------------------------------------------------------ Function

function asList<T>(x: T | readonly T[]): T[] {
  return Array.isArray(x) ? [...x] : [x as T];
}

/**
 * An operation of the graph. Subclasses implement `forward` on backend arrays
 * and `backward` on Variables (with the public functions, so it is
 * differentiable again). Call it with `apply`.
 *
 * @example
 * ```ts
 * import { Function, tensor, type Variable } from "../mod.ts";
 * import type { NDArray } from "../core/ndarray.ts";
 * import * as ops from "../core/ops.ts";
 *
 * class Square extends Function {
 *   forward(x: NDArray): NDArray {
 *     return ops.mul(x, x);
 *   }
 *   backward(gy: Variable): Variable {
 *     return gy.mul(this.inputs[0]).mul(2);
 *   }
 * }
 * const y = new Square().apply(tensor(3));
 * console.log(await y.item()); // 9
 * ```
 */
export abstract class Function {
  /** The inputs (held while the graph is alive). */
  inputs: Variable[] = [];
  /** The outputs, held weakly so a finished graph can be collected. */
  outputs: WeakRef<Variable>[] = [];
  /** The highest generation among the inputs. */
  generation = 0;
  #saved: NDArray[] = [];
  #constants = new Set<Variable>();
  #released = false;
  #applied = false;

  /** Computes outputs from input arrays (backend arrays in, backend arrays out). */
  abstract forward(...xs: NDArray[]): NDArray | NDArray[];
  /**
   * Computes input gradients from output gradients: Variables in, and out one
   * Variable per input (null for no gradient), computed with Variable ops so
   * that they are differentiable again.
   */
  abstract backward(...gys: Variable[]): Variable | null | (Variable | null)[];

  /** The op name used in errors and graphs. */
  get name(): string {
    return this.constructor.name;
  }

  /** Applies the function and returns its first output. */
  apply(...inputs: Operand[]): Variable {
    return this.applyAll(...inputs)[0];
  }

  /**
   * Applies the function and returns all outputs. An instance records one node
   * of the graph, so it is applied once: `new Square().apply(x)` per call.
   */
  applyAll(...raw: Operand[]): Variable[] {
    if (this.#applied) {
      throw new Error(
        `${this.name}: this Function instance was already applied, and a second call would ` +
          `overwrite the first one's graph: create a new instance per call: new ${this.name}().apply(x)`,
      );
    }
    this.#applied = true;
    let ys: NDArray[];
    let inputs: Variable[];
    try {
      // Numbers and arrays become constants: they get no gradient and are freed with the
      // graph. Numbers take the dtype of the first Variable (or backend array), nested
      // arrays and TypedArrays are made as tensor() makes them; all go to its device.
      const like = raw.find((x): x is Variable => x instanceof Variable)?.array ??
        raw.find((x): x is NDArray => x instanceof NDArray);
      const op = this.name.charAt(0).toLowerCase() + this.name.slice(1);
      inputs = raw.map((x, i) => {
        if (x instanceof Variable) return x;
        const c = new Variable(operandArray(x, like, `${op}: operand ${i + 1}`));
        this.#constants.add(c);
        return c;
      });
      ops.assertSameDevice(this.name, inputs.map((v) => v.array));
      const xs = inputs.map((v) => v.array);
      ys = withScope(() => this.#checkForward(this.forward(...xs)), (r) => r);
    } catch (e) {
      this.releaseGraph();
      throw e;
    }
    const outputs = ys.map((y) => new Variable(y));
    const anyGrad = inputs.some((x) => x.requiresGrad && !this.#constants.has(x));
    if (Config.enableBackprop && anyGrad) {
      graphScopes.at(-1)?.add(this);
      this.generation = Math.max(0, ...inputs.map((x) => x.generation));
      const fromParameter = inputs.some((x) => x.fromParameter);
      for (const y of outputs) {
        y.setCreator(this);
        if (fromParameter) y.markFromParameter();
      }
      this.inputs = inputs;
      for (const x of inputs) x.addConsumer();
      this.outputs = outputs.map((y) => new WeakRef(y));
    } else {
      if (!anyGrad) {
        for (const y of outputs) {
          y.requiresGrad = false;
          // Still a function's result: a backward through its consumers may free it (`deferred`).
          if (Config.enableBackprop) y.markNoGradResult(inputs.filter((x) => x.isNoGradResult));
        }
      }
      this.releaseGraph();
    }
    return outputs;
  }

  /** The outputs of `forward`, which must be backend arrays. */
  #checkForward(ys: unknown): NDArray[] {
    const list = asList(ys);
    if (list.length === 0) {
      throw new TypeError(
        `${this.name}.forward: must return an NDArray or an array of them, got []`,
      );
    }
    list.forEach((y, i) => {
      if (y instanceof NDArray) return;
      const what = Array.isArray(ys) ? `output ${i}` : "its result";
      throw new TypeError(
        `${this.name}.forward: must return backend arrays (an NDArray or an array of them), got ${
          describeValue(y)
        } as ${what}${
          y instanceof Variable
            ? ": forward works on the input arrays with ops.* (Variables are for backward)"
            : ""
        }`,
      );
    });
    return list as NDArray[];
  }

  /**
   * Calls `backward` and checks what it returns: a Variable or null, or an
   * array of them, one per input. @internal
   */
  runBackward(gys: Variable[]): (Variable | null)[] {
    const r: unknown = this.backward(...gys);
    const list = asList(r);
    const rule = "must return a Variable, null or an array of them (one per input)";
    list.forEach((g, i) => {
      if (g === null || g instanceof Variable) return;
      const what = Array.isArray(r) ? ` as gradient ${i}` : "";
      let hint = "";
      if (g === undefined && !Array.isArray(r)) hint = " (a missing return?)";
      if (g instanceof NDArray) {
        hint = ": backward works on Variables (gy.mul(...), F.*) so that its gradients can be " +
          "differentiated again; compute them from gys and this.inputs";
      }
      throw new TypeError(`${this.name}.backward: ${rule}, got ${describeValue(g)}${what}${hint}`);
    });
    return list as (Variable | null)[];
  }

  /** Whether `x` is an input made from a number or array (a constant without gradient). */
  isConstantInput(x: Variable): boolean {
    return this.#constants.has(x);
  }

  /**
   * Whether backward needs the gradient of input `i` (PyTorch's
   * `needs_input_grad`): `backward` may return null for the others and skip their work.
   */
  needsInputGrad(i: number): boolean {
    const x = this.inputs[i];
    return x !== undefined && x.requiresGrad && !this.#constants.has(x);
  }

  /**
   * Keeps arrays computed in `forward` for `backward` (they are freed when the
   * graph is released). Returns the first one for convenience.
   */
  protected save<T extends NDArray>(...arrays: [T, ...NDArray[]]): T {
    keepArrays(...arrays);
    this.#saved.push(...arrays);
    return arrays[0];
  }

  /** Output `i` (held weakly; alive while backward runs). */
  protected output(i = 0): Variable {
    const y = this.outputs[i]?.deref();
    if (y === undefined) {
      throw new ReferenceError(`${this.name}: output ${i} is no longer available to backward`);
    }
    return y;
  }

  /** Throws if backward already released this function's graph. @internal */
  assertAlive(): void {
    if (this.#released) {
      throw new ReferenceError(
        `${this.name}: the graph was already freed by a previous backward(); call backward({ retainGraph: true }) to backpropagate through it again`,
      );
    }
  }

  /** Whether backward already released this function's graph. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Frees what the function saved for backward and its constant inputs, and
   * detaches its outputs (except `keep`), which become leaves. @internal
   */
  releaseGraph(keep?: Variable): void {
    if (this.#released) return;
    this.#released = true;
    for (const a of this.#saved) a.dispose();
    this.#saved = [];
    for (const c of this.#constants) c.dispose();
    this.#constants.clear();
    const inputs = this.inputs;
    if (inputs.length > 0) this.inputs = [];
    for (const w of this.outputs) {
      const y = w.deref();
      if (y && y !== keep && y.creator === this) y.creator = null;
    }
    // Inputs that were disposed and that nothing else consumes free their own creators.
    for (const x of inputs) x.dropConsumer();
  }
}

// ------------------------------------------------------------------ creation

function inferShape(data: NestedArray): number[] {
  const shape: number[] = [];
  let d: NestedArray = data;
  while (Array.isArray(d)) {
    shape.push(d.length);
    if (d.length === 0) break;
    d = d[0];
  }
  return shape;
}

function flatten(
  op: string,
  data: NestedArray,
  shape: number[],
  out: number[],
  depth: number,
  path: number[],
): void {
  if (depth === shape.length) {
    if (typeof data !== "number") {
      throw new TypeError(
        `${op}: ragged nested array: expected a number at index [${path.join(",")}] but got ${
          Array.isArray(data) ? `an array of length ${data.length}` : typeof data
        }`,
      );
    }
    out.push(data);
    return;
  }
  if (!Array.isArray(data) || data.length !== shape[depth]) {
    throw new TypeError(
      `${op}: ragged nested array: expected length ${shape[depth]} at index [${
        path.join(",")
      }] but got ${Array.isArray(data) ? data.length : typeof data}`,
    );
  }
  for (let i = 0; i < data.length; i++) {
    path.push(i);
    flatten(op, data[i], shape, out, depth + 1, path);
    path.pop();
  }
}

/** A value's type for a TypeError: `null`, `a Map`, `a string "abc"`, `undefined`. */
function checkDevice(op: string, device: Device, dtype: DType): void {
  if (device === "gpu" && dtype === "float64") {
    throw new TypeError(
      `${op}: dtype float64 is not supported on device "gpu" (WGSL has no f64): use float32`,
    );
  }
}

function makeArray(
  data: TensorData | Variable,
  opts: TensorOptions & { shape?: readonly number[] },
  op = "tensor",
): NDArray {
  if (opts.dtype !== undefined) assertDType(op, opts.dtype);
  if (data instanceof Variable) return copyArray(op, data, opts);
  const device = opts.device ?? "cpu";
  if (ArrayBuffer.isView(data)) {
    const src = dtypeOfTyped(data);
    if (src === undefined) {
      throw new TypeError(
        `${op}: unsupported TypedArray ${data.constructor.name}: use Float32Array, Float64Array or Int32Array`,
      );
    }
    const dtype = opts.dtype ?? src;
    checkDevice(op, device, dtype);
    const shape = opts.shape ?? [data.length];
    assertShape(op, shape as number[]);
    if (shape.reduce((a, b) => a * b, 1) !== data.length) {
      throw new TypeError(
        `${op}: shape ${fmtShape(shape)} does not match ${data.length} elements`,
      );
    }
    const typed = dtype === src ? data : convertTyped(data, dtype, src);
    return getBackend(device).fromTyped(typed, shape);
  }
  if (typeof data !== "number" && !Array.isArray(data)) {
    throw new TypeError(
      `${op}: expected a number, nested arrays, a TypedArray or a Variable, got ${
        describeValue(data)
      }`,
    );
  }
  const shape = inferShape(data);
  const flat: number[] = [];
  flatten(op, data, shape, flat, 0, []);
  const dtype = opts.dtype ?? "float32";
  checkDevice(op, device, dtype);
  const typed = dtype === "int32"
    ? convertTyped(flat, "int32", "float64")
    : allocTyped(dtype, flat.length);
  if (dtype !== "int32") typed.set(flat);
  const finalShape = opts.shape ?? shape;
  return getBackend(device).fromTyped(typed, finalShape);
}

/**
 * Converts elements to `dtype`. To int32 as `ops.cast` does: toward zero, saturating, NaN to 0
 * (float32 values saturate at 2147483520, the largest float32 below 2^31, as on the GPU).
 */
function convertTyped(data: ArrayLike<number>, dtype: DType, src: DType): TypedArray {
  const out = allocTyped(dtype, data.length);
  if (dtype === "int32") {
    const hi = src === "float32" ? 2147483520 : 2147483647;
    for (let i = 0; i < data.length; i++) {
      const v = data[i];
      out[i] = v !== v ? 0 : v <= -2147483648 ? -2147483648 : v >= hi ? hi : Math.trunc(v);
    }
  } else out.set(data);
  return out;
}

/** A copy of a Variable's value (as `torch.tensor(t)`), in `opts.dtype` and on `opts.device`. */
function copyArray(
  op: string,
  x: Variable,
  opts: TensorOptions & { shape?: readonly number[] },
): NDArray {
  const src = x.array;
  const dtype = opts.dtype ?? src.dtype;
  const device = opts.device ?? src.backend.device;
  const shape = opts.shape ?? src.shape;
  assertShape(op, shape as number[]);
  if (shape.reduce((a, b) => a * b, 1) !== src.size) {
    throw new TypeError(`${op}: shape ${fmtShape(shape)} does not match ${src.size} elements`);
  }
  if (device !== src.backend.device) {
    const read = src.backend.readSync;
    if (!read) {
      throw new TypeError(
        `${op}: cannot copy a Variable from device "${src.backend.device}" to "${device}" synchronously: move it with await x.toCpu() first`,
      );
    }
    return makeArray(read.call(src.backend, src), { dtype, device, shape }, op);
  }
  checkDevice(op, device, dtype);
  const copy = dtype === src.dtype
    ? src.backend.asStrided(src, { shape: src.shape, strides: stridesOf(src.shape), offset: 0 })
    : ops.cast(src, dtype);
  if (shapesEqual(shape, copy.shape)) return copy;
  const out = copy.reshape(shape);
  copy.dispose();
  return out;
}

/**
 * A new array for an operand that is not a Variable: a number or boolean becomes a scalar of
 * `like`'s dtype (see `ops.scalar`), nested arrays and TypedArrays a tensor as
 * {@linkcode tensor} makes it, on `like`'s device (dtype promotion happens in the op);
 * an NDArray is shared. Anything else is a TypeError starting with `what`
 * (`"add: operand 2"`). @internal
 */
export function operandArray(x: unknown, like: NDArray | undefined, what: string): NDArray {
  if (x instanceof Variable) return x.array.share();
  if (x instanceof NDArray) return x.share();
  if (typeof x === "boolean") x = Number(x);
  if (typeof x === "number") return like ? ops.scalar(like, x) : makeArray(x, {});
  if (Array.isArray(x) || ArrayBuffer.isView(x)) {
    const op = what.split(":")[0];
    return makeArray(x as TensorData, { device: like?.backend.device ?? "cpu" }, op);
  }
  throw new TypeError(
    `${what} must be a Variable, a number, nested arrays or a TypedArray, got ${describeValue(x)}`,
  );
}

/**
 * A new leaf Variable from numbers, nested arrays or a TypedArray.
 *
 * @example
 * ```ts
 * import { tensor } from "../mod.ts";
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * console.log(x.shape, x.dtype); // [2, 3] float32
 * const labels = tensor([0, 2, 1], { dtype: "int32" });
 * ```
 */
export function tensor(
  data: TensorData | Variable,
  opts: VariableOptions & { shape?: readonly number[] } = {},
): Variable {
  return new Variable(makeArray(data, opts), opts);
}

function creationDevice(opts: TensorOptions, op = "tensor"): { device: Device; dtype: DType } {
  const dtype = opts.dtype ?? "float32";
  assertDType(op, dtype);
  const device = opts.device ?? "cpu";
  checkDevice(op, device, dtype);
  return { device, dtype };
}

/**
 * A Variable of `shape` filled with `value`.
 *
 * @example
 * ```ts
 * import { full } from "../mod.ts";
 * const x = full([2, 2], 7);
 * ```
 */
export function full(shape: readonly number[], value: number, opts: TensorOptions = {}): Variable {
  assertShape("full", shape as number[]);
  const { device, dtype } = creationDevice(opts, "full");
  return new Variable(getBackend(device).full(shape, value, dtype));
}

/**
 * Zeros of `shape`.
 *
 * @example
 * ```ts
 * import { zeros } from "../mod.ts";
 * const x = zeros([2, 3]);
 * ```
 */
export function zeros(shape: readonly number[], opts: TensorOptions = {}): Variable {
  return full(shape, 0, opts);
}

/**
 * Ones of `shape`.
 *
 * @example
 * ```ts
 * import { ones } from "../mod.ts";
 * const x = ones([3]);
 * ```
 */
export function ones(shape: readonly number[], opts: TensorOptions = {}): Variable {
  return full(shape, 1, opts);
}

function likeOpts(x: Variable, opts: TensorOptions): TensorOptions {
  return { dtype: opts.dtype ?? x.dtype, device: opts.device ?? x.device };
}

/**
 * Zeros with the shape, dtype and device of `x`.
 *
 * @example
 * ```ts
 * import { tensor, zerosLike } from "../mod.ts";
 * const z = zerosLike(tensor([1, 2]));
 * ```
 */
export function zerosLike(x: Variable, opts: TensorOptions = {}): Variable {
  return full(x.shape, 0, likeOpts(x, opts));
}

/**
 * Ones with the shape, dtype and device of `x`.
 *
 * @example
 * ```ts
 * import { onesLike, tensor } from "../mod.ts";
 * const o = onesLike(tensor([1, 2]));
 * ```
 */
export function onesLike(x: Variable, opts: TensorOptions = {}): Variable {
  return full(x.shape, 1, likeOpts(x, opts));
}

/**
 * `value` with the shape, dtype and device of `x`.
 *
 * @example
 * ```ts
 * import { fullLike, tensor } from "../mod.ts";
 * const f = fullLike(tensor([1, 2]), 5);
 * ```
 */
export function fullLike(x: Variable, value: number, opts: TensorOptions = {}): Variable {
  return full(x.shape, value, likeOpts(x, opts));
}

/**
 * Evenly spaced values in [start, stop) (`arange(n)` is 0..n-1).
 *
 * @example
 * ```ts
 * import { arange } from "../mod.ts";
 * console.log(await arange(4).toArray()); // [0, 1, 2, 3]
 * ```
 */
export function arange(
  start: number,
  stop?: number,
  step = 1,
  opts: TensorOptions = {},
): Variable {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new RangeError("arange: step must not be 0");
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const { device, dtype } = creationDevice(opts, "arange");
  const out = allocTyped(dtype, n);
  for (let i = 0; i < n; i++) out[i] = start + i * step;
  return new Variable(getBackend(device).fromTyped(out, [n]));
}

/** Options of random creation functions. */
export interface RandomOptions extends TensorOptions {
  /** The generator to draw from (the default, seeded by `manualSeed`, otherwise). */
  generator?: Generator;
}

function randomVariable(
  shape: readonly number[],
  opts: RandomOptions,
  draw: (g: Generator) => number,
): Variable {
  assertShape("random", shape as number[]);
  const { device, dtype } = creationDevice(opts, "random");
  if (!isFloat(dtype)) throw new TypeError(`random: dtype must be a float type, got ${dtype}`);
  const g = opts.generator ?? defaultGenerator;
  const out = allocTyped(dtype, shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) out[i] = draw(g);
  return new Variable(getBackend(device).fromTyped(out, shape));
}

/**
 * Standard normal samples of `shape` (reproducible with `manualSeed` or a `generator`).
 *
 * @example
 * ```ts
 * import { manualSeed, randn } from "../mod.ts";
 * manualSeed(0);
 * const w = randn([3, 4]);
 * ```
 */
export function randn(shape: readonly number[], opts: RandomOptions = {}): Variable {
  return randomVariable(shape, opts, (g) => g.normal());
}

/**
 * Uniform samples in [0, 1) of `shape`.
 *
 * @example
 * ```ts
 * import { rand } from "../mod.ts";
 * const u = rand([2, 2]);
 * ```
 */
export function rand(shape: readonly number[], opts: RandomOptions = {}): Variable {
  return randomVariable(shape, opts, (g) => g.random());
}

/**
 * Normal samples with the shape, dtype and device of `x`.
 *
 * @example
 * ```ts
 * import { randnLike, tensor } from "../mod.ts";
 * const r = randnLike(tensor([1, 2]));
 * ```
 */
export function randnLike(x: Variable, opts: RandomOptions = {}): Variable {
  return randn(x.shape, { ...likeOpts(x, opts), generator: opts.generator });
}

/**
 * Uniform samples with the shape, dtype and device of `x`.
 *
 * @example
 * ```ts
 * import { randLike, tensor } from "../mod.ts";
 * const r = randLike(tensor([1, 2]));
 * ```
 */
export function randLike(x: Variable, opts: RandomOptions = {}): Variable {
  return rand(x.shape, { ...likeOpts(x, opts), generator: opts.generator });
}

// ------------------------------------------------------------------ formatting

function nest(data: TypedArray, shape: readonly number[]): NestedArray {
  if (shape.length === 0) return data[0];
  const build = (offset: number, depth: number): NestedArray[] => {
    const n = shape[depth];
    const out: NestedArray[] = new Array(n);
    if (depth === shape.length - 1) {
      for (let i = 0; i < n; i++) out[i] = data[offset + i];
      return out;
    }
    const stride = shape.slice(depth + 1).reduce((a, b) => a * b, 1);
    for (let i = 0; i < n; i++) out[i] = build(offset + i * stride, depth + 1);
    return out;
  };
  return build(0, 0);
}

/**
 * One tensor element as printed by `toString` and the Jupyter table: integers
 * and non-finite values as they are, tiny or huge magnitudes in exponent form
 * with 4 decimals, the rest rounded to 6 significant digits.
 */
export function formatNumber(v: number): string {
  if (Number.isInteger(v) || !Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e8)) return v.toExponential(4);
  return String(Number(v.toPrecision(6)));
}

/** Formats values like NumPy, abbreviating long axes with `...`. */
export function formatValues(data: TypedArray, shape: readonly number[], edge = 3): string {
  if (shape.length === 0) return formatNumber(data[0]);
  const long = data.length > 1000;
  const rec = (offset: number, depth: number): string => {
    const n = shape[depth];
    const stride = shape.slice(depth + 1).reduce((a, b) => a * b, 1);
    const idx = long && n > 2 * edge
      ? [...Array(edge).keys(), -1, ...Array.from({ length: edge }, (_, i) => n - edge + i)]
      : [...Array(n).keys()];
    const parts = idx.map((i) =>
      i === -1
        ? "..."
        : depth === shape.length - 1
        ? formatNumber(data[offset + i])
        : rec(offset + i * stride, depth + 1)
    );
    const sep = depth === shape.length - 1 ? ", " : ",\n" + " ".repeat(depth + 10);
    return `[${parts.join(sep)}]`;
  };
  return rec(0, 0);
}

// ------------------------------------------------------------------ scopes

function collectArrays(value: unknown, out: NDArray[], depth = 0): void {
  if (value instanceof NDArray) out.push(value);
  else if (value instanceof Variable) {
    if (value.isAlive) out.push(value.array);
    if (value.grad) collectArrays(value.grad, out, depth);
  } else if (depth < 3 && Array.isArray(value)) {
    for (const v of value) collectArrays(v, out, depth + 1);
  } else if (
    depth < 3 && value !== null && typeof value === "object" && !ArrayBuffer.isView(value)
  ) {
    for (const v of Object.values(value)) collectArrays(v, out, depth + 1);
  }
}

/**
 * Runs `fn` and releases every tensor it created except those it returns
 * (Variables, arrays, or arrays/objects of them). Use it around inference or
 * evaluation loops so GPU memory is freed deterministically. Parameters and
 * optimizer state are never released by it. It returns values, not graphs: the
 * graphs recorded inside are freed (what they saved for backward too) and a
 * Variable it returns is a leaf, so call `backward()` inside, as a training
 * step does.
 *
 * @example
 * ```ts
 * import { F, memoryStats, tensor, tidy } from "../mod.ts";
 * const x = tensor([1, 2, 3]);
 * const before = memoryStats().liveTensors;
 * const y = tidy(() => F.sum(F.exp(F.mul(x, 2))));
 * console.log(memoryStats().liveTensors - before); // 1: only y
 * ```
 */
export function tidy<T>(fn: () => T): T {
  const recorded = new Set<Function>();
  graphScopes.push(recorded);
  let result: T;
  try {
    result = withScope(
      fn,
      (result) => {
        const keep: NDArray[] = [];
        collectArrays(result, keep);
        return keep;
      },
      "was released by tidy(): it was created inside the callback and not returned; return it from the callback (alone, or in an array or object) or call keep() on it there",
    );
  } catch (e) {
    graphScopes.splice(graphScopes.lastIndexOf(recorded), 1);
    for (const f of recorded) f.releaseGraph();
    throw e;
  }
  graphScopes.splice(graphScopes.lastIndexOf(recorded), 1);
  // The graphs recorded inside go too, with what they saved for backward (a
  // dropout mask, pooling indices), which escapes array scopes.
  for (const f of recorded) f.releaseGraph();
  return result;
}

/** Functions that recorded a graph inside each open {@linkcode tidy} (innermost last). */
const graphScopes: Set<Function>[] = [];
