/**
 * CPU convolution: im2col + one GEMM per group, over chunks of the batch.
 *
 * A chunk of `nb` samples is unfolded into columns `(C*kh*kw, nb*Ho*Wo)` so that each GEMM has a
 * wide N dimension even where the feature maps are tiny (deep layers at 32x32 are 4x4..1x1). With
 * one sample per chunk the GEMM writes straight into NCHW; with more, into a scratch matrix that is
 * then scattered. A 1x1 stride-1 unpadded convolution with one sample per chunk skips im2col.
 *
 * @module
 */

import type { Conv2dGeometry } from "../device.ts";
import { type FloatArray, gemm } from "./gemm.ts";

/** Target width (nb*Ho*Wo) of the column matrix. */
const TARGET_COLUMNS = 1024;
/** Upper bound on the column matrix, in elements (64 MiB of float32). */
const MAX_COLUMN_ELEMENTS = 16 * 1024 * 1024;

const scratch = new Map<string, FloatArray>();

/** A reusable scratch array (contents undefined) of at least `length` elements. */
function scratchArray(slot: string, length: number, like: FloatArray): FloatArray {
  const key = `${slot}:${like.constructor.name}`;
  let buffer = scratch.get(key);
  if (!buffer || buffer.length < length) {
    const Ctor = like.constructor as Float32ArrayConstructor;
    buffer = new Ctor(Math.max(length, Math.ceil((buffer?.length ?? 0) * 1.5)));
    scratch.set(key, buffer);
  }
  return buffer;
}

/**
 * Frees the convolution scratch arrays (they regrow on demand).
 *
 * @example
 * ```ts
 * import { releaseConvScratch } from "./conv.ts";
 * releaseConvScratch();
 * ```
 */
export function releaseConvScratch(): void {
  scratch.clear();
}

function isPointwise(g: Conv2dGeometry): boolean {
  return g.kernelH === 1 && g.kernelW === 1 && g.strideH === 1 && g.strideW === 1 &&
    g.padH === 0 && g.padW === 0;
}

/** Samples per chunk. */
function chunkSize(g: Conv2dGeometry): number {
  const spatial = g.outHeight * g.outWidth;
  const rows = g.inChannels * g.kernelH * g.kernelW;
  let nb = Math.min(g.batch, Math.max(1, Math.ceil(TARGET_COLUMNS / spatial)));
  while (nb > 1 && rows * nb * spatial > MAX_COLUMN_ELEMENTS) nb--;
  return nb;
}

/** Unfolds samples [n0, n0 + nc) of x into cols (C*kh*kw, nc*Ho*Wo). */
function im2col(g: Conv2dGeometry, x: FloatArray, n0: number, nc: number, cols: FloatArray): void {
  const { inChannels: C, inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = g;
  const { kernelH: kh, kernelW: kw, strideH: sh, strideW: sw } = g;
  const spatial = Ho * Wo;
  const width = nc * spatial;
  const imageSize = C * H * W;
  for (let c = 0; c < C; c++) {
    for (let ki = 0; ki < kh; ki++) {
      const rowOffsetH = ki * g.dilationH - g.padH;
      for (let kj = 0; kj < kw; kj++) {
        const off = kj * g.dilationW - g.padW;
        // Output columns whose input column lies inside the image.
        const owStart = Math.min(Wo, Math.max(0, Math.ceil(-off / sw)));
        const owEnd = Math.max(owStart, Math.min(Wo, Math.ceil((W - off) / sw)));
        const rowBase = ((c * kh + ki) * kw + kj) * width;
        for (let n = 0; n < nc; n++) {
          const plane = (n0 + n) * imageSize + c * H * W;
          let dst = rowBase + n * spatial;
          for (let oh = 0; oh < Ho; oh++, dst += Wo) {
            const ih = oh * sh + rowOffsetH;
            if (ih < 0 || ih >= H) {
              cols.fill(0, dst, dst + Wo);
              continue;
            }
            for (let ow = 0; ow < owStart; ow++) cols[dst + ow] = 0;
            const src = plane + ih * W + off;
            if (sw === 1) {
              for (let ow = owStart; ow < owEnd; ow++) cols[dst + ow] = x[src + ow];
            } else {
              for (let ow = owStart; ow < owEnd; ow++) cols[dst + ow] = x[src + ow * sw];
            }
            for (let ow = owEnd; ow < Wo; ow++) cols[dst + ow] = 0;
          }
        }
      }
    }
  }
}

/** Adds cols (C*kh*kw, nc*Ho*Wo) back into samples [n0, n0 + nc) of dx. */
function col2im(g: Conv2dGeometry, cols: FloatArray, n0: number, nc: number, dx: FloatArray): void {
  const { inChannels: C, inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = g;
  const { kernelH: kh, kernelW: kw, strideH: sh, strideW: sw } = g;
  const spatial = Ho * Wo;
  const width = nc * spatial;
  const imageSize = C * H * W;
  for (let c = 0; c < C; c++) {
    for (let ki = 0; ki < kh; ki++) {
      const rowOffsetH = ki * g.dilationH - g.padH;
      for (let kj = 0; kj < kw; kj++) {
        const off = kj * g.dilationW - g.padW;
        const owStart = Math.min(Wo, Math.max(0, Math.ceil(-off / sw)));
        const owEnd = Math.max(owStart, Math.min(Wo, Math.ceil((W - off) / sw)));
        const rowBase = ((c * kh + ki) * kw + kj) * width;
        for (let n = 0; n < nc; n++) {
          const plane = (n0 + n) * imageSize + c * H * W;
          let src = rowBase + n * spatial;
          for (let oh = 0; oh < Ho; oh++, src += Wo) {
            const ih = oh * sh + rowOffsetH;
            if (ih < 0 || ih >= H) continue;
            const dst = plane + ih * W + off;
            if (sw === 1) {
              for (let ow = owStart; ow < owEnd; ow++) dx[dst + ow] += cols[src + ow];
            } else {
              for (let ow = owStart; ow < owEnd; ow++) dx[dst + ow * sw] += cols[src + ow];
            }
          }
        }
      }
    }
  }
}

/** (nc, K, S) block of an NCHW tensor starting at sample n0 -> (K, nc*S) matrix. */
function gatherChunk(
  y: FloatArray,
  n0: number,
  nc: number,
  channels: number,
  spatial: number,
  out: FloatArray,
): void {
  const width = nc * spatial;
  for (let n = 0; n < nc; n++) {
    const base = (n0 + n) * channels * spatial;
    for (let k = 0; k < channels; k++) {
      const src = base + k * spatial;
      const dst = k * width + n * spatial;
      for (let s = 0; s < spatial; s++) out[dst + s] = y[src + s];
    }
  }
}

/** Inverse of {@linkcode gatherChunk}. */
function scatterChunk(
  m: FloatArray,
  n0: number,
  nc: number,
  channels: number,
  spatial: number,
  y: FloatArray,
): void {
  const width = nc * spatial;
  for (let n = 0; n < nc; n++) {
    const base = (n0 + n) * channels * spatial;
    for (let k = 0; k < channels; k++) {
      const dst = base + k * spatial;
      const src = k * width + n * spatial;
      for (let s = 0; s < spatial; s++) y[dst + s] = m[src + s];
    }
  }
}

/**
 * `y = conv2d(x, w)` (no bias).
 *
 * @param g Geometry.
 * @param x Input (N, C, H, W).
 * @param w Weights (K, C/groups, kh, kw).
 * @param y Output (N, K, Ho, Wo), overwritten.
 * @example
 * ```ts
 * import { conv2dForward } from "./conv.ts";
 * const g = { batch: 1, inChannels: 1, inHeight: 1, inWidth: 1, outChannels: 1, outHeight: 1,
 *   outWidth: 1, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1,
 *   dilationW: 1, groups: 1 };
 * const y = new Float32Array(1);
 * conv2dForward(g, new Float32Array([2]), new Float32Array([3]), y); // y = [6]
 * ```
 */
export function conv2dForward(g: Conv2dGeometry, x: FloatArray, w: FloatArray, y: FloatArray): void {
  const groups = g.groups;
  const cg = g.inChannels / groups;
  const kg = g.outChannels / groups;
  const rows = cg * g.kernelH * g.kernelW;
  const spatial = g.outHeight * g.outWidth;
  const imageSize = g.inChannels * g.inHeight * g.inWidth;
  const nb = chunkSize(g);
  const pointwise = isPointwise(g);
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const nc = Math.min(nb, g.batch - n0);
    const width = nc * spatial;
    let cols: FloatArray;
    let colsOffset = 0;
    if (pointwise && nc === 1) {
      cols = x;
      colsOffset = n0 * imageSize;
    } else {
      cols = scratchArray("cols", g.inChannels * g.kernelH * g.kernelW * width, x);
      im2col(g, x, n0, nc, cols);
    }
    const direct = nc === 1;
    const out = direct ? y : scratchArray("out", g.outChannels * width, x);
    const outOffset = direct ? n0 * g.outChannels * spatial : 0;
    for (let grp = 0; grp < groups; grp++) {
      gemm({
        transA: false,
        transB: false,
        m: kg,
        n: width,
        k: rows,
        alpha: 1,
        a: w,
        aOffset: grp * kg * rows,
        b: cols,
        bOffset: colsOffset + grp * rows * width,
        beta: 0,
        c: out,
        cOffset: outOffset + grp * kg * width,
      });
    }
    if (!direct) scatterChunk(out, n0, nc, g.outChannels, spatial, y);
  }
}

/**
 * `dx = conv2dᵀ(dy, w)`: the gradient of the input.
 *
 * @param g Geometry.
 * @param dy Output gradient (N, K, Ho, Wo).
 * @param w Weights (K, C/groups, kh, kw).
 * @param dx Input gradient (N, C, H, W), overwritten.
 * @example
 * ```ts
 * import { conv2dBackwardData } from "./conv.ts";
 * const g = { batch: 1, inChannels: 1, inHeight: 1, inWidth: 1, outChannels: 1, outHeight: 1,
 *   outWidth: 1, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1,
 *   dilationW: 1, groups: 1 };
 * const dx = new Float32Array(1);
 * conv2dBackwardData(g, new Float32Array([2]), new Float32Array([3]), dx); // dx = [6]
 * ```
 */
export function conv2dBackwardData(
  g: Conv2dGeometry,
  dy: FloatArray,
  w: FloatArray,
  dx: FloatArray,
): void {
  const groups = g.groups;
  const cg = g.inChannels / groups;
  const kg = g.outChannels / groups;
  const rows = cg * g.kernelH * g.kernelW;
  const spatial = g.outHeight * g.outWidth;
  const imageSize = g.inChannels * g.inHeight * g.inWidth;
  const nb = chunkSize(g);
  const pointwise = isPointwise(g);
  if (!pointwise) dx.fill(0);
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const nc = Math.min(nb, g.batch - n0);
    const width = nc * spatial;
    let grad = dy;
    let gradOffset = n0 * g.outChannels * spatial;
    if (nc > 1) {
      grad = scratchArray("out", g.outChannels * width, dy);
      gradOffset = 0;
      gatherChunk(dy, n0, nc, g.outChannels, spatial, grad);
    }
    const direct = pointwise && nc === 1;
    const cols = direct ? dx : scratchArray("cols", g.inChannels * g.kernelH * g.kernelW * width, dy);
    const colsOffset = direct ? n0 * imageSize : 0;
    for (let grp = 0; grp < groups; grp++) {
      gemm({
        transA: true,
        transB: false,
        m: rows,
        n: width,
        k: kg,
        alpha: 1,
        a: w,
        aOffset: grp * kg * rows,
        b: grad,
        bOffset: gradOffset + grp * kg * width,
        beta: 0,
        c: cols,
        cOffset: colsOffset + grp * rows * width,
      });
    }
    if (direct) continue;
    if (pointwise) scatterChunk(cols, n0, nc, g.inChannels, spatial, dx);
    else col2im(g, cols, n0, nc, dx);
  }
}

/**
 * The gradient of the weights.
 *
 * @param g Geometry.
 * @param x Input (N, C, H, W).
 * @param dy Output gradient (N, K, Ho, Wo).
 * @param dw Weight gradient (K, C/groups, kh, kw), overwritten.
 * @example
 * ```ts
 * import { conv2dBackwardFilter } from "./conv.ts";
 * const g = { batch: 1, inChannels: 1, inHeight: 1, inWidth: 1, outChannels: 1, outHeight: 1,
 *   outWidth: 1, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1,
 *   dilationW: 1, groups: 1 };
 * const dw = new Float32Array(1);
 * conv2dBackwardFilter(g, new Float32Array([2]), new Float32Array([3]), dw); // dw = [6]
 * ```
 */
export function conv2dBackwardFilter(
  g: Conv2dGeometry,
  x: FloatArray,
  dy: FloatArray,
  dw: FloatArray,
): void {
  const groups = g.groups;
  const cg = g.inChannels / groups;
  const kg = g.outChannels / groups;
  const rows = cg * g.kernelH * g.kernelW;
  const spatial = g.outHeight * g.outWidth;
  const imageSize = g.inChannels * g.inHeight * g.inWidth;
  const nb = chunkSize(g);
  const pointwise = isPointwise(g);
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const nc = Math.min(nb, g.batch - n0);
    const width = nc * spatial;
    let cols: FloatArray;
    let colsOffset = 0;
    if (pointwise && nc === 1) {
      cols = x;
      colsOffset = n0 * imageSize;
    } else {
      cols = scratchArray("cols", g.inChannels * g.kernelH * g.kernelW * width, x);
      im2col(g, x, n0, nc, cols);
    }
    let grad = dy;
    let gradOffset = n0 * g.outChannels * spatial;
    if (nc > 1) {
      grad = scratchArray("out", g.outChannels * width, dy);
      gradOffset = 0;
      gatherChunk(dy, n0, nc, g.outChannels, spatial, grad);
    }
    for (let grp = 0; grp < groups; grp++) {
      gemm({
        transA: false,
        transB: true,
        m: kg,
        n: rows,
        k: width,
        alpha: 1,
        a: grad,
        aOffset: gradOffset + grp * kg * width,
        b: cols,
        bOffset: colsOffset + grp * rows * width,
        beta: n0 === 0 ? 0 : 1,
        c: dw,
        cOffset: grp * kg * rows,
      });
    }
  }
}
