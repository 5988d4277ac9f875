/**
 * Batch normalisation through cuDNN (spatial mode: one mean and variance per channel).
 *
 * An (N, C, H*W) view becomes an N x C x (H*W) x 1 tensor, so (N, C) inputs (spatial 1) work too.
 * cuDNN's training forward matches PyTorch: the running variance is updated with the unbiased
 * batch variance and `exponentialAverageFactor = momentum`; `resultSaveInvVariance` is
 * 1 / sqrt(biased variance + eps).
 *
 * @module
 */

import { CUDNN_BATCHNORM_SPATIAL } from "../../ffi/cudnn.ts";
import type { BatchNormGeometry } from "../device.ts";
import { type Descriptors, ONE, ZERO } from "./descriptors.ts";
import type { CudaRuntime } from "./runtime.ts";

/** The eps a forward pass used, by its saveInvStd address: cuDNN's backward wants the same one. */
const epsByInvStd = new Map<bigint, number>();

/** PyTorch's default, for a backward whose forward this device did not run. */
const DEFAULT_EPS = 1e-5;

/**
 * Training-mode forward. Updates the running stats when both are given (0n otherwise).
 *
 * @param runtime The runtime.
 * @param descriptors Descriptor caches.
 * @param g Geometry.
 * @param x Input.
 * @param weight Per-channel scale.
 * @param bias Per-channel shift.
 * @param runningMean Running mean or 0n.
 * @param runningVar Running variance or 0n.
 * @param momentum Weight of the batch statistics in the running ones.
 * @param eps Added to the variance.
 * @param y Output.
 * @param saveMean Batch mean (written).
 * @param saveInvStd 1 / sqrt(biased var + eps) (written).
 * @example
 * ```ts
 * import { batchNormTrain } from "./norm.ts";
 * // batchNormTrain(runtime, descriptors, g, x, w, b, rm, rv, 0.1, 1e-5, y, mean, invStd);
 * ```
 */
export function batchNormTrain(
  runtime: CudaRuntime,
  descriptors: Descriptors,
  g: BatchNormGeometry,
  x: bigint,
  weight: bigint,
  bias: bigint,
  runningMean: bigint,
  runningVar: bigint,
  momentum: number,
  eps: number,
  y: bigint,
  saveMean: bigint,
  saveInvStd: bigint,
): void {
  const data = descriptors.tensor(g.batch, g.channels, g.spatial, 1);
  const stats = descriptors.tensor(1, g.channels, 1, 1);
  const running = runningMean !== 0n && runningVar !== 0n;
  epsByInvStd.set(saveInvStd, eps);
  runtime.check.cudnn(
    "cudnnBatchNormalizationForwardTraining",
    runtime.dnn.cudnnBatchNormalizationForwardTraining(
      runtime.cudnn,
      CUDNN_BATCHNORM_SPATIAL,
      ONE,
      ZERO,
      data,
      x,
      data,
      y,
      stats,
      weight,
      bias,
      momentum,
      running ? runningMean : 0n,
      running ? runningVar : 0n,
      eps,
      saveMean,
      saveInvStd,
    ),
  );
}

/**
 * Inference-mode forward with the running statistics.
 *
 * @param runtime The runtime.
 * @param descriptors Descriptor caches.
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
 * // batchNormInfer(runtime, descriptors, g, x, w, b, runningMean, runningVar, 1e-5, y);
 * ```
 */
export function batchNormInfer(
  runtime: CudaRuntime,
  descriptors: Descriptors,
  g: BatchNormGeometry,
  x: bigint,
  weight: bigint,
  bias: bigint,
  runningMean: bigint,
  runningVar: bigint,
  eps: number,
  y: bigint,
): void {
  const data = descriptors.tensor(g.batch, g.channels, g.spatial, 1);
  const stats = descriptors.tensor(1, g.channels, 1, 1);
  runtime.check.cudnn(
    "cudnnBatchNormalizationForwardInference",
    runtime.dnn.cudnnBatchNormalizationForwardInference(
      runtime.cudnn,
      CUDNN_BATCHNORM_SPATIAL,
      ONE,
      ZERO,
      data,
      x,
      data,
      y,
      stats,
      weight,
      bias,
      runningMean,
      runningVar,
      eps,
    ),
  );
}

/**
 * Training-mode backward: dx, dweight and dbias, all overwritten (both betas are 0).
 *
 * @param runtime The runtime.
 * @param descriptors Descriptor caches.
 * @param g Geometry.
 * @param x Forward input.
 * @param dy Output gradient.
 * @param weight Per-channel scale.
 * @param saveMean Batch mean from the forward.
 * @param saveInvStd Inverse std from the forward.
 * @param dx Input gradient.
 * @param dweight Scale gradient.
 * @param dbias Shift gradient.
 * @example
 * ```ts
 * import { batchNormBackward } from "./norm.ts";
 * // batchNormBackward(runtime, descriptors, g, x, dy, w, saveMean, saveInvStd, dx, dw, db);
 * ```
 */
export function batchNormBackward(
  runtime: CudaRuntime,
  descriptors: Descriptors,
  g: BatchNormGeometry,
  x: bigint,
  dy: bigint,
  weight: bigint,
  saveMean: bigint,
  saveInvStd: bigint,
  dx: bigint,
  dweight: bigint,
  dbias: bigint,
): void {
  const data = descriptors.tensor(g.batch, g.channels, g.spatial, 1);
  const stats = descriptors.tensor(1, g.channels, 1, 1);
  runtime.check.cudnn(
    "cudnnBatchNormalizationBackward",
    runtime.dnn.cudnnBatchNormalizationBackward(
      runtime.cudnn,
      CUDNN_BATCHNORM_SPATIAL,
      ONE,
      ZERO,
      ONE,
      ZERO,
      data,
      x,
      data,
      dy,
      data,
      dx,
      stats,
      weight,
      dweight,
      dbias,
      epsByInvStd.get(saveInvStd) ?? DEFAULT_EPS,
      saveMean,
      saveInvStd,
    ),
  );
}
