/**
 * Host-side index plans for the broadcasting, reduction and permute kernels: shapes collapsed to
 * the fewest dims (size-1 dims dropped, neighbours that move together merged), with element
 * strides. The kernels decode a linear index over `size` (innermost last) and weight each
 * coordinate by a stride, so every plan here fits in the kernels' six `Dims` slots.
 *
 * @module
 */

import { collapseReduction } from "../device.ts";
import { MAX_DIMS } from "./launch.ts";

/** A broadcast of two operands to an output of the same rank. */
export interface BroadcastPlan {
  /** Collapsed output dims, innermost last. */
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
  /** Collapsed output dims, innermost last. */
  size: number[];
  /** Input element stride of each output dim. */
  inStride: number[];
}

function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i];
  }
  return strides;
}

function fits(op: string, rank: number): void {
  if (rank > MAX_DIMS) {
    throw new Error(
      `${op}(): the shapes need ${rank} dims after merging, the CUDA kernels take ${MAX_DIMS}; ` +
        `reshape the tensors first`,
    );
  }
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
 * import { broadcastPlan } from "./shapes.ts";
 * broadcastPlan([2, 3, 4, 5], [1, 3, 1, 1], [2, 3, 4, 5]);
 * // { size: [2, 3, 20], aStride: [60, 20, 1], bStride: [0, 1, 0] }
 * ```
 */
export function broadcastPlan(
  aShape: readonly number[],
  bShape: readonly number[],
  outShape: readonly number[],
): BroadcastPlan {
  const strideOf = (shape: readonly number[]): number[] =>
    contiguousStrides(shape).map((s, i) => (shape[i] === 1 ? 0 : s));
  const as = strideOf(aShape);
  const bs = strideOf(bShape);
  const plan: BroadcastPlan = { size: [], aStride: [], bStride: [] };
  for (let i = 0; i < outShape.length; i++) {
    const size = outShape[i];
    if (size === 1) continue;
    const last = plan.size.length - 1;
    if (last >= 0 && plan.aStride[last] === as[i] * size && plan.bStride[last] === bs[i] * size) {
      plan.size[last] *= size;
      plan.aStride[last] = as[i];
      plan.bStride[last] = bs[i];
    } else {
      plan.size.push(size);
      plan.aStride.push(as[i]);
      plan.bStride.push(bs[i]);
    }
  }
  fits("binary", plan.size.length);
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
 * import { reductionPlan } from "./shapes.ts";
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
  sizes.forEach((size, d) => {
    if (reduced[d]) {
      plan.reducedSize.push(size);
      plan.reducedStride.push(strides[d]);
      plan.reduceCount *= size;
    } else {
      plan.keptSize.push(size);
      plan.keptStride.push(strides[d]);
      plan.outCount *= size;
    }
  });
  fits("sumTo", Math.max(plan.keptSize.length, plan.reducedSize.length));
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
 * import { permutePlan } from "./shapes.ts";
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
  fits("permute", plan.size.length);
  return plan;
}
