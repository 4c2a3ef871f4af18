/**
 * Optimizers with DeZero's defaults (SGD, MomentumSGD, AdaGrad, AdaDelta,
 * Adam) plus AdamW, gradient hooks (WeightDecay, ClipGrad, FreezeParam),
 * learning-rate schedules, and state that can be saved and restored so a
 * training run resumes exactly.
 *
 * Updates run on backend arrays (no graph is recorded), inside a scope that
 * frees every temporary; a parameter's new value replaces the old one with
 * `param.array = ...`, which releases the old buffer.
 *
 * @module
 */
import "../core/backend_cpu.ts"; // the CPU backend registers itself
import { describeValue } from "../core/_validate.ts";
import { getBackend } from "../core/backend.ts";
import { noGrad } from "../core/config.ts";
import { keepArrays, type NDArray, withScope } from "../core/ndarray.ts";
import * as ops from "../core/ops.ts";
import { fmtShape } from "../core/shape.ts";
import { Parameter, Variable } from "../core/variable.ts";
import { loadSafetensorsFile, type SafetensorsTensor, saveSafetensors } from "./io.ts";
import { isInitialized, Layer } from "./layer.ts";
import { checkArg, checkRange, hyperparams, isPlainObject } from "./_options.ts";

/**
 * A gradient hook: called with the parameters that have gradients, before the
 * update. It may replace gradients (`p.grad = p.grad!.mul(0.5)`) or drop them
 * (`p.cleargrad()`); see {@linkcode Optimizer.addHook}.
 */
export type HookFunction = (params: Parameter[]) => void;

/** A hook object (DeZero's callable hooks): `apply` is called before each update. */
export interface Hook {
  /** Adjusts the gradients (or drops them) before the update. */
  apply(params: Parameter[]): void;
}

/** The saved state of an optimizer (see {@linkcode Optimizer.stateDict}). */
export interface OptimizerState {
  /** The optimizer's class name. */
  kind: string;
  /** Steps taken, the learning rate and the hyperparameters. */
  scalars: Record<string, number>;
  /** Per-parameter state arrays, named `<param name>/<slot>`. */
  tensors: Record<string, SafetensorsTensor>;
  /**
   * The names of every parameter optimized when the state was saved, those
   * without state arrays included (no gradient yet, frozen). Absent from states
   * saved before it was recorded: the parameters with arrays stand for it.
   */
  params?: string[];
}

/**
 * The base of optimizers: `setup(model)`, then `update()` after each backward.
 *
 * @example
 * ```ts
 * import { L, optimizers } from "./mod.ts";
 * import { F, randn } from "../mod.ts";
 * const model = new L.Linear(1);
 * const opt = new optimizers.SGD({ lr: 0.1 }).setup(model);
 * const loss = F.sum(model.apply(randn([4, 3])));
 * model.cleargrads();
 * loss.backward();
 * opt.update();
 * ```
 */
export abstract class Optimizer {
  /** The learning rate (a schedule may change it between steps). */
  lr: number;
  /** Number of updates done. */
  t = 0;
  #target: Layer | Parameter[] | null = null;
  #hooks: Hook[] = [];
  #state = new Map<Parameter, Map<string, NDArray>>();

  /** An optimizer with learning rate `lr` (≥ 0: a negative rate climbs the loss). */
  constructor(lr: number) {
    checkHyper(new.target.name, "lr", lr);
    this.lr = lr;
  }

  /**
   * The hyperparameters saved with the state (besides `lr` and `t`): loading a
   * state sets these and no others, each checked as the constructor checks it.
   */
  protected hyper(): Record<string, number> {
    return {};
  }

  /**
   * Sets the parameters to optimize: a layer's (looked up at each update) or a
   * fixed list. `setup(model.params())` before the first call works with lazily
   * sized layers: their parameters are listed (empty) from construction and
   * filled in place at the first call. A parameter listed twice (tied weights in
   * `[...encoder.params(), ...decoder.params()]`) is kept once, at its first
   * position, as a layer lists a shared parameter once. Anything else (a plain
   * Variable, a single Parameter, a number) is a TypeError.
   */
  setup(target: Layer | Iterable<Parameter>): this {
    this.#target = target instanceof Layer ? target : this.#paramList(target);
    return this;
  }

  /** The parameters of a `setup()` argument that is not a layer, each checked. */
  #paramList(target: unknown): Parameter[] {
    const op = `${this.constructor.name}.setup`;
    const expected = "expected a Layer or an iterable of Parameters (setup(model), " +
      "setup(model.params()), setup([w, b]))";
    if (target instanceof Parameter) {
      throw new TypeError(
        `${op}: ${expected}, got a single Parameter: put it in a list: setup([p])`,
      );
    }
    if (target instanceof Variable) {
      throw new TypeError(`${op}: ${expected}, got a Variable: ${VARIABLE_HINT}`);
    }
    const iterable = typeof target === "object" && target !== null &&
      typeof (target as Partial<Iterable<unknown>>)[Symbol.iterator] === "function";
    if (!iterable) throw new TypeError(`${op}: ${expected}, got ${describeValue(target)}`);
    const list = [...target as Iterable<unknown>];
    list.forEach((p, i) => {
      if (p instanceof Parameter) return;
      throw new TypeError(
        `${op}: item ${i} is ${describeValue(p)}, not a Parameter${
          p instanceof Variable ? `: ${VARIABLE_HINT}` : ""
        }`,
      );
    });
    return [...new Set(list as Parameter[])];
  }

  /**
   * Adds a hook run on the gradients before each update (DeZero's `add_hook`).
   * Hooks run in order, without recording a graph. A hook may replace a
   * gradient (`p.grad = p.grad!.mul(0.5)`, `p.grad = F.clip(p.grad!, -1, 1)`)
   * or drop it (`p.cleargrad()`): the arrays that are parameters' gradients or
   * values once it returns are kept, every other array it made is freed, and a
   * gradient it replaced or dropped is freed as `cleargrad()` frees it.
   *
   * @example
   * ```ts
   * import { SGD } from "./optimizers.ts";
   * const opt = new SGD().addHook((params) => {
   *   for (const p of params) p.grad = p.grad!.mul(0.5);
   * });
   * ```
   */
  addHook(hook: Hook | HookFunction): this {
    this.#hooks.push(typeof hook === "function" ? { apply: hook as HookFunction } : hook as Hook);
    return this;
  }

  /** The optimized parameters with stable names (dotted names for a layer, indices for a list). */
  namedParams(): [string, Parameter][] {
    const target = this.#target;
    if (target === null) {
      throw new Error(`${this.constructor.name}: call setup(model) before update()`);
    }
    if (target instanceof Layer) return [...target.namedParams()];
    return target.map((p, i) => [String(i), p]);
  }

  /**
   * A parameter as errors name it: `"l0.W"` for a layer's, `parameter 1` (and its
   * own name, `parameter 1 ("W")`, where it has one) in a list.
   */
  #label(name: string, p: Parameter): string {
    if (this.#target instanceof Layer) return `"${name}"`;
    return `parameter ${name}${p.name ? ` ("${p.name}")` : ""}`;
  }

  /**
   * Runs the hooks, then updates every parameter that has a gradient. State
   * arrays follow their parameter to the GPU (see {@linkcode Optimizer.moveState}
   * for the way back). A failed update leaves the step count `t` as it was.
   */
  update(): void {
    // lr may have been set since construction (by hand or by a schedule).
    checkHyper(`${this.constructor.name}.update`, "lr", this.lr);
    const named = this.namedParams().filter(([, p]) => p.grad !== null);
    this.#prepare(named);
    const params = named.map(([, p]) => p);
    for (const hook of this.#hooks) runHook(hook, params);
    // A hook may have set gradients of its own.
    if (this.#hooks.length > 0) this.#checkGrads(named, " (after the hooks)");
    const t = this.t;
    this.t++;
    try {
      for (const p of params) {
        if (p.grad === null) continue; // a hook (FreezeParam) dropped it
        withScope(() => this.updateOne(p), () => []);
      }
    } catch (e) {
      this.t = t; // a retry takes the same step (Adam's bias correction depends on t)
      throw e;
    }
  }

  /**
   * Checks each gradient (its parameter's shape, on its parameter's device),
   * then moves state arrays left on the CPU by `model.toGpu()` (after a step,
   * or `loadState()` then `toGpu()`) to the GPU, before anything changes. Only
   * mismatches cost anything; a move the other way needs an async readback.
   */
  #prepare(named: [string, Parameter][]): void {
    this.#checkGrads(named, "");
    const op = `${this.constructor.name}.update`;
    const moves: [Parameter, string, NDArray][] = [];
    for (const [name, p] of named) {
      const device = p.device;
      const slots = this.#state.get(p);
      if (!slots) continue;
      for (const [slot, a] of slots) {
        if (a.backend.device === device) continue;
        if (!a.backend.readSync) {
          throw new TypeError(
            `${op}: the state "${name}/${slot}" is on the ${a.backend.device} but the ` +
              `parameter is on the ${device}: call await optimizer.moveState() after moving ` +
              `the model`,
          );
        }
        moves.push([p, slot, a]);
      }
    }
    for (const [p, slot, a] of moves) {
      this.setSlot(p, slot, getBackend(p.device).fromTyped(a.backend.readSync!(a), a.shape));
    }
  }

  /**
   * Throws unless each gradient has its parameter's shape (an update would
   * broadcast a wrong one silently) and device; `when` completes the message.
   */
  #checkGrads(named: [string, Parameter][], when: string): void {
    const op = `${this.constructor.name}.update${when}`;
    for (const [name, p] of named) {
      const g = p.grad;
      if (g === null) continue; // a hook dropped it
      if (g.device !== p.device) {
        throw new TypeError(
          `${op}: the gradient of ${this.#label(name, p)} is on the ${g.device} but the ` +
            `parameter is on the ${p.device}`,
        );
      }
      if (g.dtype !== p.dtype) {
        // The update would compute in the wider dtype and store it: the parameter would change dtype.
        throw new TypeError(
          `${op}: the gradient of ${this.#label(name, p)} is ${g.dtype} but the parameter is ` +
            `${p.dtype}: set a gradient of the parameter's dtype (F.astype(g, "${p.dtype}"))`,
        );
      }
      if (fmtShape(g.shape) !== fmtShape(p.shape)) {
        throw new TypeError(
          `${op}: the gradient of ${this.#label(name, p)} has shape ${
            fmtShape(g.shape)
          } but the parameter has shape ${fmtShape(p.shape)}`,
        );
      }
    }
  }

  /**
   * Moves each state array to its parameter's device. `update()` moves state to
   * a parameter on the GPU by itself; after `await model.toCpu()`, the state on
   * the GPU is read back here (asynchronously) before the next `update()`.
   */
  async moveState(): Promise<this> {
    for (const [, p] of this.namedParams()) {
      const slots = this.#state.get(p);
      if (!slots) continue;
      for (const [slot, a] of [...slots]) {
        if (a.backend.device === p.device) continue;
        const data = await a.backend.read(a);
        this.setSlot(p, slot, getBackend(p.device).fromTyped(data, a.shape));
      }
    }
    return this;
  }

  /** Updates one parameter from its gradient. */
  protected abstract updateOne(param: Parameter): void;

  /**
   * The names of the per-parameter state arrays (`slot` names) this optimizer
   * keeps: none for plain SGD. Loading a state checks them, so a subclass that
   * keeps state lists its slots here.
   */
  protected stateSlots(): readonly string[] {
    return [];
  }

  /** A state array of `param` (created by `init` on first use). */
  protected slot(
    param: Parameter,
    name: string,
    init: () => NDArray = () => zerosOf(param),
  ): NDArray {
    let slots = this.#state.get(param);
    if (!slots) this.#state.set(param, slots = new Map());
    let a = slots.get(name);
    if (!a) {
      a = init();
      keepArrays(a);
      slots.set(name, a);
    }
    return a;
  }

  /** Replaces a state array (the old one is released). */
  protected setSlot(param: Parameter, name: string, value: NDArray): void {
    let slots = this.#state.get(param);
    if (!slots) this.#state.set(param, slots = new Map());
    keepArrays(value);
    const old = slots.get(name);
    slots.set(name, value);
    if (old && old !== value) old.dispose();
  }

  /**
   * The state (steps, learning rate, hyperparameters and per-parameter arrays)
   * as plain data; reads device arrays back, hence async.
   */
  async stateDict(): Promise<OptimizerState> {
    const tensors: Record<string, SafetensorsTensor> = {};
    for (const [name, p] of this.namedParams()) {
      const slots = this.#state.get(p);
      if (!slots) continue;
      for (const [slot, a] of slots) {
        tensors[`${name}/${slot}`] = {
          dtype: a.dtype,
          shape: [...a.shape],
          data: await a.backend.read(a),
        };
      }
    }
    return {
      kind: this.constructor.name,
      scalars: { t: this.t, lr: this.lr, ...this.hyper() },
      tensors,
      params: this.namedParams().map(([name]) => name),
    };
  }

  /**
   * Restores a state from {@linkcode Optimizer.stateDict} (after `setup` with
   * the same model). Everything is validated before anything is changed, and
   * the state must cover the model: once the saved optimizer has taken steps
   * and keeps per-parameter state, a parameter it did not optimize is an error
   * (its state would start from zero at the restored step count, and Adam's
   * bias correction would make its first steps too large). A parameter it
   * optimized without state (no gradient yet, frozen) loads without state.
   */
  loadStateDict(state: OptimizerState): void {
    this.#load(state, `${this.constructor.name}.loadStateDict`, "the state dict's");
  }

  /** Loads `state` for `op` (which names the file, if any); `source` names the state's scalars. */
  #load(state: OptimizerState, op: string, source: string): void {
    if (state.kind !== this.constructor.name) {
      throw new TypeError(`${op}: the state is of a ${state.kind}, not a ${this.constructor.name}`);
    }
    const { t, lr, hyper } = this.#checkScalars(state.scalars, op, source);
    const named = this.namedParams();
    const byName = new Map(named);
    const slotNames = this.stateSlots();
    const assigns: [Parameter, string, SafetensorsTensor][] = [];
    const slotsOf = new Map<string, string[]>();
    for (const [key, t] of Object.entries(state.tensors)) {
      const cut = key.lastIndexOf("/");
      const name = key.slice(0, cut), slot = key.slice(cut + 1);
      const p = byName.get(name);
      if (cut < 0 || p === undefined) {
        throw new TypeError(`${op}: state "${key}" names no parameter of the model`);
      }
      if (slotNames.length > 0 && !slotNames.includes(slot)) {
        throw new TypeError(
          `${op}: state "${key}" is not a state of ${this.constructor.name}, whose state ` +
            `per parameter is ${slotNames.join(", ")}`,
        );
      }
      if (!isInitialized(p)) {
        throw new TypeError(
          `${op}: state "${key}" is for a parameter that is not initialised yet: call the ` +
            `model once (its size is inferred from the first input) before loading the state`,
        );
      }
      if (fmtShape(t.shape) !== fmtShape(p.shape) || t.dtype !== p.dtype) {
        throw new TypeError(
          `${op}: state "${key}" is ${t.dtype} ${
            fmtShape(t.shape)
          } but the parameter is ${p.dtype} ${fmtShape(p.shape)}`,
        );
      }
      assigns.push([p, slot, t]);
      slotsOf.set(name, [...slotsOf.get(name) ?? [], slot]);
    }
    for (const [name, slots] of slotsOf) {
      const lacking = slotNames.filter((s) => !slots.includes(s));
      if (lacking.length > 0) {
        throw new TypeError(
          `${op}: the state of "${name}" lacks ${lacking.map((s) => `"${name}/${s}"`).join(", ")}`,
        );
      }
    }
    if (
      state.params !== undefined &&
      !(Array.isArray(state.params) && state.params.every((n) => typeof n === "string"))
    ) {
      throw new TypeError(`${op}: the state's parameter names are not a list of strings`);
    }
    // Saved before the names were recorded: the parameters with arrays stand for them.
    const saved = new Set(state.params ?? slotsOf.keys());
    const keepsState = slotNames.length > 0 || assigns.length > 0;
    if (t > 0 && keepsState) {
      const missing = named.map(([name]) => name).filter((name) => !saved.has(name));
      if (missing.length > 0) {
        throw new TypeError(
          `${op}: the state lacks parameter${missing.length > 1 ? "s" : ""} ${
            missing.map((n) => `"${n}"`).join(", ")
          } of the model (saved for a smaller or different model?): their state would restart ` +
            `from zero at step ${t}`,
        );
      }
    }
    // Every array is made before the old state is dropped: a failure leaves it as it was.
    const arrays: NDArray[] = [];
    try {
      for (const [p, , data] of assigns) {
        arrays.push(getBackend(p.device).fromTyped(data.data, data.shape));
      }
    } catch (e) {
      for (const a of arrays) a.dispose();
      throw e;
    }
    for (const slots of this.#state.values()) for (const a of slots.values()) a.dispose();
    this.#state.clear();
    assigns.forEach(([p, slot], i) => this.setSlot(p, slot, arrays[i]));
    this.t = t;
    this.lr = lr;
    Object.assign(this, hyper);
  }

  /**
   * The scalars of a saved state, checked: exactly `t`, `lr` and the keys of
   * {@linkcode Optimizer.hyper} (anything else could replace a method), `t` a
   * non-negative integer, the rest finite numbers in the constructor's ranges.
   */
  #checkScalars(
    scalars: unknown,
    op: string,
    source: string,
  ): { t: number; lr: number; hyper: Record<string, number> } {
    const keys = ["t", "lr", ...Object.keys(this.hyper())];
    const expected = `${this.constructor.name} saves ${keys.join(", ")}`;
    if (!isPlainObject(scalars)) {
      throw new TypeError(
        `${op}: ${source} scalars must be an object (${expected}), got ${describeValue(scalars)}`,
      );
    }
    for (const [key, value] of Object.entries(scalars)) {
      if (!keys.includes(key)) {
        throw new TypeError(
          `${op}: ${source} scalars have an unknown key "${key}" (${
            describeValue(value)
          }): ${expected}`,
        );
      }
    }
    const lacking = keys.filter((key) => !Object.hasOwn(scalars, key));
    if (lacking.length > 0) {
      throw new TypeError(
        `${op}: ${source} scalars lack ${lacking.map((k) => `"${k}"`).join(", ")}: ${expected}`,
      );
    }
    const what = (key: string) => `${source} scalar "${key}"`;
    for (const key of keys) checkArg(op, what(key), "number", scalars[key]);
    const { t, lr, ...hyper } = scalars as Record<string, number>;
    checkRange(op, what("t"), t, Number.isSafeInteger(t) && t >= 0, "a non-negative integer");
    for (const [key, value] of Object.entries({ lr, ...hyper })) {
      // A subclass's own hyperparameters have no range here: any finite number.
      if (Object.hasOwn(RANGES, key)) checkHyper(op, key as Hyperparameter, value, what(key));
    }
    return { t, lr, hyper };
  }

  /** Saves {@linkcode Optimizer.stateDict} to a safetensors file (scalars in its metadata). */
  async saveState(path: string): Promise<void> {
    const state = await this.stateDict();
    await saveSafetensors(path, state.tensors, {
      metadata: {
        optimizer: state.kind,
        scalars: JSON.stringify(state.scalars),
        params: JSON.stringify(state.params),
      },
    });
  }

  /** Loads a state saved by {@linkcode Optimizer.saveState} (checked as by `loadStateDict`). */
  async loadState(path: string): Promise<void> {
    const op = `${this.constructor.name}.loadState: ${path}`;
    const { tensors, metadata } = await loadSafetensorsFile(path);
    let scalars: Record<string, number>;
    let params: string[] | undefined;
    try {
      scalars = JSON.parse(metadata.scalars ?? "");
      if (metadata.params !== undefined) params = JSON.parse(metadata.params);
    } catch {
      throw new TypeError(`${op}: no optimizer scalars or parameter names in the file's metadata`);
    }
    this.#load({ kind: metadata.optimizer ?? "", scalars, tensors, params }, op, "the file's");
  }
}

/** How to optimize a plain Variable (the hint of `setup()`'s errors). */
const VARIABLE_HINT = "only Parameters are optimized: make one with new Parameter(x) " +
  "(a copy of x's values) and compute with it";

/** The hyperparameters of the optimizers here (a subclass may save others of its own). */
type Hyperparameter = "lr" | "momentum" | "eps" | "rho" | "beta1" | "beta2" | "weightDecay";

/**
 * The range of each hyperparameter, checked by the constructors, by `update()`
 * (for `lr`, which may be set later) and by `loadState()`.
 */
const RANGES: { [K in Hyperparameter]: { ok: (x: number) => boolean; range: string } } = {
  // A negative rate climbs the loss.
  lr: { ok: (x) => x >= 0, range: "≥ 0" },
  momentum: { ok: (x) => x >= 0, range: "≥ 0" },
  eps: {
    ok: (x) => x > 0,
    range: "> 0 (an element whose gradients were all 0 would divide 0 by 0)",
  },
  rho: { ok: (x) => x >= 0 && x <= 1, range: "in [0, 1]" },
  beta1: { ok: (x) => x >= 0 && x < 1, range: "in [0, 1)" },
  beta2: { ok: (x) => x >= 0 && x < 1, range: "in [0, 1)" },
  weightDecay: { ok: (x) => x >= 0, range: "≥ 0" },
};

/**
 * Throws a RangeError naming `op`, `what` (by default the hyperparameter's
 * name) and `x` unless `x` is in the range of hyperparameter `name`.
 */
function checkHyper(op: string, name: Hyperparameter, x: number, what: string = name): void {
  checkRange(op, what, x, RANGES[name].ok(x), RANGES[name].range);
}

/**
 * Runs `hook` on `params` without recording a graph, in a scope that frees the
 * arrays it makes except the parameters' gradients and values once it
 * returns; a gradient it replaced or dropped is freed as `cleargrad()` does.
 */
function runHook(hook: Hook, params: Parameter[]): void {
  const before = params.map((p) => p.grad);
  const kept = new Set<NDArray>();
  withScope(() =>
    noGrad(() => {
      hook.apply(params);
      for (const p of params) {
        kept.add(p.array);
        if (p.grad?.isAlive) kept.add(p.grad.array);
      }
      // Owned by their parameters from now on: no enclosing scope frees them.
      keepArrays(...kept);
    }), () => []);
  const current = new Set(params.map((p) => p.grad));
  for (const old of before) {
    if (old === null || current.has(old) || old.creator !== null || !old.isAlive) continue;
    if (!kept.has(old.array)) old.dispose();
  }
}

function zerosOf(p: Parameter): NDArray {
  return p.array.backend.full(p.shape, 0, p.dtype);
}

function grad(p: Parameter): NDArray {
  return p.grad!.array;
}

/**
 * `a·x + b·y` as one fused kernel where the backend has one (float32 arrays of
 * one shape on one backend), else `fallback()`.
 */
function axpby(a: number, x: NDArray, b: number, y: NDArray, fallback: () => NDArray): NDArray {
  const be = x.backend;
  if (
    be.axpby && y.backend === be && x.dtype === "float32" && y.dtype === "float32" &&
    x.shape.length === y.shape.length && x.shape.every((d, i) => d === y.shape[i])
  ) return be.axpby(a, x, b, y);
  return fallback();
}

function sameShape(a: NDArray, b: NDArray): boolean {
  return a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
}

/**
 * Whether a fused optimizer kernel may take `arrays`: each float32, of the
 * shape of `p` and on its backend (the backend's method is checked by the caller).
 */
function fusable(p: Parameter, arrays: NDArray[]): boolean {
  const be = p.array.backend;
  return arrays.every((a) => a.backend === be && a.dtype === "float32" && sameShape(a, p.array));
}

// ------------------------------------------------------------ optimizers

/**
 * Stochastic gradient descent: `param -= lr * grad` (DeZero's lr 0.01).
 *
 * @example
 * ```ts
 * import { SGD } from "./optimizers.ts";
 * const opt = new SGD({ lr: 0.1 });
 * ```
 */
export class SGD extends Optimizer {
  /** Options: `lr` (0.01, ≥ 0). */
  constructor(options?: { lr?: number });
  /** DeZero's positional form: `new SGD(0.1)`. */
  constructor(lr: number);
  constructor(...args: unknown[]) {
    const { lr = 0.01 } = hyperparams<{ lr?: number }>("SGD", args, ["lr"], ["lr"]);
    super(lr);
  }
  /** One update step of `p` from its gradient. */
  protected updateOne(p: Parameter): void {
    const g = grad(p);
    p.array = axpby(1, p.array, -this.lr, g, () => ops.sub(p.array, ops.mul(g, this.lr)));
  }
}

/**
 * SGD with momentum: `v = momentum·v - lr·grad; param += v` (lr 0.01, momentum 0.9).
 *
 * @example
 * ```ts
 * import { MomentumSGD } from "./optimizers.ts";
 * const opt = new MomentumSGD({ lr: 0.01, momentum: 0.9 });
 * ```
 */
export class MomentumSGD extends Optimizer {
  /** The momentum. */
  momentum: number;
  /** Options: `lr` (0.01), `momentum` (0.9); both ≥ 0. */
  constructor(options?: { lr?: number; momentum?: number });
  /** DeZero's positional form: `new MomentumSGD(0.01, 0.9)`. */
  constructor(lr: number, momentum?: number);
  constructor(...args: unknown[]) {
    const names = ["lr", "momentum"];
    const { lr = 0.01, momentum = 0.9 } = hyperparams<{ lr?: number; momentum?: number }>(
      "MomentumSGD",
      args,
      names,
      names,
    );
    super(lr);
    checkHyper("MomentumSGD", "momentum", momentum);
    this.momentum = momentum;
  }
  /** The hyperparameters saved with the state. */
  protected override hyper(): Record<string, number> {
    return { momentum: this.momentum };
  }
  /** The per-parameter state arrays. */
  protected override stateSlots(): readonly string[] {
    return ["v"];
  }
  /** One update step of `p` from its gradient. */
  protected updateOne(p: Parameter): void {
    const v0 = this.slot(p, "v"), g = grad(p);
    const v = axpby(
      this.momentum,
      v0,
      -this.lr,
      g,
      () => ops.sub(ops.mul(v0, this.momentum), ops.mul(g, this.lr)),
    );
    this.setSlot(p, "v", v);
    p.array = axpby(1, p.array, 1, v, () => ops.add(p.array, v));
  }
}

/**
 * AdaGrad: `h += grad²; param -= lr·grad / (√h + eps)` (lr 0.001, eps 1e-8).
 *
 * @example
 * ```ts
 * import { AdaGrad } from "./optimizers.ts";
 * const opt = new AdaGrad({ lr: 0.01 });
 * ```
 */
export class AdaGrad extends Optimizer {
  /** Added to the denominator. */
  eps: number;
  /** Options: `lr` (0.001, ≥ 0), `eps` (1e-8, > 0). */
  constructor(options?: { lr?: number; eps?: number });
  /** DeZero's positional form: `new AdaGrad(0.001, 1e-8)`. */
  constructor(lr: number, eps?: number);
  constructor(...args: unknown[]) {
    const names = ["lr", "eps"];
    const { lr = 0.001, eps = 1e-8 } = hyperparams<{ lr?: number; eps?: number }>(
      "AdaGrad",
      args,
      names,
      names,
    );
    super(lr);
    checkHyper("AdaGrad", "eps", eps);
    this.eps = eps;
  }
  /** The hyperparameters saved with the state. */
  protected override hyper(): Record<string, number> {
    return { eps: this.eps };
  }
  /** The per-parameter state arrays. */
  protected override stateSlots(): readonly string[] {
    return ["h"];
  }
  /** One update step of `p` from its gradient. */
  protected updateOne(p: Parameter): void {
    const g = grad(p);
    const h0 = this.slot(p, "h");
    const be = p.array.backend;
    if (be.adagradUpdate && fusable(p, [p.array, g, h0])) {
      // One fused kernel computing the same operations as the composition below.
      const [param, h] = be.adagradUpdate(p.array, g, h0, { lr: this.lr, eps: this.eps });
      this.setSlot(p, "h", h);
      p.array = param;
      return;
    }
    const h = ops.add(h0, ops.mul(g, g));
    this.setSlot(p, "h", h);
    const step = ops.div(ops.mul(g, this.lr), ops.add(ops.unary("sqrt", h), this.eps));
    p.array = ops.sub(p.array, step);
  }
}

/**
 * AdaDelta (rho 0.95, eps 1e-6, as DeZero); `lr` scales the step (1 by default).
 *
 * @example
 * ```ts
 * import { AdaDelta } from "./optimizers.ts";
 * const opt = new AdaDelta();
 * ```
 */
export class AdaDelta extends Optimizer {
  /** Decay of the running averages. */
  rho: number;
  /** Added inside the square roots. */
  eps: number;
  /** Options: `rho` (0.95, in [0, 1]), `eps` (1e-6, > 0), `lr` (1, ≥ 0). */
  constructor(options?: { rho?: number; eps?: number; lr?: number });
  /** DeZero's positional form (no `lr` there): `new AdaDelta(0.95, 1e-6)`. */
  constructor(rho: number, eps?: number);
  constructor(...args: unknown[]) {
    const { rho = 0.95, eps = 1e-6, lr = 1 } = hyperparams<
      { rho?: number; eps?: number; lr?: number }
    >("AdaDelta", args, ["rho", "eps"], ["rho", "eps", "lr"]);
    super(lr);
    checkHyper("AdaDelta", "rho", rho);
    checkHyper("AdaDelta", "eps", eps);
    this.rho = rho;
    this.eps = eps;
  }
  /** The hyperparameters saved with the state. */
  protected override hyper(): Record<string, number> {
    return { rho: this.rho, eps: this.eps };
  }
  /** The per-parameter state arrays. */
  protected override stateSlots(): readonly string[] {
    return ["msg", "msdx"];
  }
  /** One update step of `p` from its gradient. */
  protected updateOne(p: Parameter): void {
    const { rho, eps } = this;
    const g = grad(p);
    const msg0 = this.slot(p, "msg");
    const msdx0 = this.slot(p, "msdx");
    const be = p.array.backend;
    if (be.adadeltaUpdate && fusable(p, [p.array, g, msg0, msdx0])) {
      // One fused kernel computing the same operations as the composition below.
      const [param, msg, msdx] = be.adadeltaUpdate(p.array, g, msg0, msdx0, {
        rho,
        eps,
        lr: this.lr,
      });
      this.setSlot(p, "msg", msg);
      this.setSlot(p, "msdx", msdx);
      p.array = param;
      return;
    }
    const msg = ops.add(ops.mul(msg0, rho), ops.mul(ops.mul(g, g), 1 - rho));
    this.setSlot(p, "msg", msg);
    const dx = ops.mul(ops.unary("sqrt", ops.div(ops.add(msdx0, eps), ops.add(msg, eps))), g);
    const msdx = ops.add(ops.mul(msdx0, rho), ops.mul(ops.mul(dx, dx), 1 - rho));
    this.setSlot(p, "msdx", msdx);
    p.array = ops.sub(p.array, this.lr === 1 ? dx : ops.mul(dx, this.lr));
  }
}

/** Options of {@linkcode Adam}. */
export interface AdamOptions {
  /** The step size α (0.001), ≥ 0. */
  lr?: number;
  /** DeZero's name for `lr` (either may be given). */
  alpha?: number;
  /** Decay of the first moment (0.9), in [0, 1). */
  beta1?: number;
  /** Decay of the second moment (0.999), in [0, 1). */
  beta2?: number;
  /** Added to the denominator (1e-8), > 0. */
  eps?: number;
}

/**
 * Adam (Kingma & Ba) with DeZero's defaults and DeZero's formula, the bias
 * correction folded into the step size:
 * `m = β1·m + (1-β1)·g; v = β2·v + (1-β2)·g²;
 * param -= α·√(1-β2ᵗ)/(1-β1ᵗ) · m / (√v + eps)`.
 * `eps` is added to the uncorrected `√v`, so it weighs `1/√(1-β2ᵗ)` times
 * more than PyTorch's (31.6 times at t = 1 with β2 = 0.999), which shows with
 * gradients near `eps`; {@linkcode AdamW} follows PyTorch.
 *
 * @example
 * ```ts
 * import { Adam } from "./optimizers.ts";
 * const opt = new Adam({ lr: 0.001 });
 * ```
 */
export class Adam extends Optimizer {
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** Added to the denominator. */
  eps: number;
  /** Options (DeZero's defaults). */
  constructor(options?: AdamOptions);
  /** DeZero's positional form: `new Adam(0.001, 0.9, 0.999, 1e-8)` (alpha is `lr`). */
  constructor(alpha: number, beta1?: number, beta2?: number, eps?: number);
  constructor(...args: unknown[]) {
    const op = new.target === Adam ? "Adam" : new.target.name;
    const known = ["lr", "alpha", "beta1", "beta2", "eps"];
    // A subclass (AdamW) passes its options object on, its own keys included.
    const own = new.target === Adam ? known : Object.keys(args[0] ?? {});
    const { lr, alpha, beta1 = 0.9, beta2 = 0.999, eps = 1e-8 } = hyperparams<AdamOptions>(
      op,
      args,
      new.target === Adam ? ["alpha", "beta1", "beta2", "eps"] : [],
      [...new Set([...known, ...own])],
    );
    if (lr !== undefined && alpha !== undefined && lr !== alpha) {
      throw new RangeError(`Adam: lr ${lr} and alpha ${alpha} name the same step size: give one`);
    }
    super(lr ?? alpha ?? 0.001);
    checkHyper(op, "beta1", beta1);
    checkHyper(op, "beta2", beta2);
    checkHyper(op, "eps", eps);
    this.beta1 = beta1;
    this.beta2 = beta2;
    this.eps = eps;
  }
  /** DeZero's name for the base step size (the same as `lr`). */
  get alpha(): number {
    return this.lr;
  }
  /** Sets the base step size (`lr`). */
  set alpha(value: number) {
    this.lr = value;
  }
  /** The hyperparameters saved with the state. */
  protected override hyper(): Record<string, number> {
    return { beta1: this.beta1, beta2: this.beta2, eps: this.eps };
  }
  /** The bias-corrected step size of the current step (DeZero's `Adam.lr`). */
  get stepSize(): number {
    const t = Math.max(this.t, 1);
    return this.lr * Math.sqrt(1 - this.beta2 ** t) / (1 - this.beta1 ** t);
  }
  /**
   * What the current step adds to the uncorrected `√v` in the folded form
   * `stepSize · m / (√v + eps)`: `eps` itself (DeZero's Adam).
   */
  protected denominatorEps(): number {
    return this.eps;
  }
  /** The per-parameter state arrays. */
  protected override stateSlots(): readonly string[] {
    return ["m", "v"];
  }
  /** One update step of `p` from its gradient. */
  protected updateOne(p: Parameter): void {
    const { beta1, beta2 } = this;
    const eps = this.denominatorEps();
    const g = grad(p);
    const m0 = this.slot(p, "m");
    const v0 = this.slot(p, "v");
    const be = p.array.backend;
    if (be.adamUpdate && fusable(p, [p.array, g, m0, v0])) {
      // One fused kernel computing the same operations as the composition below.
      const [param, m, v] = be.adamUpdate(p.array, g, m0, v0, {
        stepSize: this.stepSize,
        beta1,
        beta2,
        eps,
        decay: this.decayFactor(),
      });
      this.setSlot(p, "m", m);
      this.setSlot(p, "v", v);
      p.array = param;
      return;
    }
    const m = ops.add(m0, ops.mul(ops.sub(g, m0), 1 - beta1));
    const v = ops.add(v0, ops.mul(ops.sub(ops.mul(g, g), v0), 1 - beta2));
    this.setSlot(p, "m", m);
    this.setSlot(p, "v", v);
    const step = ops.div(ops.mul(m, this.stepSize), ops.add(ops.unary("sqrt", v), eps));
    p.array = ops.sub(this.decayed(p), step);
  }
  /** The parameter before the gradient step: times {@linkcode Adam.decayFactor} unless 1. */
  protected decayed(p: Parameter): NDArray {
    const f = this.decayFactor();
    return f === 1 ? p.array : ops.mul(p.array, f);
  }
  /** The factor the parameter is multiplied by before the step (1: none; AdamW decays here). */
  protected decayFactor(): number {
    return 1;
  }
}

/**
 * Adam with decoupled weight decay (Loshchilov & Hutter), as PyTorch's
 * `torch.optim.AdamW` computes it (weight decay 0.01, as PyTorch):
 * `param -= lr·weightDecay·param` first, then with `m`, `v` as in
 * {@linkcode Adam}, `m̂ = m/(1-β1ᵗ)` and `v̂ = v/(1-β2ᵗ)`,
 * `param -= lr · m̂ / (√v̂ + eps)`: `eps` is added after the bias correction,
 * unlike DeZero's Adam. (The step runs as Adam's folded form, which equals it
 * with `eps·√(1-β2ᵗ)` in place of `eps`.)
 *
 * @example
 * ```ts
 * import { AdamW } from "./optimizers.ts";
 * const opt = new AdamW({ lr: 0.001, weightDecay: 0.01 });
 * ```
 */
export class AdamW extends Adam {
  /** The decoupled weight decay. */
  weightDecay: number;
  /** Adam's options plus `weightDecay` (0.01, ≥ 0). */
  constructor(options: AdamOptions & { weightDecay?: number } = {}) {
    const o = hyperparams<AdamOptions & { weightDecay?: number }>("AdamW", [options], [], [
      "lr",
      "alpha",
      "beta1",
      "beta2",
      "eps",
      "weightDecay",
    ]);
    super(o);
    const weightDecay = o.weightDecay ?? 0.01;
    checkHyper("AdamW", "weightDecay", weightDecay);
    this.weightDecay = weightDecay;
  }
  /** The hyperparameters saved with the state. */
  protected override hyper(): Record<string, number> {
    return { ...super.hyper(), weightDecay: this.weightDecay };
  }
  /** The decoupled weight decay's factor `1 - lr·weightDecay`. */
  protected override decayFactor(): number {
    return 1 - this.lr * this.weightDecay;
  }
  /**
   * PyTorch's `eps` (added to `√v̂ = √v/√(1-β2ᵗ)`) as the folded form adds it
   * to `√v`: `eps·√(1-β2ᵗ)`, since `lr/(1-β1ᵗ) · m / (√v/√(1-β2ᵗ) + eps)`
   * is `stepSize · m / (√v + eps·√(1-β2ᵗ))`.
   */
  protected override denominatorEps(): number {
    return this.eps * Math.sqrt(1 - this.beta2 ** Math.max(this.t, 1));
  }
}

// ------------------------------------------------------------ hooks

/**
 * L2 regularization as a hook: `grad += rate · param` (DeZero's `WeightDecay`).
 *
 * @example
 * ```ts
 * import { SGD, WeightDecay } from "./optimizers.ts";
 * const opt = new SGD().addHook(new WeightDecay(1e-4));
 * ```
 */
export class WeightDecay implements Hook {
  /** The decay rate. */
  readonly rate: number;
  /** A hook with `rate` (a finite number ≥ 0). */
  constructor(rate: number) {
    checkArg("WeightDecay", "rate", "number", rate);
    checkRange("WeightDecay", "rate", rate, rate >= 0, "≥ 0");
    this.rate = rate;
  }
  /** Adds `rate · param` to each gradient. */
  apply(params: Parameter[]): void {
    for (const p of params) {
      if (p.grad === null) continue;
      p.grad.array = ops.add(p.grad.array, ops.mul(p.array, this.rate));
      keepArrays(p.grad.array);
    }
  }
}

/**
 * Rescales all gradients together when their global L2 norm exceeds `maxNorm`
 * (computed on the device: no readback, no synchronisation).
 *
 * @example
 * ```ts
 * import { ClipGrad, SGD } from "./optimizers.ts";
 * const opt = new SGD().addHook(new ClipGrad(1.0));
 * ```
 */
export class ClipGrad implements Hook {
  /** The largest allowed global norm. */
  readonly maxNorm: number;
  /** A hook with `maxNorm` (> 0; a negative one would flip the gradients). */
  constructor(maxNorm: number) {
    if (typeof maxNorm !== "number" || Number.isNaN(maxNorm)) {
      throw new TypeError(`ClipGrad: maxNorm must be a number, got ${describeValue(maxNorm)}`);
    }
    checkRange("ClipGrad", "maxNorm", maxNorm, maxNorm > 0, "> 0");
    this.maxNorm = maxNorm;
  }
  /** Scales every gradient by `min(1, maxNorm / (norm + 1e-6))`. */
  apply(params: Parameter[]): void {
    const grads = params.filter((p) => p.grad !== null).map((p) => p.grad!);
    if (grads.length === 0) return;
    let total: NDArray | null = null;
    for (const g of grads) {
      const s = ops.sum(ops.mul(g.array, g.array));
      total = total === null ? s : ops.add(total, s);
    }
    const norm = ops.unary("sqrt", total!);
    const rate = ops.minimum(ops.div(ops.scalar(norm, this.maxNorm), ops.add(norm, 1e-6)), 1);
    for (const g of grads) {
      g.array = ops.mul(g.array, ops.cast(rate, g.dtype));
      keepArrays(g.array);
    }
  }
}

/**
 * Freezes layers or parameters: their gradients are dropped before the update.
 *
 * @example
 * ```ts
 * import { FreezeParam, SGD } from "./optimizers.ts";
 * import { Linear } from "./layers.ts";
 * const backbone = new Linear(4);
 * const opt = new SGD().addHook(new FreezeParam(backbone));
 * ```
 */
export class FreezeParam implements Hook {
  readonly #frozen = new Set<Parameter>();
  readonly #layers: Layer[] = [];
  /** Freezes the parameters of each layer (looked up at each update) and each parameter. */
  constructor(...targets: (Layer | Parameter)[]) {
    targets.forEach((t: unknown, i) => {
      if (t instanceof Layer) this.#layers.push(t);
      else if (t instanceof Parameter) this.#frozen.add(t);
      else {
        throw new TypeError(
          `FreezeParam: target ${i} is ${describeValue(t)}, not a Layer or a Parameter${
            t instanceof Variable ? `: ${VARIABLE_HINT}` : ""
          }`,
        );
      }
    });
  }
  /** Clears the frozen parameters' gradients. */
  apply(params: Parameter[]): void {
    const frozen = new Set(this.#frozen);
    for (const l of this.#layers) for (const p of l.params()) frozen.add(p);
    for (const p of params) if (frozen.has(p)) p.cleargrad();
  }
}

// ------------------------------------------------------------ schedules

/** A learning-rate schedule: the factor applied to the base rate at `step` (0, 1, ...). */
export type Schedule = (step: number) => number;

/**
 * Multiplies the rate by `gamma` every `stepSize` steps (PyTorch's StepLR).
 *
 * @example
 * ```ts
 * import { stepDecay } from "./optimizers.ts";
 * console.log(stepDecay({ stepSize: 10, gamma: 0.5 })(25)); // 0.25
 * ```
 */
export function stepDecay(
  { stepSize, gamma = 0.1 }: { stepSize: number; gamma?: number },
): Schedule {
  if (!(stepSize >= 1)) throw new RangeError(`stepDecay: stepSize must be ≥ 1, got ${stepSize}`);
  return (step) => gamma ** Math.floor(step / stepSize);
}

/**
 * Cosine annealing from 1 down to `minFactor` over `tMax` steps, then flat
 * (PyTorch's CosineAnnealingLR without restarts).
 *
 * @example
 * ```ts
 * import { cosineAnnealing } from "./optimizers.ts";
 * console.log(cosineAnnealing({ tMax: 100 })(50)); // 0.5
 * ```
 */
export function cosineAnnealing(
  { tMax, minFactor = 0 }: { tMax: number; minFactor?: number },
): Schedule {
  if (!(tMax >= 1)) throw new RangeError(`cosineAnnealing: tMax must be ≥ 1, got ${tMax}`);
  return (step) => {
    const s = Math.min(step, tMax);
    return minFactor + (1 - minFactor) * (1 + Math.cos(Math.PI * s / tMax)) / 2;
  };
}

/**
 * Linear warm-up over `steps` steps (from `1/steps` to 1), then `after`
 * (counted from the end of the warm-up; constant 1 by default).
 *
 * @example
 * ```ts
 * import { cosineAnnealing, warmup } from "./optimizers.ts";
 * const s = warmup(5, cosineAnnealing({ tMax: 100 }));
 * console.log(s(0), s(4)); // 0.2 1
 * ```
 */
export function warmup(steps: number, after: Schedule = () => 1): Schedule {
  if (!(steps >= 1)) throw new RangeError(`warmup: steps must be ≥ 1, got ${steps}`);
  return (step) => (step < steps ? (step + 1) / steps : after(step - steps));
}

/**
 * Drives an optimizer's `lr` with a schedule: `lr = baseLr · schedule(step)`,
 * set at creation (step 0) and advanced by each `step()` call (per epoch or
 * per iteration, as you choose).
 *
 * @example
 * ```ts
 * import { LRScheduler, SGD, stepDecay } from "./optimizers.ts";
 * const opt = new SGD({ lr: 0.1 });
 * const sched = new LRScheduler(opt, stepDecay({ stepSize: 2, gamma: 0.5 }));
 * sched.step();
 * sched.step();
 * console.log(opt.lr); // 0.05
 * ```
 */
export class LRScheduler {
  /** The optimizer driven. */
  readonly optimizer: Optimizer;
  /** The schedule. */
  readonly schedule: Schedule;
  /** The rate at step 0. */
  readonly baseLr: number;
  /** Steps taken. */
  stepCount = 0;

  /** Starts the schedule (sets `optimizer.lr` for step 0). */
  constructor(optimizer: Optimizer, schedule: Schedule, { baseLr }: { baseLr?: number } = {}) {
    this.optimizer = optimizer;
    this.schedule = schedule;
    this.baseLr = baseLr ?? optimizer.lr;
    this.optimizer.lr = this.baseLr * schedule(0);
  }

  /** Advances one step and updates the rate. */
  step(): void {
    this.stepCount++;
    this.optimizer.lr = this.baseLr * this.schedule(this.stepCount);
  }

  /** The position, to save with the optimizer state. */
  stateDict(): { stepCount: number; baseLr: number } {
    return { stepCount: this.stepCount, baseLr: this.baseLr };
  }

  /** Restores the position (the base rate must match). */
  loadStateDict(state: { stepCount: number; baseLr: number }): void {
    if (state.baseLr !== this.baseLr) {
      throw new RangeError(
        `LRScheduler.loadStateDict: base rate ${state.baseLr} differs from this scheduler's ${this.baseLr}`,
      );
    }
    this.stepCount = state.stepCount;
    this.optimizer.lr = this.baseLr * this.schedule(this.stepCount);
  }
}
