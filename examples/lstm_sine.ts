/**
 * An LSTM learns the noisy sine curve and predicts the cosine one step ahead
 * (the book's step 60, "BetterRNN"): `LSTM(100)` and `Linear(1)`, batches of
 * 30 parallel streams from a `SeqDataLoader`, truncated backpropagation
 * through time every 30 steps, Adam. The training code is shared with
 * `examples/rnn_sine.ts` (step 59), which uses a plain RNN.
 *
 * Run: `deno run -A examples/lstm_sine.ts [--gpu]`
 *
 * @module
 */
import { runSineExample, sineSeq, type SineSeqOptions, type SineSeqResult } from "./rnn_sine.ts";
import { runExample } from "./_args.ts";

/** Trains the LSTM version (see {@linkcode sineSeq} for the options). */
export function lstmSine(options: Omit<SineSeqOptions, "cell"> = {}): Promise<SineSeqResult> {
  return sineSeq({ ...options, cell: "lstm" });
}

if (import.meta.main) {
  await runExample((args) => runSineExample("lstm", args), {
    usage: "deno run -A examples/lstm_sine.ts [--gpu]",
    flags: ["--gpu"],
  });
}
