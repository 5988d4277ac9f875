/**
 * CPU softmax / log-softmax along an axis, and cross entropy with label smoothing.
 *
 * @module
 */

import type { AxisGeometry } from "../device.ts";
import type { FloatArray } from "./gemm.ts";

/**
 * Softmax (or log-softmax) of a tensor seen as (outer, axis, inner), along `axis`.
 *
 * @param g Geometry.
 * @param x Input.
 * @param y Output.
 * @param log Log-softmax instead of softmax.
 * @example
 * ```ts
 * import { softmaxForward } from "./softmax.ts";
 * const y = new Float32Array(2);
 * softmaxForward({ outer: 1, axis: 2, inner: 1 }, new Float32Array([0, 0]), y, false); // [0.5, 0.5]
 * ```
 */
export function softmaxForward(g: AxisGeometry, x: FloatArray, y: FloatArray, log: boolean): void {
  const { outer, axis, inner } = g;
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
 * @param g Geometry.
 * @param y Forward output.
 * @param dy Output gradient.
 * @param dx Input gradient (overwritten).
 * @param log Whether the forward was log-softmax.
 * @example
 * ```ts
 * import { softmaxBackward } from "./softmax.ts";
 * const dx = new Float32Array(2);
 * softmaxBackward({ outer: 1, axis: 2, inner: 1 }, new Float32Array([0.5, 0.5]),
 *   new Float32Array([1, 0]), dx, false); // [0.25, -0.25]
 * ```
 */
export function softmaxBackward(
  g: AxisGeometry,
  y: FloatArray,
  dy: FloatArray,
  dx: FloatArray,
  log: boolean,
): void {
  const { outer, axis, inner } = g;
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
 * @param batch Rows.
 * @param classes Columns.
 * @param logits (batch, classes).
 * @param targets Class index per row.
 * @param labelSmoothing `s` in [0, 1].
 * @param losses (batch) output.
 * @example
 * ```ts
 * import { crossEntropyForward } from "./softmax.ts";
 * const loss = new Float32Array(1);
 * crossEntropyForward(1, 2, new Float32Array([0, 0]), new Int32Array([0]), 0, loss); // [ln 2]
 * ```
 */
export function crossEntropyForward(
  batch: number,
  classes: number,
  logits: FloatArray,
  targets: Int32Array,
  labelSmoothing: number,
  losses: FloatArray,
): void {
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
 * @param batch Rows.
 * @param classes Columns.
 * @param logits (batch, classes).
 * @param targets Class index per row.
 * @param labelSmoothing `s` in [0, 1].
 * @param dLoss (batch) gradient of each sample's loss.
 * @param dlogits (batch, classes) output.
 * @example
 * ```ts
 * import { crossEntropyBackward } from "./softmax.ts";
 * const d = new Float32Array(2);
 * crossEntropyBackward(1, 2, new Float32Array([0, 0]), new Int32Array([0]), 0, new Float32Array([1]), d);
 * // d = [-0.5, 0.5]
 * ```
 */
export function crossEntropyBackward(
  batch: number,
  classes: number,
  logits: FloatArray,
  targets: Int32Array,
  labelSmoothing: number,
  dLoss: FloatArray,
  dlogits: FloatArray,
): void {
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
