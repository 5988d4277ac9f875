/**
 * Evaluation over a batch source: mean cross entropy, top-1 / top-5 accuracy and a confusion
 * matrix, with the model in eval mode and no gradients, one device read per batch.
 *
 * @module
 */

import type { Device } from "../device.ts";
import type { Module } from "../module.ts";
import { argmax, labelRank } from "./accuracy.ts";
import { batchImages, type BatchSource, yieldToEventLoop } from "./batches.ts";
import { evalStep } from "./step.ts";
import { tidy } from "../scope.ts";

/**
 * What {@linkcode evaluate} measured.
 *
 * @example
 * ```ts
 * import type { EvalResult } from "./evaluate.ts";
 * const errors = (r: EvalResult): number => Math.round((1 - r.top1) * r.count);
 * ```
 */
export interface EvalResult {
  /** Images evaluated. */
  count: number;
  /** Mean cross entropy (no label smoothing). */
  loss: number;
  /** Fraction whose highest score is the label. */
  top1: number;
  /** Fraction whose label is among the 5 highest scores (all classes when there are fewer). */
  top5: number;
  /** `confusion[label][prediction]` counts. */
  confusion: number[][];
  /** Wall time in seconds. */
  seconds: number;
}

/**
 * Options of {@linkcode evaluate}.
 *
 * @example
 * ```ts
 * import type { EvaluateOptions } from "./evaluate.ts";
 * import { cpu } from "../cpu/device.ts";
 * const options: EvaluateOptions = { device: cpu, numClasses: 10, imageShape: [3, 32, 32] };
 * ```
 */
export interface EvaluateOptions {
  /** Where the batches go (the model's device). */
  device: Device;
  /** Number of classes (the logits' width). */
  numClasses: number;
  /** [C, H, W] of one image. */
  imageShape: readonly number[];
  /** Called after each batch with batches done and batches in all. */
  onBatch?: (done: number, total: number) => void;
  /** Stop early when aborted; {@linkcode evaluate} then returns null. */
  signal?: AbortSignal;
}

/**
 * Runs the model over one epoch of `source` in eval mode without gradients, then restores the
 * model's previous mode. The loop yields to the event loop between batches so that Ctrl-C can be
 * handled.
 *
 * @param model The network, on `options.device`.
 * @param source The batches (usually the test split, not shuffled).
 * @param options Device, number of classes, image shape, progress callback, abort signal.
 * @returns Loss, accuracies and confusion matrix; null when `signal` aborted it.
 * @example
 * ```ts
 * import { evaluate } from "./evaluate.ts";
 * import { cpu } from "../cpu/device.ts";
 * import { createModel } from "../models.ts";
 * const batch = { images: new Float32Array(2 * 3 * 16 * 16), labels: new Int32Array([0, 1]), count: 2 };
 * const source = { length: 1, epoch: () => [batch] };
 * const result = await evaluate(createModel("resnet50", { numClasses: 10 }), source, {
 *   device: cpu, numClasses: 10, imageShape: [3, 16, 16],
 * });
 * console.log(result?.top1);
 * ```
 */
export async function evaluate(
  model: Module,
  source: BatchSource,
  options: EvaluateOptions,
): Promise<EvalResult | null> {
  const { device, numClasses } = options;
  const started = performance.now();
  const confusion = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  const wasTraining = model.training;
  let lossSum = 0;
  let top1 = 0;
  let top5 = 0;
  let count = 0;
  let done = 0;
  model.eval();
  try {
    for (const batch of source.epoch()) {
      if (options.signal?.aborted) return null;
      const step = tidy(() => evalStep(model, batchImages(batch, options.imageShape, device), batch.labels));
      lossSum += step.lossSum;
      for (let i = 0; i < batch.count; i++) {
        const scores = step.logits.subarray(i * numClasses, (i + 1) * numClasses);
        const rank = labelRank(scores, batch.labels[i]);
        if (rank < 1) top1++;
        if (rank < 5) top5++;
        confusion[batch.labels[i]][argmax(scores)]++;
      }
      count += batch.count;
      options.onBatch?.(++done, source.length);
      await yieldToEventLoop();
    }
  } finally {
    model.train(wasTraining);
  }
  return {
    count,
    loss: lossSum / count,
    top1: top1 / count,
    top5: top5 / count,
    confusion,
    seconds: (performance.now() - started) / 1000,
  };
}
