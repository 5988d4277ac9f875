/**
 * CPU softmax / log-softmax along an axis, and cross entropy with label smoothing.
 *
 * @module
 */

import type {
  CrossEntropyBackwardArgs,
  CrossEntropyForwardArgs,
  SoftmaxBackwardArgs,
  SoftmaxForwardArgs,
} from "../device/kernels.ts";
import type { FloatArray } from "./gemm.ts";

/**
 * Softmax (or log-softmax) of a tensor seen as (outer, axis, inner), along `axis`.
 *
 * @param args Geometry, input, output, and whether to take log-softmax.
 * @example
 * ```ts
 * import { softmaxForward } from "./softmax.ts";
 * const y = new Float32Array(2);
 * softmaxForward({ geometry: { outer: 1, axis: 2, inner: 1 }, x: new Float32Array([0, 0]), y, log: false });
 * // y = [0.5, 0.5]
 * ```
 */
export function softmaxForward(args: SoftmaxForwardArgs<FloatArray>): void {
  const { x, y, log } = args;
  const { outer, axis, inner } = args.geometry;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * axis * inner + j;
      let max = -Infinity;
      for (let a = 0; a < axis; a++) max = Math.max(max, x[base + a * inner]);
      let sum = 0;
      for (let a = 0; a < axis; a++) sum += Math.exp(x[base + a * inner] - max);
      if (log) {
        const lse = max + Math.log(sum);
        for (let a = 0; a < axis; a++) y[base + a * inner] = x[base + a * inner] - lse;
      } else {
        for (let a = 0; a < axis; a++) y[base + a * inner] = Math.exp(x[base + a * inner] - max) / sum;
      }
    }
  }
}

/**
 * Softmax (or log-softmax) backward from the forward output.
 *
 * @param args Geometry, forward output, output gradient, input gradient (overwritten), and whether
 * the forward was log-softmax.
 * @example
 * ```ts
 * import { softmaxBackward } from "./softmax.ts";
 * const dx = new Float32Array(2);
 * softmaxBackward({ geometry: { outer: 1, axis: 2, inner: 1 }, y: new Float32Array([0.5, 0.5]),
 *   dy: new Float32Array([1, 0]), dx, log: false }); // dx = [0.25, -0.25]
 * ```
 */
export function softmaxBackward(args: SoftmaxBackwardArgs<FloatArray>): void {
  const { y, dy, dx, log } = args;
  const { outer, axis, inner } = args.geometry;
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < inner; j++) {
      const base = o * axis * inner + j;
      let dot = 0;
      if (log) {
        for (let a = 0; a < axis; a++) dot += dy[base + a * inner];
        for (let a = 0; a < axis; a++) {
          const i = base + a * inner;
          dx[i] = dy[i] - Math.exp(y[i]) * dot;
        }
      } else {
        for (let a = 0; a < axis; a++) dot += dy[base + a * inner] * y[base + a * inner];
        for (let a = 0; a < axis; a++) {
          const i = base + a * inner;
          dx[i] = y[i] * (dy[i] - dot);
        }
      }
    }
  }
}

/** Max and log-sum-exp of one row. */
function rowLogSumExp(x: FloatArray, base: number, classes: number): number {
  let max = -Infinity;
  for (let c = 0; c < classes; c++) max = Math.max(max, x[base + c]);
  let sum = 0;
  for (let c = 0; c < classes; c++) sum += Math.exp(x[base + c] - max);
  return max + Math.log(sum);
}

/**
 * Per-sample cross entropy with label smoothing `s`:
 * `-(1 - s) * logp[t] - s / C * sum_c logp[c]`.
 *
 * @param args Sizes, logits (batch, classes), int32 targets, smoothing `s`, losses (batch) output.
 * @example
 * ```ts
 * import { crossEntropyForward } from "./softmax.ts";
 * const losses = new Float32Array(1);
 * crossEntropyForward({ batch: 1, classes: 2, logits: new Float32Array([0, 0]), targets: new Int32Array([0]),
 *   labelSmoothing: 0, losses }); // losses = [ln 2]
 * ```
 */
export function crossEntropyForward(args: CrossEntropyForwardArgs<FloatArray, Int32Array>): void {
  const { batch, classes, logits, targets, labelSmoothing, losses } = args;
  for (let i = 0; i < batch; i++) {
    const base = i * classes;
    const lse = rowLogSumExp(logits, base, classes);
    let loss = -(1 - labelSmoothing) * (logits[base + targets[i]] - lse);
    if (labelSmoothing > 0) {
      let sumLogp = 0;
      for (let c = 0; c < classes; c++) sumLogp += logits[base + c] - lse;
      loss -= (labelSmoothing / classes) * sumLogp;
    }
    losses[i] = loss;
  }
}

/**
 * Cross-entropy backward: `dlogits[i] = dLoss[i] * (softmax(logits[i]) - q_i)`, q the smoothed
 * one-hot target.
 *
 * @param args Sizes, logits, int32 targets, smoothing, per-sample loss gradient, dlogits output.
 * @example
 * ```ts
 * import { crossEntropyBackward } from "./softmax.ts";
 * const dlogits = new Float32Array(2);
 * crossEntropyBackward({ batch: 1, classes: 2, logits: new Float32Array([0, 0]), targets: new Int32Array([0]),
 *   labelSmoothing: 0, dLoss: new Float32Array([1]), dlogits }); // dlogits = [-0.5, 0.5]
 * ```
 */
export function crossEntropyBackward(args: CrossEntropyBackwardArgs<FloatArray, Int32Array>): void {
  const { batch, classes, logits, targets, labelSmoothing, dLoss, dlogits } = args;
  const off = labelSmoothing / classes;
  for (let i = 0; i < batch; i++) {
    const base = i * classes;
    const lse = rowLogSumExp(logits, base, classes);
    const g = dLoss[i];
    for (let c = 0; c < classes; c++) {
      dlogits[base + c] = g * (Math.exp(logits[base + c] - lse) - off);
    }
    dlogits[base + targets[i]] -= g * (1 - labelSmoothing);
  }
}
