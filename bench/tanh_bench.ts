/**
 * `deno bench`: the 2nd, 3rd and 4th derivatives of tanh (`createGraph`,
 * small sizes) on the CPU and the GPU.
 *
 * @module
 */
import { benchWorkload } from "./_bench_util.ts";

benchWorkload("tanh2");
benchWorkload("tanh3");
benchWorkload("tanh4");
