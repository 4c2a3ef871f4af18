/**
 * Registers a workload of `workloads.ts` with `deno bench` at the small sizes:
 * one bench on the CPU (the group's baseline) and one on the GPU, so that
 * `deno bench` reports the GPU/CPU ratio. The GPU bench is skipped, with a
 * message, where no WebGPU adapter exists.
 *
 * @module
 */
import { gpuAvailable } from "../mod.ts";
import {
  type BenchDevice,
  describe,
  dezeroWorkload,
  prepareDevice,
  type Runner,
  SMALL_SIZES,
  type WorkloadName,
} from "./workloads.ts";

async function gpuReady(): Promise<boolean> {
  if (!(await gpuAvailable())) {
    console.error("bench: no WebGPU adapter here: the GPU benches are skipped");
    return false;
  }
  await prepareDevice("gpu");
  return true;
}

const gpuOk = await gpuReady();

/** Registers `name` on the CPU (baseline) and the GPU in one bench group. */
export function benchWorkload(name: WorkloadName): void {
  for (const device of ["cpu", "gpu"] as const satisfies readonly BenchDevice[]) {
    let runner: Runner | null = null;
    Deno.bench({
      name: `${describe(name, SMALL_SIZES)}, ${device}`,
      group: name,
      baseline: device === "cpu",
      ignore: device === "gpu" && !gpuOk,
      async fn() {
        // Built on the first (warm-up) call; each call waits for its device.
        runner ??= dezeroWorkload(name, device, SMALL_SIZES);
        await runner.step();
      },
    });
  }
}
