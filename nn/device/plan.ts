/**
 * Index plans for broadcasting, reductions and permutes, shared by every device: shapes collapsed
 * to the fewest dims (size-1 dims dropped, neighbours that move together merged), with element
 * strides. The CPU device loops over a plan; the CUDA device passes it to its kernels.
 *
 * @module
 */

/** A broadcast of two operands to an output of the same rank. */
export interface BroadcastPlan {
  /** Collapsed output dims, innermost last (empty for a single element). */
  size: number[];
  /** Element strides of `a` per collapsed dim (0 where it broadcasts). */
  aStride: number[];
  /** Element strides of `b` per collapsed dim (0 where it broadcasts). */
  bStride: number[];
}

/** A sum of `x` down to a shape with size-1 dims where it reduces. */
export interface ReductionPlan {
  /** Number of output elements. */
  outCount: number;
  /** Number of input elements summed into each output. */
  reduceCount: number;
  /** Kept dims, innermost last (their product is `outCount`). */
  keptSize: number[];
  /** Strides in x of the kept dims. */
  keptStride: number[];
  /** Reduced dims, innermost last. */
  reducedSize: number[];
  /** Strides in x of the reduced dims. */
  reducedStride: number[];
}

/** A permute: output dims and the input stride each one walks. */
export interface PermutePlan {
  /** Collapsed output dims, innermost last (empty for a single element). */
  size: number[];
  /** Input element stride of each output dim. */
  inStride: number[];
}

/**
 * Row-major strides of a contiguous shape.
 *
 * @param shape Dimensions.
 * @returns Element strides, innermost 1.
 * @example
 * ```ts
 * import { contiguousStrides } from "./plan.ts";
 * contiguousStrides([2, 3, 4]); // [12, 4, 1]
 * ```
 */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

/**
 * How a reduction looks once size-1 dims are dropped and neighbouring dims that are both kept or
 * both reduced are merged: alternating runs, outermost first.
 *
 * @param xShape Shape of the input.
 * @param outShape Target shape (same rank; reduced dims are 1).
 * @returns Run sizes and whether each run is reduced.
 * @example
 * ```ts
 * import { collapseReduction } from "./plan.ts";
 * collapseReduction([8, 16, 7, 7], [1, 16, 1, 1]); // { sizes: [8, 16, 49], reduced: [true, false, true] }
 * ```
 */
export function collapseReduction(
  xShape: readonly number[],
  outShape: readonly number[],
): { sizes: number[]; reduced: boolean[] } {
  const sizes: number[] = [];
  const reduced: boolean[] = [];
  for (let i = 0; i < xShape.length; i++) {
    if (xShape[i] === 1) continue;
    const r = outShape[i] === 1;
    const last = sizes.length - 1;
    if (last >= 0 && reduced[last] === r) sizes[last] *= xShape[i];
    else {
      sizes.push(xShape[i]);
      reduced.push(r);
    }
  }
  return { sizes, reduced };
}

/**
 * Plans `out = a op b` with NumPy broadcasting (all shapes of the same rank).
 *
 * @param aShape Shape of `a`.
 * @param bShape Shape of `b`.
 * @param outShape The broadcast shape.
 * @returns The collapsed plan.
 * @example
 * ```ts
 * import { broadcastPlan } from "./plan.ts";
 * broadcastPlan([2, 3, 4, 5], [1, 3, 1, 1], [2, 3, 4, 5]);
 * // { size: [2, 3, 20], aStride: [60, 20, 1], bStride: [0, 1, 0] }
 * ```
 */
export function broadcastPlan(
  aShape: readonly number[],
  bShape: readonly number[],
  outShape: readonly number[],
): BroadcastPlan {
  const as = contiguousStrides(aShape);
  const bs = contiguousStrides(bShape);
  const plan: BroadcastPlan = { size: [], aStride: [], bStride: [] };
  for (let i = 0; i < outShape.length; i++) {
    const size = outShape[i];
    if (size === 1) continue;
    const sa = aShape[i] === 1 ? 0 : as[i];
    const sb = bShape[i] === 1 ? 0 : bs[i];
    const last = plan.size.length - 1;
    if (last >= 0 && plan.aStride[last] === sa * size && plan.bStride[last] === sb * size) {
      plan.size[last] *= size;
      plan.aStride[last] = sa;
      plan.bStride[last] = sb;
    } else {
      plan.size.push(size);
      plan.aStride.push(sa);
      plan.bStride.push(sb);
    }
  }
  return plan;
}

/**
 * Plans `out = x summed down to outShape` (same rank; reduced dims have size 1 in `outShape`).
 *
 * @param xShape Shape of `x`.
 * @param outShape Target shape.
 * @returns The collapsed plan.
 * @example
 * ```ts
 * import { reductionPlan } from "./plan.ts";
 * reductionPlan([8, 16, 7, 7], [1, 16, 1, 1]);
 * // outCount 16, reduceCount 392: kept [16] stride [49]; reduced [8, 49] strides [784, 1]
 * ```
 */
export function reductionPlan(xShape: readonly number[], outShape: readonly number[]): ReductionPlan {
  const { sizes, reduced } = collapseReduction(xShape, outShape);
  const strides = contiguousStrides(sizes);
  const plan: ReductionPlan = {
    outCount: 1,
    reduceCount: 1,
    keptSize: [],
    keptStride: [],
    reducedSize: [],
    reducedStride: [],
  };
  for (let d = 0; d < sizes.length; d++) {
    if (reduced[d]) {
      plan.reducedSize.push(sizes[d]);
      plan.reducedStride.push(strides[d]);
      plan.reduceCount *= sizes[d];
    } else {
      plan.keptSize.push(sizes[d]);
      plan.keptStride.push(strides[d]);
      plan.outCount *= sizes[d];
    }
  }
  return plan;
}

/**
 * Plans `y = x.permute(perm)` (copied).
 *
 * @param shape Shape of `x`.
 * @param perm Output dim i is input dim `perm[i]`.
 * @returns The collapsed plan.
 * @example
 * ```ts
 * import { permutePlan } from "./plan.ts";
 * permutePlan([2, 3, 4], [0, 2, 1]); // { size: [2, 4, 3], inStride: [12, 1, 4] }
 * ```
 */
export function permutePlan(shape: readonly number[], perm: readonly number[]): PermutePlan {
  const inStrides = contiguousStrides(shape);
  const plan: PermutePlan = { size: [], inStride: [] };
  for (const p of perm) {
    const size = shape[p];
    if (size === 1) continue;
    const last = plan.size.length - 1;
    if (last >= 0 && plan.inStride[last] === inStrides[p] * size) {
      plan.size[last] *= size;
      plan.inStride[last] = inStrides[p];
    } else {
      plan.size.push(size);
      plan.inStride.push(inStrides[p]);
    }
  }
  return plan;
}
