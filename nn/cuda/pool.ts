/**
 * Host side of the pooling kernels (kernels/pool.cu). Max pooling uses our kernels rather than
 * cuDNN's because the Device contract routes a tied maximum's gradient to the first maximum in
 * row-major order (ties are common after ReLU), which cuDNN does not promise. Global average
 * pooling (1 x 1 output) runs as a reduction, one block per plane.
 *
 * @module
 */

import { isEmptyPool, type Pool2dGeometry } from "../device/geometry.ts";
import type {
  AdaptiveAvgPool2dBackwardArgs,
  AdaptiveAvgPool2dForwardArgs,
  MaxPool2dBackwardArgs,
  MaxPool2dForwardArgs,
} from "../device/kernels.ts";
import { type CudaBuffer, ptr } from "./buffer.ts";
import { checkCount } from "./elementwise.ts";
import { sumTo } from "./layout.ts";
import { BLOCK, gridFor, type KernelLibrary } from "./launch.ts";

const windowArgs = (g: Pool2dGeometry): number[] => [
  g.inHeight,
  g.inWidth,
  g.outHeight,
  g.outWidth,
  g.kernelH,
  g.kernelW,
  g.strideH,
  g.strideW,
  g.padH,
  g.padW,
];

/**
 * Max pooling forward; padding never wins.
 *
 * @param kernels Our kernels.
 * @param args Geometry, input (N, C, H, W), output (N, C, Ho, Wo).
 * @example
 * ```ts
 * import { maxPool2dForward } from "./pool.ts";
 * // maxPool2dForward(kernels, { geometry, x, y });
 * ```
 */
export function maxPool2dForward(kernels: KernelLibrary, args: MaxPool2dForwardArgs<CudaBuffer>): void {
  const g = args.geometry;
  if (isEmptyPool(g)) return;
  const n = g.batch * g.channels * g.outHeight * g.outWidth;
  checkCount("maxPool2d", Math.max(n, g.batch * g.channels * g.inHeight * g.inWidth));
  kernels.get("max_pool_forward").launch(gridFor(n), BLOCK, [ptr(args.x), ptr(args.y), n, ...windowArgs(g)]);
}

/**
 * Max pooling backward: each window's gradient goes to its first maximum (dx overwritten).
 *
 * @param kernels Our kernels.
 * @param args Geometry, forward input and output, output gradient, input gradient.
 * @example
 * ```ts
 * import { maxPool2dBackward } from "./pool.ts";
 * // maxPool2dBackward(kernels, { geometry, x, y, dy, dx });
 * ```
 */
export function maxPool2dBackward(kernels: KernelLibrary, args: MaxPool2dBackwardArgs<CudaBuffer>): void {
  const g = args.geometry;
  const n = g.batch * g.channels * g.inHeight * g.inWidth;
  if (n === 0) return;
  checkCount("maxPool2dBackward", n);
  kernels.get("max_pool_backward").launch(gridFor(n), BLOCK, [
    ptr(args.x),
    ptr(args.y),
    ptr(args.dy),
    ptr(args.dx),
    n,
    ...windowArgs(g),
  ]);
}

/**
 * Adaptive average pooling forward (PyTorch's windows: start floor, end ceil).
 *
 * @param kernels Our kernels.
 * @param args Geometry (kernel, stride and padding ignored), input, output.
 * @example
 * ```ts
 * import { adaptiveAvgPool2dForward } from "./pool.ts";
 * // adaptiveAvgPool2dForward(kernels, { geometry, x, y });
 * ```
 */
export function adaptiveAvgPool2dForward(
  kernels: KernelLibrary,
  args: AdaptiveAvgPool2dForwardArgs<CudaBuffer>,
): void {
  const g = args.geometry;
  if (isEmptyPool(g)) return;
  const planes = g.batch * g.channels;
  const plane = g.inHeight * g.inWidth;
  if (g.outHeight === 1 && g.outWidth === 1) {
    sumTo(kernels, { x: args.x, xShape: [planes, plane], out: args.y, outShape: [planes, 1] }, plane);
    return;
  }
  const n = planes * g.outHeight * g.outWidth;
  checkCount("adaptiveAvgPool2d", Math.max(n, planes * plane));
  kernels.get("adaptive_avg_pool_forward").launch(gridFor(n), BLOCK, [
    ptr(args.x),
    ptr(args.y),
    n,
    g.inHeight,
    g.inWidth,
    g.outHeight,
    g.outWidth,
  ]);
}

/**
 * Adaptive average pooling backward (dx overwritten).
 *
 * @param kernels Our kernels.
 * @param args Geometry, output gradient, input gradient.
 * @example
 * ```ts
 * import { adaptiveAvgPool2dBackward } from "./pool.ts";
 * // adaptiveAvgPool2dBackward(kernels, { geometry, dy, dx });
 * ```
 */
export function adaptiveAvgPool2dBackward(
  kernels: KernelLibrary,
  args: AdaptiveAvgPool2dBackwardArgs<CudaBuffer>,
): void {
  const g = args.geometry;
  const n = g.batch * g.channels * g.inHeight * g.inWidth;
  if (n === 0) return;
  checkCount("adaptiveAvgPool2dBackward", n);
  kernels.get("adaptive_avg_pool_backward").launch(gridFor(n), BLOCK, [
    ptr(args.dy),
    ptr(args.dx),
    n,
    g.inHeight,
    g.inWidth,
    g.outHeight,
    g.outWidth,
  ]);
}
