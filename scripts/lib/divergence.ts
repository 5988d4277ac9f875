/**
 * Divergence checks of a training run: a model whose weights or batch-norm statistics hold NaN or
 * infinity, or an evaluation whose loss is not finite, must never be saved as a checkpoint.
 *
 * @module
 */

import type { Model } from "../../mod.ts";

/**
 * The name of the first state tensor (weights, buffers) holding a NaN or an infinity, or null.
 *
 * @param model The model.
 * @returns A state-dict key, or null when every value is finite.
 * @example
 * ```ts
 * import { createModel } from "../../mod.ts";
 * import { firstNonFiniteTensor } from "./divergence.ts";
 * const model = createModel("resnet50", { numClasses: 2, stem: "cifar" });
 * console.log(firstNonFiniteTensor(model)); // null
 * ```
 */
export function firstNonFiniteTensor(model: Model): string | null {
  const integer = model.integerStateKeys();
  for (const [name, tensor] of Object.entries(model.stateDict())) {
    if (integer.has(name)) continue; // counters cannot hold NaN
    const values = tensor.toFloat32Array();
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return name;
  }
  return null;
}

/**
 * Throws a one-line Error when the run has diverged: a non-finite test loss (when given) or a
 * non-finite value in the model's state. Nothing is written by the caller then, so the run
 * folder keeps its last finite checkpoint.
 *
 * @param model The model about to be saved.
 * @param where Where the run is, e.g. `"epoch 2"`.
 * @param out The run folder, for the message.
 * @param testLoss The epoch's test loss, when an evaluation was made.
 * @throws An Error saying what is not finite and what to do.
 * @example
 * ```ts
 * import { createModel } from "../../mod.ts";
 * import { checkNotDiverged } from "./divergence.ts";
 * const model = createModel("resnet50", { numClasses: 2, stem: "cifar" });
 * checkNotDiverged(model, "epoch 1", "/tmp/run", 0.7); // finite: returns
 * ```
 */
export function checkNotDiverged(model: Model, where: string, out: string, testLoss?: number): void {
  const tail = `stopped without saving, so the last checkpoint in ${out} is untouched; lower --lr and start again`;
  if (testLoss !== undefined && !Number.isFinite(testLoss)) {
    throw new Error(`Test loss became ${testLoss} at ${where}; the run diverged; ${tail}`);
  }
  const name = firstNonFiniteTensor(model);
  if (name !== null) throw new Error(`Weights became non-finite (${name}) at ${where}; the run diverged; ${tail}`);
}
