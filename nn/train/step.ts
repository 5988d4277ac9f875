/**
 * The train step and the eval step that the training CLI, the evaluation CLI and the benchmark
 * share: forward, cross entropy, and (training) backward plus one optimiser update, with the loss
 * and the logits brought to the host in ONE device read per step (on CUDA, one synchronisation).
 *
 * @module
 */

import { noGrad } from "../autograd.ts";
import { crossEntropy } from "../loss.ts";
import type { Module } from "../module.ts";
import { cat } from "../ops/mod.ts";
import type { Optimizer } from "../optim.ts";
import { tidy } from "../scope.ts";
import type { Tensor } from "../tensor.ts";
import { countTopK } from "./accuracy.ts";

/** Class indices of a batch, one per sample. */
export type Labels = Int32Array | readonly number[];

/**
 * Options of {@linkcode trainStep}.
 *
 * @example
 * ```ts
 * import type { TrainStepOptions } from "./step.ts";
 * const options: TrainStepOptions = { labelSmoothing: 0.1 };
 * ```
 */
export interface TrainStepOptions {
  /** Label smoothing of the cross entropy, in [0, 1) (default 0). */
  labelSmoothing?: number;
}

/**
 * What {@linkcode trainStep} measured.
 *
 * @example
 * ```ts
 * import type { TrainStepResult } from "./step.ts";
 * const accuracy = (r: TrainStepResult, batch: number): number => r.correct / batch;
 * ```
 */
export interface TrainStepResult {
  /** The batch's mean loss (as optimised, label smoothing included); NaN or infinite: no update was made. */
  loss: number;
  /** Samples whose highest logit is their label (top-1 hits, in train mode). */
  correct: number;
}

/**
 * What {@linkcode evalStep} measured.
 *
 * @example
 * ```ts
 * import type { EvalStepResult } from "./step.ts";
 * const meanLoss = (r: EvalStepResult, batch: number): number => r.lossSum / batch;
 * ```
 */
export interface EvalStepResult {
  /** The batch's summed cross entropy (no label smoothing). */
  lossSum: number;
  /** (B, classes) logits, row-major, on the host. */
  logits: Float64Array;
}

/**
 * The loss and the logits in one read: one small tensor `[loss, ...logits]` copied to the host.
 *
 * @param loss () the loss.
 * @param logits (B, classes).
 * @returns The loss and the flat logits.
 */
function readLossAndLogits(loss: Tensor, logits: Tensor): { loss: number; logits: Float64Array } {
  const joined = noGrad(() => cat([loss.reshape(1), logits.reshape(logits.size)])); // (1 + B * classes)
  const values = joined.toFloat64Array(); // the step's only device read
  return { loss: values[0], logits: values.subarray(1) };
}

/**
 * One optimisation step in a `tidy` scope: forward, cross entropy, backward, `optimizer.step()`,
 * `optimizer.zeroGrad()`. Reads the device once. When the loss is NaN or infinite, the step stops
 * before backward, so the weights stay as they were; check `Number.isFinite(result.loss)`.
 *
 * @param model The network (in train mode), on the images' device.
 * @param optimizer The optimiser of the model's parameters.
 * @param images (B, C, H, W) inputs.
 * @param labels B class indices.
 * @param options Label smoothing.
 * @returns The batch's loss and its top-1 hits.
 * @example
 * ```ts
 * import { trainStep } from "./step.ts";
 * import { createOptimizer } from "./factories.ts";
 * import { createModel } from "../models.ts";
 * import { randn } from "../creation.ts";
 * const model = createModel("resnet50", { numClasses: 10, stem: "cifar" });
 * const optimizer = createOptimizer("adam", model.parameters(), { lr: 1e-3 });
 * const { loss, correct } = trainStep(model, optimizer, randn([2, 3, 16, 16]), [3, 7]);
 * ```
 */
export function trainStep(
  model: Module,
  optimizer: Optimizer,
  images: Tensor,
  labels: Labels,
  options: TrainStepOptions = {},
): TrainStepResult {
  return tidy(() => {
    const logits = model.forward(images); // (B, classes)
    const loss = crossEntropy(logits, labels, { labelSmoothing: options.labelSmoothing ?? 0 });
    const read = readLossAndLogits(loss, logits);
    if (!Number.isFinite(read.loss)) return { loss: read.loss, correct: 0 };
    loss.backward();
    optimizer.step();
    optimizer.zeroGrad();
    return { loss: read.loss, correct: countTopK(read.logits, labels, logits.shape[1], 1) };
  });
}

/**
 * One evaluation step without gradients in a `tidy` scope: forward and summed cross entropy,
 * read in one device read. The caller puts the model in eval mode.
 *
 * @param model The network, on the images' device.
 * @param images (B, C, H, W) inputs.
 * @param labels B class indices.
 * @returns The summed loss and the logits.
 * @example
 * ```ts
 * import { evalStep } from "./step.ts";
 * import { createModel } from "../models.ts";
 * import { randn } from "../creation.ts";
 * const model = createModel("resnet50", { numClasses: 10 }).eval();
 * const { lossSum, logits } = evalStep(model, randn([2, 3, 32, 32]), [1, 2]);
 * ```
 */
export function evalStep(model: Module, images: Tensor, labels: Labels): EvalStepResult {
  return noGrad(() =>
    tidy(() => {
      const logits = model.forward(images); // (B, classes)
      const loss = crossEntropy(logits, labels, { reduction: "sum" });
      const read = readLossAndLogits(loss, logits);
      return { lossSum: read.loss, logits: read.logits };
    })
  );
}
