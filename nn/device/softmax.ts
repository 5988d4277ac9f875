/**
 * Argument types of the softmax and cross-entropy kernels, over float buffers `B` and int32
 * buffers `I`.
 *
 * @module
 */

import type { AxisGeometry } from "./geometry.ts";

/** Softmax (or log-softmax) along the middle axis of (outer, axis, inner). */
export interface SoftmaxForwardArgs<B> {
  /** The (outer, axis, inner) view. */
  geometry: AxisGeometry;
  /** Input. */
  x: B;
  /** Output. */
  y: B;
  /** Log-softmax instead of softmax. */
  log: boolean;
}

/** Softmax (or log-softmax) backward from its output (overwrites dx). */
export interface SoftmaxBackwardArgs<B> {
  /** The (outer, axis, inner) view. */
  geometry: AxisGeometry;
  /** Forward output. */
  y: B;
  /** Output gradient. */
  dy: B;
  /** Input gradient. */
  dx: B;
  /** Whether the forward was log-softmax. */
  log: boolean;
}

/**
 * Cross entropy per sample with label smoothing `s`:
 * `loss_i = -(1 - s) * logp[i, t_i] - s / C * sum_c logp[i, c]`.
 */
export interface CrossEntropyForwardArgs<B, I = B> {
  /** Rows. */
  batch: number;
  /** Columns. */
  classes: number;
  /** (batch, classes) scores. */
  logits: B;
  /** (batch) int32 class indices, each in [0, classes) (checked by the caller). */
  targets: I;
  /** `s` in [0, 1]. */
  labelSmoothing: number;
  /** (batch) output. */
  losses: B;
}

/** `dlogits[i] = dLoss[i] * (softmax(logits[i]) - smoothed one-hot(t_i))` (overwrites dlogits). */
export interface CrossEntropyBackwardArgs<B, I = B> {
  /** Rows. */
  batch: number;
  /** Columns. */
  classes: number;
  /** (batch, classes) scores. */
  logits: B;
  /** (batch) int32 class indices: the buffer the forward used. */
  targets: I;
  /** `s` in [0, 1]. */
  labelSmoothing: number;
  /** (batch) gradient of each sample's loss. */
  dLoss: B;
  /** (batch, classes) output. */
  dlogits: B;
}
