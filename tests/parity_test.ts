/**
 * Parity with PyTorch: the project's own PyTorch reference (tests/parity/torch_epsanet.py: EPSANet
 * as the official code computes it, and torchvision's ResNet-50) is run by Debian's python3-torch,
 * its weights move to us through safetensors, and one train-mode forward/backward and one eval
 * forward must match. Where /usr/bin/python3 lacks torch (or torchvision, for ResNet-50) the tests
 * are ignored with the reason in their names.
 */
import assert from "node:assert/strict";
import {
  createModel,
  crossEntropy,
  type DType,
  loadWeights,
  type ModelName,
  noGrad,
  readSafetensors,
  tensor,
} from "../mod.ts";
import { granted, PYTHON, pythonLacks, relativeError, withTempDir } from "./helpers.ts";

const SCRIPT = new URL("./parity/torch_parity.py", import.meta.url).pathname;

/** What tests/parity/torch_parity.py writes to reference.json. */
interface Reference {
  input: number[];
  targets: number[];
  train_logits: number[];
  loss: number;
  running: Record<string, number[]>;
  eval_logits: number[];
}

/** Largest relative L2 errors allowed: outputs and statistics, and gradients. */
interface Tolerances {
  values: number;
  grads: number;
}

async function reference(name: ModelName, dtype: DType, dir: string): Promise<Reference> {
  const run = await new Deno.Command(PYTHON, { args: [SCRIPT, name, dtype, dir], stdout: "null" }).output();
  assert.ok(run.success, new TextDecoder().decode(run.stderr));
  return JSON.parse(await Deno.readTextFile(`${dir}/reference.json`));
}

function check(label: string, actual: ArrayLike<number>, expected: ArrayLike<number>, limit: number): void {
  assert.equal(actual.length, expected.length, `${label}: length`);
  const error = relativeError(actual, expected);
  assert.ok(error <= limit, `${label}: relative error ${error.toExponential(2)} > ${limit}`);
}

/**
 * One train-mode forward/backward and one eval forward, compared with PyTorch. `gradients` picks
 * the gradients checked: every parameter's, or the classifier's (`fc.weight`, `fc.bias`) only.
 */
async function compare(name: ModelName, dtype: DType, tol: Tolerances, gradients: "all" | "head"): Promise<void> {
  await withTempDir(async (dir) => {
    const ref = await reference(name, dtype, dir);
    const model = createModel(name, { numClasses: 10 }).to(dtype);
    await loadWeights(`${dir}/weights.safetensors`, model);
    const x = tensor(ref.input, [4, 3, 64, 64], { dtype });
    const logits = model.forward(x);
    check("train-mode logits", logits.toFloat64Array(), ref.train_logits, tol.values);
    const loss = crossEntropy(logits, ref.targets, { labelSmoothing: 0.1 });
    check("loss", [loss.item()], [ref.loss], tol.values);
    loss.backward();
    const params = Object.fromEntries(model.namedParameters());
    const { tensors } = await readSafetensors(`${dir}/gradients.safetensors`);
    assert.deepEqual(Object.keys(tensors).sort(), Object.keys(params).sort());
    for (const [key, expected] of Object.entries(tensors)) {
      if (gradients === "all" || key.startsWith("fc.")) {
        check(`gradient of ${key}`, params[key].grad!.toFloat64Array(), expected.toFloat64Array(), tol.grads);
      }
      expected.dispose();
    }
    const state = model.stateDict();
    for (const [key, values] of Object.entries(ref.running)) {
      check(key, state[key].toFloat64Array(), values, tol.values);
    }
    model.eval();
    check("eval-mode logits", noGrad(() => model.forward(x)).toFloat64Array(), ref.eval_logits, tol.values);
    model.dispose();
  });
}

/** Why the parity tests of `name` cannot run here, or null. */
function skipReason(name: ModelName): string | null {
  if (!granted("run", "read", "write", "ffi", "env")) {
    return "needs --allow-run --allow-read --allow-write --allow-ffi --allow-env";
  }
  return pythonLacks(name === "resnet50" ? ["torch", "torchvision"] : ["torch"]);
}

for (const name of ["epsanet50", "resnet50"] as const) {
  const skip = skipReason(name);
  const suffix = skip ? ` (skipped: ${skip})` : "";
  // float64 on both sides: the same algorithm must agree to rounding, in every layer.
  Deno.test({
    name: `${name} matches PyTorch in float64: logits, loss, every parameter's gradient, BN statistics${suffix}`,
    ignore: skip !== null,
    fn: () => compare(name, "float64", { values: 1e-10, grads: 1e-9 }, "all"),
  });
  // float32: batch statistics over 4 images amplify rounding as gradients flow down ~50 layers
  // (3e-2 relative at conv1 in both directions of the comparison, 1e-13 in float64), so only the
  // values and the classifier's gradients are held to float32 precision here.
  Deno.test({
    name: `${name} matches PyTorch in float32: logits, loss, classifier gradients, BN statistics${suffix}`,
    ignore: skip !== null,
    fn: () => compare(name, "float32", { values: 1e-4, grads: 1e-3 }, "head"),
  });
}
