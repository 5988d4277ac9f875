/**
 * Host side of the reduction and data-movement kernels (kernels/reduce.cu, kernels/layout.cu):
 * sumTo, permute, block copies.
 *
 * @module
 */

import type { CopyBlocksArgs, PermuteArgs, SumToArgs } from "../device/kernels.ts";
import { permutePlan, reductionPlan } from "../device/plan.ts";
import { type CudaBuffer, ptr } from "./buffer.ts";
import { checkCount, fitsDims } from "./elementwise.ts";
import { BLOCK, gridFor, type KernelLibrary, MAX_BLOCKS } from "./launch.ts";

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
 * @param args Input, output and their shapes (same rank, 1 where reduced).
 * @param divisor Each sum is divided by it (global average pooling passes H*W).
 * @example
 * ```ts
 * import { sumTo } from "./layout.ts";
 * // sumTo(kernels, { x: dy, xShape: [8, 16, 7, 7], out: db, outShape: [1, 16, 1, 1] });
 * ```
 */
export function sumTo(kernels: KernelLibrary, args: SumToArgs<CudaBuffer>, divisor = 1): void {
  const plan = reductionPlan(args.xShape, args.outShape);
  if (plan.outCount === 0) return;
  fitsDims("sumTo", Math.max(plan.keptSize.length, plan.reducedSize.length));
  checkCount("sumTo", plan.outCount * plan.reduceCount);
  kernels.get("sum_to").launch(Math.min(plan.outCount, MAX_BLOCKS), reductionThreads(plan.reduceCount), [
    ptr(args.x),
    ptr(args.out),
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
 * @param args Input, its shape, the permutation, output.
 * @example
 * ```ts
 * import { permute } from "./layout.ts";
 * // permute(kernels, { x, shape: [2, 3, 4], perm: [0, 2, 1], y });
 * ```
 */
export function permute(kernels: KernelLibrary, args: PermuteArgs<CudaBuffer>): void {
  const n = args.y.length;
  if (n === 0) return;
  checkCount("permute", n);
  const plan = permutePlan(args.shape, args.perm);
  fitsDims("permute", plan.size.length);
  kernels.get("permute").launch(gridFor(n), BLOCK, [
    ptr(args.x),
    ptr(args.y),
    n,
    plan.size.length,
    plan.size,
    plan.inStride,
  ]);
}

/**
 * Copies `src[o, srcStart + i, :]` to `dst[o, dstStart + i, :]` (concat, narrow, their grads).
 *
 * @param kernels Our kernels.
 * @param args The block geometry, source, destination.
 * @example
 * ```ts
 * import { copyBlocks } from "./layout.ts";
 * // copyBlocks(kernels, { src, dst, geometry: { outer: 2, inner: 49, srcAxis: 16, dstAxis: 64, srcStart: 0,
 * //   dstStart: 16, length: 16 } });
 * ```
 */
export function copyBlocks(kernels: KernelLibrary, args: CopyBlocksArgs<CudaBuffer>): void {
  const c = args.geometry;
  const n = c.outer * c.length * c.inner;
  if (n === 0) return;
  checkCount("copyBlocks", Math.max(n, c.outer * c.srcAxis * c.inner, c.outer * c.dstAxis * c.inner));
  kernels.get("copy_blocks").launch(gridFor(n), BLOCK, [
    ptr(args.src),
    ptr(args.dst),
    n,
    c.inner,
    c.length,
    c.srcAxis,
    c.dstAxis,
    c.srcStart,
    c.dstStart,
  ]);
}
