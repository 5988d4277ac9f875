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
import { isEmptyView } from "../device/geometry.ts";
import type { BatchNormBackwardArgs, BatchNormInferArgs, BatchNormTrainArgs } from "../device/kernels.ts";
import { type CudaBuffer, ptr, zeroBuffer } from "./buffer.ts";
import { type Descriptors, ONE, ZERO } from "./descriptors.ts";
import type { CudaRuntime } from "./runtime.ts";

/**
 * Training-mode forward. Updates the running stats when both are given. Returns before cuDNN on
 * an empty view (cuDNN rejects zero-sized descriptors).
 *
 * @param runtime The runtime.
 * @param descriptors Descriptor caches.
 * @param args Geometry, input, scale, shift, running stats (or null), momentum, eps, outputs.
 * @example
 * ```ts
 * import { batchNormTrain } from "./norm.ts";
 * // batchNormTrain(runtime, descriptors, { geometry, x, weight, bias, runningMean, runningVar,
 * //   momentum: 0.1, eps: 1e-5, y, saveMean, saveInvStd });
 * ```
 */
export function batchNormTrain(
  runtime: CudaRuntime,
  descriptors: Descriptors,
  args: BatchNormTrainArgs<CudaBuffer>,
): void {
  const g = args.geometry;
  if (isEmptyView(g)) return;
  const data = descriptors.tensor(g.batch, g.channels, g.spatial, 1);
  const stats = descriptors.tensor(1, g.channels, 1, 1);
  const running = args.runningMean !== null && args.runningVar !== null;
  runtime.check.cudnn(
    "cudnnBatchNormalizationForwardTraining",
    runtime.dnn.cudnnBatchNormalizationForwardTraining(
      runtime.cudnn,
      CUDNN_BATCHNORM_SPATIAL,
      ONE,
      ZERO,
      data,
      ptr(args.x),
      data,
      ptr(args.y),
      stats,
      ptr(args.weight),
      ptr(args.bias),
      args.momentum,
      running ? ptr(args.runningMean!) : 0n,
      running ? ptr(args.runningVar!) : 0n,
      args.eps,
      ptr(args.saveMean),
      ptr(args.saveInvStd),
    ),
  );
}

/**
 * Inference-mode forward with the running statistics.
 *
 * @param runtime The runtime.
 * @param descriptors Descriptor caches.
 * @param args Geometry, input, scale, shift, running stats, eps, output.
 * @example
 * ```ts
 * import { batchNormInfer } from "./norm.ts";
 * // batchNormInfer(runtime, descriptors, { geometry, x, weight, bias, runningMean, runningVar, eps: 1e-5, y });
 * ```
 */
export function batchNormInfer(
  runtime: CudaRuntime,
  descriptors: Descriptors,
  args: BatchNormInferArgs<CudaBuffer>,
): void {
  const g = args.geometry;
  if (isEmptyView(g)) return;
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
      ptr(args.x),
      data,
      ptr(args.y),
      stats,
      ptr(args.weight),
      ptr(args.bias),
      ptr(args.runningMean),
      ptr(args.runningVar),
      args.eps,
    ),
  );
}

/**
 * Training-mode backward: dx, dweight and dbias, all overwritten (both betas are 0), with the eps
 * of the forward (cuDNN takes it again next to the saved statistics). An empty view writes zero
 * weight and bias gradients.
 *
 * @param runtime The runtime.
 * @param descriptors Descriptor caches.
 * @param args Geometry, forward input, output gradient, scale, saved statistics, eps, outputs.
 * @example
 * ```ts
 * import { batchNormBackward } from "./norm.ts";
 * // batchNormBackward(runtime, descriptors, { geometry, x, dy, weight, saveMean, saveInvStd, eps: 1e-5,
 * //   dx, dweight, dbias });
 * ```
 */
export function batchNormBackward(
  runtime: CudaRuntime,
  descriptors: Descriptors,
  args: BatchNormBackwardArgs<CudaBuffer>,
): void {
  const g = args.geometry;
  if (isEmptyView(g)) {
    for (const b of [args.dweight, args.dbias]) zeroBuffer(runtime, b);
    return;
  }
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
      ptr(args.x),
      data,
      ptr(args.dy),
      data,
      ptr(args.dx),
      stats,
      ptr(args.weight),
      ptr(args.dweight),
      ptr(args.dbias),
      args.eps,
      ptr(args.saveMean),
      ptr(args.saveInvStd),
    ),
  );
}
