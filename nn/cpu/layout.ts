/**
 * CPU kernels that move or reduce data without arithmetic per element beyond a sum: sumTo,
 * permute and block copies (concat / narrow). Index plans come from the shared planner.
 *
 * @module
 */

import type { CopyBlocksArgs, PermuteArgs, SumToArgs } from "../device/kernels.ts";
import { collapseReduction, permutePlan } from "../device/plan.ts";
import type { FloatArray } from "./gemm.ts";

/**
 * Sums `x` down to `outShape` (same rank; reduced dims have size 1).
 *
 * @param args Input, output (overwritten) and their shapes.
 * @example
 * ```ts
 * import { sumTo } from "./layout.ts";
 * const out = new Float32Array(2);
 * sumTo({ x: new Float32Array([1, 2, 3, 4]), xShape: [2, 2], out, outShape: [1, 2] }); // out = [4, 6]
 * ```
 */
export function sumTo(args: SumToArgs<FloatArray>): void {
  const { x, out } = args;
  const { sizes, reduced } = collapseReduction(args.xShape, args.outShape);
  out.fill(0);
  if (sizes.length === 0) {
    out[0] = x[0];
    return;
  }
  // Output strides over the collapsed dims (0 where reduced).
  const outStrides = new Array<number>(sizes.length);
  let s = 1;
  for (let d = sizes.length - 1; d >= 0; d--) {
    outStrides[d] = reduced[d] ? 0 : s;
    if (!reduced[d]) s *= sizes[d];
  }
  const rank = sizes.length;
  const inner = sizes[rank - 1];
  const innerReduced = reduced[rank - 1];
  const outer = inner === 0 ? 0 : x.length / inner;
  const counter = new Array<number>(rank).fill(0);
  let oo = 0;
  let xo = 0;
  for (let row = 0; row < outer; row++) {
    if (innerReduced) {
      let acc = 0;
      for (let i = 0; i < inner; i++) acc += x[xo + i];
      out[oo] += acc;
    } else {
      for (let i = 0; i < inner; i++) out[oo + i] += x[xo + i];
    }
    xo += inner;
    for (let d = rank - 2; d >= 0; d--) {
      oo += outStrides[d];
      if (++counter[d] < sizes[d]) break;
      oo -= outStrides[d] * sizes[d];
      counter[d] = 0;
    }
  }
}

/**
 * `y = x.permute(perm)`, copied.
 *
 * @param args Input, its shape, the permutation (output dim i is input dim `perm[i]`) and output.
 * @example
 * ```ts
 * import { permute } from "./layout.ts";
 * const y = new Float32Array(6);
 * permute({ x: new Float32Array([1, 2, 3, 4, 5, 6]), shape: [2, 3], perm: [1, 0], y }); // y = [1, 4, 2, 5, 3, 6]
 * ```
 */
export function permute(args: PermuteArgs<FloatArray>): void {
  const { x, y } = args;
  const { size: outSizes, inStride: strides } = permutePlan(args.shape, args.perm);
  const rank = outSizes.length;
  if (rank === 0) {
    if (y.length > 0) y[0] = x[0];
    return;
  }
  const inner = outSizes[rank - 1];
  const innerStride = strides[rank - 1];
  const outer = inner === 0 ? 0 : y.length / inner;
  const counter = new Array<number>(rank).fill(0);
  let xo = 0;
  let yo = 0;
  for (let row = 0; row < outer; row++) {
    for (let i = 0; i < inner; i++) y[yo + i] = x[xo + i * innerStride];
    yo += inner;
    for (let d = rank - 2; d >= 0; d--) {
      xo += strides[d];
      if (++counter[d] < outSizes[d]) break;
      xo -= strides[d] * outSizes[d];
      counter[d] = 0;
    }
  }
}

/**
 * Copies `src[o, srcStart + i, :]` to `dst[o, dstStart + i, :]` for every outer index o and
 * `i < length`: the kernel behind concat, narrow and their gradients.
 *
 * @param args The block geometry, source and destination.
 * @example
 * ```ts
 * import { copyBlocks } from "./layout.ts";
 * const dst = new Float32Array(4);
 * copyBlocks({ src: new Float32Array([1, 2]), dst,
 *   geometry: { outer: 2, inner: 1, srcAxis: 1, dstAxis: 2, srcStart: 0, dstStart: 1, length: 1 } }); // [0, 1, 0, 2]
 * ```
 */
export function copyBlocks(args: CopyBlocksArgs<FloatArray>): void {
  const { src, dst, geometry: c } = args;
  const block = c.length * c.inner;
  const srcRow = c.srcAxis * c.inner;
  const dstRow = c.dstAxis * c.inner;
  let so = c.srcStart * c.inner;
  let d = c.dstStart * c.inner;
  for (let o = 0; o < c.outer; o++, so += srcRow, d += dstRow) {
    if (block >= 64) dst.set(src.subarray(so, so + block), d);
    else for (let i = 0; i < block; i++) dst[d + i] = src[so + i];
  }
}
