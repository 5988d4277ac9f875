/**
 * Classification accuracy from host scores: the label's rank among a sample's scores (top-k
 * hits), argmax predictions and per-class accuracy from a confusion matrix.
 *
 * @module
 */

/**
 * The rank of the label's score among a sample's scores: how many classes score higher, ties
 * broken by class index (as argmax takes the first maximum). A non-finite label score ranks last.
 *
 * @param scores The sample's logits.
 * @param label The true class.
 * @returns 0 when the label is the prediction.
 * @example
 * ```ts
 * import { labelRank } from "./accuracy.ts";
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
 * import { argmax } from "./accuracy.ts";
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
 * import { countTopK } from "./accuracy.ts";
 * console.log(countTopK(new Float32Array([1, 0, 0, 1]), new Int32Array([0, 0]), 2, 1)); // 1
 * ```
 */
export function countTopK(
  logits: Float32Array | Float64Array,
  labels: ArrayLike<number>,
  numClasses: number,
  k: number,
): number {
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
 * import { perClassAccuracy } from "./accuracy.ts";
 * console.log(perClassAccuracy([[3, 1], [0, 2]])); // [0.75, 1]
 * ```
 */
export function perClassAccuracy(confusion: readonly (readonly number[])[]): number[] {
  return confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total > 0 ? row[c] / total : NaN;
  });
}
