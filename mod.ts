/**
 * dezero: DeZero, the define-by-run deep-learning framework of "Deep Learning
 * from Scratch 3", in TypeScript for Deno, with WGSL compute shaders on WebGPU.
 *
 * @example
 * ```ts
 * import { F, tensor } from "./mod.ts";
 * const x = tensor([[1, 2, 3], [4, 5, 6]]);
 * const y = F.tanh(x).mul(2).sum();
 * y.backward({ createGraph: true });
 * const gx = x.grad!;
 * x.cleargrad();
 * gx.sum().backward(); // second derivative
 * console.log(await x.grad!.toArray());
 * ```
 *
 * @module
 */
export * from "./core/mod.ts";
export * as F from "./nn/f.ts";
export * as utils from "./core/utils.ts";
export * from "./data/mod.ts";
export {
  asDataset,
  type DatasetLike,
  type NestedNumbers,
  type SampleLike,
  toSample,
} from "./data/dataset.ts";
export {
  Buffer,
  type ClassifierOptions,
  decodeSafetensors,
  encodeSafetensors,
  type HasArray,
  L,
  Lambda,
  Layer,
  loadSafetensors,
  loadSafetensorsFile,
  MLP,
  type MLPOptions,
  Model,
  optimizers,
  type PlotOptions,
  ResNet,
  type ResNetDepth,
  type SafetensorsFile,
  type SafetensorsTensor,
  saveSafetensors,
  type SaveSafetensorsOptions,
  Sequential,
  type TensorLike,
  VGG16,
} from "./nn/mod.ts";
export {
  gpuAvailable,
  type GpuInfo,
  gpuInfo,
  GpuShaderError,
  initGpu,
  type InitGpuOptions,
  type MatmulVariant,
  trimGpuPool,
  WebGpuUnavailableError,
} from "./shaders/mod.ts";
