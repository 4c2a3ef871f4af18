/**
 * The TF.js modules the benchmarks use, bundled by `tfjs_workloads.ts` into one
 * file (`deno bundle`): tfjs-core's ESM gradient registrations import paths
 * without extensions, which only a bundler resolves, and one self-contained
 * file also runs offline on the benchmark machine.
 *
 * @module
 */
// Bench-only npm imports, pinned inline so that the library's deno.json keeps no npm entries.
// deno-lint-ignore-file no-import-prefix
export * from "npm:@tensorflow/tfjs-core@4.22.0";
import "npm:@tensorflow/tfjs-core@4.22.0/dist/register_all_gradients";
import "npm:@tensorflow/tfjs-backend-webgpu@4.22.0";
import "npm:@tensorflow/tfjs-backend-cpu@4.22.0";
