/**
 * Host side of the reduction and data-movement kernels (kernels/reduce.cu, kernels/layout.cu):
 * sumTo, permute, block copies.
 *
 * @module
 */

import type { BlockCopy } from "../device.ts";
import { checkCount } from "./elementwise.ts";
import { BLOCK, gridFor, type KernelLibrary, MAX_BLOCKS } from "./launch.ts";
import { permutePlan, reductionPlan } from "./shapes.ts";

/**
 * Threads per block for a reduction of `count` elements into each output: enough to cover
 * short rows without idle warps, up to 512 for long ones.
 *
 * @param count Elements summed per output.
 * @returns A multiple of 32 in [32, 512].
 * @example
 * ```ts
 * import { reductionThreads } from "./layout.ts";
 * reductionThreads(49); // 64
 * ```
 */
export function reductionThreads(count: number): number {
  let threads = 32;
  while (threads < 512 && threads < count) threads *= 2;
  return threads;
}

/**
 * `out = sum of x down to outShape`, divided by `divisor` (1 for a plain sum).
 *
 * @param kernels Our kernels.
 * @param x Input.
 * @param xShape Its shape.
 * @param out Output.
 * @param outShape Target shape (same rank, 1 where reduced).
 * @param divisor Each sum is divided by it (global average pooling passes H*W).
 * @example
 * ```ts
 * import { sumTo } from "./layout.ts";
 * // sumTo(kernels, dy, [8, 16, 7, 7], db, [1, 16, 1, 1]);
 * ```
 */
export function sumTo(
  kernels: KernelLibrary,
  x: bigint,
  xShape: readonly number[],
  out: bigint,
  outShape: readonly number[],
  divisor = 1,
): void {
  const plan = reductionPlan(xShape, outShape);
  if (plan.outCount === 0) return;
  checkCount("sumTo", plan.outCount * plan.reduceCount);
  kernels.get("sum_to").launch(Math.min(plan.outCount, MAX_BLOCKS), reductionThreads(plan.reduceCount), [
    x,
    out,
    plan.outCount,
    plan.reduceCount,
    divisor,
    plan.keptSize.length,
    plan.keptSize,
    plan.keptStride,
    plan.reducedSize.length,
    plan.reducedSize,
    plan.reducedStride,
  ]);
}

/**
 * `y = x.permute(perm)`, copied.
 *
 * @param kernels Our kernels.
 * @param x Input.
 * @param shape Shape of x.
 * @param perm Output dim i is input dim `perm[i]`.
 * @param y Output.
 * @param n Elements.
 * @example
 * ```ts
 * import { permute } from "./layout.ts";
 * // permute(kernels, x, [2, 3, 4], [0, 2, 1], y, 24);
 * ```
 */
export function permute(
  kernels: KernelLibrary,
  x: bigint,
  shape: readonly number[],
  perm: readonly number[],
  y: bigint,
  n: number,
): void {
  if (n === 0) return;
  checkCount("permute", n);
  const plan = permutePlan(shape, perm);
  kernels.get("permute").launch(gridFor(n), BLOCK, [x, y, n, plan.size.length, plan.size, plan.inStride]);
}

/**
 * Copies `src[o, srcStart + i, :]` to `dst[o, dstStart + i, :]` (concat, narrow, their grads).
 *
 * @param kernels Our kernels.
 * @param src Source.
 * @param dst Destination.
 * @param c The block geometry.
 * @example
 * ```ts
 * import { copyBlocks } from "./layout.ts";
 * // copyBlocks(kernels, src, dst, { outer: 2, inner: 49, srcAxis: 16, dstAxis: 64, srcStart: 0, dstStart: 16, length: 16 });
 * ```
 */
export function copyBlocks(kernels: KernelLibrary, src: bigint, dst: bigint, c: BlockCopy): void {
  const n = c.outer * c.length * c.inner;
  if (n === 0) return;
  checkCount("copyBlocks", Math.max(n, c.outer * c.srcAxis * c.inner, c.outer * c.dstAxis * c.inner));
  kernels.get("copy_blocks").launch(gridFor(n), BLOCK, [
    src,
    dst,
    n,
    c.inner,
    c.length,
    c.srcAxis,
    c.dstAxis,
    c.srcStart,
    c.dstStart,
  ]);
}
