// Backend-level benchmarks of the hot kernels, CPU reference vs WebGPU:
//   deno bench -A bench/gpu_ops_bench.ts
// Each GPU iteration ends with a readback, so it times finished work
// (including the copy back), not just enqueueing.
import type { Backend } from "../core/backend.ts";
import { cpuBackend } from "../core/backend_cpu.ts";
import type { NDArray } from "../core/ndarray.ts";
import { gpuBackend } from "../shaders/backend_gpu.ts";
import { gpuAvailable, initGpu } from "../shaders/mod.ts";
import { runtime } from "../shaders/_context.ts";

const hasGpu = await gpuAvailable();
if (hasGpu) await initGpu();
else console.warn("gpu_ops_bench: no WebGPU adapter, GPU benchmarks are skipped");

function random(n: number, seed = 1): Float32Array {
  let s = seed;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  });
}

const N = 1024;
const E = 4 * 1024 * 1024;
const mmA = random(N * N, 1), mmB = random(N * N, 2);
const ew = random(E, 3);

function setup(be: Backend) {
  return {
    a: be.fromTyped(mmA, [N, N]),
    b: be.fromTyped(mmB, [N, N]),
    x: be.fromTyped(ew, [E]),
    two: be.fromTyped(new Float32Array([2]), []),
    one: be.fromTyped(new Float32Array([1]), []),
  };
}

async function drain(be: Backend, ...arrays: NDArray[]): Promise<void> {
  await be.read(arrays[arrays.length - 1]);
  for (const a of arrays) a.dispose();
}

for (const [name, be] of [["cpu", cpuBackend], ["gpu", gpuBackend]] as const) {
  const ignore = name === "gpu" && !hasGpu;
  const t = ignore ? null : setup(be);
  Deno.bench({
    name: `matmul 1024x1024 f32 (${name})`,
    group: "matmul 1024³",
    baseline: name === "cpu",
    ignore,
    async fn() {
      await drain(be, be.matmul(t!.a, t!.b));
    },
  });
  Deno.bench({
    name: `tanh(x*2+1)*x on 4M f32 (${name})`,
    group: "elementwise chain 4M",
    baseline: name === "cpu",
    ignore,
    async fn() {
      const u = be.binary("mul", t!.x, t!.two);
      const v = be.binary("add", u, t!.one);
      const w = be.unary("tanh", v);
      await drain(be, u, v, w, be.binary("mul", w, t!.x));
    },
  });
}

// Reading one scalar back after a small kernel: the latency every `await loss.item()` pays.
// Deno's mapAsync resolves its promise 10 ms after the map is complete; the runtime reads the
// completed map at once ("early") unless `earlyReads` is off ("promise").
if (hasGpu) {
  const rt = runtime();
  const x = gpuBackend.fromTyped(new Float32Array([1, 2, 3]), [3]);
  for (const early of [false, true]) {
    Deno.bench({
      name: `one kernel + read 3 floats (${early ? "early" : "promise"})`,
      group: "readback latency",
      baseline: !early,
      async fn() {
        rt.earlyReads = early;
        try {
          const y = gpuBackend.unary("sin", x);
          await gpuBackend.read(y);
          y.dispose();
        } finally {
          rt.earlyReads = true;
        }
      },
    });
  }
}
