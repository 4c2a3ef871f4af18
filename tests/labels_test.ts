import assert from "node:assert/strict";
import { F, tensor } from "../mod.ts";
import { gpuTest } from "../shaders/test_util.ts";

Deno.test("softmaxCrossEntropy() names an out-of-range label on the CPU", () => {
  const x = tensor([[1, 2, 3], [4, 5, 6]]);
  assert.throws(
    () => F.softmaxCrossEntropy(x, tensor([0, 3], { dtype: "int32" })),
    {
      name: "RangeError",
      message: "softmaxCrossEntropy: label 3 at index 1 is out of range for 3 classes",
    },
  );
  assert.throws(
    () => F.softmaxCrossEntropy(x, tensor([-1, 0], { dtype: "int32" })),
    /label -1 at index 0/,
  );
});

gpuTest(
  "softmaxCrossEntropy() on the GPU: an out-of-range label fails the next readback",
  async () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], { device: "gpu" });
    const loss = F.softmaxCrossEntropy(x, tensor([0, 7], { dtype: "int32", device: "gpu" }));
    await assert.rejects(() => loss.item(), /out of range/);
    // the error is reported once; later work is unaffected
    const ok = F.softmaxCrossEntropy(x, tensor([0, 2], { dtype: "int32", device: "gpu" }));
    assert.ok(Number.isFinite(await ok.item()));
  },
);
