import { cpuBackend } from "../core/backend_cpu.ts";
import { Parameter, Variable } from "../core/variable.ts";
import { MomentumSGD, SGD } from "../nn/optimizers.ts";
import { gpuBackend } from "./backend_gpu.ts";
import { assertAllClose, gpuTest, randomTyped } from "./test_util.ts";

/** Runs 3 updates of `make()` on both backends from the same data and compares the parameters. */
async function sameUpdates(make: () => SGD | MomentumSGD): Promise<void> {
  for (const shape of [[], [1], [7], [4], [3, 5, 17], [64, 33]]) {
    const n = shape.reduce((a, b) => a * b, 1);
    const w = randomTyped(n, { seed: 41 }) as Float32Array;
    const results: Float32Array[] = [];
    for (const be of [cpuBackend, gpuBackend]) {
      const p = new Parameter(be.fromTyped(w, shape));
      const opt = make().setup([p]);
      for (let step = 0; step < 3; step++) {
        p.grad = new Variable(be.fromTyped(randomTyped(n, { seed: 50 + step }), shape));
        opt.update();
      }
      results.push((await p.data()) as Float32Array);
      p.dispose();
    }
    assertAllClose(results[1], results[0], {
      rtol: 1e-6,
      atol: 1e-6,
      what: `${make().constructor.name} ${JSON.stringify(shape)}`,
    });
  }
}

gpuTest("SGD updates on the GPU (fused axpby) match the CPU on awkward shapes", async () => {
  await sameUpdates(() => new SGD({ lr: 0.1 }));
});

gpuTest("MomentumSGD updates on the GPU (fused axpby) match the CPU", async () => {
  await sameUpdates(() => new MomentumSGD({ lr: 0.1, momentum: 0.9 }));
});
