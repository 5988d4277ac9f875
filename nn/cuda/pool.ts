/**
 * Host side of the pooling kernels (kernels/pool.cu). Max pooling uses our kernels rather than
 * cuDNN's because the Device contract routes a tied maximum's gradient to the first maximum in
 * row-major order (ties are common after ReLU), which cuDNN does not promise. Global average
 * pooling (1 x 1 output) runs as a reduction, one block per plane.
 *
 * @module
 */

import type { Pool2dGeometry } from "../device.ts";
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
 * @param g Geometry.
 * @param x Input (N, C, H, W).
 * @param y Output (N, C, Ho, Wo).
 * @example
 * ```ts
 * import { maxPool2dForward } from "./pool.ts";
 * // maxPool2dForward(kernels, g, x, y);
 * ```
 */
export function maxPool2dForward(kernels: KernelLibrary, g: Pool2dGeometry, x: bigint, y: bigint): void {
  const n = g.batch * g.channels * g.outHeight * g.outWidth;
  if (n === 0) return;
  checkCount("maxPool2d", Math.max(n, g.batch * g.channels * g.inHeight * g.inWidth));
  kernels.get("max_pool_forward").launch(gridFor(n), BLOCK, [x, y, n, ...windowArgs(g)]);
}

/**
 * Max pooling backward: each window's gradient goes to its first maximum (dx overwritten).
 *
 * @param kernels Our kernels.
 * @param g Geometry.
 * @param x Forward input.
 * @param y Forward output.
 * @param dy Output gradient.
 * @param dx Input gradient.
 * @example
 * ```ts
 * import { maxPool2dBackward } from "./pool.ts";
 * // maxPool2dBackward(kernels, g, x, y, dy, dx);
 * ```
 */
export function maxPool2dBackward(
  kernels: KernelLibrary,
  g: Pool2dGeometry,
  x: bigint,
  y: bigint,
  dy: bigint,
  dx: bigint,
): void {
  const n = g.batch * g.channels * g.inHeight * g.inWidth;
  if (n === 0) return;
  checkCount("maxPool2dBackward", n);
  kernels.get("max_pool_backward").launch(gridFor(n), BLOCK, [x, y, dy, dx, n, ...windowArgs(g)]);
}

/**
 * Adaptive average pooling forward (PyTorch's windows: start floor, end ceil).
 *
 * @param kernels Our kernels.
 * @param g Geometry (kernel, stride and padding ignored).
 * @param x Input.
 * @param y Output.
 * @example
 * ```ts
 * import { adaptiveAvgPool2dForward } from "./pool.ts";
 * // adaptiveAvgPool2dForward(kernels, g, x, y);
 * ```
 */
export function adaptiveAvgPool2dForward(
  kernels: KernelLibrary,
  g: Pool2dGeometry,
  x: bigint,
  y: bigint,
): void {
  const planes = g.batch * g.channels;
  const plane = g.inHeight * g.inWidth;
  if (g.outHeight === 1 && g.outWidth === 1) {
    sumTo(kernels, x, [planes, plane], y, [planes, 1], plane);
    return;
  }
  const n = planes * g.outHeight * g.outWidth;
  if (n === 0) return;
  checkCount("adaptiveAvgPool2d", Math.max(n, planes * plane));
  kernels.get("adaptive_avg_pool_forward").launch(gridFor(n), BLOCK, [
    x,
    y,
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
 * @param g Geometry.
 * @param dy Output gradient.
 * @param dx Input gradient.
 * @example
 * ```ts
 * import { adaptiveAvgPool2dBackward } from "./pool.ts";
 * // adaptiveAvgPool2dBackward(kernels, g, dy, dx);
 * ```
 */
export function adaptiveAvgPool2dBackward(
  kernels: KernelLibrary,
  g: Pool2dGeometry,
  dy: bigint,
  dx: bigint,
): void {
  const n = g.batch * g.channels * g.inHeight * g.inWidth;
  if (n === 0) return;
  checkCount("adaptiveAvgPool2dBackward", n);
  kernels.get("adaptive_avg_pool_backward").launch(gridFor(n), BLOCK, [
    dy,
    dx,
    n,
    g.inHeight,
    g.inWidth,
    g.outHeight,
    g.outWidth,
  ]);
}
