/**
 * Pooling: max pooling with padding, and adaptive average pooling.
 *
 * @module
 */

import type { Pool2dGeometry } from "../device.ts";
import { record } from "../autograd.ts";
import type { Tensor } from "../tensor.ts";
import { pair } from "./conv.ts";
import { checkRank, emptyLike } from "./util.ts";

/** Options of {@linkcode maxPool2d}. */
export interface MaxPool2dOptions {
  /** Stride (default: the kernel size). */
  stride?: number | readonly [number, number];
  /** Implicit negative-infinity padding, at most half the kernel (default 0). */
  padding?: number | readonly [number, number];
}

/**
 * Max pooling, like `torch.nn.functional.max_pool2d` (floor mode, dilation 1).
 *
 * @param x Input (N, C, H, W).
 * @param kernelSize Window size.
 * @param options Stride and padding.
 * @returns (N, C, Ho, Wo).
 * @example
 * ```ts
 * import { maxPool2d } from "./pool.ts";
 * import { tensor } from "../creation.ts";
 * maxPool2d(tensor([1, 4, 3, 2], [1, 1, 2, 2]), 2).item(); // 4
 * ```
 */
export function maxPool2d(
  x: Tensor,
  kernelSize: number | readonly [number, number],
  options: MaxPool2dOptions = {},
): Tensor {
  checkRank("maxPool2d", x, 4, "(N, C, H, W)");
  const [kernelH, kernelW] = pair(kernelSize);
  const [strideH, strideW] = pair(options.stride ?? kernelSize);
  const [padH, padW] = pair(options.padding ?? 0);
  if (![kernelH, kernelW, strideH, strideW].every((v) => Number.isInteger(v) && v >= 1)) {
    throw new Error(
      `maxPool2d(): kernel ${kernelH}x${kernelW} and stride ${strideH}x${strideW} must be positive integers`,
    );
  }
  if (padH < 0 || padW < 0 || padH > kernelH / 2 || padW > kernelW / 2) {
    throw new Error(
      `maxPool2d(): padding ${padH}x${padW} must be between 0 and half the kernel ${kernelH}x${kernelW}`,
    );
  }
  const [batch, channels, inHeight, inWidth] = x.shape;
  const outHeight = Math.floor((inHeight + 2 * padH - kernelH) / strideH) + 1;
  const outWidth = Math.floor((inWidth + 2 * padW - kernelW) / strideW) + 1;
  if (outHeight < 1 || outWidth < 1) {
    throw new Error(
      `maxPool2d(): input ${inHeight}x${inWidth} is smaller than the kernel ${kernelH}x${kernelW}`,
    );
  }
  const g: Pool2dGeometry = {
    batch,
    channels,
    inHeight,
    inWidth,
    outHeight,
    outWidth,
    kernelH,
    kernelW,
    strideH,
    strideW,
    padH,
    padW,
  };
  const y = emptyLike(x, [batch, channels, outHeight, outWidth]);
  x.device.maxPool2dForward({ geometry: g, x: x.buffer, y: y.buffer });
  return record(y, "maxPool2d", [x], (dy) => {
    const dx = emptyLike(x, x.shape);
    x.device.maxPool2dBackward({ geometry: g, x: x.buffer, y: y.buffer, dy: dy.buffer, dx: dx.buffer });
    return [dx];
  });
}

/**
 * Adaptive average pooling, like `torch.nn.functional.adaptive_avg_pool2d`.
 *
 * @param x Input (N, C, H, W).
 * @param outputSize Output height and width (a number for both).
 * @returns (N, C, outH, outW).
 * @example
 * ```ts
 * import { adaptiveAvgPool2d } from "./pool.ts";
 * import { tensor } from "../creation.ts";
 * adaptiveAvgPool2d(tensor([1, 2, 3, 4], [1, 1, 2, 2]), 1).item(); // 2.5
 * ```
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | readonly [number, number]): Tensor {
  checkRank("adaptiveAvgPool2d", x, 4, "(N, C, H, W)");
  const [outHeight, outWidth] = pair(outputSize);
  if (![outHeight, outWidth].every((v) => Number.isInteger(v) && v >= 1)) {
    throw new Error(`adaptiveAvgPool2d(): output size ${outHeight}x${outWidth} must hold positive integers`);
  }
  const [batch, channels, inHeight, inWidth] = x.shape;
  const g: Pool2dGeometry = {
    batch,
    channels,
    inHeight,
    inWidth,
    outHeight,
    outWidth,
    kernelH: 0,
    kernelW: 0,
    strideH: 0,
    strideW: 0,
    padH: 0,
    padW: 0,
  };
  const y = emptyLike(x, [batch, channels, outHeight, outWidth]);
  x.device.adaptiveAvgPool2dForward({ geometry: g, x: x.buffer, y: y.buffer });
  return record(y, "adaptiveAvgPool2d", [x], (dy) => {
    const dx = emptyLike(x, x.shape);
    x.device.adaptiveAvgPool2dBackward({ geometry: g, dy: dy.buffer, dx: dx.buffer });
    return [dx];
  });
}
