import { assert, assertEquals, assertMatch, assertRejects, assertThrows } from "./_test_util.ts";
import {
  CIFAR10,
  CIFAR100,
  FashionMNIST,
  MNIST,
  Shakespeare,
  SinCurve,
  Spiral,
} from "./datasets.ts";
import { locateFiles, sha256Hex } from "./_files.ts";

// ------------------------------------------------------------------ helpers

/** An IDX file of unsigned bytes with `dims`, element i = fill(i). */
function idx(dims: number[], fill: (i: number) => number): Uint8Array {
  const count = dims.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(4 + 4 * dims.length + count);
  const view = new DataView(out.buffer);
  view.setUint32(0, 0x0800 | dims.length);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  for (let i = 0; i < count; i++) out[4 + 4 * dims.length + i] = fill(i);
  return out;
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Writes MNIST-style files for `n` samples under `<root>/<folder>/`. */
async function writeMnist(
  root: string,
  { n = 5, folder = "mnist", prefix = "train", gz = false } = {},
): Promise<void> {
  await Deno.mkdir(`${root}/${folder}`, { recursive: true });
  const images = idx([n, 28, 28], (i) => (i * 7) % 256);
  const labels = idx([n], (i) => i % 10);
  const ext = gz ? ".gz" : "";
  await Deno.writeFile(
    `${root}/${folder}/${prefix}-images-idx3-ubyte${ext}`,
    gz ? await gzip(images) : images,
  );
  await Deno.writeFile(
    `${root}/${folder}/${prefix}-labels-idx1-ubyte${ext}`,
    gz ? await gzip(labels) : labels,
  );
}

/** CIFAR binary records: label bytes then 3072 pixels equal to the record index. */
function cifar(n: number, labels: (i: number) => number[]): Uint8Array {
  const lb = labels(0).length;
  const rec = lb + 3072;
  const out = new Uint8Array(n * rec);
  for (let i = 0; i < n; i++) {
    out.set(labels(i), i * rec);
    out.fill(i % 256, i * rec + lb, (i + 1) * rec);
  }
  return out;
}

// ------------------------------------------------------------------ toy datasets

Deno.test("Spiral() reproduces DeZero's get_spiral points exactly", () => {
  // Reference values from DeZero's get_spiral (NumPy 2.4, np.random.seed(1984) / 2020).
  const train = new Spiral();
  assertEquals(train.length, 300);
  assertEquals(train.data.shape, [300, 2]);
  assertEquals(Array.from(train.data.data.slice(0, 6)), [
    -0.1398138850927353,
    -0.007216573692858219,
    0.37049391865730286,
    0.5820947289466858,
    0.13742630183696747,
    -0.17179642617702484,
  ]);
  assertEquals(Array.from(train.label.data.slice(0, 10)), [1, 1, 2, 0, 1, 2, 0, 0, 1, 2]);
  const test = new Spiral({ train: false });
  assertEquals(Array.from(test.data.data.slice(0, 2)), [0.13246452808380127, 0.13620993494987488]);
  assertEquals(Array.from(test.label.data.slice(0, 10)), [0, 1, 0, 1, 2, 2, 1, 2, 2, 0]);
  // 100 points per class.
  const counts = [0, 0, 0];
  for (const c of train.label.data) counts[c]++;
  assertEquals(counts, [100, 100, 100]);
  const [x, t] = train.get(1);
  assertEquals(x.shape, [2]);
  assertEquals(t.shape, []);
  assert(t.data instanceof Int32Array);
});

Deno.test("SinCurve() matches DeZero's curve with NumPy-seeded noise", () => {
  const train = new SinCurve({ seed: 0 });
  assertEquals(train.length, 999);
  assertEquals(train.data.shape, [999, 1]);
  // np.random.seed(0); np.sin(x) + np.random.uniform(-0.05, 0.05, 1000)
  const close = (a: number, b: number) => Math.abs(a - b) < 1e-7;
  assert(close(train.data.data[0], 0.00488135), `got ${train.data.data[0]}`);
  assert(close(train.data.data[1], 0.02780837), `got ${train.data.data[1]}`);
  // Target i is value i + 1.
  assertEquals(train.get(0)[1].data[0], train.get(1)[0].data[0]);
  const test = new SinCurve({ train: false });
  assertEquals(test.get(0)[0].data[0], 1);
  assert(close(test.get(998)[1].data[0], 1));
});

// ------------------------------------------------------------------ MNIST-style files

Deno.test("MNIST.load() reads raw and gzip IDX files with DeZero's default transform", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeMnist(root, { n: 5 });
    await writeMnist(root, { n: 3, prefix: "t10k", gz: true });
    const train = await MNIST.load({ root });
    assertEquals(train.length, 5);
    const [x, t] = train.get(1);
    assertEquals(x.shape, [784]);
    assert(x.data instanceof Float32Array);
    // Pixel j of image i is ((i·784 + j)·7) mod 256, scaled to [0, 1] in float32.
    assertEquals(x.data[1], Math.fround((785 * 7 % 256) / 255));
    assertEquals(t.data[0], 1);
    const test = await MNIST.load({ root, train: false, transform: null });
    assertEquals(test.length, 3);
    assertEquals(test.data.shape, [3, 1, 28, 28]);
    assertEquals(test.get(2)[0].shape, [1, 28, 28]);
    assert(test.get(2)[0].data instanceof Uint8Array);
    assertEquals(test.get(0)[0].data[3], 21);
    const [bx, bt] = train.getBatch([4, 0]);
    assertEquals(bx.shape, [2, 784]);
    assertEquals(Array.from(bt.data), [4, 0]);
    assertEquals(bx.data[784 + 2], Math.fround(14 / 255));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("MNIST.load() finds files through $DEZERO_DATA", async () => {
  const root = await Deno.makeTempDir();
  const saved = Deno.env.get("DEZERO_DATA");
  try {
    await writeMnist(root, { n: 2, prefix: "t10k" });
    Deno.env.set("DEZERO_DATA", root);
    const test = await MNIST.load({ train: false });
    assertEquals(test.length, 2);
  } finally {
    if (saved === undefined) Deno.env.delete("DEZERO_DATA");
    else Deno.env.set("DEZERO_DATA", saved);
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("FashionMNIST.load() reads <root>/fashion-mnist and names its classes", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeMnist(root, { n: 4, folder: "fashion-mnist", gz: true });
    const ds = await FashionMNIST.load({ root });
    assertEquals(ds.length, 4);
    assertEquals(FashionMNIST.labels()[ds.get(3)[1].data[0]], "Dress");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("MNIST.load() missing files: the error names each file and the folder", async () => {
  const root = await Deno.makeTempDir();
  try {
    const e = await assertRejects(
      () => MNIST.load({ root, download: false }),
      Deno.errors.NotFound,
    );
    assertMatch(e.message, /^MNIST: missing data files in .*\/mnist:/);
    assertMatch(
      e.message,
      /train-images-idx3-ubyte\.gz \(or train-images-idx3-ubyte uncompressed\)/,
    );
    assertMatch(e.message, /train-labels-idx1-ubyte\.gz/);
    assert(e.message.includes(root), e.message);
    assertMatch(e.message, /\$DEZERO_DATA/);
    // Only the missing one is listed.
    await writeMnist(root, { n: 1 });
    await Deno.remove(`${root}/mnist/train-labels-idx1-ubyte`);
    const e2 = await assertRejects(
      () => MNIST.load({ root, download: false }),
      Deno.errors.NotFound,
    );
    assert(!e2.message.includes("train-images"), e2.message);
    assertMatch(e2.message, /train-labels-idx1-ubyte\.gz/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("MNIST.load() missing files: every missing file of both splits is named at once", async () => {
  const root = await Deno.makeTempDir();
  try {
    const e = await assertRejects(
      () => MNIST.load({ root, download: false, rootHint: "--data-root" }),
      Deno.errors.NotFound,
    );
    const listed = e.message.split("\n").filter((l) => l.startsWith("  ")).map((l) => l.trim());
    assertEquals(listed, [
      "train-images-idx3-ubyte.gz (or train-images-idx3-ubyte uncompressed)",
      "train-labels-idx1-ubyte.gz (or train-labels-idx1-ubyte uncompressed)",
      "t10k-images-idx3-ubyte.gz (or t10k-images-idx3-ubyte uncompressed)",
      "t10k-labels-idx1-ubyte.gz (or t10k-labels-idx1-ubyte uncompressed)",
    ]);
    // The caller's name for the root setting, not the library's.
    assertMatch(e.message, /set --data-root or \$DEZERO_DATA to a folder that holds mnist\//);
    assert(!e.message.includes("root option"), e.message);
    // The test split's present files are not listed; the train split's missing ones are.
    await writeMnist(root, { n: 1, prefix: "t10k" });
    await Deno.remove(`${root}/mnist/t10k-labels-idx1-ubyte`);
    const e2 = await assertRejects(
      () => MNIST.load({ root, train: false, download: false }),
      Deno.errors.NotFound,
    );
    assert(!e2.message.includes("t10k-images"), e2.message);
    assertMatch(e2.message, /t10k-labels.*\n.*train-images.*\n.*train-labels/);
    assertMatch(e2.message, /set the root option or \$DEZERO_DATA/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

async function corruptMnist(
  mutate: { images?: (b: Uint8Array) => Uint8Array; labels?: (b: Uint8Array) => Uint8Array },
): Promise<Error> {
  const root = await Deno.makeTempDir();
  try {
    await writeMnist(root, { n: 3 });
    for (const kind of ["images", "labels"] as const) {
      const f = mutate[kind];
      if (!f) continue;
      const path = `${root}/mnist/train-${kind}-idx${kind === "images" ? 3 : 1}-ubyte`;
      await Deno.writeFile(path, f(await Deno.readFile(path)));
    }
    return await assertRejects(() => MNIST.load({ root }), Deno.errors.InvalidData);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("MNIST.load() rejects a wrong magic number, naming the file", async () => {
  const e = await corruptMnist({
    images: (b) => {
      const c = b.slice();
      c[3] = 1; // 0x0801: a labels file where images are expected
      return c;
    },
  });
  assertMatch(
    e.message,
    /^MNIST: file .*train-images-idx3-ubyte has magic number 0x00000801 \(2049\), expected 0x00000803 \(2051/,
  );
});

Deno.test("MNIST.load() rejects wrong dims, truncated and oversized files", async () => {
  const dims = await corruptMnist({
    images: (b) => {
      const c = b.slice();
      new DataView(c.buffer).setUint32(8, 27);
      return c;
    },
  });
  assertMatch(dims.message, /has dims \[3,27,28\], expected \[N,28,28\]/);
  const truncated = await corruptMnist({ images: (b) => b.slice(0, b.length - 10) });
  assertMatch(
    truncated.message,
    /is truncated: 2358 bytes, expected 2368 \(16-byte header \+ 2352 elements/,
  );
  const header = await corruptMnist({ labels: (b) => b.slice(0, 6) });
  assertMatch(header.message, /labels-idx1-ubyte is truncated: 6 bytes, the IDX header needs 8/);
  const trailing = await corruptMnist({ labels: (b) => new Uint8Array([...b, 0]) });
  assertMatch(trailing.message, /has trailing bytes: 12 bytes, expected 11/);
  const label = await corruptMnist({
    labels: (b) => {
      const c = b.slice();
      c[9] = 10;
      return c;
    },
  });
  assertMatch(label.message, /has label 10 at index 1, out of range for 10 classes/);
  const tiny = await corruptMnist({ labels: () => new Uint8Array([0, 0]) });
  assertMatch(tiny.message, /is truncated: 2 bytes, shorter than the 4-byte IDX magic/);
});

Deno.test("MNIST.load() rejects mismatched counts and a truncated gzip file", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeMnist(root, { n: 3 });
    await Deno.writeFile(`${root}/mnist/train-labels-idx1-ubyte`, idx([2], () => 0));
    const e = await assertRejects(() => MNIST.load({ root }), Deno.errors.InvalidData);
    assertMatch(e.message, /has 3 images but .* has 2 labels/);

    await writeMnist(root, { n: 3, prefix: "t10k", gz: true });
    const path = `${root}/mnist/t10k-images-idx3-ubyte.gz`;
    const gz = await Deno.readFile(path);
    await Deno.writeFile(path, gz.slice(0, gz.length >> 1));
    const e2 = await assertRejects(
      () => MNIST.load({ root, train: false }),
      Deno.errors.InvalidData,
    );
    assertMatch(
      e2.message,
      /^MNIST: file .*t10k-images-idx3-ubyte\.gz is not a valid gzip file \(truncated or corrupt\)/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("MNIST.load() reads a multi-member gzip file, as pigz or cat a.gz b.gz make", async () => {
  const root = await Deno.makeTempDir();
  try {
    await writeMnist(root, { n: 3, prefix: "t10k" });
    const path = `${root}/mnist/t10k-images-idx3-ubyte`;
    const raw = await Deno.readFile(path);
    const [a, b] = [await gzip(raw.subarray(0, 1000)), await gzip(raw.subarray(1000))];
    const both = new Uint8Array(a.length + b.length);
    both.set(a);
    both.set(b, a.length);
    await Deno.remove(path);
    await Deno.writeFile(`${path}.gz`, both);
    const ds = await MNIST.load({ root, train: false, transform: null });
    assertEquals(ds.length, 3);
    assertEquals(ds.data.data, raw.subarray(16));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// ------------------------------------------------------------------ CIFAR

Deno.test("CIFAR10.load() concatenates the five batches, raw or gzip, in the archive folder too", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dir = `${root}/cifar10/cifar-10-batches-bin`;
    await Deno.mkdir(dir, { recursive: true });
    for (let b = 1; b <= 5; b++) {
      const bytes = cifar(2, (i) => [(b * 2 + i) % 10]);
      await Deno.writeFile(
        `${dir}/data_batch_${b}.bin${b % 2 ? ".gz" : ""}`,
        b % 2 ? await gzip(bytes) : bytes,
      );
    }
    const train = await CIFAR10.load({ root, transform: null });
    assertEquals(train.length, 10);
    assertEquals(train.data.shape, [10, 3, 32, 32]);
    assertEquals(Array.from(train.label.data), [2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
    // Record 1 of batch 3 (sample 5) has pixels equal to 1.
    assertEquals(train.get(5)[0].data[3071], 1);
    assertEquals(train.get(4)[0].data[0], 0);
    const scaled = await CIFAR10.load({ root });
    const x = scaled.get(5)[0];
    assertEquals(x.shape, [3, 32, 32]);
    assertEquals(x.data[0], Math.fround(1 / 255));
    assertEquals(CIFAR10.labels()[train.get(1)[1].data[0]], "cat");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("CIFAR100.load() picks fine or coarse labels", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/cifar100`);
    await Deno.writeFile(`${root}/cifar100/test.bin`, cifar(3, (i) => [i + 10, 90 + i]));
    const fine = await CIFAR100.load({ root, train: false });
    assertEquals(Array.from(fine.label.data), [90, 91, 92]);
    const coarse = await CIFAR100.load({ root, train: false, labelType: "coarse" });
    assertEquals(Array.from(coarse.label.data), [10, 11, 12]);
    assertEquals(CIFAR100.labels().length, 100);
    assertEquals(CIFAR100.labels("coarse").length, 20);
    assertEquals(CIFAR100.labels()[90], "train");
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("CIFAR loaders reject partial records, bad labels and missing files", async () => {
  const root = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${root}/cifar10`);
    await Deno.writeFile(`${root}/cifar10/test_batch.bin`, cifar(2, () => [1]).slice(0, 5000));
    const e = await assertRejects(
      () => CIFAR10.load({ root, train: false }),
      Deno.errors.InvalidData,
    );
    assertMatch(
      e.message,
      /^CIFAR10: file .*test_batch\.bin has 5000 bytes, not a whole number of 3073-byte records/,
    );
    await Deno.writeFile(`${root}/cifar10/test_batch.bin`, cifar(2, (i) => [i * 12]));
    const e2 = await assertRejects(
      () => CIFAR10.load({ root, train: false }),
      Deno.errors.InvalidData,
    );
    assertMatch(e2.message, /record 1 has label 12, out of range for 10 classes/);
    const e3 = await assertRejects(() => CIFAR10.load({ root }), Deno.errors.NotFound);
    assertMatch(e3.message, /data_batch_1\.bin\.gz \(or data_batch_1\.bin uncompressed\)/);
    assertMatch(e3.message, /data_batch_5\.bin/);
    assertMatch(e3.message, /cifar-10-binary\.tar\.gz/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// ------------------------------------------------------------------ Shakespeare

Deno.test("Shakespeare numbers characters by first appearance and pairs each with the next", async () => {
  const ds = Shakespeare.fromText("hello");
  assertEquals(ds.idToChar, ["h", "e", "l", "o"]);
  assertEquals(ds.length, 4);
  assertEquals(Array.from(ds.data.data), [0, 1, 2, 2]);
  assertEquals(Array.from(ds.label.data), [1, 2, 2, 3]);
  assertEquals(ds.decode(ds.encode("hole")), "hole");
  assertThrows(() => ds.encode("x"), RangeError, 'character "x" is not in the vocabulary');

  const root = await Deno.makeTempDir();
  try {
    const missing = await assertRejects(() => Shakespeare.load({ root }), Deno.errors.NotFound);
    assertMatch(
      missing.message,
      /Shakespeare: missing data files in .*\/shakespeare:\n {2}input\.txt\.gz \(or input\.txt uncompressed\)/,
    );
    await Deno.mkdir(`${root}/shakespeare`);
    await Deno.writeTextFile(`${root}/shakespeare/input.txt`, "First Citizen:\nBefore we proceed");
    const loaded = await Shakespeare.load({ root });
    assertEquals(loaded.decode(loaded.data.data), "First Citizen:\nBefore we procee");
    assertEquals(loaded.get(0)[1].data[0], loaded.charToId.get("i"));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

// ------------------------------------------------------------------ downloads

Deno.test("locateFiles() downloads a missing file, verifies its SHA-256 and writes it atomically", async () => {
  const payload = await gzip(idx([2], (i) => i));
  const good = await sha256Hex(payload);
  const requests: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, (req) => {
    requests.push(new URL(req.url).pathname);
    return new Response(payload as Uint8Array<ArrayBuffer>);
  });
  const root = await Deno.makeTempDir();
  try {
    const source = {
      dataset: "Toy",
      folder: "toy",
      mirrors: [`http://127.0.0.1:${server.addr.port}/files/`],
      homepage: "nowhere",
    };
    const bad = await assertRejects(
      () =>
        locateFiles(source, [{ name: "a", remote: "a.gz", sha256: ["0".repeat(64)] }], { root }),
      Deno.errors.NotFound,
    );
    assertMatch(
      bad.message,
      /^Toy: could not download a\.gz:\n.*SHA-256 [0-9a-f]{64} does not match the expected 0{64}/,
    );
    assertEquals(
      [...Deno.readDirSync(root)].flatMap((d) => [...Deno.readDirSync(`${root}/${d.name}`)]),
      [],
    );

    const [path] = await locateFiles(source, [{ name: "a", remote: "a.gz", sha256: [good] }], {
      root,
    });
    assertEquals(path, `${root}/toy/a.gz`);
    assertEquals(await Deno.readFile(path), payload);
    assertEquals(requests, ["/files/a.gz", "/files/a.gz"]);
    // Present now: no second request.
    await locateFiles(source, [{ name: "a", remote: "a.gz", sha256: [good] }], { root });
    assertEquals(requests.length, 2);
    assertEquals([...Deno.readDirSync(`${root}/toy`)].map((d) => d.name), ["a.gz"]);
  } finally {
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});

// ------------------------------------------------------------------ the real MNIST

const SHARED = new URL("../../shared/data", import.meta.url);

Deno.test("MNIST.load() reads the real mirror: shapes, label range, checksums", async () => {
  const sums = await Deno.readTextFile(
    new URL("../../shared/data/mnist/SHA256SUMS", import.meta.url),
  );
  for (const line of sums.trim().split("\n")) {
    const [hash, name] = line.trim().split(/\s+/);
    const bytes = await Deno.readFile(new URL(`../../shared/data/mnist/${name}`, import.meta.url));
    assertEquals(await sha256Hex(bytes), hash, name);
  }
  const train = await MNIST.load({ root: SHARED, download: false });
  const test = await MNIST.load({ root: SHARED, train: false, download: false });
  assertEquals(train.length, 60000);
  assertEquals(test.length, 10000);
  assertEquals(train.data.shape, [60000, 1, 28, 28]);
  const counts = new Array(10).fill(0);
  for (const l of test.label.data) counts[l]++;
  assertEquals(counts.reduce((a, b) => a + b, 0), 10000);
  assert(counts.every((c) => c > 800 && c < 1200), `label counts ${counts}`);
  // The first training digit is a 5 (a well-known fact of MNIST); pixels scaled to [0, 1].
  const [x, t] = train.get(0);
  assertEquals(t.data[0], 5);
  assertEquals(x.shape, [784]);
  let max = 0;
  for (const v of x.data) max = Math.max(max, v);
  assertEquals(max, 1);
});

Deno.test("MNIST.load() downloads from a mirror, checks the recorded SHA-256 and loads", async () => {
  const dir = new URL("../../shared/data/mnist/", import.meta.url);
  const served: string[] = [];
  const server = Deno.serve({ port: 0, hostname: "127.0.0.1", onListen() {} }, async (req) => {
    const name = new URL(req.url).pathname.slice(1);
    served.push(name);
    try {
      return new Response(await Deno.readFile(new URL(name, dir)));
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const root = await Deno.makeTempDir();
  try {
    const mirrors = [`http://127.0.0.1:${server.addr.port}/`];
    const test = await MNIST.load({ root, train: false, mirrors });
    assertEquals(test.length, 10000);
    assertEquals(served, ["t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]);
    assertEquals(
      [...Deno.readDirSync(`${root}/mnist`)].map((e) => e.name).sort(),
      served,
    );
    // A failing mirror is reported and leaves no partial file behind.
    await Deno.remove(`${root}/mnist/t10k-labels-idx1-ubyte.gz`);
    const wrong = [`http://127.0.0.1:${server.addr.port}/nothing/`];
    const e = await assertRejects(
      () => MNIST.load({ root, train: false, mirrors: wrong }),
      Deno.errors.NotFound,
    );
    assertMatch(e.message, /could not download t10k-labels-idx1-ubyte\.gz:\n.*HTTP 404/);
    assertMatch(
      e.message,
      /\nMNIST: missing data files in .*mnist:\n {2}t10k-labels-idx1-ubyte\.gz/,
    );
    assertEquals([...Deno.readDirSync(`${root}/mnist`)].map((e) => e.name), [
      "t10k-images-idx3-ubyte.gz",
    ]);
  } finally {
    await server.shutdown();
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("new MNIST({ train }) (DeZero's spelling) points to the async load()", () => {
  for (const C of [MNIST, FashionMNIST, CIFAR10, CIFAR100]) {
    const e = assertThrows(
      // deno-lint-ignore no-explicit-any
      () => new (C as any)({ train: true }),
      TypeError,
      `${C.name}: load the files with \`await ${C.name}.load({ train, root })\``,
    );
    assert(e.message.includes("got (Object, undefined)"), e.message);
  }
});
