/**
 * The datasets of DeZero's `dezero.datasets`: the toy ones are built in memory
 * (`new Spiral()`), the file-backed ones load asynchronously
 * (`await MNIST.load({ train: true })`) from the data root (the `root` option,
 * else `$DEZERO_DATA`, else `~/.cache/dezero`), one folder per dataset.
 *
 * @module
 */
import { LegacyRandomState } from "./_numpy_random.ts";
import {
  type DataRootOptions,
  type FileSource,
  locateFiles,
  readMaybeGzip,
  type RemoteFile,
} from "./_files.ts";
import { checkLabels, parseCifar, parseIdx } from "./_formats.ts";
import { ArrayDataset, type DatasetOptions, type TransformLike } from "./dataset.ts";
import { Compose, Flatten, Normalize, ToFloat } from "./transforms.ts";

// ------------------------------------------------------------------ toy datasets

/** Options of {@linkcode Spiral}. */
export interface SpiralOptions extends DatasetOptions {
  /** The training split (seed 1984) or the test split (seed 2020); default true. */
  train?: boolean;
}

/**
 * DeZero's spiral: 3 classes of 100 points each on interleaved spiral arms, shuffled. The
 * same points as DeZero's `get_spiral` (NumPy's seeded generator is reproduced exactly).
 * `x` is float32 `[2]`, `t` an int32 class id.
 *
 * @example
 * ```ts
 * import { Spiral } from "./datasets.ts";
 * const ds = new Spiral();
 * const [x, t] = ds.get(0);
 * console.log(ds.length, x.shape, t.data[0]); // 300 [2] 1
 * ```
 */
export class Spiral extends ArrayDataset {
  /** Whether this is the training split. */
  readonly train: boolean;

  /** The spiral dataset. */
  constructor(options: SpiralOptions = {}) {
    const train = options.train ?? true;
    const [x, t] = spiralData(train);
    super({ data: x, shape: [t.length, 2] }, { data: t, shape: [t.length] }, options);
    this.train = train;
  }
}

function spiralData(train: boolean): [Float32Array, Int32Array] {
  const rng = new LegacyRandomState(train ? 1984 : 2020);
  const numData = 100, numClass = 3;
  const size = numData * numClass;
  const x = new Float32Array(size * 2);
  const t = new Int32Array(size);
  for (let j = 0; j < numClass; j++) {
    for (let i = 0; i < numData; i++) {
      const rate = i / numData;
      const radius = 1.0 * rate;
      const theta = j * 4.0 + 4.0 * rate + rng.randn() * 0.2;
      const ix = numData * j + i;
      x[2 * ix] = radius * Math.sin(theta);
      x[2 * ix + 1] = radius * Math.cos(theta);
      t[ix] = j;
    }
  }
  const perm = rng.permutation(size);
  const xs = new Float32Array(size * 2);
  const ts = new Int32Array(size);
  perm.forEach((p, k) => {
    xs[2 * k] = x[2 * p];
    xs[2 * k + 1] = x[2 * p + 1];
    ts[k] = t[p];
  });
  return [xs, ts];
}

/** Options of {@linkcode SinCurve}. */
export interface SinCurveOptions extends DatasetOptions {
  /** Training split: `sin(x)` plus uniform noise in ±0.05; test split: `cos(x)`. Default true. */
  train?: boolean;
  /** Seed of the noise (NumPy-compatible: `np.random.seed(seed)`); default 0. */
  seed?: number;
}

/**
 * DeZero's `SinCurve`: 1000 points of a sine over [0, 2π] (cosine for the test split); sample
 * `i` is the value at step `i` (`x`, float32 `[1]`) and its target the value at step `i + 1`,
 * for next-step prediction with RNNs. 999 samples.
 *
 * @example
 * ```ts
 * import { SinCurve } from "./datasets.ts";
 * const ds = new SinCurve({ train: false });
 * console.log(ds.length, ds.get(0)[0].data[0]); // 999 1
 * ```
 */
export class SinCurve extends ArrayDataset {
  /** Whether this is the training split. */
  readonly train: boolean;

  /** The sine curve dataset. */
  constructor(options: SinCurveOptions = {}) {
    const train = options.train ?? true;
    const numData = 1000;
    const rng = new LegacyRandomState(options.seed ?? 0);
    const y = new Float32Array(numData);
    for (let i = 0; i < numData; i++) {
      // np.linspace(0, 2π, 1000); noise is drawn for both splits, as in DeZero.
      const x = (i * 2 * Math.PI) / (numData - 1);
      const noise = rng.uniform(-0.05, 0.05);
      y[i] = train ? Math.sin(x) + noise : Math.cos(x);
    }
    const n = numData - 1;
    super(
      { data: y.slice(0, n), shape: [n, 1] },
      { data: y.slice(1), shape: [n, 1] },
      options,
    );
    this.train = train;
  }
}

// ------------------------------------------------------------------ MNIST-style

/** Options of the file-backed datasets. */
export interface FileDatasetOptions extends DatasetOptions, DataRootOptions {
  /** The training split (default) or the test split. */
  train?: boolean;
}

/**
 * DeZero's default image transform for MNIST-style data: flatten to `[784]`, to float32,
 * and scale to [0, 1].
 */
function defaultImageTransform(): TransformLike {
  return new Compose([new Flatten(), new ToFloat(), new Normalize(0, 255)]);
}

const MNIST_SOURCE: FileSource = {
  dataset: "MNIST",
  folder: "mnist",
  mirrors: [
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
  ],
  homepage: "https://ossci-datasets.s3.amazonaws.com/mnist/ (or another MNIST mirror)",
};

// SHA-256 of the gzip files: first as the public mirrors serve them, then the project's
// re-compressed mirror (../shared/data/mnist/SHA256SUMS); both hold the same IDX bytes.
const MNIST_FILES = {
  train: [
    {
      name: "train-images-idx3-ubyte",
      sha256: [
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
        "0b367032e93c5d0cea0925647cfdb18614af8ee15f83e6f2fc2ad904a6835971",
      ],
    },
    {
      name: "train-labels-idx1-ubyte",
      sha256: [
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
        "1787548bbe0bff1ec2ecdc0ef292b02df999e2d1a6002d27500982c652b17203",
      ],
    },
  ],
  test: [
    {
      name: "t10k-images-idx3-ubyte",
      sha256: [
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
        "1a1a05eab793c14bb050b398624a11b0ffd1a2953baed553b1b9bd079e2a20be",
      ],
    },
    {
      name: "t10k-labels-idx1-ubyte",
      sha256: [
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
        "b91679a0acfe4ba0e50a2437a903084cba1f5f92592b016a25a7dfd00455798b",
      ],
    },
  ],
};

const FASHION_SOURCE: FileSource = {
  dataset: "FashionMNIST",
  folder: "fashion-mnist",
  mirrors: [
    "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/",
  ],
  homepage: "https://github.com/zalandoresearch/fashion-mnist",
};

const FASHION_FILES = {
  train: [
    {
      name: "train-images-idx3-ubyte",
      sha256: ["08dc20ab1689590a0bcd66e874647b6ee8464e2d501b5a3f1f78831db19a3fdc"],
    },
    {
      name: "train-labels-idx1-ubyte",
      sha256: ["b0197879cbda89f3dc7b894f9fd52b858e68ea4182b6947c9d8c2b67e5f18dcc"],
    },
  ],
  test: [
    {
      name: "t10k-images-idx3-ubyte",
      sha256: ["78dcbbfb5a27efaf1b6c1d616caca68560be8766c5bffcb2791df9273a534229"],
    },
    {
      name: "t10k-labels-idx1-ubyte",
      sha256: ["42bd18137a62d5998cdeae52bf3a0676ac6b706f5cf8439b47bb5b151ae3dccf"],
    },
  ],
};

function withRemote(files: readonly { name: string; sha256: string[] }[]): RemoteFile[] {
  return files.map((f) => ({ ...f, remote: f.name + ".gz" }));
}

/** The files of each split: images, then labels. */
type SplitFiles = Record<"train" | "test", readonly { name: string; sha256: string[] }[]>;

/**
 * Reads the IDX pair of the split `options.train` picks: images `[N, 1, 28, 28]` uint8 and
 * labels `[N]` uint8. When files are missing, the other split's missing files are named too.
 */
async function loadIdxPair(
  source: FileSource,
  splits: SplitFiles,
  options: FileDatasetOptions,
): Promise<{ images: Uint8Array; labels: Uint8Array; n: number }> {
  const train = options.train !== false;
  const files = withRemote(train ? splits.train : splits.test);
  const others = withRemote(train ? splits.test : splits.train);
  const [imagesPath, labelsPath] = await locateFiles(source, files, options, others);
  const imgCtx = { dataset: source.dataset, path: imagesPath };
  const lblCtx = { dataset: source.dataset, path: labelsPath };
  const images = parseIdx(await readMaybeGzip(imagesPath, source.dataset), [-1, 28, 28], imgCtx);
  const labels = parseIdx(await readMaybeGzip(labelsPath, source.dataset), [-1], lblCtx);
  if (images.shape[0] !== labels.shape[0]) {
    throw new Deno.errors.InvalidData(
      `${source.dataset}: ${imagesPath} has ${images.shape[0]} images but ${labelsPath} has ` +
        `${labels.shape[0]} labels`,
    );
  }
  checkLabels(labels.data, 10, lblCtx);
  return { images: images.data, labels: labels.data, n: images.shape[0] };
}

/** Options of {@linkcode ImageDataset}. */
export interface ImageDatasetOptions extends FileDatasetOptions {
  /** The shape of one image, `[C, H, W]`. */
  imageShape: readonly number[];
  /** Makes the transform used when `transform` is undefined (none when omitted). */
  defaultTransform?: () => TransformLike;
}

/**
 * An image classification dataset: uint8 images `[N, C, H, W]` and uint8 labels `[N]`, with
 * a default transform applied unless `transform` is given (null for the raw images). The base
 * of {@linkcode MNIST}, {@linkcode FashionMNIST}, {@linkcode CIFAR10} and {@linkcode CIFAR100}.
 *
 * @example
 * ```ts
 * import { ImageDataset } from "./datasets.ts";
 * const ds = new ImageDataset(new Uint8Array(8), new Uint8Array([0, 1]), { imageShape: [1, 2, 2] });
 * console.log(ds.get(1)[0].shape); // [1, 2, 2]
 * ```
 */
export class ImageDataset extends ArrayDataset {
  /** Whether this is the training split. */
  readonly train: boolean;

  /** Wraps `images` (`labels.length` images of `options.imageShape`) and `labels`. */
  constructor(images: Uint8Array, labels: Uint8Array, options: ImageDatasetOptions) {
    checkLoaded(new.target.name, images, labels);
    if (options?.imageShape === undefined) {
      throw new TypeError(`${new.target.name}: options.imageShape ([C, H, W]) is required`);
    }
    const n = labels.length;
    const { imageShape, defaultTransform, ...rest } = options;
    super({ data: images, shape: [n, ...imageShape] }, { data: labels, shape: [n] }, {
      ...rest,
      transform: rest.transform === undefined ? defaultTransform?.() : rest.transform,
    });
    this.train = options.train ?? true;
  }
}

/**
 * Throws a TypeError unless `images` and `labels` are Uint8Arrays: the file-backed datasets
 * are made by their async `load()` (a constructor cannot await), which a DeZero user writing
 * `new MNIST({ train: true })` cannot guess.
 */
function checkLoaded(name: string, images: unknown, labels: unknown): void {
  if (images instanceof Uint8Array && labels instanceof Uint8Array) return;
  const what = (v: unknown) =>
    v === null || v === undefined
      ? String(v)
      : typeof v === "object"
      ? (v.constructor?.name ?? "object")
      : typeof v;
  const hint = name === "ImageDataset"
    ? ""
    : `load the files with \`await ${name}.load({ train, root })\` (loading is async); `;
  throw new TypeError(
    `${name}: ${hint}the constructor wraps already-loaded (images: Uint8Array, labels: ` +
      `Uint8Array, options), got (${what(images)}, ${what(labels)})`,
  );
}

/**
 * MNIST handwritten digits: `x` is an image `[1, 28, 28]` (uint8; the default transform
 * flattens it to float32 `[784]` in [0, 1], as DeZero's), `t` the digit 0–9. 60000 training
 * and 10000 test samples, read from `<root>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte`
 * (raw or `.gz`). Pass `transform: null` for the raw images.
 *
 * @example
 * ```ts ignore
 * import { MNIST } from "./datasets.ts";
 * const train = await MNIST.load({ train: true, root: "../shared/data" });
 * console.log(train.length, train.get(0)[0].shape); // 60000 [784]
 * ```
 */
export class MNIST extends ImageDataset {
  /** Wraps already-loaded images `[N, 1, 28, 28]` and labels `[N]`; use {@linkcode MNIST.load}. */
  constructor(images: Uint8Array, labels: Uint8Array, options: FileDatasetOptions = {}) {
    super(images, labels, {
      ...options,
      imageShape: [1, 28, 28],
      defaultTransform: defaultImageTransform,
    });
  }

  /** Loads the training (default) or test split, downloading it where allowed. */
  static async load(options: FileDatasetOptions = {}): Promise<MNIST> {
    const { images, labels } = await loadIdxPair(MNIST_SOURCE, MNIST_FILES, options);
    return new MNIST(images, labels, options);
  }

  /** Class names by label. */
  static labels(): string[] {
    return Array.from({ length: 10 }, (_, i) => String(i));
  }
}

/**
 * Fashion-MNIST (Zalando's clothing images): the same format and shapes as {@linkcode MNIST},
 * read from `<root>/fashion-mnist/`.
 *
 * @example
 * ```ts ignore
 * import { FashionMNIST } from "./datasets.ts";
 * const test = await FashionMNIST.load({ train: false });
 * console.log(FashionMNIST.labels()[test.get(0)[1].data[0]]);
 * ```
 */
export class FashionMNIST extends ImageDataset {
  /** Wraps already-loaded images `[N, 1, 28, 28]` and labels `[N]`; use {@linkcode FashionMNIST.load}. */
  constructor(images: Uint8Array, labels: Uint8Array, options: FileDatasetOptions = {}) {
    super(images, labels, {
      ...options,
      imageShape: [1, 28, 28],
      defaultTransform: defaultImageTransform,
    });
  }

  /** Loads the training (default) or test split, downloading it where allowed. */
  static async load(options: FileDatasetOptions = {}): Promise<FashionMNIST> {
    const { images, labels } = await loadIdxPair(FASHION_SOURCE, FASHION_FILES, options);
    return new FashionMNIST(images, labels, options);
  }

  /** Class names by label. */
  static labels(): string[] {
    return [
      "T-shirt/top",
      "Trouser",
      "Pullover",
      "Dress",
      "Coat",
      "Sandal",
      "Shirt",
      "Sneaker",
      "Bag",
      "Ankle boot",
    ];
  }
}

// ------------------------------------------------------------------ CIFAR

/**
 * DeZero's default CIFAR transform: to float32 and scale to [0, 1] (images stay `[3, 32, 32]`).
 */
function defaultCifarTransform(): TransformLike {
  return new Compose([new ToFloat(), new Normalize(0, 255)]);
}

/** Reads CIFAR binary files (any of them may be gzip) and concatenates their records. */
async function loadCifar(
  source: FileSource,
  names: readonly string[],
  labelBytes: 1 | 2,
  numClasses: readonly number[],
  options: FileDatasetOptions,
): Promise<{ images: Uint8Array; labels: Uint8Array[] }> {
  const paths = await locateFiles(source, names.map((name) => ({ name })), options);
  const parts = [];
  for (const path of paths) {
    const bytes = await readMaybeGzip(path, source.dataset);
    parts.push(parseCifar(bytes, labelBytes, numClasses, { dataset: source.dataset, path }));
  }
  if (parts.length === 1) return parts[0];
  const n = parts.reduce((a, p) => a + p.n, 0);
  const images = new Uint8Array(n * 3072);
  const labels = Array.from({ length: labelBytes }, () => new Uint8Array(n));
  let off = 0;
  for (const p of parts) {
    images.set(p.images, off * 3072);
    p.labels.forEach((l, k) => labels[k].set(l, off));
    off += p.n;
  }
  return { images, labels };
}

const CIFAR10_SOURCE: FileSource = {
  dataset: "CIFAR10",
  folder: "cifar10",
  subfolders: ["cifar-10-batches-bin"],
  mirrors: [],
  homepage: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz (the files in its " +
    "cifar-10-batches-bin/ folder)",
};

/**
 * CIFAR-10: 32×32 colour images `[3, 32, 32]` (uint8; the default transform makes them float32
 * in [0, 1]) in 10 classes; 50000 training and 10000 test samples, read from the binary
 * version's files `<root>/cifar10/data_batch_{1..5}.bin` and `test_batch.bin` (raw or `.gz`; also found in
 * `cifar10/cifar-10-batches-bin/`, where the archive unpacks them).
 * No automatic download: the error names the files to fetch.
 *
 * @example
 * ```ts ignore
 * import { CIFAR10 } from "./datasets.ts";
 * const test = await CIFAR10.load({ train: false });
 * console.log(test.get(0)[0].shape); // [3, 32, 32]
 * ```
 */
export class CIFAR10 extends ImageDataset {
  /** Wraps already-loaded images `[N, 3, 32, 32]` and labels `[N]`; use {@linkcode CIFAR10.load}. */
  constructor(images: Uint8Array, labels: Uint8Array, options: FileDatasetOptions = {}) {
    super(images, labels, {
      ...options,
      imageShape: [3, 32, 32],
      defaultTransform: defaultCifarTransform,
    });
  }

  /** Loads the training (default) or test split. */
  static async load(options: FileDatasetOptions = {}): Promise<CIFAR10> {
    const names = options.train === false
      ? ["test_batch.bin"]
      : [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
    const { images, labels } = await loadCifar(CIFAR10_SOURCE, names, 1, [10], options);
    return new CIFAR10(images, labels[0], options);
  }

  /** Class names by label. */
  static labels(): string[] {
    return [
      "airplane",
      "automobile",
      "bird",
      "cat",
      "deer",
      "dog",
      "frog",
      "horse",
      "ship",
      "truck",
    ];
  }
}

const CIFAR100_SOURCE: FileSource = {
  dataset: "CIFAR100",
  folder: "cifar100",
  subfolders: ["cifar-100-binary"],
  mirrors: [],
  homepage: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz (the files in its " +
    "cifar-100-binary/ folder)",
};

/** Options of {@linkcode CIFAR100}. */
export interface CIFAR100Options extends FileDatasetOptions {
  /** Which label to use as `t`: the 100 fine classes (default) or the 20 coarse superclasses. */
  labelType?: "fine" | "coarse";
}

/**
 * CIFAR-100: like {@linkcode CIFAR10} with 100 fine classes (or 20 coarse ones), read from
 * `<root>/cifar100/train.bin` and `test.bin` (raw or `.gz`).
 *
 * @example
 * ```ts ignore
 * import { CIFAR100 } from "./datasets.ts";
 * const test = await CIFAR100.load({ train: false, labelType: "coarse" });
 * ```
 */
export class CIFAR100 extends ImageDataset {
  /** The label used as `t`. */
  readonly labelType: "fine" | "coarse";

  /** Wraps already-loaded images `[N, 3, 32, 32]` and labels `[N]`; use {@linkcode CIFAR100.load}. */
  constructor(images: Uint8Array, labels: Uint8Array, options: CIFAR100Options = {}) {
    super(images, labels, {
      ...options,
      imageShape: [3, 32, 32],
      defaultTransform: defaultCifarTransform,
    });
    this.labelType = options.labelType ?? "fine";
  }

  /** Loads the training (default) or test split. */
  static async load(options: CIFAR100Options = {}): Promise<CIFAR100> {
    const labelType = options.labelType ?? "fine";
    if (labelType !== "fine" && labelType !== "coarse") {
      throw new RangeError(`CIFAR100: labelType must be "fine" or "coarse", got ${labelType}`);
    }
    const names = [options.train === false ? "test.bin" : "train.bin"];
    const { images, labels } = await loadCifar(CIFAR100_SOURCE, names, 2, [20, 100], options);
    return new CIFAR100(images, labels[labelType === "coarse" ? 0 : 1], options);
  }

  /** Class names by label (`"fine"` by default, or `"coarse"`). */
  static labels(labelType: "fine" | "coarse" = "fine"): string[] {
    return (labelType === "coarse" ? CIFAR100_COARSE : CIFAR100_FINE).split(" ");
  }
}

const CIFAR100_COARSE = "aquatic_mammals fish flowers food_containers fruit_and_vegetables " +
  "household_electrical_devices household_furniture insects large_carnivores " +
  "large_man-made_outdoor_things large_natural_outdoor_scenes large_omnivores_and_herbivores " +
  "medium_mammals non-insect_invertebrates people reptiles small_mammals trees vehicles_1 vehicles_2";

const CIFAR100_FINE = "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl " +
  "boy bridge bus butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud " +
  "cockroach couch crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster " +
  "house kangaroo keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle " +
  "mountain mouse mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree " +
  "plain plate poppy porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew " +
  "skunk skyscraper snail snake spider squirrel streetcar sunflower sweet_pepper table tank " +
  "telephone television tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf " +
  "woman worm";

// ------------------------------------------------------------------ Shakespeare

const SHAKESPEARE_SOURCE: FileSource = {
  dataset: "Shakespeare",
  folder: "shakespeare",
  mirrors: [],
  homepage: "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/" +
    "input.txt (any plain text works)",
};

/**
 * Character-level text (DeZero's `Shakespear`): the file `<root>/shakespeare/input.txt`
 * (raw or `.gz`) as character ids, numbered in order of first appearance. Sample `i` is the
 * id of character `i` (`x`, int32 scalar) and its target the id of character `i + 1`. Use it
 * with {@linkcode SeqDataLoader}. `charToId` / `idToChar` map between ids and characters.
 *
 * @example
 * ```ts
 * import { Shakespeare } from "./datasets.ts";
 * const ds = Shakespeare.fromText("to be or not to be");
 * console.log(ds.vocabSize, ds.decode([ds.get(0)[0].data[0]])); // 7 t
 * ```
 */
export class Shakespeare extends ArrayDataset {
  /** Character to id. */
  readonly charToId: ReadonlyMap<string, number>;
  /** Id to character. */
  readonly idToChar: readonly string[];

  /** Wraps character ids and their vocabulary; use {@linkcode Shakespeare.load} or `fromText`. */
  constructor(ids: Int32Array, idToChar: readonly string[], options: DatasetOptions = {}) {
    if (ids.length < 2) {
      throw new RangeError(`Shakespeare: the text needs at least 2 characters, got ${ids.length}`);
    }
    const n = ids.length - 1;
    super({ data: ids.subarray(0, n), shape: [n] }, { data: ids.subarray(1), shape: [n] }, options);
    this.idToChar = idToChar;
    this.charToId = new Map(idToChar.map((c, i) => [c, i]));
  }

  /** Number of distinct characters. */
  get vocabSize(): number {
    return this.idToChar.length;
  }

  /** The dataset of any text (ids in order of first appearance). */
  static fromText(text: string, options: DatasetOptions = {}): Shakespeare {
    const chars = Array.from(text);
    const charToId = new Map<string, number>();
    const ids = new Int32Array(chars.length);
    chars.forEach((c, i) => {
      let id = charToId.get(c);
      if (id === undefined) {
        id = charToId.size;
        charToId.set(c, id);
      }
      ids[i] = id;
    });
    return new Shakespeare(ids, [...charToId.keys()], options);
  }

  /** Reads `<root>/shakespeare/input.txt` (or `input.txt.gz`). */
  static async load(options: DatasetOptions & DataRootOptions = {}): Promise<Shakespeare> {
    const [path] = await locateFiles(SHAKESPEARE_SOURCE, [{ name: "input.txt" }], options);
    const text = new TextDecoder().decode(await readMaybeGzip(path, "Shakespeare"));
    return Shakespeare.fromText(text, options);
  }

  /** Ids to text. */
  decode(ids: Iterable<number>): string {
    let s = "";
    for (const id of ids) s += this.idToChar[id] ?? "\uFFFD";
    return s;
  }

  /** Text to ids (throws a RangeError on a character outside the vocabulary). */
  encode(text: string): Int32Array {
    return Int32Array.from(Array.from(text), (c) => {
      const id = this.charToId.get(c);
      if (id === undefined) {
        throw new RangeError(
          `Shakespeare.encode: character ${JSON.stringify(c)} is not in the vocabulary`,
        );
      }
      return id;
    });
  }
}
