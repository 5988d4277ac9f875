/**
 * CPU pooling: max pooling (with padding) and adaptive average pooling, forward and backward.
 *
 * @module
 */

import type { Pool2dGeometry } from "../device.ts";
import type { FloatArray } from "./gemm.ts";

/**
 * Max pooling; the padded border never wins.
 *
 * @param g Geometry.
 * @param x Input (N, C, H, W).
 * @param y Output (N, C, Ho, Wo).
 * @example
 * ```ts
 * import { maxPool2dForward } from "./pool.ts";
 * const y = new Float32Array(1);
 * maxPool2dForward({ batch: 1, channels: 1, inHeight: 2, inWidth: 2, outHeight: 1, outWidth: 1,
 *   kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 }, new Float32Array([1, 4, 3, 2]), y);
 * // y = [4]
 * ```
 */
export function maxPool2dForward(g: Pool2dGeometry, x: FloatArray, y: FloatArray): void {
  forEachWindow(g, (plane, out, h0, h1, w0, w1) => {
    let best = -Infinity;
    for (let h = h0; h < h1; h++) {
      const row = plane + h * g.inWidth;
      for (let w = w0; w < w1; w++) {
        const v = x[row + w];
        if (v > best || Number.isNaN(v)) best = v;
      }
    }
    y[out] = best;
  });
}

/**
 * Routes each output gradient to the first (row-major) maximum of its window.
 *
 * @param g Geometry.
 * @param x Forward input.
 * @param y Forward output.
 * @param dy Output gradient.
 * @param dx Input gradient (overwritten).
 * @example
 * ```ts
 * import { maxPool2dBackward } from "./pool.ts";
 * const dx = new Float32Array(4);
 * maxPool2dBackward({ batch: 1, channels: 1, inHeight: 2, inWidth: 2, outHeight: 1, outWidth: 1,
 *   kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 }, new Float32Array([1, 4, 3, 2]),
 *   new Float32Array([4]), new Float32Array([1]), dx); // dx = [0, 1, 0, 0]
 * ```
 */
export function maxPool2dBackward(
  g: Pool2dGeometry,
  x: FloatArray,
  y: FloatArray,
  dy: FloatArray,
  dx: FloatArray,
): void {
  dx.fill(0);
  forEachWindow(g, (plane, out, h0, h1, w0, w1) => {
    const target = y[out];
    for (let h = h0; h < h1; h++) {
      const row = plane + h * g.inWidth;
      for (let w = w0; w < w1; w++) {
        const v = x[row + w];
        if (v === target || (Number.isNaN(v) && Number.isNaN(target))) {
          dx[row + w] += dy[out];
          return;
        }
      }
    }
  });
}

/** Calls `visit` for every output cell with its input plane offset and clipped window. */
function forEachWindow(
  g: Pool2dGeometry,
  visit: (plane: number, out: number, h0: number, h1: number, w0: number, w1: number) => void,
): void {
  const planes = g.batch * g.channels;
  const inPlane = g.inHeight * g.inWidth;
  let out = 0;
  for (let p = 0; p < planes; p++) {
    const plane = p * inPlane;
    for (let oh = 0; oh < g.outHeight; oh++) {
      const hs = oh * g.strideH - g.padH;
      const h0 = Math.max(hs, 0);
      const h1 = Math.min(hs + g.kernelH, g.inHeight);
      for (let ow = 0; ow < g.outWidth; ow++, out++) {
        const ws = ow * g.strideW - g.padW;
        visit(plane, out, h0, h1, Math.max(ws, 0), Math.min(ws + g.kernelW, g.inWidth));
      }
    }
  }
}

/** PyTorch's adaptive window along one axis: [floor(o*in/out), ceil((o+1)*in/out)). */
function adaptiveRange(o: number, inSize: number, outSize: number): [number, number] {
  return [Math.floor((o * inSize) / outSize), Math.ceil(((o + 1) * inSize) / outSize)];
}

/**
 * Adaptive average pooling.
 *
 * @param g Geometry (kernel, stride and padding fields are ignored).
 * @param x Input (N, C, H, W).
 * @param y Output (N, C, Ho, Wo).
 * @example
 * ```ts
 * import { adaptiveAvgPool2dForward } from "./pool.ts";
 * const y = new Float32Array(1);
 * adaptiveAvgPool2dForward({ batch: 1, channels: 1, inHeight: 2, inWidth: 2, outHeight: 1, outWidth: 1,
 *   kernelH: 0, kernelW: 0, strideH: 0, strideW: 0, padH: 0, padW: 0 }, new Float32Array([1, 2, 3, 4]), y);
 * // y = [2.5]
 * ```
 */
export function adaptiveAvgPool2dForward(g: Pool2dGeometry, x: FloatArray, y: FloatArray): void {
  const planes = g.batch * g.channels;
  const inPlane = g.inHeight * g.inWidth;
  if (g.outHeight === 1 && g.outWidth === 1) {
    for (let p = 0; p < planes; p++) {
      let sum = 0;
      const base = p * inPlane;
      for (let i = 0; i < inPlane; i++) sum += x[base + i];
      y[p] = sum / inPlane;
    }
    return;
  }
  let out = 0;
  for (let p = 0; p < planes; p++) {
    const plane = p * inPlane;
    for (let oh = 0; oh < g.outHeight; oh++) {
      const [h0, h1] = adaptiveRange(oh, g.inHeight, g.outHeight);
      for (let ow = 0; ow < g.outWidth; ow++, out++) {
        const [w0, w1] = adaptiveRange(ow, g.inWidth, g.outWidth);
        let sum = 0;
        for (let h = h0; h < h1; h++) {
          for (let w = w0; w < w1; w++) sum += x[plane + h * g.inWidth + w];
        }
        y[out] = sum / ((h1 - h0) * (w1 - w0));
      }
    }
  }
}

/**
 * Backward of adaptive average pooling.
 *
 * @param g Geometry.
 * @param dy Output gradient.
 * @param dx Input gradient (overwritten).
 * @example
 * ```ts
 * import { adaptiveAvgPool2dBackward } from "./pool.ts";
 * const dx = new Float32Array(2);
 * adaptiveAvgPool2dBackward({ batch: 1, channels: 1, inHeight: 1, inWidth: 2, outHeight: 1, outWidth: 1,
 *   kernelH: 0, kernelW: 0, strideH: 0, strideW: 0, padH: 0, padW: 0 }, new Float32Array([1]), dx);
 * // dx = [0.5, 0.5]
 * ```
 */
export function adaptiveAvgPool2dBackward(g: Pool2dGeometry, dy: FloatArray, dx: FloatArray): void {
  const planes = g.batch * g.channels;
  const inPlane = g.inHeight * g.inWidth;
  if (g.outHeight === 1 && g.outWidth === 1) {
    for (let p = 0; p < planes; p++) {
      const v = dy[p] / inPlane;
      dx.fill(v, p * inPlane, (p + 1) * inPlane);
    }
    return;
  }
  dx.fill(0);
  let out = 0;
  for (let p = 0; p < planes; p++) {
    const plane = p * inPlane;
    for (let oh = 0; oh < g.outHeight; oh++) {
      const [h0, h1] = adaptiveRange(oh, g.inHeight, g.outHeight);
      for (let ow = 0; ow < g.outWidth; ow++, out++) {
        const [w0, w1] = adaptiveRange(ow, g.inWidth, g.outWidth);
        const v = dy[out] / ((h1 - h0) * (w1 - w0));
        for (let h = h0; h < h1; h++) {
          for (let w = w0; w < w1; w++) dx[plane + h * g.inWidth + w] += v;
        }
      }
    }
  }
}
