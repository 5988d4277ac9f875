/**
 * CPU batch normalisation over (N, C, H*W): train forward, inference forward, backward.
 * Statistics accumulate in float64 with two passes (mean, then squared deviations).
 *
 * @module
 */

import type { BatchNormBackwardArgs, BatchNormInferArgs, BatchNormTrainArgs } from "../device/kernels.ts";
import type { FloatArray } from "./gemm.ts";

/**
 * Batch-statistics forward; updates the running stats when given.
 *
 * @param args See {@linkcode BatchNormTrainArgs}.
 * @example
 * ```ts
 * import { batchNormTrain } from "./norm.ts";
 * const y = new Float32Array(2), saveMean = new Float32Array(1), saveInvStd = new Float32Array(1);
 * batchNormTrain({ geometry: { batch: 2, channels: 1, spatial: 1 }, x: new Float32Array([1, 3]),
 *   weight: new Float32Array([1]), bias: new Float32Array([0]), runningMean: null, runningVar: null,
 *   momentum: 0.1, eps: 0, y, saveMean, saveInvStd }); // y = [-1, 1]
 * ```
 */
export function batchNormTrain(args: BatchNormTrainArgs<FloatArray>): void {
  const { x, weight, bias, runningMean, runningVar, momentum, eps, y, saveMean, saveInvStd } = args;
  const { batch: N, channels: C, spatial: S } = args.geometry;
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
 * @param args See {@linkcode BatchNormInferArgs}.
 * @example
 * ```ts
 * import { batchNormInfer } from "./norm.ts";
 * const y = new Float32Array(1);
 * batchNormInfer({ geometry: { batch: 1, channels: 1, spatial: 1 }, x: new Float32Array([3]),
 *   weight: new Float32Array([1]), bias: new Float32Array([0]), runningMean: new Float32Array([1]),
 *   runningVar: new Float32Array([4]), eps: 0, y }); // y = [1]
 * ```
 */
export function batchNormInfer(args: BatchNormInferArgs<FloatArray>): void {
  const { geometry: g, x, weight, bias, runningMean, runningVar, eps, y } = args;
  for (let c = 0; c < g.channels; c++) {
    const invStd = 1 / Math.sqrt(runningVar[c] + eps);
    normalize(x, y, g.batch, g.channels, g.spatial, c, runningMean[c], invStd * weight[c], bias[c]);
  }
}

/**
 * Train-mode backward, from the saved mean and inverse standard deviation (`eps` is already in
 * them).
 *
 * @param args See {@linkcode BatchNormBackwardArgs}.
 * @example
 * ```ts
 * import { batchNormBackward } from "./norm.ts";
 * const dx = new Float32Array(2), dweight = new Float32Array(1), dbias = new Float32Array(1);
 * batchNormBackward({ geometry: { batch: 2, channels: 1, spatial: 1 }, x: new Float32Array([1, 3]),
 *   dy: new Float32Array([1, 1]), weight: new Float32Array([1]), saveMean: new Float32Array([2]),
 *   saveInvStd: new Float32Array([1]), eps: 0, dx, dweight, dbias }); // dbias = [2], dx = [0, 0]
 * ```
 */
export function batchNormBackward(args: BatchNormBackwardArgs<FloatArray>): void {
  const { x, dy, weight, saveMean, saveInvStd, dx, dweight, dbias } = args;
  const { batch: N, channels: C, spatial: S } = args.geometry;
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
