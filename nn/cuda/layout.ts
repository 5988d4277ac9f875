/**
 * Host side of the reduction and data-movement kernels (kernels/reduce.cu, kernels/layout.cu):
 * sumTo, permute, block copies.
 *
 * @module
 */

import type { CopyBlocksArgs, PermuteArgs, SumToArgs } from "../device/kernels.ts";
import { permutePlan, type ReductionPlan, reductionPlan } from "../device/plan.ts";
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

/** How a reduction is cut across blocks: `splits` slices of `chunk` reduced elements per output. */
export interface ReductionSplit {
  splits: number;
  chunk: number;
}

/** Blocks that keep every SM of an H200 (132) busy twice over. */
const TARGET_BLOCKS = 264;
/** Fewest reduced elements a split block sums: below that the second pass costs more than it saves. */
const MIN_CHUNK = 4096;

/**
 * How many blocks share each output of a reduction. Few outputs with long reductions (a full
 * sum, the bias gradient of a small layer) would run on a few SMs with one block per output;
 * they get `splits` blocks per output instead, each summing `chunk` consecutive reduced indices
 * (a multiple of 32, the last slice shorter), and a second pass sums the partials.
 *
 * @param outCount Outputs.
 * @param reduceCount Elements summed per output.
 * @returns `splits` 1 and `chunk` reduceCount when one block per output is enough.
 * @example
 * ```ts
 * import { reductionSplit } from "./layout.ts";
 * reductionSplit(1, 1 << 20); // { splits: 256, chunk: 4096 }
 * reductionSplit(2048, 49); // { splits: 1, chunk: 49 }
 * ```
 */
export function reductionSplit(outCount: number, reduceCount: number): ReductionSplit {
  const wanted = Math.min(Math.ceil(TARGET_BLOCKS / outCount), Math.floor(reduceCount / MIN_CHUNK));
  if (outCount >= TARGET_BLOCKS || wanted < 2) return { splits: 1, chunk: reduceCount };
  const chunk = Math.ceil(reduceCount / wanted / 32) * 32;
  return { splits: Math.ceil(reduceCount / chunk), chunk };
}

/** Device memory for the partial sums of a split reduction (the caching allocator). */
export interface ReductionScratch {
  alloc(bytes: number): { ptr: bigint; size: number };
  free(block: { ptr: bigint; size: number }): void;
}

/**
 * `out = sum of x down to outShape`, divided by `divisor` (1 for a plain sum). With `scratch`,
 * reductions with few outputs are split across blocks ({@linkcode reductionSplit}) into
 * partials, summed by a second launch; the scratch block is freed right after that launch,
 * which is safe because every later use of the block is queued on the same stream.
 *
 * @param kernels Our kernels.
 * @param args Input, output and their shapes (same rank, 1 where reduced).
 * @param divisor Each sum is divided by it (global average pooling passes H*W).
 * @param scratch Where partial sums go; without it every output is one block.
 * @example
 * ```ts
 * import { sumTo } from "./layout.ts";
 * // sumTo(kernels, { x: dy, xShape: [8, 16, 7, 7], out: db, outShape: [1, 16, 1, 1] }, 1, allocator);
 * ```
 */
export function sumTo(
  kernels: KernelLibrary,
  args: SumToArgs<CudaBuffer>,
  divisor = 1,
  scratch?: ReductionScratch,
): void {
  const plan = reductionPlan(args.xShape, args.outShape);
  if (plan.outCount === 0) return;
  fitsDims("sumTo", Math.max(plan.keptSize.length, plan.reducedSize.length));
  checkCount("sumTo", plan.outCount * plan.reduceCount);
  const split = scratch ? reductionSplit(plan.outCount, plan.reduceCount) : { splits: 1, chunk: plan.reduceCount };
  const launch = (x: bigint, out: bigint, p: ReductionPlan, div: number, s: ReductionSplit) =>
    kernels.get("sum_to").launch(Math.min(p.outCount * s.splits, MAX_BLOCKS), reductionThreads(s.chunk), [
      x,
      out,
      p.outCount,
      p.reduceCount,
      div,
      p.keptSize.length,
      p.keptSize,
      p.keptStride,
      p.reducedSize.length,
      p.reducedSize,
      p.reducedStride,
      s.splits,
      s.chunk,
    ]);
  if (split.splits === 1 || !scratch) return launch(ptr(args.x), ptr(args.out), plan, divisor, split);
  const partials = scratch.alloc(plan.outCount * split.splits * 4);
  launch(ptr(args.x), partials.ptr, plan, 1, split);
  const second = partialsPlan(plan.outCount, split.splits);
  launch(partials.ptr, ptr(args.out), second, divisor, { splits: 1, chunk: split.splits });
  scratch.free(partials);
}

/**
 * The second pass of a split reduction: partials `[outCount, splits]` summed over `splits`.
 *
 * @param outCount Outputs.
 * @param splits Partials per output.
 * @returns The plan of that reduction.
 * @example
 * ```ts
 * import { partialsPlan } from "./layout.ts";
 * partialsPlan(3, 88); // outCount 3, reduceCount 88: kept [3] stride [88]; reduced [88] stride [1]
 * ```
 */
export function partialsPlan(outCount: number, splits: number): ReductionPlan {
  return {
    outCount,
    reduceCount: splits,
    keptSize: [outCount],
    keptStride: [splits],
    reducedSize: [splits],
    reducedStride: [1],
  };
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
