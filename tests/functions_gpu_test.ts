// Every core gradient case on the WebGPU backend: the GPU's first and second
// derivatives (float32) must match the CPU's float64 ones, which
// functions_test.ts checks against numerical differentiation.
import { F, tensor } from "../mod.ts";
import { assertAllClose, gpuTest } from "../shaders/test_util.ts";
import { analyticGrads, GRAD_CASES, maker } from "./grad_cases.ts";

for (const c of GRAD_CASES) {
  gpuTest(`${c.name}: GPU values and 1st/2nd derivatives match the CPU reference`, async () => {
    const cpu = c.inputs(maker("cpu", "float64")).map((x) => x.detach());
    const gpu = c.inputs(maker("gpu", "float32")).map((x) => x.detach());
    assertAllClose(
      new Float64Array(await c.f(...gpu).data()),
      new Float64Array(await c.f(...cpu).data()),
      { rtol: 1e-4, atol: 1e-5, what: `${c.name} forward` },
    );
    const want = await analyticGrads(c.f, cpu);
    const got = await analyticGrads(c.f, gpu);
    for (let i = 0; i < want.length; i++) {
      assertAllClose(got[i], want[i], {
        rtol: 1e-3,
        atol: 1e-4,
        what: `${c.name} ${i < want.length / 2 ? "gradient" : "second derivative"} ${i}`,
      });
    }
  });
}

gpuTest("mixing devices in one op names both devices", () => {
  const a = tensor([1, 2]);
  const b = tensor([1, 2], { device: "gpu" });
  let message = "";
  try {
    F.add(a, b);
  } catch (e) {
    message = (e as Error).message;
  }
  if (!/Add: operands are on different devices: cpu and gpu/.test(message)) {
    throw new Error(`unexpected message: ${message}`);
  }
});

gpuTest("logsumexp() of infinite rows gives the infinity, not NaN, on both devices", async () => {
  const rows = [[-Infinity, -Infinity], [0, -Infinity], [Infinity, 1], [1000, 1000]];
  for (const device of ["cpu", "gpu"] as const) {
    const y = await F.logsumexp(tensor(rows, { device }), 1).data();
    assertAllClose(
      new Float64Array(y),
      new Float64Array([-Infinity, 0, Infinity, 1000 + Math.LN2]),
      {
        what: `logsumexp on ${device}`,
      },
    );
  }
});

for (const device of ["cpu", "gpu"] as const) {
  const name = `max/min route the gradient to a NaN, the extreme of its row (${device})`;
  const body = async () => {
    for (const op of ["max", "min"] as const) {
      const x = tensor([[1, NaN, 3], [4, 5, 6]], { device });
      F[op](x, 1).sum().backward();
      const want = op === "max" ? [[0, 1, 0], [0, 0, 1]] : [[0, 1, 0], [1, 0, 0]];
      assertAllClose(await x.grad!.data(), want.flat(), { what: op });
    }
  };
  if (device === "gpu") gpuTest(name, body);
  else Deno.test(name, body);
}
