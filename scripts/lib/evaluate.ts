/**
 * Evaluation shared by train.ts and eval.ts: mean cross entropy, top-1 / top-5 accuracy and a
 * confusion matrix over a data loader, with the model in eval mode and no gradients.
 *
 * @module
 */

import { type Device, F, type nn, noGrad, tensor, tidy } from "../../mod.ts";
import type { Batch, BatchLoader } from "../data.ts";
import { yieldToEventLoop } from "./interrupt.ts";

/** What {@linkcode evaluate} measured. */
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

/** Options of {@linkcode evaluate}. */
export interface EvaluateOptions {
  /** Where the batches go (the model's device). */
  device: Device;
  /** Number of classes (the logits' width). */
  numClasses: number;
  /** Called after each batch with batches done and batches in all. */
  onBatch?: (done: number, total: number) => void;
  /** Stop early when aborted; {@linkcode evaluate} then returns null. */
  signal?: AbortSignal;
}

/**
 * The rank of the label's score among a sample's scores: how many classes score higher, ties
 * broken by class index (as argmax takes the first maximum). A non-finite label score ranks last.
 *
 * @param scores The sample's logits.
 * @param label The true class.
 * @returns 0 when the label is the prediction.
 * @example
 * ```ts
 * import { labelRank } from "./evaluate.ts";
 * console.log(labelRank(new Float32Array([0.1, 2, 0.5]), 2)); // 1
 * ```
 */
export function labelRank(scores: ArrayLike<number>, label: number): number {
  const target = scores[label];
  if (!Number.isFinite(target)) return scores.length;
  let rank = 0;
  for (let c = 0; c < scores.length; c++) {
    if (scores[c] > target || (scores[c] === target && c < label) || Number.isNaN(scores[c])) rank++;
  }
  return rank;
}

/**
 * The first index of the largest score (NaN scores never win).
 *
 * @param scores One sample's logits.
 * @returns The predicted class.
 * @example
 * ```ts
 * import { argmax } from "./evaluate.ts";
 * console.log(argmax([0.1, 2, 2])); // 1
 * ```
 */
export function argmax(scores: ArrayLike<number>): number {
  let best = 0;
  for (let c = 1; c < scores.length; c++) if (scores[c] > scores[best] || Number.isNaN(scores[best])) best = c;
  return best;
}

/**
 * Counts the samples of a batch whose label has rank < k.
 *
 * @param logits (N, C) scores, row-major.
 * @param labels N labels.
 * @param numClasses C.
 * @param k How many top scores count (1 for top-1).
 * @returns The number of hits.
 * @example
 * ```ts
 * import { countTopK } from "./evaluate.ts";
 * console.log(countTopK(new Float32Array([1, 0, 0, 1]), new Int32Array([0, 0]), 2, 1)); // 1
 * ```
 */
export function countTopK(logits: Float32Array, labels: ArrayLike<number>, numClasses: number, k: number): number {
  let hits = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labelRank(logits.subarray(i * numClasses, (i + 1) * numClasses), labels[i]) < k) hits++;
  }
  return hits;
}

/**
 * Per-class accuracy from a confusion matrix (NaN for a class with no samples).
 *
 * @param confusion `confusion[label][prediction]` counts.
 * @returns The diagonal divided by the row sums.
 * @example
 * ```ts
 * import { perClassAccuracy } from "./evaluate.ts";
 * console.log(perClassAccuracy([[3, 1], [0, 2]])); // [0.75, 1]
 * ```
 */
export function perClassAccuracy(confusion: readonly (readonly number[])[]): number[] {
  return confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total > 0 ? row[c] / total : NaN;
  });
}

/**
 * Runs the model over every batch of `loader` in eval mode without gradients, then restores the
 * model's previous mode. Each batch runs inside `tidy`, and the loop yields to the event loop
 * between batches so that Ctrl-C can be handled.
 *
 * @param model The network, on `options.device`.
 * @param loader The batches (usually the test split, not shuffled).
 * @param options Device, number of classes, progress callback, abort signal.
 * @returns Loss, accuracies and confusion matrix; null when `signal` aborted it.
 * @example
 * ```ts
 * import { evaluate } from "./evaluate.ts";
 * import { cpu, createModel } from "../../mod.ts";
 * import { BatchLoader, loadDataset, testTransform, datasetNormalization } from "../data.ts";
 * const { test } = await loadDataset("digits");
 * const transform = testTransform({ height: 32, width: 32, imageSize: 16, ...datasetNormalization("digits") });
 * const loader = new BatchLoader(test, { batchSize: 8, transform, limit: 8 });
 * const result = await evaluate(createModel("resnet50", { numClasses: 10 }), loader, { device: cpu, numClasses: 10 });
 * console.log(result?.top1);
 * ```
 */
export async function evaluate(
  model: nn.Module,
  loader: BatchLoader,
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
    for (const batch of loader.epoch()) {
      if (options.signal?.aborted) return null;
      const { loss, logits } = noGrad(() => tidy(() => forwardBatch(model, batch, device)));
      lossSum += loss;
      for (let i = 0; i < batch.count; i++) {
        const scores = logits.subarray(i * numClasses, (i + 1) * numClasses);
        const rank = labelRank(scores, batch.labels[i]);
        if (rank < 1) top1++;
        if (rank < 5) top5++;
        confusion[batch.labels[i]][argmax(scores)]++;
      }
      count += batch.count;
      options.onBatch?.(++done, loader.length);
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

function forwardBatch(model: nn.Module, batch: Batch, device: Device): { loss: number; logits: Float32Array } {
  const size = Math.round(Math.sqrt(batch.images.length / (3 * batch.count)));
  const images = tensor(batch.images, [batch.count, 3, size, size], { device }); // (B, 3, S, S)
  const logits = model.forward(images); // (B, classes)
  const loss = F.crossEntropy(logits, batch.labels, { reduction: "sum" }).item();
  return { loss, logits: logits.toFloat32Array() };
}
