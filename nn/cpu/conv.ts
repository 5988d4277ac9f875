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

import type { Conv2dGeometry } from "../device/geometry.ts";
import type { Conv2dBackwardDataArgs, Conv2dBackwardFilterArgs, Conv2dForwardArgs } from "../device/kernels.ts";
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

/**
 * Kernel rows / columns that touch the image for at least one output position. On small feature
 * maps with large kernels (9x9 on 2x2) most taps only ever read padding; skipping them removes
 * exact zeros from every sum, so results are unchanged.
 */
function liveTaps(
  kernel: number,
  out: number,
  stride: number,
  pad: number,
  dilation: number,
  size: number,
): number[] {
  const live: number[] = [];
  for (let k = 0; k < kernel; k++) {
    const first = k * dilation - pad; // input index at output 0
    const last = first + (out - 1) * stride;
    if (last >= 0 && first < size) {
      // Some output lands inside [0, size) when the stride does not skip over the image.
      for (let o = 0; o < out; o++) {
        const i = first + o * stride;
        if (i >= 0 && i < size) {
          live.push(k);
          break;
        }
      }
    }
  }
  return live;
}

/** Which taps a convolution needs: all of them, or the live rows x columns. */
interface Taps {
  rows: number[];
  cols: number[];
  /** Every tap is live: weights are used in place. */
  all: boolean;
}

function tapsOf(g: Conv2dGeometry): Taps {
  const rows = liveTaps(g.kernelH, g.outHeight, g.strideH, g.padH, g.dilationH, g.inHeight);
  const cols = liveTaps(g.kernelW, g.outWidth, g.strideW, g.padW, g.dilationW, g.inWidth);
  return { rows, cols, all: rows.length === g.kernelH && cols.length === g.kernelW };
}

/** Copies the live taps of w (K, Cg, kh, kw) into (K, Cg, rows, cols). */
function packWeights(g: Conv2dGeometry, taps: Taps, w: FloatArray, packed: FloatArray): void {
  const perOut = g.inChannels / g.groups;
  const kk = g.kernelH * g.kernelW;
  let d = 0;
  for (let o = 0; o < g.outChannels * perOut; o++) {
    const base = o * kk;
    for (const r of taps.rows) for (const c of taps.cols) packed[d++] = w[base + r * g.kernelW + c];
  }
}

/** Inverse of {@linkcode packWeights}; dead taps get zero gradient. */
function unpackWeights(g: Conv2dGeometry, taps: Taps, packed: FloatArray, w: FloatArray): void {
  const perOut = g.inChannels / g.groups;
  const kk = g.kernelH * g.kernelW;
  w.fill(0);
  let d = 0;
  for (let o = 0; o < g.outChannels * perOut; o++) {
    const base = o * kk;
    for (const r of taps.rows) for (const c of taps.cols) w[base + r * g.kernelW + c] = packed[d++];
  }
}

function isPointwise(g: Conv2dGeometry): boolean {
  return g.kernelH === 1 && g.kernelW === 1 && g.strideH === 1 && g.strideW === 1 &&
    g.padH === 0 && g.padW === 0;
}

/** Samples per chunk, given the column matrix's row count. */
function chunkSize(g: Conv2dGeometry, rows: number): number {
  const spatial = g.outHeight * g.outWidth;
  let nb = Math.min(g.batch, Math.max(1, Math.ceil(TARGET_COLUMNS / spatial)));
  while (nb > 1 && rows * nb * spatial > MAX_COLUMN_ELEMENTS) nb--;
  return nb;
}

/** Unfolds samples [n0, n0 + nc) of x into cols (C*taps, nc*Ho*Wo). */
function im2col(
  g: Conv2dGeometry,
  taps: Taps,
  x: FloatArray,
  n0: number,
  nc: number,
  cols: FloatArray,
): void {
  const { inChannels: C, inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = g;
  const { strideH: sh, strideW: sw } = g;
  const spatial = Ho * Wo;
  const width = nc * spatial;
  const imageSize = C * H * W;
  let row = 0;
  for (let c = 0; c < C; c++) {
    for (const ki of taps.rows) {
      const rowOffsetH = ki * g.dilationH - g.padH;
      for (const kj of taps.cols) {
        const off = kj * g.dilationW - g.padW;
        // Output columns whose input column lies inside the image.
        const owStart = Math.min(Wo, Math.max(0, Math.ceil(-off / sw)));
        const owEnd = Math.max(owStart, Math.min(Wo, Math.ceil((W - off) / sw)));
        const rowBase = row++ * width;
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

/** Adds cols (C*taps, nc*Ho*Wo) back into samples [n0, n0 + nc) of dx. */
function col2im(
  g: Conv2dGeometry,
  taps: Taps,
  cols: FloatArray,
  n0: number,
  nc: number,
  dx: FloatArray,
): void {
  const { inChannels: C, inHeight: H, inWidth: W, outHeight: Ho, outWidth: Wo } = g;
  const { strideH: sh, strideW: sw } = g;
  const spatial = Ho * Wo;
  const width = nc * spatial;
  const imageSize = C * H * W;
  let row = 0;
  for (let c = 0; c < C; c++) {
    for (const ki of taps.rows) {
      const rowOffsetH = ki * g.dilationH - g.padH;
      for (const kj of taps.cols) {
        const off = kj * g.dilationW - g.padW;
        const owStart = Math.min(Wo, Math.max(0, Math.ceil(-off / sw)));
        const owEnd = Math.max(owStart, Math.min(Wo, Math.ceil((W - off) / sw)));
        const rowBase = row++ * width;
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

/** Per-call layout of a convolution: live taps, rows per group, chunking. */
interface Plan {
  taps: Taps;
  /** Rows of the column matrix per group: Cg * live taps. */
  rows: number;
  /** Output channels per group. */
  kg: number;
  /** Output pixels per sample. */
  spatial: number;
  /** Samples per chunk. */
  nb: number;
  /** 1x1, stride 1, no padding: the input is its own column matrix. */
  pointwise: boolean;
}

function planOf(g: Conv2dGeometry): Plan {
  const taps = tapsOf(g);
  const rows = (g.inChannels / g.groups) * taps.rows.length * taps.cols.length;
  return {
    taps,
    rows,
    kg: g.outChannels / g.groups,
    spatial: g.outHeight * g.outWidth,
    nb: chunkSize(g, rows * g.groups),
    pointwise: isPointwise(g),
  };
}

/** The weights as (K, rows): w itself, or its live taps packed into scratch. */
function weightMatrix(g: Conv2dGeometry, plan: Plan, w: FloatArray): FloatArray {
  if (plan.taps.all) return w;
  const packed = scratchArray("weights", g.outChannels * plan.rows, w);
  packWeights(g, plan.taps, w, packed);
  return packed;
}

/** The column matrix of a chunk: x itself (pointwise, one sample) or im2col into scratch. */
function columns(g: Conv2dGeometry, plan: Plan, x: FloatArray, n0: number, nc: number): [FloatArray, number] {
  if (plan.pointwise && nc === 1) return [x, n0 * g.inChannels * g.inHeight * g.inWidth];
  const cols = scratchArray("cols", plan.rows * g.groups * nc * plan.spatial, x);
  im2col(g, plan.taps, x, n0, nc, cols);
  return [cols, 0];
}

/** The output-gradient matrix (K, nc*S) of a chunk: dy itself (one sample) or gathered. */
function gradMatrix(
  g: Conv2dGeometry,
  plan: Plan,
  dy: FloatArray,
  n0: number,
  nc: number,
): [FloatArray, number] {
  if (nc === 1) return [dy, n0 * g.outChannels * plan.spatial];
  const grad = scratchArray("out", g.outChannels * nc * plan.spatial, dy);
  gatherChunk(dy, n0, nc, g.outChannels, plan.spatial, grad);
  return [grad, 0];
}

/**
 * `y = conv2d(x, w)` (no bias).
 *
 * @param args Geometry, input x (N, C, H, W), weights w (K, C/groups, kh, kw), output y
 * (N, K, Ho, Wo), overwritten.
 * @example
 * ```ts
 * import { conv2dForward } from "./conv.ts";
 * const geometry = { batch: 1, inChannels: 1, inHeight: 1, inWidth: 1, outChannels: 1, outHeight: 1,
 *   outWidth: 1, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1,
 *   dilationW: 1, groups: 1 };
 * const y = new Float32Array(1);
 * conv2dForward({ geometry, x: new Float32Array([2]), w: new Float32Array([3]), y }); // y = [6]
 * ```
 */
export function conv2dForward(args: Conv2dForwardArgs<FloatArray>): void {
  const { geometry: g, x, w, y } = args;
  const plan = planOf(g);
  const { rows, kg, spatial, nb } = plan;
  const weights = weightMatrix(g, plan, w);
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const nc = Math.min(nb, g.batch - n0);
    const width = nc * spatial;
    const [cols, colsOffset] = columns(g, plan, x, n0, nc);
    const direct = nc === 1;
    const out = direct ? y : scratchArray("out", g.outChannels * width, x);
    const outOffset = direct ? n0 * g.outChannels * spatial : 0;
    for (let grp = 0; grp < g.groups; grp++) {
      gemm({
        transA: false,
        transB: false,
        m: kg,
        n: width,
        k: rows,
        alpha: 1,
        a: weights,
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
 * @param args Geometry, output gradient dy (N, K, Ho, Wo), weights w (K, C/groups, kh, kw), input
 * gradient dx (N, C, H, W), overwritten.
 * @example
 * ```ts
 * import { conv2dBackwardData } from "./conv.ts";
 * const geometry = { batch: 1, inChannels: 1, inHeight: 1, inWidth: 1, outChannels: 1, outHeight: 1,
 *   outWidth: 1, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1,
 *   dilationW: 1, groups: 1 };
 * const dx = new Float32Array(1);
 * conv2dBackwardData({ geometry, dy: new Float32Array([2]), w: new Float32Array([3]), dx }); // dx = [6]
 * ```
 */
export function conv2dBackwardData(args: Conv2dBackwardDataArgs<FloatArray>): void {
  const { geometry: g, dy, w, dx } = args;
  const plan = planOf(g);
  const { rows, kg, spatial, nb, pointwise } = plan;
  const weights = weightMatrix(g, plan, w);
  if (!pointwise) dx.fill(0);
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const nc = Math.min(nb, g.batch - n0);
    const width = nc * spatial;
    const [grad, gradOffset] = gradMatrix(g, plan, dy, n0, nc);
    const direct = pointwise && nc === 1;
    const cols = direct ? dx : scratchArray("cols", rows * g.groups * width, dy);
    const colsOffset = direct ? n0 * g.inChannels * g.inHeight * g.inWidth : 0;
    for (let grp = 0; grp < g.groups; grp++) {
      gemm({
        transA: true,
        transB: false,
        m: rows,
        n: width,
        k: kg,
        alpha: 1,
        a: weights,
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
    else col2im(g, plan.taps, cols, n0, nc, dx);
  }
}

/**
 * The gradient of the weights.
 *
 * @param args Geometry, input x (N, C, H, W), output gradient dy (N, K, Ho, Wo), weight gradient
 * dw (K, C/groups, kh, kw), overwritten.
 * @example
 * ```ts
 * import { conv2dBackwardFilter } from "./conv.ts";
 * const geometry = { batch: 1, inChannels: 1, inHeight: 1, inWidth: 1, outChannels: 1, outHeight: 1,
 *   outWidth: 1, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padH: 0, padW: 0, dilationH: 1,
 *   dilationW: 1, groups: 1 };
 * const dw = new Float32Array(1);
 * conv2dBackwardFilter({ geometry, x: new Float32Array([2]), dy: new Float32Array([3]), dw }); // dw = [6]
 * ```
 */
export function conv2dBackwardFilter(args: Conv2dBackwardFilterArgs<FloatArray>): void {
  const { geometry: g, x, dy, dw } = args;
  const plan = planOf(g);
  const { rows, kg, spatial, nb } = plan;
  const target = plan.taps.all ? dw : scratchArray("weights", g.outChannels * rows, dw);
  for (let n0 = 0; n0 < g.batch; n0 += nb) {
    const nc = Math.min(nb, g.batch - n0);
    const width = nc * spatial;
    const [cols, colsOffset] = columns(g, plan, x, n0, nc);
    const [grad, gradOffset] = gradMatrix(g, plan, dy, n0, nc);
    for (let grp = 0; grp < g.groups; grp++) {
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
        c: target,
        cOffset: grp * kg * rows,
      });
    }
  }
  if (!plan.taps.all) unpackWeights(g, plan.taps, target, dw);
}
