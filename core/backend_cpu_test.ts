import assert from "node:assert/strict";
import { BINARY_OPS, type BinaryOp, hasBackend, type ReduceOp, UNARY_OPS } from "./backend.ts";
import { cpuArray, cpuBackend } from "./backend_cpu.ts";
import { allocTyped, type DType } from "./dtype.ts";
import type { NDArray } from "./ndarray.ts";
import { sizeOf, stridesOf } from "./shape.ts";

const B = cpuBackend;

// ---------------------------------------------------------------- helpers

/** A small seeded generator (mulberry32) so failures reproduce. */
function rng(seed: number): () => number {
  let t = seed >>> 0;
  return () => {
    t = (t + 0x6d2b79f5) >>> 0;
    let r = Math.imul(t ^ (t >>> 15), 1 | t);
    r = (r + Math.imul(r ^ (r >>> 7), 61 | r)) ^ r;
    return ((r ^ (r >>> 14)) >>> 0) / 4294967296;
  };
}

function arr(data: number[], shape: number[], dtype: DType = "float64"): NDArray {
  const t = allocTyped(dtype, data.length);
  t.set(data);
  return B.fromTyped(t, shape);
}

function randArr(rand: () => number, shape: number[], dtype: DType = "float64"): NDArray {
  const t = allocTyped(dtype, sizeOf(shape));
  for (let i = 0; i < t.length; i++) {
    t[i] = dtype === "int32" ? Math.floor(rand() * 11) - 5 : rand() * 4 - 2;
  }
  return B.fromTyped(t, shape);
}

function read(x: NDArray): number[] {
  return Array.from(B.readSync!(x));
}

function randShape(rand: () => number, maxRank = 5): number[] {
  const rank = Math.floor(rand() * (maxRank + 1));
  return Array.from({ length: rank }, () => 1 + Math.floor(rand() * 4));
}

/** A shape that broadcasts against `shape`: some axes set to 1, some leading axes dropped. */
function broadcastPartner(rand: () => number, shape: number[]): number[] {
  const drop = Math.floor(rand() * (shape.length + 1));
  return shape.slice(drop).map((d) => (rand() < 0.4 ? 1 : d));
}

function unravel(i: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = i % shape[d];
    i = Math.floor(i / shape[d]);
  }
  return idx;
}

/** Flat index into `shape` of a broadcast multi-index (aligned right). */
function bcastIndex(idx: number[], shape: readonly number[]): number {
  const off = idx.length - shape.length;
  const st = stridesOf(shape);
  let f = 0;
  for (let d = 0; d < shape.length; d++) f += (shape[d] === 1 ? 0 : idx[off + d]) * st[d];
  return f;
}

function naiveBroadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => {
    const da = a[a.length - n + i] ?? 1, db = b[b.length - n + i] ?? 1;
    return da === 1 ? db : da;
  });
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-12): void {
  assert.equal(actual.length, expected.length, "length");
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i], e = expected[i];
    if (Number.isNaN(e)) {
      assert.ok(Number.isNaN(a), `element ${i}: ${a} vs NaN`);
      continue;
    }
    if (a === e) continue;
    assert.ok(
      Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)),
      `element ${i}: ${a} vs ${e} (tol ${tol})`,
    );
  }
}

const NAIVE_BINARY: { [K in BinaryOp]: (a: number, b: number) => number } = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  maximum: (a, b) => Math.max(a, b),
  minimum: (a, b) => Math.min(a, b),
  gt: (a, b) => +(a > b),
  ge: (a, b) => +(a >= b),
  lt: (a, b) => +(a < b),
  le: (a, b) => +(a <= b),
  eq: (a, b) => +(a === b),
  ne: (a, b) => +(a !== b),
};

// ---------------------------------------------------------------- memory

Deno.test("cpuBackend is registered on import", () => {
  assert.ok(hasBackend("cpu"));
  assert.equal(B.device, "cpu");
});

Deno.test("fromTyped() copies its input and readSync() returns a copy", () => {
  const src = new Float32Array([1, 2, 3, 4, 5, 6]);
  const x = B.fromTyped(src, [2, 3]);
  src[0] = 100;
  assert.deepEqual(read(x), [1, 2, 3, 4, 5, 6]);
  assert.equal(x.dtype, "float32");
  const r = B.readSync!(x);
  r[1] = 100;
  assert.deepEqual(read(x), [1, 2, 3, 4, 5, 6]);
});

Deno.test("fromTyped() rejects a shape that does not match the data", () => {
  assert.throws(
    () => B.fromTyped(new Float32Array(5), [2, 3]),
    { name: "TypeError", message: "fromTyped: 5 elements do not fill shape [2,3] (size 6)" },
  );
});

Deno.test("read() resolves to the elements", async () => {
  const x = arr([1, 2, 3], [3], "int32");
  const r = await B.read(x);
  assert.ok(r instanceof Int32Array);
  assert.deepEqual(Array.from(r), [1, 2, 3]);
});

Deno.test("full() fills every dtype, including rank 0 and empty shapes", () => {
  assert.deepEqual(read(B.full([2, 2], 3.5, "float32")), [3.5, 3.5, 3.5, 3.5]);
  assert.deepEqual(read(B.full([3], 3.7, "int32")), [3, 3, 3]);
  const s = B.full([], 7, "float64");
  assert.deepEqual(s.shape, []);
  assert.deepEqual(read(s), [7]);
  assert.equal(B.full([0, 4], 1, "float32").size, 0);
});

Deno.test("memory() counts live bytes and release() frees them", () => {
  const before = B.memory().liveBytes;
  const x = B.full([10], 0, "float64");
  assert.equal(B.memory().liveBytes, before + 80);
  const y = x.reshape([2, 5]);
  x.dispose();
  assert.equal(B.memory().liveBytes, before + 80, "a reshape keeps the storage alive");
  y.dispose();
  assert.equal(B.memory().liveBytes, before);
  assert.equal(B.memory().pooledBytes, 0);
});

Deno.test("cpuArray() wraps without copying", () => {
  const data = new Int32Array([1, 2, 3, 4]);
  const x = cpuArray(data, [2, 2]);
  assert.equal(x.dtype, "int32");
  assert.deepEqual(read(x), [1, 2, 3, 4]);
  assert.throws(() => cpuArray(data, [3]), TypeError);
});

// ---------------------------------------------------------------- unary

Deno.test("unary() matches Math for every op on float64", () => {
  const xs = [-3.7, -2.5, -1, -0.5, 0, 0.3, 0.5, 1.5, 2.5, 4];
  const x = arr(xs, [xs.length]);
  const expect: Record<string, (v: number) => number> = {
    neg: (v) => -v,
    exp: Math.exp,
    log: Math.log,
    sin: Math.sin,
    cos: Math.cos,
    tanh: Math.tanh,
    sqrt: Math.sqrt,
    abs: Math.abs,
    sign: Math.sign,
    relu: (v) => Math.max(v, 0),
    sigmoid: (v) => 1 / (1 + Math.exp(-v)),
    floor: Math.floor,
  };
  for (const op of UNARY_OPS) {
    const f = expect[op];
    if (!f) continue;
    assertClose(read(B.unary(op, x)), xs.map(f), 1e-15);
  }
});

Deno.test("unary('round') rounds half to even like NumPy", () => {
  const x = arr([-3.5, -2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5, 2.4, 2.6, -2.6], [11]);
  assert.deepEqual(read(B.unary("round", x)), [-4, -2, -2, -0, 0, 2, 2, 4, 2, 3, -3]);
});

Deno.test("unary('erf') is accurate to 1e-14 in float64", () => {
  // Reference values from high-precision tables (scipy.special.erf).
  const cases: [number, number][] = [
    [0, 0],
    [0.1, 0.1124629160182849],
    [0.5, 0.5204998778130465],
    [1, 0.8427007929497149],
    [1.5, 0.9661051464753108],
    [2, 0.9953222650189527],
    [2.5, 0.9995930479825550],
    [3, 0.9999779095030014],
    [4, 0.9999999845827421],
    [-1, -0.8427007929497149],
    [-3, -0.9999779095030014],
    [10, 1],
  ];
  const x = arr(cases.map((c) => c[0]), [cases.length]);
  assertClose(read(B.unary("erf", x)), cases.map((c) => c[1]), 1e-14);
});

Deno.test("unary('erf') is continuous across its two approximations", () => {
  const xs = [1.9999999, 2, 2.0000001];
  const y = read(B.unary("erf", arr(xs, [3])));
  assert.ok(y[0] < y[1] && y[1] < y[2]);
  // The slope across the switch is erf'(2) = 2/√π·e⁻⁴ (no jump).
  assertClose([(y[2] - y[0]) / 2e-7], [(2 / Math.sqrt(Math.PI)) * Math.exp(-4)], 1e-6);
});

Deno.test("unary('sigmoid') is stable for large |x|", () => {
  const y = read(B.unary("sigmoid", arr([-1000, -50, 0, 50, 1000], [5])));
  assert.ok(y.every(Number.isFinite));
  assert.equal(y[0], 0);
  assertClose([y[1]], [Math.exp(-50)], 1e-12);
  assert.equal(y[2], 0.5);
  assert.equal(y[4], 1);
});

Deno.test("unary() keeps the dtype and the shape, and leaves its input alone", () => {
  const x = arr([1.5, -2.5, 3.25, -4], [2, 1, 2], "float32");
  const y = B.unary("neg", x);
  assert.equal(y.dtype, "float32");
  assert.deepEqual(y.shape, [2, 1, 2]);
  assert.deepEqual(read(y), [-1.5, 2.5, -3.25, 4]);
  assert.deepEqual(read(x), [1.5, -2.5, 3.25, -4]);
  const i = B.unary("abs", arr([-(2 ** 31), -3], [2], "int32"));
  assert.deepEqual(read(i), [-(2 ** 31), 3], "int32 abs wraps like NumPy");
  assert.equal(read(B.unary("exp", arr([1], [], "float32")))[0], Math.fround(Math.E));
});

// ---------------------------------------------------------------- binary

Deno.test("binary() matches a naive broadcast on random shapes (ranks 0-5)", () => {
  const rand = rng(1);
  for (let trial = 0; trial < 150; trial++) {
    let sa = randShape(rand);
    let sb = broadcastPartner(rand, sa);
    if (rand() < 0.5) [sa, sb] = [sb, sa];
    const dtype: DType = (["float32", "float64", "int32"] as const)[trial % 3];
    const a = randArr(rand, sa, dtype), b = randArr(rand, sb, dtype);
    const ad = read(a), bd = read(b);
    const op = BINARY_OPS[trial % BINARY_OPS.length];
    const out = naiveBroadcastShape(sa, sb);
    const y = B.binary(op, a, b);
    assert.deepEqual(y.shape, out, `${op} ${sa} ${sb}`);
    assert.equal(y.dtype, dtype);
    const expected = Array.from({ length: sizeOf(out) }, (_, i) => {
      const idx = unravel(i, out);
      return NAIVE_BINARY[op](ad[bcastIndex(idx, sa)], bd[bcastIndex(idx, sb)]);
    });
    // One rounding (float32) or one truncation with wraparound (int32) of the exact result.
    const t = allocTyped(dtype, expected.length);
    t.set(expected);
    assertClose(read(y), Array.from(t), 0);
  }
});

Deno.test("binary() on larger odd shapes with broadcasting in the middle and at the ends", () => {
  const rand = rng(12);
  const cases: [number[], number[]][] = [
    [[7, 13, 5], [13, 1]],
    [[7, 1, 5], [1, 13, 1]],
    [[3, 1, 9, 1, 2], [5, 1, 11, 1]],
    [[1, 31], [17, 1]],
    [[17, 31], [31]],
  ];
  for (const [sa, sb] of cases) {
    const a = randArr(rand, sa), b = randArr(rand, sb);
    const ad = read(a), bd = read(b);
    const out = naiveBroadcastShape(sa, sb);
    for (const op of ["sub", "div"] as const) {
      const y = B.binary(op, a, b);
      const z = B.binary(op, b, a);
      assert.deepEqual(y.shape, out);
      const want = Array.from({ length: sizeOf(out) }, (_, i) => {
        const idx = unravel(i, out);
        return NAIVE_BINARY[op](ad[bcastIndex(idx, sa)], bd[bcastIndex(idx, sb)]);
      });
      const wantRev = Array.from({ length: sizeOf(out) }, (_, i) => {
        const idx = unravel(i, out);
        return NAIVE_BINARY[op](bd[bcastIndex(idx, sb)], ad[bcastIndex(idx, sa)]);
      });
      assertClose(read(y), want, 0);
      assertClose(read(z), wantRev, 0);
    }
  }
});

Deno.test("binary() fast paths: equal shapes, scalar on either side, rank 0", () => {
  const a = arr([1, 2, 3, 4, 5, 6], [2, 3]);
  const s = arr([10], []);
  assert.deepEqual(read(B.binary("sub", a, s)), [-9, -8, -7, -6, -5, -4]);
  assert.deepEqual(read(B.binary("sub", s, a)), [9, 8, 7, 6, 5, 4]);
  assert.deepEqual(read(B.binary("mul", a, a)), [1, 4, 9, 16, 25, 36]);
  const one = arr([2], [1, 1, 1]);
  const y = B.binary("mul", a, one);
  assert.deepEqual(y.shape, [1, 2, 3]);
  assert.deepEqual(read(y), [2, 4, 6, 8, 10, 12]);
  const r0 = B.binary("add", s, arr([5], []));
  assert.deepEqual(r0.shape, []);
  assert.deepEqual(read(r0), [15]);
  assert.deepEqual(B.binary("add", arr([], [0, 3]), arr([1, 2, 3], [3])).shape, [0, 3]);
});

Deno.test("binary() comparisons return 1/0 in the input dtype", () => {
  const a = arr([1, 2, 3], [3], "float32"), b = arr([2, 2, 2], [3], "float32");
  for (
    const [op, want] of [
      ["gt", [0, 0, 1]],
      ["ge", [0, 1, 1]],
      ["lt", [1, 0, 0]],
      ["le", [1, 1, 0]],
      ["eq", [0, 1, 0]],
      ["ne", [1, 0, 1]],
    ] as const
  ) {
    const y = B.binary(op, a, b);
    assert.equal(y.dtype, "float32");
    assert.deepEqual(read(y), want, op);
  }
});

Deno.test("binary() on int32 wraps, truncates division and takes integer powers", () => {
  const i = (xs: number[]) => arr(xs, [xs.length], "int32");
  assert.deepEqual(read(B.binary("add", i([2 ** 31 - 1]), i([1]))), [-(2 ** 31)]);
  assert.deepEqual(read(B.binary("mul", i([65537, 123456789]), i([65537, 987654321]))), [
    Math.imul(65537, 65537),
    Math.imul(123456789, 987654321),
  ]);
  assert.deepEqual(read(B.binary("div", i([7, -7, 7, -7, 5]), i([2, 2, -2, -2, 0]))), [
    3,
    -3,
    -3,
    3,
    0,
  ]);
  assert.deepEqual(
    read(B.binary("pow", i([3, -2, 2, 7, 1, -1, 2]), i([4, 3, 0, 20, -3, -3, -1]))),
    [
      81,
      -8,
      1,
      Number(BigInt.asIntN(32, 7n ** 20n)),
      1,
      -1,
      0,
    ],
  );
  // Large powers: every intermediate product must wrap, not round.
  assert.deepEqual(read(B.binary("pow", i([3, 7, -5]), i([63, 63, 1001]))), [
    Number(BigInt.asIntN(32, 3n ** 63n)),
    Number(BigInt.asIntN(32, 7n ** 63n)),
    Number(BigInt.asIntN(32, (-5n) ** 1001n)),
  ]);
  assert.deepEqual(read(B.binary("maximum", i([1, 5]), i([3, 2]))), [3, 5]);
});

Deno.test("binary() maximum/minimum propagate NaN", () => {
  const y = read(B.binary("maximum", arr([NaN, 1], [2]), arr([0, NaN], [2])));
  assert.ok(y.every(Number.isNaN));
});

Deno.test("binary() rejects shapes that do not broadcast and mixed dtypes", () => {
  assert.throws(() => B.binary("add", arr([1, 2, 3, 4, 5, 6], [2, 3]), arr([1, 2], [2])), {
    name: "TypeError",
    message: "add: cannot broadcast shapes [2,3] and [2]: axis 1 is 3 vs 2",
  });
  assert.throws(() => B.binary("mul", arr([1], [1], "float32"), arr([1], [1], "int32")), {
    name: "TypeError",
    message: "mul: dtypes float32 and int32 differ",
  });
});

// ---------------------------------------------------------------- where / cast

Deno.test("where() broadcasts all three operands", () => {
  const rand = rng(2);
  for (let trial = 0; trial < 60; trial++) {
    const out = randShape(rand, 4);
    const sc = broadcastPartner(rand, out), sa = broadcastPartner(rand, out);
    const sb = out;
    const cond = randArr(rand, sc, "int32");
    const a = randArr(rand, sa), b = randArr(rand, sb);
    const cd = read(cond), ad = read(a), bd = read(b);
    const shape = naiveBroadcastShape(naiveBroadcastShape(sc, sa), sb);
    const y = B.where(cond, a, b);
    assert.deepEqual(y.shape, shape);
    const expected = Array.from({ length: sizeOf(shape) }, (_, i) => {
      const idx = unravel(i, shape);
      return cd[bcastIndex(idx, sc)] !== 0 ? ad[bcastIndex(idx, sa)] : bd[bcastIndex(idx, sb)];
    });
    assert.deepEqual(read(y), expected);
  }
  assert.throws(() => B.where(arr([1], [1]), arr([1], [1], "float32"), arr([1], [1])), {
    name: "TypeError",
    message: "where: dtypes float32 and float64 differ",
  });
  assert.throws(() => B.where(arr([1, 0], [2]), arr([1, 2, 3], [3]), arr([1], [1])), {
    name: "TypeError",
    message: /where: cannot broadcast shapes \[2\] and \[3\]/,
  });
});

Deno.test("cast() converts, truncating float to int32 toward zero", () => {
  const x = arr([1.7, -1.7, 2.5, -0.2], [2, 2]);
  const y = B.cast(x, "int32");
  assert.equal(y.dtype, "int32");
  assert.deepEqual(y.shape, [2, 2]);
  assert.deepEqual(read(y), [1, -1, 2, 0]);
  const f = B.cast(arr([0.1], [1]), "float32");
  assert.deepEqual(read(f), [Math.fround(0.1)]);
  assert.deepEqual(read(B.cast(arr([3, -4], [2], "int32"), "float64")), [3, -4]);
});

// ---------------------------------------------------------------- reductions

function naiveReduce(
  op: ReduceOp,
  data: number[],
  shape: number[],
  axes: number[],
  keepdims: boolean,
): { shape: number[]; data: number[] } {
  const full = shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const acc = new Array<number>(sizeOf(full)).fill(
    op === "sum" ? 0 : op === "max" ? -Infinity : Infinity,
  );
  for (let i = 0; i < data.length; i++) {
    const idx = unravel(i, shape).map((v, d) => (axes.includes(d) ? 0 : v));
    let o = 0;
    for (let d = 0; d < full.length; d++) o = o * full[d] + idx[d];
    acc[o] = op === "sum"
      ? acc[o] + data[i]
      : op === "max"
      ? Math.max(acc[o], data[i])
      : Math.min(acc[o], data[i]);
  }
  return { shape: keepdims ? full : shape.filter((_, i) => !axes.includes(i)), data: acc };
}

Deno.test("reduce() matches a naive reduction over random axis sets", () => {
  const rand = rng(3);
  for (let trial = 0; trial < 150; trial++) {
    const shape = randShape(rand);
    const axes = shape.map((_, i) => i).filter(() => rand() < 0.5);
    const keepdims = rand() < 0.5;
    const op = (["sum", "max", "min"] as const)[trial % 3];
    const dtype: DType = trial % 4 === 0 ? "int32" : "float64";
    const x = randArr(rand, shape, dtype);
    const want = naiveReduce(op, read(x), shape, axes, keepdims);
    const y = B.reduce(op, x, axes, keepdims);
    assert.deepEqual(y.shape, want.shape, `${op} ${shape} axes ${axes}`);
    assert.equal(y.dtype, dtype);
    assertClose(read(y), want.data, 1e-12);
  }
});

Deno.test("reduce() over leading, trailing and middle axes of a larger array", () => {
  const rand = rng(4);
  const shape = [5, 7, 3, 9];
  const x = randArr(rand, shape);
  for (const axes of [[0], [3], [0, 1], [2, 3], [1, 2], [0, 2], [1, 3], [0, 1, 2, 3]]) {
    for (const op of ["sum", "max", "min"] as const) {
      const want = naiveReduce(op, read(x), shape, axes, false);
      const y = B.reduce(op, x, axes, false);
      assert.deepEqual(y.shape, want.shape);
      assertClose(read(y), want.data, 1e-12);
    }
  }
});

Deno.test("reduce() sums float32 accurately and wraps int32", () => {
  const n = 100000;
  const x = B.full([n], 0.1, "float32");
  const s = read(B.reduce("sum", x, [0], false))[0];
  assert.equal(s, Math.fround(Math.fround(0.1) * n));
  const i = B.full([3], 2 ** 30, "int32");
  assert.deepEqual(read(B.reduce("sum", i, [0], false)), [-(2 ** 30)]);
});

Deno.test("reduce() of an empty axis: sum is 0, max is a RangeError", () => {
  const x = B.full([0, 3], 1, "float32");
  const s = B.reduce("sum", x, [0], true);
  assert.deepEqual(s.shape, [1, 3]);
  assert.deepEqual(read(s), [0, 0, 0]);
  assert.throws(() => B.reduce("max", x, [0], false), {
    name: "RangeError",
    message: /^max: cannot reduce an empty axis of shape \[0,3\]/,
  });
  assert.deepEqual(B.reduce("max", x, [1], false).shape, [0]);
});

Deno.test("reduce() with no axes copies, and rank 0 works", () => {
  const x = arr([4], []);
  const y = B.reduce("sum", x, [], false);
  assert.deepEqual(y.shape, []);
  assert.deepEqual(read(y), [4]);
  assert.throws(() => B.reduce("sum", arr([1, 2], [2]), [1], false), RangeError);
});

Deno.test("argReduce() returns the first index of the extreme along an axis", () => {
  const x = arr([3, 1, 3, 0, 5, 5, 2, 0, -1, 4, 4, -1], [2, 2, 3]);
  // axis 2: rows [3,1,3] [0,5,5] [2,0,-1] [4,4,-1]
  assert.deepEqual(read(B.argReduce("argmax", x, 2, false)), [0, 1, 0, 0]);
  assert.deepEqual(read(B.argReduce("argmin", x, 2, false)), [1, 0, 2, 2]);
  // axis 1: pairs (3,0) (1,5) (3,5) (2,4) (0,4) (-1,-1)
  const y = B.argReduce("argmax", x, 1, true);
  assert.deepEqual(y.shape, [2, 1, 3]);
  assert.equal(y.dtype, "int32");
  assert.deepEqual(read(y), [0, 1, 1, 1, 1, 0]);
  assert.deepEqual(read(B.argReduce("argmin", x, -3, false)), [1, 1, 1, 0, 1, 1]);
  const n = B.argReduce("argmax", arr([1, NaN, 3, NaN], [4]), 0, false);
  assert.deepEqual(n.shape, []);
  assert.deepEqual(read(n), [1], "the first NaN wins, like NumPy");
  assert.throws(() => B.argReduce("argmax", B.full([2, 0], 0, "float32"), 1, false), RangeError);
  assert.throws(() => B.argReduce("argmax", x, 3, false), {
    name: "RangeError",
    message: "argmax: axis 3 is out of range for a tensor of rank 3",
  });
});

// ---------------------------------------------------------------- matmul

function naiveMatmul(
  a: NDArray,
  b: NDArray,
  transA: boolean,
  transB: boolean,
): { shape: number[]; data: number[] } {
  const ad = read(a), bd = read(b);
  const ra = a.ndim, rb = b.ndim;
  const M = transA ? a.shape[ra - 1] : a.shape[ra - 2];
  const K = transA ? a.shape[ra - 2] : a.shape[ra - 1];
  const N = transB ? b.shape[rb - 2] : b.shape[rb - 1];
  const batchA = a.shape.slice(0, -2), batchB = b.shape.slice(0, -2);
  const batch = naiveBroadcastShape(batchA, batchB);
  const data: number[] = [];
  for (let t = 0; t < sizeOf(batch); t++) {
    const idx = unravel(t, batch);
    const oa = bcastIndex(idx, batchA) * M * K, ob = bcastIndex(idx, batchB) * K * N;
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = ad[oa + (transA ? k * M + i : i * K + k)];
          const bv = bd[ob + (transB ? j * K + k : k * N + j)];
          s += av * bv;
        }
        data.push(s);
      }
    }
  }
  return { shape: [...batch, M, N], data };
}

Deno.test("matmul() matches a naive product with broadcast batches and transposes", () => {
  const rand = rng(5);
  for (let trial = 0; trial < 120; trial++) {
    const transA = (trial & 1) === 1, transB = (trial & 2) === 2;
    const M = 1 + Math.floor(rand() * 5), K = 1 + Math.floor(rand() * 5);
    const N = 1 + Math.floor(rand() * 5);
    const batch = randShape(rand, 3);
    let ba = broadcastPartner(rand, batch), bb = broadcastPartner(rand, batch);
    if (rand() < 0.3) ba = batch;
    if (rand() < 0.3) bb = batch;
    const dtype: DType = trial % 5 === 0 ? "int32" : "float64";
    const a = randArr(rand, [...ba, ...(transA ? [K, M] : [M, K])], dtype);
    const b = randArr(rand, [...bb, ...(transB ? [N, K] : [K, N])], dtype);
    const want = naiveMatmul(a, b, transA, transB);
    const y = B.matmul(a, b, { transA, transB });
    assert.deepEqual(y.shape, want.shape);
    assert.equal(y.dtype, dtype);
    assertClose(read(y), want.data, 1e-12);
  }
});

Deno.test("matmul() on sizes larger than its cache blocks", () => {
  const rand = rng(6);
  for (const [M, K, N] of [[3, 300, 70], [2, 70, 300], [17, 33, 9]]) {
    for (const [transA, transB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = randArr(rand, transA ? [K, M] : [M, K]);
      const b = randArr(rand, transB ? [N, K] : [K, N]);
      const want = naiveMatmul(a, b, transA, transB);
      assertClose(read(B.matmul(a, b, { transA, transB })), want.data, 1e-12);
    }
  }
});

Deno.test("matmul() folds the batches of a into rows when b is shared", () => {
  const rand = rng(14);
  for (
    const [sa, sb] of [
      [[3, 5, 4], [4, 6]],
      [[2, 3, 5, 4], [1, 4, 6]],
      [[7, 1, 9], [1, 1, 9, 3]],
      [[6, 2, 3], [3, 1]],
    ]
  ) {
    for (const dtype of ["float64", "int32"] as const) {
      const a = randArr(rand, sa, dtype), b = randArr(rand, sb, dtype);
      const want = naiveMatmul(a, b, false, false);
      const y = B.matmul(a, b);
      assert.deepEqual(y.shape, want.shape);
      assertClose(read(y), want.data, 1e-12);
    }
  }
});

Deno.test("matmul() in float32 stays within float32 error of the float64 product", () => {
  const rand = rng(13);
  const a64 = randArr(rand, [4, 37, 129]), b64 = randArr(rand, [129, 23]);
  const want = naiveMatmul(a64, b64, false, false);
  const y = B.matmul(B.cast(a64, "float32"), B.cast(b64, "float32"));
  assert.equal(y.dtype, "float32");
  // Inputs in [-2, 2) rounded to float32: each product is off by ~2^-22 relative.
  assertClose(read(y), want.data, 1e-4);
});

Deno.test("matmul() in float32 rounds to float32 and handles K = 0", () => {
  const a = arr([1, 2, 3, 4], [2, 2], "float32"), b = arr([0.1, 0.2, 0.3, 0.4], [2, 2], "float32");
  const y = B.matmul(a, b);
  assert.equal(y.dtype, "float32");
  assertClose(read(y), [0.7, 1, 1.5, 2.2], 1e-6);
  const z = B.matmul(B.full([2, 0], 1, "float64"), B.full([0, 3], 1, "float64"));
  assert.deepEqual(z.shape, [2, 3]);
  assert.deepEqual(read(z), [0, 0, 0, 0, 0, 0]);
});

Deno.test("matmul() errors name the shapes", () => {
  assert.throws(() => B.matmul(B.full([2, 3], 1, "float32"), B.full([4, 5], 1, "float32")), {
    name: "TypeError",
    message: "matmul: shapes [2,3] and [4,5] are not aligned: 3 vs 4",
  });
  assert.throws(() => B.matmul(B.full([3], 1, "float32"), B.full([3, 5], 1, "float32")), {
    name: "TypeError",
    message: /^matmul: operands must have rank >= 2/,
  });
  assert.throws(
    () => B.matmul(B.full([2, 2, 3], 1, "float32"), B.full([3, 3, 5], 1, "float32")),
    { name: "TypeError", message: /^matmul: cannot broadcast shapes \[2\] and \[3\]/ },
  );
  assert.throws(() => B.matmul(B.full([2, 3], 1, "float32"), B.full([3, 5], 1, "float64")), {
    name: "TypeError",
    message: "matmul: dtypes float32 and float64 differ",
  });
});

// ---------------------------------------------------------------- movement

Deno.test("asStrided() reads transposes, broadcasts, slices and flips", () => {
  const x = arr([0, 1, 2, 3, 4, 5], [2, 3]);
  const t = B.asStrided(x, { shape: [3, 2], strides: [1, 3], offset: 0 });
  assert.deepEqual(read(t), [0, 3, 1, 4, 2, 5]);
  const bc = B.asStrided(x, { shape: [2, 3], strides: [0, 1], offset: 3 });
  assert.deepEqual(read(bc), [3, 4, 5, 3, 4, 5]);
  const flip = B.asStrided(x, { shape: [2, 3], strides: [-3, -1], offset: 5 });
  assert.deepEqual(read(flip), [5, 4, 3, 2, 1, 0]);
  const step = B.asStrided(x, { shape: [2, 2], strides: [3, 2], offset: 0 });
  assert.deepEqual(read(step), [0, 2, 3, 5]);
  const scalar = B.asStrided(x, { shape: [], strides: [], offset: 4 });
  assert.deepEqual(scalar.shape, []);
  assert.deepEqual(read(scalar), [4]);
  assert.throws(
    () => B.asStrided(x, { shape: [2, 3], strides: [3, 1], offset: 1 }),
    { name: "RangeError", message: /^asStrided: view .* outside an array of size 6$/ },
  );
});

Deno.test("asStrided() matches a naive strided read on random views", () => {
  const rand = rng(7);
  for (let trial = 0; trial < 80; trial++) {
    const shape = randShape(rand);
    const src = randArr(rand, [64]);
    const sd = read(src);
    const strides = shape.map(() => Math.floor(rand() * 7) - 3);
    let lo = 0, hi = 0;
    shape.forEach((d, i) => {
      const span = (d - 1) * strides[i];
      if (span < 0) lo += span;
      else hi += span;
    });
    if (hi - lo >= 64) continue;
    const offset = -lo + Math.floor(rand() * (64 - (hi - lo)));
    const y = B.asStrided(src, { shape, strides, offset });
    const want = Array.from({ length: sizeOf(shape) }, (_, i) => {
      const idx = unravel(i, shape);
      return sd[offset + idx.reduce((p, v, d) => p + v * strides[d], 0)];
    });
    assert.deepEqual(read(y), want);
  }
});

Deno.test("assign() writes into a strided view of dst in place", () => {
  const dst = B.full([3, 4], 0, "float32");
  const shared = dst.reshape([12]);
  B.assign(dst, arr([1, 2, 3, 4, 5, 6], [3, 2], "float32"), {
    shape: [3, 2],
    strides: [4, 2],
    offset: 1,
  });
  assert.deepEqual(read(dst), [0, 1, 0, 2, 0, 3, 0, 4, 0, 5, 0, 6]);
  assert.deepEqual(read(shared), read(dst), "in place: handles on the storage see it");
  B.assign(dst, arr([9, 8], [2], "float32"), { shape: [2], strides: [-1], offset: 11 });
  assert.equal(read(dst)[11], 9);
  assert.equal(read(dst)[10], 8);
  assert.throws(
    () => B.assign(dst, arr([1, 2], [2], "float64"), { shape: [2], strides: [1], offset: 0 }),
    { name: "TypeError", message: "assign: dtypes float32 and float64 differ" },
  );
  assert.throws(
    () => B.assign(dst, arr([1, 2], [2], "float32"), { shape: [3], strides: [1], offset: 0 }),
    TypeError,
  );
  assert.throws(
    () => B.assign(dst, arr([1, 2], [2], "float32"), { shape: [2], strides: [1], offset: 11 }),
    RangeError,
  );
});

Deno.test("assign() from a source on the same storage reads it before writing", () => {
  const dst = arr([0, 1, 2, 3, 4, 5], [6]);
  const src = dst.reshape([2, 3]);
  // Rows swapped: dst[3..6) = src[0], dst[0..3) = src[1].
  B.assign(dst, src, { shape: [2, 3], strides: [-3, 1], offset: 3 });
  assert.deepEqual(read(dst), [3, 4, 5, 0, 1, 2]);
});

Deno.test("gather() takes along an axis with any-shaped, negative indices", () => {
  const x = arr([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], [3, 4]);
  const rows = B.gather(x, 0, arr([2, 0, -1], [3], "int32"));
  assert.deepEqual(rows.shape, [3, 4]);
  assert.deepEqual(read(rows), [8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11]);
  const cols = B.gather(x, 1, arr([3, 1, 1, 0], [2, 2], "int32"));
  assert.deepEqual(cols.shape, [3, 2, 2]);
  assert.deepEqual(read(cols), [3, 1, 1, 0, 7, 5, 5, 4, 11, 9, 9, 8]);
  const s = B.gather(x, -1, arr([2], [], "int32"));
  assert.deepEqual(s.shape, [3]);
  assert.deepEqual(read(s), [2, 6, 10]);
  assert.throws(() => B.gather(x, 0, arr([3], [1], "int32")), {
    name: "RangeError",
    message: "gather: index 3 is out of range for axis 0 of size 3",
  });
  assert.throws(() => B.gather(x, 1, arr([-5], [1], "int32")), {
    name: "RangeError",
    message: "gather: index -5 is out of range for axis 1 of size 4",
  });
  assert.throws(() => B.gather(x, 0, arr([0], [1], "float32")), TypeError);
});

Deno.test("scatterAdd() is the adjoint of gather() and accumulates repeats", () => {
  const rand = rng(8);
  for (let trial = 0; trial < 40; trial++) {
    const shape = randShape(rand, 4);
    if (shape.length === 0) continue;
    const axis = Math.floor(rand() * shape.length);
    const n = shape[axis];
    const ishape = randShape(rand, 2);
    const idx = arr(
      Array.from({ length: sizeOf(ishape) }, () => Math.floor(rand() * 2 * n) - n),
      ishape,
      "int32",
    );
    const x = randArr(rand, shape);
    const g = B.gather(x, axis, idx);
    const u = randArr(rand, [...g.shape]);
    const s = B.scatterAdd(shape, axis, idx, u);
    assert.deepEqual(s.shape, shape);
    // <gather(x), u> == <x, scatterAdd(u)>
    const lhs = read(g).reduce((p, v, i) => p + v * read(u)[i], 0);
    const rhs = read(x).reduce((p, v, i) => p + v * read(s)[i], 0);
    assertClose([lhs], [rhs], 1e-12);
  }
  const y = B.scatterAdd([4], 0, arr([1, 1, 3, -1], [4], "int32"), arr([1, 2, 3, 4], [4]));
  assert.deepEqual(read(y), [0, 3, 0, 7]);
  assert.throws(
    () => B.scatterAdd([4], 0, arr([1, 2], [2], "int32"), arr([1, 2, 3], [3])),
    { name: "TypeError", message: /^scatterAdd: updates of shape \[3\] do not match \[2\]/ },
  );
  assert.throws(
    () => B.scatterAdd([4], 0, arr([4], [1], "int32"), arr([1], [1])),
    { name: "RangeError", message: "scatterAdd: index 4 is out of range for axis 0 of size 4" },
  );
});

// ---------------------------------------------------------------- convolution

function naiveIm2col(
  x: NDArray,
  g: { kh: number; kw: number; sh: number; sw: number; ph: number; pw: number },
): { shape: number[]; data: number[] } {
  const [N, C, H, W] = x.shape;
  const d = read(x);
  const OH = Math.floor((H + 2 * g.ph - g.kh) / g.sh) + 1;
  const OW = Math.floor((W + 2 * g.pw - g.kw) / g.sw) + 1;
  const shape = [N, C, g.kh, g.kw, OH, OW];
  const data = Array.from({ length: sizeOf(shape) }, (_, i) => {
    const [n, c, ki, kj, oy, ox] = unravel(i, shape);
    const y = oy * g.sh - g.ph + ki, xx = ox * g.sw - g.pw + kj;
    return y >= 0 && y < H && xx >= 0 && xx < W ? d[((n * C + c) * H + y) * W + xx] : 0;
  });
  return { shape, data };
}

Deno.test("im2col() matches a naive patch extraction; col2im() is its adjoint", () => {
  const rand = rng(9);
  for (let trial = 0; trial < 80; trial++) {
    const N = 1 + Math.floor(rand() * 2), C = 1 + Math.floor(rand() * 3);
    const H = 1 + Math.floor(rand() * 6), W = 1 + Math.floor(rand() * 6);
    const g = {
      kh: 1 + Math.floor(rand() * 3),
      kw: 1 + Math.floor(rand() * 3),
      sh: 1 + Math.floor(rand() * 3),
      sw: 1 + Math.floor(rand() * 3),
      ph: Math.floor(rand() * 3),
      pw: Math.floor(rand() * 3),
    };
    if (H + 2 * g.ph < g.kh || W + 2 * g.pw < g.kw) continue;
    const x = randArr(rand, [N, C, H, W]);
    const want = naiveIm2col(x, g);
    const col = B.im2col(x, g);
    assert.deepEqual(col.shape, want.shape);
    assert.deepEqual(read(col), want.data);
    const u = randArr(rand, [...col.shape]);
    const back = B.col2im(u, [N, C, H, W], g);
    assert.deepEqual(back.shape, [N, C, H, W]);
    const lhs = want.data.reduce((p, v, i) => p + v * read(u)[i], 0);
    const rhs = read(x).reduce((p, v, i) => p + v * read(back)[i], 0);
    assertClose([lhs], [rhs], 1e-12);
  }
});

Deno.test("im2col() / col2im() by hand on a 3x3 image", () => {
  const x = arr([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  const g = { kh: 2, kw: 2, sh: 1, sw: 1, ph: 0, pw: 0 };
  const col = B.im2col(x, g);
  assert.deepEqual(col.shape, [1, 1, 2, 2, 2, 2]);
  assert.deepEqual(read(col), [1, 2, 4, 5, 2, 3, 5, 6, 4, 5, 7, 8, 5, 6, 8, 9]);
  const ones = B.full([1, 1, 2, 2, 2, 2], 1, "float64");
  assert.deepEqual(read(B.col2im(ones, [1, 1, 3, 3], g)), [1, 2, 1, 2, 4, 2, 1, 2, 1]);
  const p = B.im2col(x, { kh: 3, kw: 3, sh: 2, sw: 2, ph: 1, pw: 1 });
  assert.deepEqual(p.shape, [1, 1, 3, 3, 2, 2]);
  assert.deepEqual(read(p).slice(0, 4), [0, 0, 0, 5], "top-left tap sees the padding");
  assert.throws(() => B.im2col(x, { kh: 5, kw: 5, sh: 1, sw: 1, ph: 0, pw: 0 }), RangeError);
  assert.throws(() => B.im2col(arr([1], [1, 1, 1]), g), TypeError);
  assert.throws(() => B.col2im(ones, [1, 1, 4, 4], g), {
    name: "TypeError",
    message: /^col2im: patches of shape \[1,1,2,2,2,2\] do not match \[1,1,2,2,3,3\]/,
  });
});

Deno.test("maxPool2d() matches a naive window scan: maxima, first-maximum indices, NaN", () => {
  const rand = rng(11);
  let checked = 0;
  for (let trial = 0; trial < 120; trial++) {
    const N = 1 + Math.floor(rand() * 2), C = 1 + Math.floor(rand() * 3);
    const H = 1 + Math.floor(rand() * 6), W = 1 + Math.floor(rand() * 6);
    const kh = 1 + Math.floor(rand() * 3), kw = 1 + Math.floor(rand() * 3);
    const g = {
      kh,
      kw,
      sh: 1 + Math.floor(rand() * 3),
      sw: 1 + Math.floor(rand() * 3),
      ph: Math.floor(rand() * (Math.floor(kh / 2) + 1)),
      pw: Math.floor(rand() * (Math.floor(kw / 2) + 1)),
    };
    if (H + 2 * g.ph < g.kh || W + 2 * g.pw < g.kw) continue;
    // Small integers make ties common; some trials add NaNs.
    const data = Array.from({ length: N * C * H * W }, () => Math.floor(rand() * 3));
    if (trial % 3 === 0) { for (let i = 0; i < data.length; i += 5) data[i] = NaN; }
    const x = arr(data, [N, C, H, W]);
    const OH = Math.floor((H + 2 * g.ph - g.kh) / g.sh) + 1;
    const OW = Math.floor((W + 2 * g.pw - g.kw) / g.sw) + 1;
    const wantY: number[] = [], wantI: number[] = [];
    for (let nc = 0; nc < N * C; nc++) {
      for (let oy = 0; oy < OH; oy++) {
        for (let ox = 0; ox < OW; ox++) {
          let best = -Infinity, at = -1;
          for (let ky = 0; ky < g.kh; ky++) {
            for (let kx = 0; kx < g.kw; kx++) {
              const y = oy * g.sh - g.ph + ky, xx = ox * g.sw - g.pw + kx;
              if (y < 0 || y >= H || xx < 0 || xx >= W) continue;
              const k = (nc * H + y) * W + xx;
              const v = data[k];
              if (at < 0 || (!Number.isNaN(best) && (v > best || Number.isNaN(v)))) {
                best = v;
                at = k;
              }
            }
          }
          wantY.push(best);
          wantI.push(at);
        }
      }
    }
    const [y, index] = B.maxPool2d(x, g);
    assert.deepEqual(y.shape, [N, C, OH, OW]);
    assert.equal(index.dtype, "int32");
    assert.deepEqual(read(y), wantY);
    assert.deepEqual(read(index), wantI);
    checked++;
  }
  assert.ok(checked > 60);
  const x = arr([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 1, 3, 3]);
  assert.throws(() => B.maxPool2d(x, { kh: 2, kw: 2, sh: 1, sw: 1, ph: 0, pw: 2 }), {
    name: "RangeError",
    message: "maxPool2d: pad 0,2 must be at most half the kernel size 2x2",
  });
  assert.throws(
    () => B.maxPool2d(arr([1], [1, 1, 1]), { kh: 1, kw: 1, sh: 1, sw: 1, ph: 0, pw: 0 }),
    TypeError,
  );
});

// ---------------------------------------------------------------- fused softmax

Deno.test("softmax() / logSoftmax() match the composition along any axis", () => {
  const rand = rng(10);
  const x = randArr(rand, [3, 4, 5]);
  const xd = read(x);
  for (const axis of [0, 1, 2, -1]) {
    const ax = (axis + 3) % 3;
    const mx = naiveReduce("max", xd, [3, 4, 5], [ax], true);
    const shifted = xd.map((v, i) => v - mx.data[bcastIndex(unravel(i, [3, 4, 5]), mx.shape)]);
    const sum = naiveReduce("sum", shifted.map(Math.exp), [3, 4, 5], [ax], true);
    const want = shifted.map((v, i) =>
      Math.exp(v) / sum.data[bcastIndex(unravel(i, [3, 4, 5]), sum.shape)]
    );
    assertClose(read(B.softmax!(x, axis)), want, 1e-12);
    assertClose(read(B.logSoftmax!(x, axis)), want.map(Math.log), 1e-12);
  }
  const big = read(B.softmax!(arr([1000, 0, -1000], [3]), 0));
  assert.deepEqual(big, [1, 0, 0]);
});

Deno.test("logSoftmax() keeps log(sum) for large logits: (x - max) - log(sum)", () => {
  // At 1e16 float64 steps by 2: max + log(sum) would round back to max.
  const cases: [number[], number[]][] = [
    [[1e16, 1e16], [-Math.LN2, -Math.LN2]],
    [[-1e16, -1e16 + 2, -1e16], [-2.2395447662218846, -0.2395447662218846, -2.2395447662218846]],
  ];
  for (const [x, want] of cases) {
    assertClose(read(B.logSoftmax!(arr(x, [1, x.length]), 1)), want, 1e-12);
  }
  // float32: the result rounds once, to the nearest float32 of the exact value.
  const f = read(B.logSoftmax!(arr([1e5, 1e5, 40000, 40001], [2, 2], "float32"), 1));
  assert.deepEqual(
    f,
    [-Math.LN2, -Math.LN2, -1.3132616875182228, -0.31326168751822286].map(
      Math.fround,
    ),
  );
});

// ---------------------------------------------------------------- inputs untouched

Deno.test("no primitive modifies its inputs", () => {
  const rand = rng(11);
  const a = randArr(rand, [2, 3, 4]), b = randArr(rand, [3, 4]);
  const snapshot = (x: NDArray) => read(x);
  const sa = snapshot(a), sb = snapshot(b);
  const check = () => {
    assert.deepEqual(read(a), sa);
    assert.deepEqual(read(b), sb);
  };
  B.unary("exp", a);
  B.binary("add", a, b);
  B.where(b, a, b);
  B.cast(a, "float32");
  B.reduce("sum", a, [1], false);
  B.argReduce("argmax", a, 2, false);
  B.matmul(a, b, { transB: true });
  B.asStrided(a, { shape: [4, 3], strides: [1, 4], offset: 0 });
  B.gather(a, 1, arr([0, 2], [2], "int32"));
  B.softmax!(a, 1);
  B.im2col(a.reshape([1, 2, 3, 4]), { kh: 2, kw: 2, sh: 1, sw: 1, ph: 1, pw: 1 });
  check();
});

Deno.test("cast() to int32 rounds toward zero, saturates and maps NaN to 0", async () => {
  const src = [3e9, -3e9, NaN, Infinity, -Infinity, 2.9, -2.9, 2147483520, -2147483648, -0.5];
  const f32 = cpuBackend.cast(cpuBackend.fromTyped(new Float32Array(src), [src.length]), "int32");
  const f64 = cpuBackend.cast(cpuBackend.fromTyped(new Float64Array(src), [src.length]), "int32");
  const ends = [-2147483648, 2, -2, 2147483520, -2147483648, 0];
  assert.deepEqual([...await cpuBackend.read(f32)], [
    2147483520,
    -2147483648,
    0,
    2147483520,
    ...ends,
  ]);
  assert.deepEqual([...await cpuBackend.read(f64)], [
    2147483647,
    -2147483648,
    0,
    2147483647,
    ...ends,
  ]);
});

Deno.test("a loop of CPU reads gives the event loop a turn (for finalizers) every 16 reads", async () => {
  const x = cpuBackend.fromTyped(new Float32Array([1]), [1]);
  let turned = false;
  const timer = setTimeout(() => turned = true, 0);
  let reads = 0;
  while (!turned && reads < 16) {
    await cpuBackend.read(x);
    reads++;
  }
  clearTimeout(timer);
  assert.ok(turned, "16 reads in a row gave no timer a turn");
});
