/**
 * Fused optimizer kernels: one Adam/AdamW step per parameter in a single
 * dispatch (instead of about a dozen elementwise ones).
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
  P,
  paramsDecl,
  runtime,
  storageDecl,
} from "./_context.ts";

/** The scalars of one step (see `Backend.adamUpdate`). */
type AdamStep = Parameters<NonNullable<Backend["adamUpdate"]>>[4];

const WG = 256;
/** Vec4s per invocation for large arrays (as the elementwise kernels). */
const PER = 4;
/** Vec4 count from which invocations take `PER` vec4s each. */
const PER_MIN_VEC4 = 65_536;

/**
 * WGSL statements of one Adam step on lane `at` (a vec4 index or a component
 * of one), in the order of the composition in `nn/optimizers.ts` so that each
 * operation rounds as it does there.
 */
function adamStatements(t: string, at: string): string {
  const f = (i: number) => `bitcast<f32>(${P(i)})`;
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
 * float32 arrays of one shape, vec4 over the whole quads and scalar on the
 * last partial one. Returns new `[param, m, v]`.
 */
export function adamUpdate(
  param: NDArray,
  grad: NDArray,
  m: NDArray,
  v: NDArray,
  step: AdamStep,
): [NDArray, NDArray, NDArray] {
  const names = ["param", "grad", "m", "v"];
  [param, grad, m, v].forEach((a, k) => {
    if (a.dtype !== "float32") {
      throw new TypeError(`adamUpdate: expected float32 operands, got ${a.dtype} for ${names[k]}`);
    }
    if (a.shape.length !== param.shape.length || a.shape.some((d, i) => d !== param.shape[i])) {
      throw new TypeError(
        `adamUpdate: shapes [${param.shape}] (param) and [${a.shape}] (${names[k]}) differ`,
      );
    }
  });
  const outP = newArray("adamUpdate", param.shape, "float32");
  const outM = newArray("adamUpdate", param.shape, "float32");
  const outV = newArray("adamUpdate", param.shape, "float32");
  const n = param.size;
  if (n === 0) return [outP, outM, outV];
  // Buffers are allocated in multiples of 16 bytes, so every array binds as
  // array<vec4<f32>>; the last quad (n % 4 lanes) is done lane by lane.
  const quads = Math.ceil(n / 4);
  const per = quads >= PER_MIN_VEC4 ? PER : 1;
  const v4 = "vec4<f32>";
  const wgsl = `// adamUpdate (vec4, scalar tail)${per > 1 ? ` x${per}` : ""}
${storageDecl(0, "Pa", v4, false)}${storageDecl(1, "G", v4, false)}${
    storageDecl(2, "M", v4, false)
  }${storageDecl(3, "V", v4, false)}${storageDecl(4, "Po", v4, true)}${
    storageDecl(5, "Mo", v4, true)
  }${storageDecl(6, "Vo", v4, true)}${paramsDecl(7, 6)}@compute @workgroup_size(${WG})
fn main(${ENTRY_ARGS}) {
  let t = ${linearIndex(WG)};
  let full = ${P(0)} / 4u;
  let quads = (${P(0)} + 3u) / 4u;
  let span = (quads + ${per - 1}u) / ${per}u;
  for (var j = 0u; j < ${per}u; j++) {
    let i = t + j * span;
    if (t >= span || i >= quads) { break; }
    if (i < full) {
      ${adamStatements(v4, "[i]")}
    } else {
      for (var c = 0u; c < ${P(0)} - full * 4u; c++) {
        ${adamStatements("f32", "[i][c]")}
      }
    }
  }
}
`;
  const rt = runtime();
  const k = rt.kernel("adamUpdate", wgsl, ["r", "r", "r", "r", "w", "w", "w"], 6);
  rt.dispatch(
    k,
    [param, grad, m, v, outP, outM, outV].map((a) => bufferOf("adamUpdate", a)),
    [
      n,
      f32Bits(step.stepSize),
      f32Bits(1 - step.beta1),
      f32Bits(1 - step.beta2),
      f32Bits(step.eps),
      f32Bits(step.decay),
    ],
    Math.ceil(quads / per / WG),
  );
  return [outP, outM, outV];
}
