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

/** The visible text of a terminal bar's last redraw (without `\r` and the erase sequence). */
function lastLine(text: string): string {
  return text.split("\r").at(-1)!.replace("\x1b[K", "").replace("\n", "");
}

Deno.test("ProgressBar in a terminal fits the line in the columns: the bar narrows, then goes", () => {
  const draw = (columns: number | undefined, label = "epoch 1/3") => {
    const out = capture();
    let t = 0;
    const bar = new ProgressBar({
      total: 938,
      label,
      writer: out,
      isTerminal: true,
      now: () => (t += 1000),
      ...(columns === undefined ? {} : { columns }),
    });
    bar.update(240, { loss: "0.5172", acc: "0.8512" }); // what train.ts --model cnn draws
    return lastLine(out.text());
  };
  // A writer that is not the console is taken to be 80 columns wide: the line keeps the last
  // column free (a character there makes some terminals wrap, and a wrapped line cannot be
  // redrawn in place), so the 30-character bar narrows to fit.
  const line80 = draw(undefined);
  assertEquals(
    line80,
    "epoch 1/3 [=====>               ] 240/938  25% 2.0s<5.8s loss=0.5172 acc=0.8512",
  );
  assertEquals(line80.length, 79);
  // Wide terminals get the full bar; narrow ones a narrower bar, then none, then a cut line.
  assertMatch(draw(200), /^epoch 1\/3 \[={7}>\s{22}\] 240\/938/);
  assertMatch(draw(70), /^epoch 1\/3 \[=+>\s+\] 240\/938/);
  assertEquals(draw(60), "epoch 1/3 240/938  25% 2.0s<5.8s loss=0.5172 acc=0.8512");
  assertEquals(draw(30), "epoch 1/3 240/938  25% 2.0s<…"); // 29 characters
  for (let columns = 1; columns <= 120; columns++) {
    const line = draw(columns, "a long label: épreuve 1/3");
    assert([...line].length < Math.max(2, columns), `${columns} columns: ${JSON.stringify(line)}`);
  }
});

Deno.test("ProgressBar piped lines are not cut to a terminal's width", () => {
  const out = capture();
  const bar = new ProgressBar({
    total: 2,
    label: "x".repeat(100),
    writer: out,
    isTerminal: false,
    now: () => 0,
  });
  bar.finish();
  assertEquals(out.text(), `${"x".repeat(100)} 0/2   0% 0.0s\n`);
});
