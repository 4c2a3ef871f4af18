/**
 * A character-level language model: `EmbedID → LSTM → Linear` learns to
 * continue a few of Shakespeare's sonnets (shipped below as a string, public
 * domain) one character at a time, then writes text of its own. The text goes
 * through `datasets.Shakespeare.fromText` (character ids) and a
 * `SeqDataLoader` (parallel streams through the text), trained with
 * truncated backpropagation through time as in the book's step 60.
 *
 * With the real corpus, put Karpathy's `input.txt` in `<data root>/shakespeare/`
 * and use `await datasets.Shakespeare.load()` instead.
 *
 * Run: `deno run -A examples/char_lstm.ts [--gpu]`
 *
 * @module
 */
import {
  datasets,
  type Device,
  F,
  Generator,
  manualSeed,
  noGrad,
  SeqDataLoader,
  tensor,
  type Variable,
} from "../mod.ts";
import { L, Model, optimizers } from "../nn/mod.ts";
import { initGpu } from "../shaders/mod.ts";
import { runExample } from "./_args.ts";

/** Sonnets 18, 116 and the opening of 29 (Shakespeare, 1609; public domain). */
export const SONNETS = `Shall I compare thee to a summer's day?
Thou art more lovely and more temperate:
Rough winds do shake the darling buds of May,
And summer's lease hath all too short a date;
Sometime too hot the eye of heaven shines,
And often is his gold complexion dimm'd;
And every fair from fair sometime declines,
By chance or nature's changing course untrimm'd;
But thy eternal summer shall not fade,
Nor lose possession of that fair thou ow'st;
Nor shall death brag thou wander'st in his shade,
When in eternal lines to time thou grow'st:
So long as men can breathe or eyes can see,
So long lives this, and this gives life to thee.

Let me not to the marriage of true minds
Admit impediments. Love is not love
Which alters when it alteration finds,
Or bends with the remover to remove.
O no! it is an ever-fixed mark
That looks on tempests and is never shaken;
It is the star to every wand'ring bark,
Whose worth's unknown, although his height be taken.
Love's not Time's fool, though rosy lips and cheeks
Within his bending sickle's compass come;
Love alters not with his brief hours and weeks,
But bears it out even to the edge of doom.
If this be error and upon me prov'd,
I never writ, nor no man ever lov'd.

When, in disgrace with fortune and men's eyes,
I all alone beweep my outcast state,
And trouble deaf heaven with my bootless cries,
And look upon myself and curse my fate,
`;

/** Embedding → LSTM → scores over the vocabulary, one character per call. */
export class CharLSTM extends Model {
  /** Character id → vector. */
  embed: L.EmbedID;
  /** The recurrent core. */
  lstm: L.LSTM;
  /** Hidden state → next-character scores. */
  fc: L.Linear;

  /** A model over `vocabSize` characters. */
  constructor(vocabSize: number, { embedSize = 32, hidden = 128 } = {}) {
    super();
    this.embed = new L.EmbedID(vocabSize, embedSize);
    this.lstm = new L.LSTM(hidden, { inSize: embedSize });
    this.fc = new L.Linear(vocabSize, { inSize: hidden });
  }

  /** Forgets the hidden state. */
  resetState(): void {
    this.lstm.resetState();
  }

  /** Ids `[N]` → scores `[N, vocab]`. */
  forward(ids: Variable): Variable {
    return this.fc.apply(this.lstm.apply(this.embed.apply(ids)));
  }
}

/** Options of {@linkcode charLstm}. */
export interface CharLstmOptions {
  /** The training text (the sonnets above). */
  text?: string;
  /** Epochs over the text (40). */
  epochs?: number;
  /** Parallel streams per batch (16). */
  batchSize?: number;
  /** Steps per truncated backpropagation (25). */
  bpttLength?: number;
  /** Adam's learning rate (0.01). */
  lr?: number;
  /** Characters to generate after training (300). */
  sampleLength?: number;
  /** The text the sample starts from ("Shall I "). */
  prime?: string;
  /** Softmax temperature of the sampling (0.6; lower is more conservative). */
  temperature?: number;
  /** Where to train (`"gpu"` needs `await initGpu()` first). */
  device?: Device;
  /** Called with each epoch's mean loss (nats per character). */
  onEpoch?: (epoch: number, loss: number) => void;
}

/** What {@linkcode charLstm} returns. */
export interface CharLstmResult {
  /** Mean cross entropy per character of each epoch. */
  losses: number[];
  /** The generated text (starting with the prime). */
  sample: string;
  /** The vocabulary size. */
  vocabSize: number;
}

/** Trains on `text` and samples from the model. */
export async function charLstm(
  {
    text = SONNETS,
    epochs = 40,
    batchSize = 16,
    bpttLength = 25,
    lr = 0.01,
    sampleLength = 300,
    prime = "Shall I ",
    temperature = 0.6,
    device = "cpu",
    onEpoch,
  }: CharLstmOptions = {},
): Promise<CharLstmResult> {
  manualSeed(0);
  const data = datasets.Shakespeare.fromText(text);
  const loader = new SeqDataLoader(data, batchSize, { device, autoDispose: false });
  const model = new CharLSTM(data.vocabSize);
  if (device === "gpu") model.toGpu();
  const optimizer = new optimizers.Adam({ lr }).setup(model);

  const losses: number[] = [];
  for (let epoch = 1; epoch <= epochs; epoch++) {
    model.resetState();
    let loss: Variable | null = null;
    let batches: Variable[] = [];
    let sum = 0, count = 0;
    for (const [x, t] of loader) {
      const l = F.softmaxCrossEntropy(model.apply(x), t);
      loss = loss === null ? l : loss.add(l);
      batches.push(x, t);
      count++;
      if (count % bpttLength === 0 || count === loader.length) {
        model.cleargrads();
        loss.backward();
        loss.unchainBackward();
        optimizer.update();
        sum += await loss.item();
        loss = null;
        for (const b of batches) b.dispose();
        batches = [];
      }
    }
    losses.push(sum / count);
    onEpoch?.(epoch, sum / count);
  }

  // Sampling: feed the prime, then draw each next character from softmax(scores / temperature).
  const g = new Generator(1);
  model.resetState();
  const ids = Array.from(data.encode(prime));
  let probs: Float32Array | Float64Array | Int32Array | null = null;
  const step = async (id: number) => {
    const p = noGrad(() =>
      F.softmax(model.apply(tensor([id], { dtype: "int32", device })).div(temperature))
    );
    probs = await p.data();
    p.dispose();
  };
  for (const id of ids) await step(id);
  for (let i = 0; i < sampleLength; i++) {
    const next = draw(probs!, g);
    ids.push(next);
    await step(next);
  }
  return { losses, sample: data.decode(ids), vocabSize: data.vocabSize };
}

/** An index drawn with probability `p[i]`. */
function draw(p: ArrayLike<number>, g: Generator): number {
  let u = g.random();
  for (let i = 0; i < p.length; i++) {
    u -= p[i];
    if (u < 0) return i;
  }
  return p.length - 1;
}

/** Trains, printing the loss every 5 epochs, then prints a sample. */
export async function main(args: readonly string[] = Deno.args): Promise<void> {
  const device: Device = args.includes("--gpu") ? "gpu" : "cpu";
  if (device === "gpu") await initGpu();
  console.log(
    `Character LSTM (EmbedID 32, LSTM 128) on ${SONNETS.length} characters of sonnets, on the ${device}`,
  );
  const start = performance.now();
  const r = await charLstm({
    device,
    onEpoch: (e, loss) => {
      if (e === 1 || e % 5 === 0) {
        console.log(`epoch ${String(e).padStart(2)}: ${loss.toFixed(3)} nats per character`);
      }
    },
  });
  console.log(`\n--- sample (temperature 0.6) ---\n${r.sample}\n---`);
  console.log(`${((performance.now() - start) / 1000).toFixed(1)} s`);
}

if (import.meta.main) {
  await runExample(main, { usage: "deno run -A examples/char_lstm.ts [--gpu]", flags: ["--gpu"] });
}
