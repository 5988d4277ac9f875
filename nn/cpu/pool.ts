/**
 * CPU pooling: max pooling (with padding) and adaptive average pooling, forward and backward.
 *
 * @module
 */

import type { Pool2dGeometry } from "../device/geometry.ts";
import type {
  AdaptiveAvgPool2dBackwardArgs,
  AdaptiveAvgPool2dForwardArgs,
  MaxPool2dBackwardArgs,
  MaxPool2dForwardArgs,
} from "../device/kernels.ts";
import type { FloatArray } from "./gemm.ts";

/**
 * Max pooling; the padded border never wins.
 *
 * @param args Geometry, input x (N, C, H, W), output y (N, C, Ho, Wo).
 * @example
 * ```ts
 * import { maxPool2dForward } from "./pool.ts";
 * const y = new Float32Array(1);
 * maxPool2dForward({ geometry: { batch: 1, channels: 1, inHeight: 2, inWidth: 2, outHeight: 1, outWidth: 1,
 *   kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 }, x: new Float32Array([1, 4, 3, 2]), y });
 * // y = [4]
 * ```
 */
export function maxPool2dForward(args: MaxPool2dForwardArgs<FloatArray>): void {
  const { geometry: g, x, y } = args;
  const { inHeight, inWidth } = g;
  const windows = clippedWindows(g);
  let out = 0;
  for (let plane = 0; plane < g.batch * g.channels; plane++) {
    const base = plane * inHeight * inWidth;
    for (let i = 0; i < windows.length; i += 4, out++) {
      let best = -Infinity;
      for (let h = windows[i]; h < windows[i + 1]; h++) {
        const row = base + h * inWidth;
        for (let w = row + windows[i + 2], end = row + windows[i + 3]; w < end; w++) {
          // Branch-free, and a NaN wins, as in PyTorch.
          best = Math.max(best, x[w]);
        }
      }
      y[out] = best;
    }
  }
}

/**
 * Routes each output gradient to the first (row-major) maximum of its window.
 *
 * @param args Geometry, forward input and output, output gradient, input gradient (overwritten).
 * @example
 * ```ts
 * import { maxPool2dBackward } from "./pool.ts";
 * const dx = new Float32Array(4);
 * maxPool2dBackward({ geometry: { batch: 1, channels: 1, inHeight: 2, inWidth: 2, outHeight: 1, outWidth: 1,
 *   kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 }, x: new Float32Array([1, 4, 3, 2]),
 *   y: new Float32Array([4]), dy: new Float32Array([1]), dx }); // dx = [0, 1, 0, 0]
 * ```
 */
export function maxPool2dBackward(args: MaxPool2dBackwardArgs<FloatArray>): void {
  const { geometry: g, x, y, dy, dx } = args;
  dx.fill(0);
  const { inHeight, inWidth } = g;
  const windows = clippedWindows(g);
  let out = 0;
  for (let plane = 0; plane < g.batch * g.channels; plane++) {
    const base = plane * inHeight * inWidth;
    for (let i = 0; i < windows.length; i += 4, out++) {
      const target = y[out];
      const found = firstIndexOf(x, target, base, inWidth, windows, i);
      if (found >= 0) dx[found] += dy[out];
    }
  }
}

/** The first (row-major) index in window `i` whose value is `target` (NaN matches NaN), or -1. */
function firstIndexOf(
  x: FloatArray,
  target: number,
  base: number,
  inWidth: number,
  windows: Int32Array,
  i: number,
): number {
  const nan = target !== target;
  for (let h = windows[i]; h < windows[i + 1]; h++) {
    const row = base + h * inWidth;
    for (let w = row + windows[i + 2], end = row + windows[i + 3]; w < end; w++) {
      if (x[w] === target || (nan && x[w] !== x[w])) return w;
    }
  }
  return -1;
}

/**
 * Each output cell's window clipped to the input, as [h0, h1, w0, w1] quadruples in row-major output
 * order; the same for every plane, so it is computed once per call. The kernels loop over it inline:
 * a visitor closure per window was not inlined by V8 and cost ~1.4x.
 */
function clippedWindows(g: Pool2dGeometry): Int32Array {
  const windows = new Int32Array(g.outHeight * g.outWidth * 4);
  let i = 0;
  for (let oh = 0; oh < g.outHeight; oh++) {
    const hs = oh * g.strideH - g.padH;
    for (let ow = 0; ow < g.outWidth; ow++, i += 4) {
      const ws = ow * g.strideW - g.padW;
      windows[i] = Math.max(hs, 0);
      windows[i + 1] = Math.min(hs + g.kernelH, g.inHeight);
      windows[i + 2] = Math.max(ws, 0);
      windows[i + 3] = Math.min(ws + g.kernelW, g.inWidth);
    }
  }
  return windows;
}

/** PyTorch's adaptive window along one axis: [floor(o*in/out), ceil((o+1)*in/out)). */
function adaptiveRange(o: number, inSize: number, outSize: number): [number, number] {
  return [Math.floor((o * inSize) / outSize), Math.ceil(((o + 1) * inSize) / outSize)];
}

/**
 * Adaptive average pooling.
 *
 * @param args Geometry (kernel, stride and padding fields are ignored), input x (N, C, H, W),
 * output y (N, C, Ho, Wo).
 * @example
 * ```ts
 * import { adaptiveAvgPool2dForward } from "./pool.ts";
 * const y = new Float32Array(1);
 * adaptiveAvgPool2dForward({ geometry: { batch: 1, channels: 1, inHeight: 2, inWidth: 2, outHeight: 1,
 *   outWidth: 1, kernelH: 0, kernelW: 0, strideH: 0, strideW: 0, padH: 0, padW: 0 },
 *   x: new Float32Array([1, 2, 3, 4]), y }); // y = [2.5]
 * ```
 */
export function adaptiveAvgPool2dForward(args: AdaptiveAvgPool2dForwardArgs<FloatArray>): void {
  const { geometry: g, x, y } = args;
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
 * @param args Geometry, output gradient, input gradient (overwritten).
 * @example
 * ```ts
 * import { adaptiveAvgPool2dBackward } from "./pool.ts";
 * const dx = new Float32Array(2);
 * adaptiveAvgPool2dBackward({ geometry: { batch: 1, channels: 1, inHeight: 1, inWidth: 2, outHeight: 1,
 *   outWidth: 1, kernelH: 0, kernelW: 0, strideH: 0, strideW: 0, padH: 0, padW: 0 },
 *   dy: new Float32Array([1]), dx }); // dx = [0.5, 0.5]
 * ```
 */
export function adaptiveAvgPool2dBackward(args: AdaptiveAvgPool2dBackwardArgs<FloatArray>): void {
  const { geometry: g, dy, dx } = args;
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
