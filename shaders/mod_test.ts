import assert from "node:assert/strict";
import { gpuTest } from "./test_util.ts";

// Runs `code` in a fresh Deno whose WebGPU has no usable backend (Deno's
// DENO_WEBGPU_BACKEND=none enables no backend), so that no adapter exists.
async function withoutAdapter(code: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", code],
    env: { DENO_WEBGPU_BACKEND: "none", NO_COLOR: "1", ...env },
    cwd: new URL(".", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("initGpu() throws WebGpuUnavailableError and gpuAvailable() is false without an adapter", async () => {
  const r = await withoutAdapter(`
    import { gpuAvailable, initGpu, WebGpuUnavailableError } from "./mod.ts";
    console.log("available", await gpuAvailable());
    try {
      await initGpu();
      console.log("no error");
    } catch (e) {
      console.log(e instanceof WebGpuUnavailableError, e.name, e.message);
    }
  `);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /available false/);
  assert.match(r.stdout, /true WebGpuUnavailableError WebGPU is unavailable: .*found no adapter/);
});

Deno.test("gpuTest() skips without an adapter and fails when DEZERO_REQUIRE_GPU=1", async () => {
  const code = `
    import { gpuTest } from "./test_util.ts";
    gpuTest("needs a gpu", () => {});
  `;
  // deno eval cannot run tests: register into a test run through a temporary file.
  const file = await Deno.makeTempFile({
    dir: new URL(".", import.meta.url).pathname,
    suffix: "_tmp_test.ts",
  });
  try {
    await Deno.writeTextFile(file, code);
    const run = async (env: Record<string, string>) => {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["test", "-A", "--no-check", file],
        env: { DENO_WEBGPU_BACKEND: "none", NO_COLOR: "1", ...env },
        stdout: "piped",
        stderr: "piped",
      }).output();
      return {
        code: out.code,
        text: new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr),
      };
    };
    const skipped = await run({ DEZERO_REQUIRE_GPU: "0" }); // CI sets it to 1 in our own env
    assert.equal(skipped.code, 0, skipped.text);
    assert.match(skipped.text, /GPU tests skipped: no WebGPU adapter found/);
    assert.match(skipped.text, /needs a gpu \.\.\. ignored/);
    const required = await run({ DEZERO_REQUIRE_GPU: "1" });
    assert.notEqual(required.code, 0);
    assert.match(required.text, /needs a gpu \.\.\. FAILED/);
    assert.match(required.text, /WebGpuUnavailableError/);
  } finally {
    await Deno.remove(file);
  }
});

gpuTest("initGpu() keeps Mesa's Wayland probe quiet where XDG_RUNTIME_DIR is unset", async () => {
  const env = Deno.env.toObject();
  delete env.XDG_RUNTIME_DIR;
  const mod = new URL("../mod.ts", import.meta.url).href;
  const script = `import { gpuAvailable, initGpu } from "${mod}";
    console.log(await gpuAvailable(), (await initGpu()).description !== "", Deno.env.get("XDG_RUNTIME_DIR"));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env,
    clearEnv: true,
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  // With lavapipe installed (as CI has) the probe printed this twice per requestAdapter().
  assert.ok(!stderr.includes("XDG_RUNTIME_DIR"), stderr);
  // The variable is restored (unset) after the call.
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "true true undefined");
});

Deno.test("initGpu() turns a failing requestAdapter() into WebGpuUnavailableError with the cause", async () => {
  const r = await withoutAdapter(`
    import { gpuAvailable, initGpu, WebGpuUnavailableError } from "./mod.ts";
    Object.defineProperty(navigator, "gpu", {
      value: { requestAdapter: () => Promise.reject(new Error("driver crashed")) },
      configurable: true,
    });
    console.log("available", await gpuAvailable());
    try {
      await initGpu();
      console.log("no error");
    } catch (e) {
      console.log(e instanceof WebGpuUnavailableError, e.message, "|", e.cause?.message);
    }
  `);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /available false/);
  assert.match(
    r.stdout,
    /true WebGPU is unavailable: navigator\.gpu\.requestAdapter\(\) failed: driver crashed \| driver crashed/,
  );
});
