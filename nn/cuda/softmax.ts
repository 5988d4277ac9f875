/**
 * Softmax and log-softmax through cuDNN: an (outer, axis, inner) view becomes an
 * outer x axis x inner x 1 tensor, and `CUDNN_SOFTMAX_MODE_CHANNEL` normalises over C (the axis)
 * for every (n, h).
 *
 * @module
 */

import { CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_LOG, CUDNN_SOFTMAX_MODE_CHANNEL } from "../../ffi/cudnn.ts";
import { isEmptyView } from "../device/geometry.ts";
import type { SoftmaxBackwardArgs, SoftmaxForwardArgs } from "../device/kernels.ts";
import { type CudaBuffer, ptr } from "./buffer.ts";
import { type Descriptors, ONE, ZERO } from "./descriptors.ts";
import type { CudaRuntime } from "./runtime.ts";

/**
 * Softmax (max-subtracted) or log-softmax along the axis.
 *
 * @param runtime The runtime.
 * @param descriptors Descriptor caches.
 * @param args Geometry, input, output, log-softmax or not.
 * @example
 * ```ts
 * import { softmaxForward } from "./softmax.ts";
 * // softmaxForward(runtime, descriptors, { geometry: { outer: 8, axis: 10, inner: 1 }, x, y, log: false });
 * ```
 */
export function softmaxForward(
  runtime: CudaRuntime,
  descriptors: Descriptors,
  args: SoftmaxForwardArgs<CudaBuffer>,
): void {
  const { geometry: g, log } = args;
  if (isEmptyView(g)) return;
  const desc = descriptors.tensor(g.outer, g.axis, g.inner, 1);
  runtime.check.cudnn(
    "cudnnSoftmaxForward",
    runtime.dnn.cudnnSoftmaxForward(
      runtime.cudnn,
      log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE,
      CUDNN_SOFTMAX_MODE_CHANNEL,
      ONE,
      desc,
      ptr(args.x),
      ZERO,
      desc,
      ptr(args.y),
    ),
  );
}

/**
 * Backward from the forward output: `dx = y * (dy - sum(dy * y))`, or for log-softmax
 * `dx = dy - exp(y) * sum(dy)`.
 *
 * @param runtime The runtime.
 * @param descriptors Descriptor caches.
 * @param args Geometry, forward output, output gradient, input gradient (overwritten), log or not.
 * @example
 * ```ts
 * import { softmaxBackward } from "./softmax.ts";
 * // softmaxBackward(runtime, descriptors, { geometry: { outer: 8, axis: 10, inner: 1 }, y, dy, dx, log: false });
 * ```
 */
export function softmaxBackward(
  runtime: CudaRuntime,
  descriptors: Descriptors,
  args: SoftmaxBackwardArgs<CudaBuffer>,
): void {
  const { geometry: g, log } = args;
  if (isEmptyView(g)) return;
  const desc = descriptors.tensor(g.outer, g.axis, g.inner, 1);
  runtime.check.cudnn(
    "cudnnSoftmaxBackward",
    runtime.dnn.cudnnSoftmaxBackward(
      runtime.cudnn,
      log ? CUDNN_SOFTMAX_LOG : CUDNN_SOFTMAX_ACCURATE,
      CUDNN_SOFTMAX_MODE_CHANNEL,
      ONE,
      desc,
      ptr(args.y),
      desc,
      ptr(args.dy),
      ZERO,
      desc,
      ptr(args.dx),
    ),
  );
}
