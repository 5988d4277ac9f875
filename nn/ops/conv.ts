/**
 * 2-D convolution (cross-correlation, as PyTorch) with stride, padding, dilation and groups.
 *
 * @module
 */

import type { Conv2dGeometry } from "../device.ts";
import { record } from "../autograd.ts";
import type { Tensor } from "../tensor.ts";
import { checkRank, emptyLike, sameDevice } from "./util.ts";

/** Options of {@linkcode conv2d}; a number applies to both dims. */
export interface Conv2dOptions {
  /** Stride (default 1). */
  stride?: number | readonly [number, number];
  /** Zero padding on each side (default 0). */
  padding?: number | readonly [number, number];
  /** Spacing of kernel taps (default 1). */
  dilation?: number | readonly [number, number];
  /** Channel groups (default 1). */
  groups?: number;
}

/**
 * A pair from a number or a pair.
 *
 * @param v The value.
 * @returns `[v, v]` or `v`.
 * @example
 * ```ts
 * import { pair } from "./conv.ts";
 * pair(3); // [3, 3]
 * ```
 */
export function pair(v: number | readonly [number, number]): [number, number] {
  return typeof v === "number" ? [v, v] : [v[0], v[1]];
}

/**
 * The geometry of a convolution, with every shape checked.
 *
 * @param x Input (N, C, H, W).
 * @param w Weights (K, C/groups, kh, kw).
 * @param options Stride, padding, dilation, groups.
 * @returns The geometry.
 * @example
 * ```ts
 * import { convGeometry } from "./conv.ts";
 * import { zeros } from "../creation.ts";
 * convGeometry(zeros([1, 3, 8, 8]), zeros([4, 3, 3, 3]), { padding: 1 }).outHeight; // 8
 * ```
 */
export function convGeometry(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Conv2dGeometry {
  checkRank("conv2d", x, 4, "(N, C, H, W)");
  if (w.ndim !== 4) {
    throw new Error(`conv2d(): expected a 4-D weight (K, C/groups, kh, kw), got shape [${w.shape}]`);
  }
  const [strideH, strideW] = pair(options.stride ?? 1);
  const [padH, padW] = pair(options.padding ?? 0);
  const [dilationH, dilationW] = pair(options.dilation ?? 1);
  const groups = options.groups ?? 1;
  const [batch, inChannels, inHeight, inWidth] = x.shape;
  const [outChannels, perGroup, kernelH, kernelW] = w.shape;
  for (
    const [name, v, min] of [
      ["stride", strideH, 1],
      ["stride", strideW, 1],
      ["padding", padH, 0],
      ["padding", padW, 0],
      ["dilation", dilationH, 1],
      ["dilation", dilationW, 1],
      ["groups", groups, 1],
    ] as const
  ) {
    if (!Number.isInteger(v) || v < min) {
      throw new Error(`conv2d(): ${name} must be an integer >= ${min}, got ${v}`);
    }
  }
  if (perGroup * groups !== inChannels || outChannels % groups !== 0) {
    throw new Error(
      `conv2d(): input has ${inChannels} channels and weight [${w.shape}] with groups=${groups}; ` +
        `expected weight (K, ${inChannels / groups}, kh, kw) with K divisible by ${groups}`,
    );
  }
  const outHeight = Math.floor((inHeight + 2 * padH - dilationH * (kernelH - 1) - 1) / strideH) + 1;
  const outWidth = Math.floor((inWidth + 2 * padW - dilationW * (kernelW - 1) - 1) / strideW) + 1;
  if (outHeight < 1 || outWidth < 1) {
    throw new Error(
      `conv2d(): input ${inHeight}x${inWidth} (padding ${padH}x${padW}) is smaller than the kernel ${kernelH}x${kernelW} (dilation ${dilationH}x${dilationW})`,
    );
  }
  return {
    batch,
    inChannels,
    inHeight,
    inWidth,
    outChannels,
    outHeight,
    outWidth,
    kernelH,
    kernelW,
    strideH,
    strideW,
    padH,
    padW,
    dilationH,
    dilationW,
    groups,
  };
}

/**
 * 2-D convolution, like `torch.nn.functional.conv2d`.
 *
 * @param x Input (N, C, H, W).
 * @param weight (K, C/groups, kh, kw).
 * @param bias (K) or null.
 * @param options Stride, padding, dilation, groups.
 * @returns (N, K, Ho, Wo).
 * @example
 * ```ts
 * import { conv2d } from "./conv.ts";
 * import { ones } from "../creation.ts";
 * conv2d(ones([1, 1, 3, 3]), ones([1, 1, 3, 3]), null, { padding: 1 }).toArray();
 * // [4, 6, 4, 6, 9, 6, 4, 6, 4]
 * ```
 */
export function conv2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null = null,
  options: Conv2dOptions = {},
): Tensor {
  const inputs = bias ? [x, weight, bias] : [x, weight];
  const device = sameDevice("conv2d", ...inputs);
  const g = convGeometry(x, weight, options);
  if (bias && (bias.ndim !== 1 || bias.shape[0] !== g.outChannels)) {
    throw new Error(`conv2d(): bias shape [${bias.shape}] should be [${g.outChannels}]`);
  }
  const outShape = [g.batch, g.outChannels, g.outHeight, g.outWidth];
  const y = emptyLike(x, outShape);
  device.conv2dForward({ geometry: g, x: x.buffer, w: weight.buffer, y: y.buffer });
  if (bias) {
    const channel = [1, g.outChannels, 1, 1];
    device.binary({
      op: "add",
      a: y.buffer,
      aShape: outShape,
      b: bias.buffer,
      bShape: channel,
      out: y.buffer,
      outShape,
    });
  }
  return record(y, "conv2d", inputs, (dy) => {
    let dx: Tensor | null = null;
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = emptyLike(x, x.shape);
      device.conv2dBackwardData({ geometry: g, dy: dy.buffer, w: weight.buffer, dx: dx.buffer });
    }
    if (weight.requiresGrad) {
      dw = emptyLike(weight, weight.shape);
      device.conv2dBackwardFilter({ geometry: g, x: x.buffer, dy: dy.buffer, dw: dw.buffer });
    }
    if (bias?.requiresGrad) {
      db = emptyLike(bias, bias.shape);
      device.sumTo({ x: dy.buffer, xShape: outShape, out: db.buffer, outShape: [1, g.outChannels, 1, 1] });
    }
    return bias ? [dx, dw, db] : [dx, dw];
  });
}
