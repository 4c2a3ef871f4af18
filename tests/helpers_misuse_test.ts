// The numeric helpers, the config switch and the data pipeline on wrong input:
// what a user typing in a notebook gets, and allclose on infinities as NumPy.
import assert from "node:assert/strict";
import { assertThrows } from "./_assert.ts";
import { F, tensor, usingConfig, utils, type Variable } from "../mod.ts";
import { Config } from "../core/config.ts";
import { DataLoader, SeqDataLoader } from "../data/dataloader.ts";
import { Compose, ToFloat } from "../data/transforms.ts";
import { encodeSafetensors } from "../nn/io.ts";

// deno-lint-ignore no-explicit-any
const untyped = (c: unknown) => c as any;

async function assertRejects(
  fn: () => Promise<unknown>,
  cls: ErrorConstructor,
  part: string,
): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof cls, `expected a ${cls.name}, got ${e}`);
    assert.ok(e.message.includes(part), `expected "${part}" in: ${e.message}`);
    return true;
  });
}

Deno.test("allclose: an infinity is close to the same infinity only (NumPy's rule)", async () => {
  const inf = Infinity;
  assert.equal(await utils.allclose([inf, -inf, 1], [inf, -inf, 1]), true);
  assert.equal(await utils.allclose(tensor([inf, 2]), [inf, 2]), true);
  assert.equal(await utils.allclose([inf], [-inf]), false);
  // rtol * |inf| is infinite: without the rule any finite value would be "close" to inf.
  assert.equal(await utils.allclose([1], [inf]), false);
  assert.equal(await utils.allclose([inf], [1e308]), false);
  assert.equal(await utils.allclose([1e308], [inf], { rtol: 1 }), false);
  assert.equal(await utils.allclose([NaN], [inf]), false);
  assert.equal(await utils.allclose([NaN, inf], [NaN, inf], { equalNan: true }), true);
  const r = await utils.compare([inf, 1], [inf, 2]);
  assert.equal(r.ok, false);
  assert.equal(r.at, 1, r.message);
  assert.equal(r.maxError, 1);
  const same = await utils.compare([inf], [inf]);
  assert.deepEqual([same.ok, same.maxError], [true, 0]);
  const wrong = await utils.compare([2, 3], [2, -inf]);
  assert.deepEqual([wrong.ok, wrong.at, wrong.maxError], [false, 1, Infinity]);
});

Deno.test("numericalGrad and gradientCheck name a wrong index, input or return", async () => {
  const x = tensor([1, 2], { dtype: "float64" });
  const f = (v: Variable) => F.mul(v, v);
  await assertRejects(() => utils.numericalGrad(f, [x], { index: 1 }), RangeError, "index 1");
  await assertRejects(() => utils.numericalGrad(f, [x], { index: -1 }), RangeError, "1 input");
  await assertRejects(() => utils.numericalGrad(f, [x], { index: 0.5 }), RangeError, "index 0.5");
  const t = tensor([0, 1], { dtype: "int32" });
  await assertRejects(
    () => utils.numericalGrad((a) => a, [t]),
    TypeError,
    "input 0 is int32",
  );
  await assertRejects(
    () => utils.numericalGrad(untyped(() => 3), [x]),
    TypeError,
    "numericalGrad: f returned 3, not a Variable",
  );
  await assertRejects(
    () => utils.gradientCheck(untyped(() => [x, x]), [x]),
    TypeError,
    "gradientCheck: f returned an array [object, object], not a Variable: return one Variable",
  );
  await assertRejects(
    () => utils.gradientCheck(untyped(async (v: Variable) => await F.mul(v, 2)), [x]),
    TypeError,
    "f must be synchronous",
  );
  await assertRejects(
    () => utils.gradientCheck(f, untyped([x, [1, 2]])),
    TypeError,
    "gradientCheck: input 1 is an array [1, 2], not a Variable",
  );
  await assertRejects(() => utils.gradientCheck(f, untyped(3)), TypeError, "got 3");
  // DeZero's numerical_diff(f, x) form: one Variable, rank 0 too.
  const three = tensor(3, { dtype: "float64" });
  assert.equal(Math.round((await utils.numericalGrad(f, three))[0]), 6);
  assert.deepEqual(Array.from(await utils.numericalGrad(f, x)).map(Math.round), [2, 4]);
  await assertRejects(() => utils.numericalGrad(f, untyped(3)), TypeError, "got 3");
  // Still fine with correct input.
  assert.deepEqual(Array.from(await utils.numericalGrad(f, [x])).map(Math.round), [2, 4]);
  assert.equal((await utils.gradientCheck(f, x, { order: 2 })).ok, true);
});

Deno.test("usingConfig rejects an unknown flag or a non-boolean, and leaves undefined ones", () => {
  assertThrows(
    () => usingConfig(untyped({ enable_backprop: false }), () => 0),
    TypeError,
    'unknown flag "enable_backprop" (the flags are enableBackprop, train)',
  );
  assertThrows(
    () => usingConfig(untyped({ train: "false" }), () => 0),
    TypeError,
    'flag train must be true or false, got a string "false"',
  );
  assertThrows(() => usingConfig(untyped(null), () => 0), TypeError, "flags must be an object");
  assertThrows(() => usingConfig({ train: false }, untyped(1)), TypeError, "fn must be a function");
  assert.equal(Config.train, true, "a rejected call changes nothing");
  const seen = usingConfig({ train: undefined, enableBackprop: false }, () => ({ ...Config }));
  assert.deepEqual(seen, { train: true, enableBackprop: false });
  assert.deepEqual({ ...Config }, { train: true, enableBackprop: true });
});

Deno.test("DataLoader, Compose and saveSafetensors show the wrong value they got", async () => {
  const data: [number[], number][] = [[[1], 0], [[2], 1], [[3], 0]];
  assertThrows(
    () => new DataLoader(data, untyped("10")),
    TypeError,
    'DataLoader: batchSize must be a positive integer, got a string "10"',
  );
  assertThrows(() => new DataLoader(data, 0), RangeError, "got 0");
  assertThrows(() => new SeqDataLoader(data, 1.5), RangeError, "SeqDataLoader: batchSize");
  assertThrows(
    () => new DataLoader(data, 2, { device: untyped("cuda") }),
    TypeError,
    'DataLoader: option "device" must be "cpu" or "gpu", got a string "cuda"',
  );
  assertThrows(
    () => new DataLoader(data, 2, untyped({ shufle: false })),
    TypeError,
    'DataLoader: unknown option "shufle": expected shuffle, dropLast, device, seed, autoDispose',
  );
  assertThrows(() => new DataLoader(data, 2, untyped(1)), TypeError, "options must be an object");
  assertThrows(
    () => new (untyped(DataLoader))(data, 2, false, true),
    TypeError,
    'got 4 arguments: DeZero\'s gpu argument is the option device: "gpu"',
  );
  assertThrows(
    () => new SeqDataLoader(data, 2, untyped({ shuffle: true })),
    TypeError,
    'SeqDataLoader: unknown option "shuffle": expected device, autoDispose',
  );
  // DeZero's positional shuffle.
  assert.equal(new DataLoader(data, 2, false).shuffle, false);
  assert.equal(new DataLoader(data, 2, true).shuffle, true);
  const ordered = new DataLoader(data, 3, false);
  assert.deepEqual(await ordered.next()![1].toArray(), [0, 1, 0]);
  assertThrows(() => new Compose(untyped(new ToFloat())), TypeError, "expected an array");
  assertThrows(
    () => new Compose(untyped([new ToFloat(), null])),
    TypeError,
    "Compose: transform 1 is null, not a function or an object with apply(sample)",
  );
  assertThrows(
    () => new Compose(untyped([{ apply: 1 }])),
    TypeError,
    "transform 0 is a plain object",
  );
  await assertRejects(
    () => encodeSafetensors(untyped({ w: null })),
    TypeError,
    'saveSafetensors: tensor "w" is null: expected a Variable, an NDArray or { dtype, shape, data }',
  );
  await assertRejects(() => encodeSafetensors(untyped({ w: 3 })), TypeError, 'tensor "w" is 3');
});
