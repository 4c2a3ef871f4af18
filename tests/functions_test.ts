import assert from "node:assert/strict";
import { utils } from "../mod.ts";
import { GRAD_CASES, maker } from "./grad_cases.ts";

for (const c of GRAD_CASES) {
  Deno.test(`${c.name}: first and second derivatives match numerical (cpu, float64)`, async () => {
    const xs = c.inputs(maker("cpu", "float64"));
    const r = await utils.gradientCheck(c.f, xs, { order: c.firstOrderOnly ? 1 : 2 });
    assert.ok(r.ok, r.failures.join("\n"));
  });
}
