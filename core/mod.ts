/**
 * The core: the dynamic graph, config, creation, and numeric utilities.
 *
 * @module
 */
import "./backend_cpu.ts";
export { Config, type ConfigFlags, configScope, noGrad, testMode, usingConfig } from "./config.ts";
export type { DType, TypedArray } from "./dtype.ts";
export { BINARY_OPS, UNARY_OPS } from "./backend.ts";
export type {
  ArgReduceOp,
  Backend,
  BackendMemory,
  BinaryOp,
  ConvGeometry,
  Device,
  NegativeIndex,
  ReduceOp,
  StridedView,
  UnaryOp,
} from "./backend.ts";
export { type Index, type IndexItem, type IndexList, type Slice, slice } from "./indexing.ts";
export { type MemoryStats, memoryStats } from "./memory.ts";
export { NDArray, type Storage } from "./ndarray.ts";
export * as ops from "./ops.ts";
export { Generator, manualSeed } from "./random.ts";
export {
  arange,
  asVariable,
  full,
  fullLike,
  Function,
  type NestedArray,
  ones,
  onesLike,
  type Operand,
  Parameter,
  rand,
  randLike,
  randn,
  randnLike,
  type RandomOptions,
  tensor,
  type TensorData,
  type TensorOptions,
  tidy,
  Variable,
  type VariableOptions,
  zeros,
  zerosLike,
} from "./variable.ts";
import "./functions.ts";
