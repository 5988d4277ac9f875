/**
 * Argument types of the pooling kernels, generic over the buffer type `B`.
 *
 * @module
 */

import type { Pool2dGeometry } from "./geometry.ts";

/** Max pooling forward; padding counts as negative infinity. */
export interface MaxPool2dForwardArgs<B> {
  /** Window, stride and padding. */
  geometry: Pool2dGeometry;
  /** Input (N, C, H, W). */
  x: B;
  /** Output (N, C, Ho, Wo). */
  y: B;
}

/** Routes each output gradient to the first (row-major) maximum of its window (overwrites dx). */
export interface MaxPool2dBackwardArgs<B> {
  /** Window, stride and padding. */
  geometry: Pool2dGeometry;
  /** Forward input. */
  x: B;
  /** Forward output. */
  y: B;
  /** Output gradient. */
  dy: B;
  /** Input gradient. */
  dx: B;
}

/** Adaptive average pooling with PyTorch's window rule (start floor, end ceil). */
export interface AdaptiveAvgPool2dForwardArgs<B> {
  /** Input and output sizes (kernel, stride and padding are ignored). */
  geometry: Pool2dGeometry;
  /** Input (N, C, H, W). */
  x: B;
  /** Output (N, C, Ho, Wo). */
  y: B;
}

/** Backward of adaptive average pooling (overwrites dx). */
export interface AdaptiveAvgPool2dBackwardArgs<B> {
  /** Input and output sizes. */
  geometry: Pool2dGeometry;
  /** Output gradient. */
  dy: B;
  /** Input gradient. */
  dx: B;
}
