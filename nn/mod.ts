/**
 * Neural networks: the stage-4/5 functions, layers (`L`), models, optimizers
 * and safetensors weights.
 *
 * @example
 * ```ts
 * import { MLP, optimizers } from "./mod.ts";
 * import { F, randn } from "../mod.ts";
 * const model = new MLP([10, 1]);
 * const opt = new optimizers.SGD({ lr: 0.2 }).setup(model);
 * const x = randn([100, 1]);
 * const y = F.sin(x.mul(6.28));
 * const loss = F.meanSquaredError(model.apply(x), y);
 * model.cleargrads();
 * loss.backward();
 * opt.update();
 * ```
 *
 * @module
 */
export * as L from "./l.ts";
export * as optimizers from "./optimizers.ts";
export { Buffer, Lambda, Layer, Model, type PlotOptions, Sequential } from "./layer.ts";
export {
  type ClassifierOptions,
  MLP,
  type MLPOptions,
  ResNet,
  type ResNetDepth,
  VGG16,
} from "./models.ts";
export {
  decodeSafetensors,
  encodeSafetensors,
  type HasArray,
  loadSafetensors,
  loadSafetensorsFile,
  type SafetensorsFile,
  type SafetensorsTensor,
  saveSafetensors,
  type SaveSafetensorsOptions,
  type TensorLike,
} from "./io.ts";
export {
  accuracy,
  averagePooling,
  batchNorm,
  type BatchNormOptions,
  binaryCrossEntropy,
  col2im,
  conv2d,
  type ConvOptions,
  deconv2d,
  type Deconv2dOptions,
  dropout,
  type DropoutOptions,
  embedId,
  erf,
  gelu,
  im2col,
  type Im2colOptions,
  layerNorm,
  leakyRelu,
  logSoftmax,
  meanSquaredError,
  type Pair,
  pooling,
  type PoolingOptions,
  relu,
  sigmoid,
  sigmoidCrossEntropy,
  softmax,
  softmaxCrossEntropy,
} from "./functions.ts";
