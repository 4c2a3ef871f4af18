/**
 * Ready-made networks: `MLP` (DeZero's), `VGG16` and `ResNet` (18/34/50) as
 * architectures (no pretrained weights are downloaded; load a safetensors file
 * with `loadWeights`).
 *
 * @module
 */
import type { Variable } from "../core/variable.ts";
import * as N from "./functions.ts";
import { Layer, Model } from "./layer.ts";
import { BatchNorm, Conv2d, Linear } from "./layers.ts";
import { checkArg, checkOptions } from "./_options.ts";

/** Options of {@linkcode MLP}. */
export interface MLPOptions {
  /** The activation between layers (sigmoid by default, as DeZero). */
  activation?: (x: Variable) => Variable;
}

/**
 * A multi-layer perceptron: one `Linear` per entry of `sizes` (the output
 * sizes; input sizes are inferred), named `l0`, `l1`, ... as in DeZero, with
 * `activation` between them.
 *
 * @example
 * ```ts
 * import { MLP } from "./models.ts";
 * import { relu } from "./functions.ts";
 * import { randn } from "../mod.ts";
 * const mlp = new MLP([10, 3], { activation: relu });
 * console.log(mlp.apply(randn([5, 2])).shape); // [5, 3]
 * ```
 */
export class MLP extends Model {
  /** The Linear layers `l0`, `l1`, ... (as DeZero names them). */
  [layer: `l${number}`]: Layer;
  readonly #layers: Linear[] = [];
  readonly #activation: (x: Variable) => Variable;

  /** An MLP with the given output sizes. */
  constructor(sizes: readonly number[], options?: MLPOptions);
  /** DeZero's positional form: `new MLP([10, 3], F.relu)`. */
  constructor(sizes: readonly number[], activation: (x: Variable) => Variable);
  constructor(
    sizes: readonly number[],
    options: MLPOptions | ((x: Variable) => Variable) = {},
  ) {
    super();
    if (!Array.isArray(sizes) || sizes.length === 0) {
      throw new TypeError(
        `MLP: sizes must be a non-empty array of output sizes such as [10, 1], got ${
          Array.isArray(sizes) ? "[]" : typeof sizes
        }`,
      );
    }
    sizes.forEach((size, i) => checkArg("MLP", `sizes[${i}]`, "count", size));
    const o = typeof options === "function" ? { activation: options } : checkOptions<MLPOptions>(
      "MLP",
      options,
      { activation: "function" },
      "{ activation: F.relu }",
      "sizes (other than the activation function)",
    );
    this.#activation = o.activation ?? N.sigmoid;
    sizes.forEach((size, i) => {
      const layer = new Linear(size);
      this[`l${i}`] = layer;
      this.#layers.push(layer);
    });
  }

  /** Applies the layer. */
  forward(x: Variable): Variable {
    const last = this.#layers.length - 1;
    this.#layers.forEach((l, i) => {
      x = l.apply(x);
      if (i < last) x = this.#activation(x);
    });
    return x;
  }
}

/** Options of {@linkcode VGG16} and {@linkcode ResNet}. */
export interface ClassifierOptions {
  /** Number of classes of the last layer (1000, ImageNet's, by default). */
  numClasses?: number;
}

const CLASSIFIER_OPTIONS = { numClasses: "count" } as const;

/**
 * VGG-16 (Simonyan & Zisserman, 2014) as in DeZero: thirteen 3×3 convolutions
 * in five blocks with 2×2 max pooling, then three fully connected layers with
 * dropout. Expects `[N, 3, H, W]` images (224×224 for the original).
 *
 * @example
 * ```ts
 * import { VGG16 } from "./models.ts";
 * const vgg = new VGG16({ numClasses: 10 });
 * console.log(vgg.conv1_1 !== undefined); // true
 * ```
 */
export class VGG16 extends Model {
  /** Block 1. */
  conv1_1: Layer = conv3(64);
  /** Block 1. */
  conv1_2: Layer = conv3(64);
  /** Block 2. */
  conv2_1: Layer = conv3(128);
  /** Block 2. */
  conv2_2: Layer = conv3(128);
  /** Block 3. */
  conv3_1: Layer = conv3(256);
  /** Block 3. */
  conv3_2: Layer = conv3(256);
  /** Block 3. */
  conv3_3: Layer = conv3(256);
  /** Block 4. */
  conv4_1: Layer = conv3(512);
  /** Block 4. */
  conv4_2: Layer = conv3(512);
  /** Block 4. */
  conv4_3: Layer = conv3(512);
  /** Block 5. */
  conv5_1: Layer = conv3(512);
  /** Block 5. */
  conv5_2: Layer = conv3(512);
  /** Block 5. */
  conv5_3: Layer = conv3(512);
  /** Classifier. */
  fc6: Layer = new Linear(4096);
  /** Classifier. */
  fc7: Layer = new Linear(4096);
  /** Output. */
  fc8: Layer;

  /** The architecture, with lazily sized weights (allocated at the first call). */
  constructor(options: ClassifierOptions = {}) {
    super();
    checkOptions("VGG16", options, CLASSIFIER_OPTIONS, "{ numClasses: 10 }", "the options");
    this.fc8 = new Linear(options.numClasses ?? 1000);
  }

  /** Applies the layer. */
  forward(x: Variable): Variable {
    const blocks = [
      [this.conv1_1, this.conv1_2],
      [this.conv2_1, this.conv2_2],
      [this.conv3_1, this.conv3_2, this.conv3_3],
      [this.conv4_1, this.conv4_2, this.conv4_3],
      [this.conv5_1, this.conv5_2, this.conv5_3],
    ];
    for (const block of blocks) {
      for (const conv of block) x = N.relu(conv.apply(x));
      x = N.pooling(x, 2);
    }
    x = x.reshape(x.shape[0], -1);
    x = N.dropout(N.relu(this.fc6.apply(x)));
    x = N.dropout(N.relu(this.fc7.apply(x)));
    return this.fc8.apply(x);
  }
}

function conv3(outChannels: number): Conv2d {
  return new Conv2d(outChannels, 3, { stride: 1, pad: 1 });
}

/** A convolution (no bias) followed by batch norm. */
class ConvBN extends Layer {
  conv: Conv2d;
  bn: BatchNorm;
  constructor(inC: number, outC: number, kernel: number, stride: number, pad: number) {
    super();
    this.conv = new Conv2d(outC, kernel, { stride, pad, nobias: true, inChannels: inC });
    this.bn = new BatchNorm({ size: outC });
  }
  /** Applies the layer. */
  forward(x: Variable): Variable {
    return this.bn.apply(this.conv.apply(x));
  }
}

/** ResNet's basic block (18 and 34 layers): two 3×3 convolutions and a shortcut. */
class BasicBlock extends Layer {
  static readonly expansion = 1;
  a: ConvBN;
  b: ConvBN;
  downsample: ConvBN | null;
  constructor(inC: number, width: number, stride: number) {
    super();
    this.a = new ConvBN(inC, width, 3, stride, 1);
    this.b = new ConvBN(width, width, 3, 1, 1);
    this.downsample = stride !== 1 || inC !== width ? new ConvBN(inC, width, 1, stride, 0) : null;
  }
  /** Applies the layer. */
  forward(x: Variable): Variable {
    const y = this.b.apply(N.relu(this.a.apply(x)));
    return N.relu(y.add(this.downsample ? this.downsample.apply(x) : x));
  }
}

/** ResNet's bottleneck block (50 layers and up): 1×1, 3×3, 1×1 (×4 channels). */
class Bottleneck extends Layer {
  static readonly expansion = 4;
  a: ConvBN;
  b: ConvBN;
  c: ConvBN;
  downsample: ConvBN | null;
  constructor(inC: number, width: number, stride: number) {
    super();
    const out = width * Bottleneck.expansion;
    this.a = new ConvBN(inC, width, 1, 1, 0);
    this.b = new ConvBN(width, width, 3, stride, 1);
    this.c = new ConvBN(width, out, 1, 1, 0);
    this.downsample = stride !== 1 || inC !== out ? new ConvBN(inC, out, 1, stride, 0) : null;
  }
  /** Applies the layer. */
  forward(x: Variable): Variable {
    const y = this.c.apply(N.relu(this.b.apply(N.relu(this.a.apply(x)))));
    return N.relu(y.add(this.downsample ? this.downsample.apply(x) : x));
  }
}

const RESNET_CONFIGS = {
  18: { block: BasicBlock, counts: [2, 2, 2, 2] },
  34: { block: BasicBlock, counts: [3, 4, 6, 3] },
  50: { block: Bottleneck, counts: [3, 4, 6, 3] },
} as const;

/** The ResNet depths offered. */
export type ResNetDepth = 18 | 34 | 50;

/**
 * ResNet (He et al., 2015) with 18, 34 or 50 layers: a 7×7 stride-2 stem with
 * 3×3 max pooling, four stages of residual blocks (batch norm after every
 * convolution), global average pooling and a Linear classifier.
 *
 * @example
 * ```ts
 * import { ResNet } from "./models.ts";
 * import { randn } from "../mod.ts";
 * const net = new ResNet(18, { numClasses: 10 });
 * console.log(net.apply(randn([1, 3, 32, 32])).shape); // [1, 10]
 * ```
 */
export class ResNet extends Model {
  /** The stem. */
  stem: Layer;
  /** Stage 1 (64 wide). */
  layer1: Layer[];
  /** Stage 2 (128 wide). */
  layer2: Layer[];
  /** Stage 3 (256 wide). */
  layer3: Layer[];
  /** Stage 4 (512 wide). */
  layer4: Layer[];
  /** The classifier. */
  fc: Layer;

  /** A ResNet of `depth` 18, 34 or 50 layers. */
  constructor(depth: ResNetDepth = 50, options: ClassifierOptions = {}) {
    super();
    if (!Object.hasOwn(RESNET_CONFIGS, depth)) {
      throw new RangeError(`ResNet: depth must be 18, 34 or 50, got ${depth}`);
    }
    checkOptions("ResNet", options, CLASSIFIER_OPTIONS, "{ numClasses: 10 }", "depth");
    const config = RESNET_CONFIGS[depth];
    if (config === undefined) {
      throw new RangeError(`ResNet: depth must be 18, 34 or 50, got ${depth}`);
    }
    this.stem = new ConvBN(3, 64, 7, 2, 3);
    let inC = 64;
    const stage = (width: number, count: number, stride: number): Layer[] => {
      const blocks: Layer[] = [];
      for (let i = 0; i < count; i++) {
        blocks.push(new config.block(inC, width, i === 0 ? stride : 1));
        inC = width * config.block.expansion;
      }
      return blocks;
    };
    this.layer1 = stage(64, config.counts[0], 1);
    this.layer2 = stage(128, config.counts[1], 2);
    this.layer3 = stage(256, config.counts[2], 2);
    this.layer4 = stage(512, config.counts[3], 2);
    this.fc = new Linear(options.numClasses ?? 1000, { inSize: inC });
  }

  /** Applies the layer. */
  forward(x: Variable): Variable {
    x = N.pooling(N.relu(this.stem.apply(x)), 3, { stride: 2, pad: 1 });
    for (const stage of [this.layer1, this.layer2, this.layer3, this.layer4]) {
      for (const block of stage) x = block.apply(x);
    }
    const [n, c, h, w] = x.shape;
    x = N.averagePooling(x, [h, w]).reshape(n, c);
    return this.fc.apply(x);
  }
}
