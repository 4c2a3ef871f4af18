/**
 * Fused optimizer kernels: one AdaGrad, AdaDelta or Adam/AdamW step per
 * parameter in a single dispatch (instead of up to a dozen elementwise ones).
 *
 * @module
 */
import type { Backend } from "../core/backend.ts";
import type { NDArray } from "../core/ndarray.ts";
import {
  bufferOf,
  ENTRY_ARGS,
  f32Bits,
  linearIndex,
  newArray,
  operandTexture,
  P,
  paramsDecl,
  runtime,
  storageDecl,
  texelLoad,
  textureDecl,
  textureOperand,
} from "./_context.ts";
import type { Access } from "./runtime.ts";

/** The scalars of one Adam step (see `Backend.adamUpdate`). */
type AdamStep = Parameters<NonNullable<Backend["adamUpdate"]>>[4];
/** The scalars of one AdaGrad step (see `Backend.adagradUpdate`). */
type AdaGradStep = Parameters<NonNullable<Backend["adagradUpdate"]>>[3];
/** The scalars of one AdaDelta step (see `Backend.adadeltaUpdate`). */
type AdaDeltaStep = Parameters<NonNullable<Backend["adadeltaUpdate"]>>[4];

const WG = 256;
/** Vec4s per invocation for large arrays (as the elementwise kernels). */
const PER = 4;
/** Vec4 count from which invocations take `PER` vec4s each. */
const PER_MIN_VEC4 = 65_536;

/** The WGSL expression of float shader parameter `i` (`P(0)` is the length). */
function f(i: number): string {
  return `bitcast<f32>(${P(i)})`;
}

/** One fused elementwise update: its operands, results and per-lane statements. */
interface FusedUpdate {
  /** The op name, for errors, buffer labels and the pipeline. */
  op: string;
  /** The operands as `[name for errors, WGSL binding name, array]`; the first is the parameter. */
  inputs: [string, string, NDArray][];
  /** The WGSL binding names of the results (new arrays of the parameter's shape). */
  outputs: string[];
  /**
   * WGSL statements of one step on lane `at` (a vec4 index `[i]` or a
   * component `[i][c]`) of type `t`, reading the inputs and writing every
   * output; float scalars are `f(1)`, `f(2)`, ... in the order of `scalars`.
   */
  statements: (t: string, at: string) => string;
  /** The float scalars of the step, passed as f32 bits after the length. */
  scalars: number[];
}

/**
 * Runs a fused update: one kernel over float32 arrays of one shape, vec4 over
 * the whole quads and scalar on the last partial one, `PER` vec4s per
 * invocation for large arrays. Validates the operands' dtypes and shapes;
 * returns the outputs in the order of `u.outputs`.
 */
function fusedUpdate(u: FusedUpdate): NDArray[] {
  const param = u.inputs[0][2];
  for (const [name, , a] of u.inputs) {
    if (a.dtype !== "float32") {
      throw new TypeError(`${u.op}: expected float32 operands, got ${a.dtype} for ${name}`);
    }
    if (a.shape.length !== param.shape.length || a.shape.some((d, i) => d !== param.shape[i])) {
      throw new TypeError(
        `${u.op}: shapes [${param.shape}] (param) and [${a.shape}] (${name}) differ`,
      );
    }
  }
  const outs = u.outputs.map(() => newArray(u.op, param.shape, "float32"));
  const n = param.size;
  if (n === 0) return outs;
  // Buffers are allocated in multiples of 16 bytes, so every array binds as
  // array<vec4<f32>>; the last quad (n % 4 lanes) is done lane by lane.
  const quads = Math.ceil(n / 4);
  const per = quads >= PER_MIN_VEC4 ? PER : 1;
  const v4 = "vec4<f32>";
  const names = [...u.inputs.map(([, wgslName]) => wgslName), ...u.outputs];
  const buffers = u.inputs.map(([, , a]) => bufferOf(u.op, a));
  // Large inputs through textures where storage loads are slow (all or none): `X[i]` in the
  // statements becomes `tl_X(i)`, a texel load.
  const tex = buffers.every((b) => textureOperand(b, n, "f32"));
  let decls = names.map((name, b) =>
    b < u.inputs.length && tex
      ? textureDecl(b, name)
      : storageDecl(b, name, v4, b >= u.inputs.length)
  ).join("");
  let statements = u.statements;
  if (tex) {
    for (const [, name] of u.inputs) {
      decls += `fn tl_${name}(i: u32) -> vec4<f32> { return ${texelLoad(name, "i")}; }\n`;
    }
    statements = (t, at) => {
      let s = u.statements(t, at);
      for (const [, name] of u.inputs) {
        s = s.replace(new RegExp(`\\b${name}\\[i\\]`, "g"), `tl_${name}(i)`);
      }
      return s;
    };
  }
  const paramCount = 1 + u.scalars.length;
  const wgsl = `// ${u.op} (vec4, scalar tail)${per > 1 ? ` x${per}` : ""}${
    tex ? " (textures)" : ""
  }
${decls}${paramsDecl(names.length, paramCount)}@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  let t = ${linearIndex(WG)};
  let full = ${P(0)} / 4u;
  let quads = (${P(0)} + 3u) / 4u;
  let span = (quads + ${per - 1}u) / ${per}u;
  for (var j = 0u; j < ${per}u; j++) {
    let i = t + j * span;
    if (t >= span || i >= quads) { break; }
    if (i < full) {
      ${statements(v4, "[i]")}
    } else {
      for (var c = 0u; c < ${P(0)} - full * 4u; c++) {
        ${statements("f32", "[i][c]")}
      }
    }
  }
}
`;
  const access = names.map((_, b): Access => b >= u.inputs.length ? "w" : tex ? "t" : "r");
  const rt = runtime();
  const k = rt.kernel(u.op, wgsl, access, paramCount);
  const inputs = tex ? buffers.map((b, slot) => operandTexture(slot, b, n)) : buffers;
  rt.dispatch(
    k,
    [...inputs, ...outs.map((a) => bufferOf(u.op, a))],
    [n, ...u.scalars.map(f32Bits)],
    Math.ceil(quads / per / WG),
  );
  return outs;
}

/**
 * WGSL statements of one Adam step on lane `at` (a vec4 index or a component
 * of one), in the order of the composition in `nn/optimizers.ts` so that each
 * operation rounds as it does there.
 */
function adamStatements(t: string, at: string): string {
  return `let g: ${t} = G${at};
      let m0: ${t} = M${at};
      let v0: ${t} = V${at};
      let m: ${t} = m0 + (g - m0) * ${f(2)};
      let v: ${t} = v0 + (g * g - v0) * ${f(3)};
      Mo${at} = m;
      Vo${at} = v;
      Po${at} = Pa${at} * ${f(5)} - (m * ${f(1)}) / (sqrt(v) + ${f(4)});`;
}

/**
 * One fused Adam/AdamW step (see `Backend.adamUpdate`): one kernel over
 * float32 arrays of one shape. Returns new `[param, m, v]`. The kernel is
 * DeZero's folded form `param·decay - stepSize·m / (√v + eps)`; AdamW passes
 * PyTorch's `eps` as `eps·√(1-β2ᵗ)`, which makes it PyTorch's
 * `lr·m̂ / (√v̂ + eps)` (see `AdamW` in `nn/optimizers.ts`).
 */
export function adamUpdate(
  param: NDArray,
  grad: NDArray,
  m: NDArray,
  v: NDArray,
  step: AdamStep,
): [NDArray, NDArray, NDArray] {
  const [p, m1, v1] = fusedUpdate({
    op: "adamUpdate",
    inputs: [["param", "Pa", param], ["grad", "G", grad], ["m", "M", m], ["v", "V", v]],
    outputs: ["Po", "Mo", "Vo"],
    statements: adamStatements,
    scalars: [step.stepSize, 1 - step.beta1, 1 - step.beta2, step.eps, step.decay],
  });
  return [p, m1, v1];
}

/**
 * WGSL statements of one AdaGrad step on lane `at`, in the order of the
 * composition in `nn/optimizers.ts`: `h += g·g; param -= (g·lr) / (√h + eps)`.
 */
function adagradStatements(t: string, at: string): string {
  return `let g: ${t} = G${at};
      let h: ${t} = H${at} + g * g;
      Ho${at} = h;
      Po${at} = Pa${at} - (g * ${f(1)}) / (sqrt(h) + ${f(2)});`;
}

/**
 * One fused AdaGrad step (see `Backend.adagradUpdate`): one kernel over
 * float32 arrays of one shape. Returns new `[param, h]`.
 */
export function adagradUpdate(
  param: NDArray,
  grad: NDArray,
  h: NDArray,
  step: AdaGradStep,
): [NDArray, NDArray] {
  const [p, h1] = fusedUpdate({
    op: "adagradUpdate",
    inputs: [["param", "Pa", param], ["grad", "G", grad], ["h", "H", h]],
    outputs: ["Po", "Ho"],
    statements: adagradStatements,
    scalars: [step.lr, step.eps],
  });
  return [p, h1];
}

/**
 * WGSL statements of one AdaDelta step on lane `at`, in the order of the
 * composition in `nn/optimizers.ts`. `f(2)` is `1 - rho` rounded once, as the
 * composition's scalar is; multiplying by `lr` = 1 is exact, so one kernel
 * serves both of the composition's branches.
 */
function adadeltaStatements(t: string, at: string): string {
  return `let g: ${t} = G${at};
      let d0: ${t} = D${at};
      let msg: ${t} = S${at} * ${f(1)} + (g * g) * ${f(2)};
      So${at} = msg;
      let dx: ${t} = sqrt((d0 + ${f(3)}) / (msg + ${f(3)})) * g;
      Do${at} = d0 * ${f(1)} + (dx * dx) * ${f(2)};
      Po${at} = Pa${at} - dx * ${f(4)};`;
}

/**
 * One fused AdaDelta step (see `Backend.adadeltaUpdate`): one kernel over
 * float32 arrays of one shape. Returns new `[param, msg, msdx]`.
 */
export function adadeltaUpdate(
  param: NDArray,
  grad: NDArray,
  msg: NDArray,
  msdx: NDArray,
  step: AdaDeltaStep,
): [NDArray, NDArray, NDArray] {
  const [p, msg1, msdx1] = fusedUpdate({
    op: "adadeltaUpdate",
    inputs: [["param", "Pa", param], ["grad", "G", grad], ["msg", "S", msg], [
      "msdx",
      "D",
      msdx,
    ]],
    outputs: ["Po", "So", "Do"],
    statements: adadeltaStatements,
    scalars: [step.rho, 1 - step.rho, step.eps, step.lr ?? 1],
  });
  return [p, msg1, msdx1];
}
