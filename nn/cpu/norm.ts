/**
 * CPU batch normalisation over (N, C, H*W): train forward, inference forward, backward.
 * Statistics accumulate in float64 with two passes (mean, then squared deviations).
 *
 * @module
 */

import type { BatchNormGeometry } from "../device.ts";
import type { FloatArray } from "./gemm.ts";

/**
 * Batch-statistics forward; updates the running stats when given.
 *
 * @param g Geometry.
 * @param x Input.
 * @param weight Per-channel scale.
 * @param bias Per-channel shift.
 * @param runningMean Running mean (updated in place) or null.
 * @param runningVar Running unbiased variance (updated in place) or null.
 * @param momentum Weight of the new statistics.
 * @param eps Added to the variance.
 * @param y Output.
 * @param saveMean Batch mean per channel (output).
 * @param saveInvStd `1 / sqrt(biased var + eps)` per channel (output).
 * @example
 * ```ts
 * import { batchNormTrain } from "./norm.ts";
 * const y = new Float32Array(2), m = new Float32Array(1), s = new Float32Array(1);
 * batchNormTrain({ batch: 2, channels: 1, spatial: 1 }, new Float32Array([1, 3]),
 *   new Float32Array([1]), new Float32Array([0]), null, null, 0.1, 0, y, m, s); // y = [-1, 1]
 * ```
 */
export function batchNormTrain(
  g: BatchNormGeometry,
  x: FloatArray,
  weight: FloatArray,
  bias: FloatArray,
  runningMean: FloatArray | null,
  runningVar: FloatArray | null,
  momentum: number,
  eps: number,
  y: FloatArray,
  saveMean: FloatArray,
  saveInvStd: FloatArray,
): void {
  const { batch: N, channels: C, spatial: S } = g;
  const count = N * S;
  for (let c = 0; c < C; c++) {
    let sum = 0;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * S;
      for (let i = 0; i < S; i++) sum += x[base + i];
    }
    const mean = sum / count;
    let squares = 0;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const d = x[base + i] - mean;
        squares += d * d;
      }
    }
    const variance = squares / count;
    const invStd = 1 / Math.sqrt(variance + eps);
    saveMean[c] = mean;
    saveInvStd[c] = invStd;
    if (runningMean && runningVar) {
      runningMean[c] = (1 - momentum) * runningMean[c] + momentum * mean;
      const unbiased = count > 1 ? squares / (count - 1) : variance;
      runningVar[c] = (1 - momentum) * runningVar[c] + momentum * unbiased;
    }
    normalize(x, y, N, C, S, c, mean, invStd * weight[c], bias[c]);
  }
}

function normalize(
  x: FloatArray,
  y: FloatArray,
  N: number,
  C: number,
  S: number,
  c: number,
  mean: number,
  scale: number,
  shift: number,
): void {
  for (let n = 0; n < N; n++) {
    const base = (n * C + c) * S;
    for (let i = 0; i < S; i++) y[base + i] = (x[base + i] - mean) * scale + shift;
  }
}

/**
 * Running-statistics forward (eval mode).
 *
 * @param g Geometry.
 * @param x Input.
 * @param weight Per-channel scale.
 * @param bias Per-channel shift.
 * @param runningMean Running mean.
 * @param runningVar Running variance.
 * @param eps Added to the variance.
 * @param y Output.
 * @example
 * ```ts
 * import { batchNormInfer } from "./norm.ts";
 * const y = new Float32Array(1);
 * batchNormInfer({ batch: 1, channels: 1, spatial: 1 }, new Float32Array([3]), new Float32Array([1]),
 *   new Float32Array([0]), new Float32Array([1]), new Float32Array([4]), 0, y); // y = [1]
 * ```
 */
export function batchNormInfer(
  g: BatchNormGeometry,
  x: FloatArray,
  weight: FloatArray,
  bias: FloatArray,
  runningMean: FloatArray,
  runningVar: FloatArray,
  eps: number,
  y: FloatArray,
): void {
  for (let c = 0; c < g.channels; c++) {
    const invStd = 1 / Math.sqrt(runningVar[c] + eps);
    normalize(x, y, g.batch, g.channels, g.spatial, c, runningMean[c], invStd * weight[c], bias[c]);
  }
}

/**
 * Train-mode backward.
 *
 * @param g Geometry.
 * @param x Forward input.
 * @param dy Output gradient.
 * @param weight Per-channel scale.
 * @param saveMean Batch mean from the forward.
 * @param saveInvStd Inverse std from the forward.
 * @param dx Input gradient (overwritten).
 * @param dweight Scale gradient (overwritten).
 * @param dbias Shift gradient (overwritten).
 * @example
 * ```ts
 * import { batchNormBackward } from "./norm.ts";
 * const dx = new Float32Array(2), dw = new Float32Array(1), db = new Float32Array(1);
 * batchNormBackward({ batch: 2, channels: 1, spatial: 1 }, new Float32Array([1, 3]),
 *   new Float32Array([1, 1]), new Float32Array([1]), new Float32Array([2]), new Float32Array([1]),
 *   dx, dw, db); // db = [2], dx = [0, 0]
 * ```
 */
export function batchNormBackward(
  g: BatchNormGeometry,
  x: FloatArray,
  dy: FloatArray,
  weight: FloatArray,
  saveMean: FloatArray,
  saveInvStd: FloatArray,
  dx: FloatArray,
  dweight: FloatArray,
  dbias: FloatArray,
): void {
  const { batch: N, channels: C, spatial: S } = g;
  const count = N * S;
  for (let c = 0; c < C; c++) {
    const mean = saveMean[c];
    const invStd = saveInvStd[c];
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        const d = dy[base + i];
        sumDy += d;
        sumDyXhat += d * (x[base + i] - mean);
      }
    }
    sumDyXhat *= invStd;
    dbias[c] = sumDy;
    dweight[c] = sumDyXhat;
    // dx = w * invStd * (dy - mean(dy) - xhat * mean(dy * xhat))
    const scale = weight[c] * invStd;
    const meanDy = sumDy / count;
    const k = (sumDyXhat / count) * invStd;
    for (let n = 0; n < N; n++) {
      const base = (n * C + c) * S;
      for (let i = 0; i < S; i++) {
        dx[base + i] = scale * (dy[base + i] - meanDy - (x[base + i] - mean) * k);
      }
    }
  }
}
