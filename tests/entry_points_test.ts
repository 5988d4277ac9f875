/**
 * What a program gets from each entry module, each run in a fresh Deno process (so that no other
 * test module has already connected the Tensor methods or registered the CUDA device).
 *
 * @module
 */

import assert from "node:assert/strict";
import { testWith } from "./helpers.ts";

const module = (path: string): string => new URL(`../${path}`, import.meta.url).href;

/** Runs `code` with `deno eval` in a new process; returns stdout and stderr, trimmed. */
async function runFresh(code: string): Promise<{ success: boolean; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), { args: ["eval", code], stdout: "piped", stderr: "piped" })
    .output();
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes).trim();
  return { success: output.success, stdout: text(output.stdout), stderr: text(output.stderr) };
}

testWith("nn/creation.ts alone gives tensors whose methods and backward() work", ["run"], async () => {
  const { success, stdout, stderr } = await runFresh(`
    import { tensor } from "${module("nn/creation.ts")}";
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = x.mul(x).sum();
    y.backward();
    console.log(JSON.stringify({ y: y.item(), grad: x.grad?.toArray(), device: x.device.name }));
  `);
  assert.ok(success, stderr);
  assert.deepEqual(JSON.parse(stdout), { y: 14, grad: [2, 4, 6], device: "cpu" });
});

testWith("nn/tensor.ts alone refuses Tensor methods with one line saying what to import", ["run"], async () => {
  const { success, stdout, stderr } = await runFresh(`
    import { empty } from "${module("nn/tensor.ts")}";
    import { cpu } from "${module("nn/cpu/device.ts")}";
    try {
      empty([2], "float32", cpu).add(1);
    } catch (error) {
      console.log(error.message);
    }
  `);
  assert.ok(success, stderr);
  assert.match(stdout, /^Tensor methods are not connected to the ops; import mod\.ts or nn\/creation\.ts/);
  assert.ok(!stdout.includes("\n"), "one line");
});

testWith('without nn/cuda/register.ts, "cuda" says so in one line and "auto" is the CPU', ["run"], async () => {
  const { success, stdout, stderr } = await runFresh(`
    import { cudaAvailable, resolveDevice } from "${module("nn/device_registry.ts")}";
    let message = "";
    try {
      resolveDevice("cuda");
    } catch (error) {
      message = error.message;
    }
    console.log(JSON.stringify({ message, auto: resolveDevice("auto").name, available: cudaAvailable() }));
  `);
  assert.ok(success, stderr);
  const result = JSON.parse(stdout);
  assert.match(result.message, /^The CUDA device is not loaded; import mod\.ts or nn\/cuda\/register\.ts/);
  assert.ok(!result.message.includes("\n"), "one line");
  assert.equal(result.auto, "cpu");
  assert.equal(result.available, false);
  assert.match(stderr, /^epsanet: CUDA unavailable \(The CUDA device is not loaded; .*\); using the CPU$/);
});

testWith('mod.ts registers the CUDA device: "cuda" reaches the CUDA module', ["run"], async () => {
  const { success, stdout, stderr } = await runFresh(`
    import { resolveDevice } from "${module("mod.ts")}";
    try {
      console.log(resolveDevice("cuda").name);
    } catch (error) {
      console.log(error.message);
    }
  `);
  assert.ok(success, stderr);
  assert.doesNotMatch(stdout, /^The CUDA device is not loaded/);
});
