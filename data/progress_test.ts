import { assert, assertEquals, assertMatch } from "./_test_util.ts";
import { progress, ProgressBar, type ProgressWriter } from "./progress.ts";

function capture(): ProgressWriter & { text(): string } {
  const chunks: Uint8Array[] = [];
  return {
    writeSync(p: Uint8Array) {
      chunks.push(p.slice());
      return p.length;
    },
    text: () => new TextDecoder().decode(new Uint8Array(chunks.flatMap((c) => [...c]))),
  };
}

Deno.test("ProgressBar piped prints a few plain lines and a final one, no control characters", () => {
  const out = capture();
  let t = 0;
  const bar = new ProgressBar({
    total: 100,
    label: "epoch 1/3",
    writer: out,
    isTerminal: false,
    now: () => t,
  });
  for (let i = 0; i < 100; i++) {
    t += 10;
    bar.update(1, { loss: 2 / (i + 1) });
  }
  bar.finish({ loss: 0.0213, acc: 0.9876 });
  const lines = out.text().split("\n").filter(Boolean);
  assertEquals(lines.length, 4); // 25%, 50%, 75%, then the final line
  const text = out.text();
  assert(
    !text.includes("\r") && !text.includes("\x1b"),
    "piped output must not contain \\r or escapes",
  );
  assertMatch(lines[0], /^epoch 1\/3 25\/100 {2}25% 0\.3s<0\.8s loss=0\.0800$/);
  assertEquals(lines[3], "epoch 1/3 100/100 100% 1.0s loss=0.0213 acc=0.9876");
  bar.finish(); // idempotent
  assertEquals(out.text().split("\n").filter(Boolean).length, 4);
});

Deno.test("ProgressBar in a terminal redraws one line in place with \\r", () => {
  const out = capture();
  let t = 0;
  const bar = new ProgressBar({
    total: 4,
    label: "train",
    writer: out,
    isTerminal: true,
    width: 8,
    now: () => t,
    intervalMs: 0,
  });
  for (let i = 0; i < 4; i++) {
    t += 500;
    bar.update();
  }
  bar.finish();
  const text = out.text();
  assertEquals(text.split("\n").length, 2); // a single newline, at the end
  assertEquals(text.split("\r").length - 1, 5);
  assert(text.includes("\rtrain [====>   ] 2/4  50% 1.0s<1.0s\x1b[K"), JSON.stringify(text));
  assert(text.endsWith("\rtrain [========] 4/4 100% 2.0s\x1b[K\n"), JSON.stringify(text));
});

Deno.test("ProgressBar formats bytes and unknown totals", () => {
  const bar = new ProgressBar({
    total: 0,
    unit: "bytes",
    writer: capture(),
    isTerminal: false,
    now: () => 0,
  });
  bar.update(3 * 1024 * 1024);
  assertEquals(bar.render(), "3.0MiB 0.0s");
});

Deno.test("progress() wraps an iterable, shows postfix values and finishes on break", () => {
  const out = capture();
  const items = progress([1, 2, 3, 4], {
    label: "x",
    writer: out,
    isTerminal: false,
    now: () => 0,
  });
  for (const v of items) {
    items.bar.set({ v });
    if (v === 3) break;
  }
  assertEquals(items.bar.count, 3); // the item the loop broke on was consumed
  const lines = out.text().split("\n").filter(Boolean);
  assertEquals(lines, [
    "x 1/4  25% 0.0s<0.0s v=1",
    "x 2/4  50% 0.0s<0.0s v=2",
    "x 3/4  75% 0.0s v=3",
  ]);
});
