/**
 * `deno bench`: the mlp workload (small sizes) on the CPU and the GPU.
 *
 * @module
 */
import { benchWorkload } from "./_bench_util.ts";

benchWorkload("mlp");
