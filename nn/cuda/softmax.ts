/**
 * Softmax and log-softmax through cuDNN: an (outer, axis, inner) view becomes an
 * outer x axis x inner x 1 tensor, and `CUDNN_SOFTMAX_MODE_CHANNEL` normalises over C (the axis)
 * for every (n, h).
 *
 * @module
 */

import { CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_LOG, CUDNN_SOFTMAX_MODE_CHANNEL } from "../../ffi/cudnn.ts";
import type { AxisGeometry } from "../device.ts";
import { type Descriptors, ONE, ZERO } from "./descriptors.ts";
import type { CudaRuntime } from "./runtime.ts";

/**
 * Softmax (max-subtracted) or log-softmax along the axis.
 *
 * @param runtime The runtime.
 * @param descriptors Descriptor caches.
 * @param g Geometry.
 * @param x Input.
 * @param y Output.
 * @param log Log-softmax instead.
 * @example
 * ```ts
 * import { softmaxForward } from "./softmax.ts";
 * // softmaxForward(runtime, descriptors, { outer: 8, axis: 10, inner: 1 }, x, y, false);
 * ```
 */
export function softmaxForward(
  runtime: CudaRuntime,
  descriptors: Descriptors,
  g: AxisGeometry,
  x: bigint,
  y: bigint,
  log: boolean,
): void {
  const desc = descriptors.tensor(g.outer, g.axis, g.inner, 1);
  runtime.check.cudnn(
    "cudnnSoftmaxForward",
    runtime.dnn.cudnnSoftmaxForward(
      runtime.cudnn,
      log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE,
      CUDNN_SOFTMAX_MODE_CHANNEL,
      ONE,
      desc,
      x,
      ZERO,
      desc,
      y,
    ),
  );
}

/**
 * Backward from the forward output: `dx = y * (dy - sum(dy * y))`, or for log-softmax
 * `dx = dy - exp(y) * sum(dy)`.
 *
 * @param runtime The runtime.
 * @param descriptors Descriptor caches.
 * @param g Geometry.
 * @param y Forward output.
 * @param dy Output gradient.
 * @param dx Input gradient (overwritten).
 * @param log Whether the forward was log-softmax.
 * @example
 * ```ts
 * import { softmaxBackward } from "./softmax.ts";
 * // softmaxBackward(runtime, descriptors, { outer: 8, axis: 10, inner: 1 }, y, dy, dx, false);
 * ```
 */
export function softmaxBackward(
  runtime: CudaRuntime,
  descriptors: Descriptors,
  g: AxisGeometry,
  y: bigint,
  dy: bigint,
  dx: bigint,
  log: boolean,
): void {
  const desc = descriptors.tensor(g.outer, g.axis, g.inner, 1);
  runtime.check.cudnn(
    "cudnnSoftmaxBackward",
    runtime.dnn.cudnnSoftmaxBackward(
      runtime.cudnn,
      log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE,
      CUDNN_SOFTMAX_MODE_CHANNEL,
      ONE,
      desc,
      y,
      desc,
      dy,
      ZERO,
      desc,
      dx,
    ),
  );
}
