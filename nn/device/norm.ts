/**
 * Argument types of the batch-norm kernels, generic over the buffer type `B`.
 *
 * @module
 */

import type { BatchNormGeometry } from "./geometry.ts";

/**
 * Batch norm with batch statistics: writes y, the batch mean and `1/sqrt(biased var + eps)`, and
 * (when given) updates the running stats with momentum, using the unbiased variance.
 */
export interface BatchNormTrainArgs<B> {
  /** The (N, C, H*W) view. */
  geometry: BatchNormGeometry;
  /** Input. */
  x: B;
  /** Per-channel scale. */
  weight: B;
  /** Per-channel shift. */
  bias: B;
  /** Running mean, updated in place; null to leave the running stats alone. */
  runningMean: B | null;
  /** Running unbiased variance, updated in place; null with `runningMean`. */
  runningVar: B | null;
  /** Weight of the batch statistics in the running ones. */
  momentum: number;
  /** Added to the variance. */
  eps: number;
  /** Output. */
  y: B;
  /** Batch mean per channel (written). */
  saveMean: B;
  /** `1 / sqrt(biased var + eps)` per channel (written). */
  saveInvStd: B;
}

/** Batch norm with the running statistics (eval mode). */
export interface BatchNormInferArgs<B> {
  /** The (N, C, H*W) view. */
  geometry: BatchNormGeometry;
  /** Input. */
  x: B;
  /** Per-channel scale. */
  weight: B;
  /** Per-channel shift. */
  bias: B;
  /** Running mean. */
  runningMean: B;
  /** Running variance. */
  runningVar: B;
  /** Added to the variance. */
  eps: number;
  /** Output. */
  y: B;
}

/** Batch norm backward (train mode): dx, dweight and dbias, all overwritten. */
export interface BatchNormBackwardArgs<B> {
  /** The (N, C, H*W) view. */
  geometry: BatchNormGeometry;
  /** Forward input. */
  x: B;
  /** Output gradient. */
  dy: B;
  /** Per-channel scale. */
  weight: B;
  /** Batch mean from the forward. */
  saveMean: B;
  /** Inverse standard deviation from the forward. */
  saveInvStd: B;
  /** The eps the forward used (cuDNN's backward takes it again). */
  eps: number;
  /** Input gradient. */
  dx: B;
  /** Scale gradient. */
  dweight: B;
  /** Shift gradient. */
  dbias: B;
}
