/**
 * Reductions (sum, mean), recorded for autograd.
 *
 * @module
 */

import { record } from "../autograd.ts";
import type { Tensor } from "../tensor.ts";
import { expand } from "./broadcast.ts";
import { div } from "./elementwise.ts";
import { reshape } from "./shape.ts";
import { emptyLike, normalizeDim } from "./util.ts";

function reducedShapes(
  op: string,
  x: Tensor,
  dims: number | readonly number[] | undefined,
  keepdim: boolean,
): { keep: number[]; out: number[]; count: number } {
  const list = dims === undefined ? x.shape.map((_, i) => i) : typeof dims === "number" ? [dims] : dims;
  const reduce = new Set(list.map((d) => normalizeDim(op, d, x.ndim)));
  const keep = x.shape.map((d, i) => (reduce.has(i) ? 1 : d));
  const out = keepdim ? keep : x.shape.filter((_, i) => !reduce.has(i));
  let count = 1;
  for (const d of reduce) count *= x.shape[d];
  return { keep, out, count };
}

/**
 * Sum of all elements, or along `dims`.
 *
 * @param x Input.
 * @param dims A dim or dims (negative counts from the end); all when omitted.
 * @param keepdim Keep reduced dims with size 1.
 * @returns The sum.
 * @example
 * ```ts
 * import { sum } from "./reduce.ts";
 * import { tensor } from "../creation.ts";
 * sum(tensor([[1, 2], [3, 4]]), 0).toArray(); // [4, 6]
 * ```
 */
export function sum(x: Tensor, dims?: number | readonly number[], keepdim = false): Tensor {
  const { keep, out: outShape } = reducedShapes("sum", x, dims, keepdim);
  const out = emptyLike(x, outShape);
  x.device.sumTo({ x: x.buffer, xShape: x.shape, out: out.buffer, outShape: keep });
  return record(out, "sum", [x], (g) => {
    const gk = reshape(g, keep);
    const dx = expand(gk, x.shape);
    gk.dispose();
    return [dx];
  });
}

/**
 * Mean of all elements, or along `dims`.
 *
 * @param x Input.
 * @param dims A dim or dims; all when omitted.
 * @param keepdim Keep reduced dims with size 1.
 * @returns The mean.
 * @example
 * ```ts
 * import { mean } from "./reduce.ts";
 * import { tensor } from "../creation.ts";
 * mean(tensor([1, 2, 3, 4])).item(); // 2.5
 * ```
 */
export function mean(x: Tensor, dims?: number | readonly number[], keepdim = false): Tensor {
  const { count } = reducedShapes("mean", x, dims, keepdim);
  const total = sum(x, dims, keepdim);
  const out = div(total, count);
  total.dispose();
  return out;
}
