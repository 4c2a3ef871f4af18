/**
 * Data for training (DeZero's `dezero.datasets`, `dezero.dataloaders`,
 * `dezero.transforms`) and the training experience around it: a progress bar,
 * SVG loss curves and rich Jupyter display.
 *
 * Toy datasets are built in memory, file datasets load asynchronously from the
 * data root (the `root` option, else `$DEZERO_DATA`, else `~/.cache/dezero`):
 *
 * @example
 * ```ts
 * import { DataLoader, datasets, transforms } from "./mod.ts";
 * const train = new datasets.Spiral({ transform: new transforms.Normalize(0, 1) });
 * const loader = new DataLoader(train, 30, { shuffle: true, seed: 0 });
 * for (const [x, t] of loader) {
 *   console.log(x.shape, t.shape); // [30, 2] [30]
 *   break;
 * }
 * ```
 *
 * @module
 */
export * as datasets from "./datasets.ts";
export * as transforms from "./transforms.ts";
export {
  applyToBatch,
  ArrayDataset,
  asTransform,
  Dataset,
  type DatasetOptions,
  type Sample,
  type SampleArray,
  stackSamples,
  type Transform,
  type TransformLike,
} from "./dataset.ts";
export {
  DataLoader,
  type DataLoaderOptions,
  SeqDataLoader,
  type SeqDataLoaderOptions,
} from "./dataloader.ts";
export type { DataRootOptions } from "./_files.ts";
export {
  progress,
  ProgressBar,
  type ProgressBarOptions,
  type ProgressPostfix,
  type ProgressWriter,
} from "./progress.ts";
export { type LossCurveOptions, lossCurveSvg, type Series, svgDisplay } from "./plot.ts";
export {
  type DisplayableTensor,
  dotGraphDisplay,
  type MimeBundle,
  renderDot,
  type TableOptions,
  tensorHtml,
  variableMimeBundle,
} from "./display.ts";
