/**
 * The `L` namespace (DeZero's `dezero.layers`): the base class `Layer`, `Parameter`, and the
 * layers Linear, Conv2d, Deconv2d, BatchNorm, LayerNorm, Dropout, EmbedID, RNN, LSTM and GRU,
 * so that book code such as `class TwoLayerNet extends L.Layer` reads as in DeZero.
 *
 * @module
 */
export * from "./layers.ts";
export { Layer } from "./layer.ts";
export { Parameter } from "../core/variable.ts";
