/**
 * Reductions (sum, mean) and their inverse, broadcasting (expand).
 *
 * @module
 */

import { record } from "../autograd.ts";
import { full, type Tensor } from "../tensor.ts";
import { emptyLike, normalizeDim, padShape } from "./util.ts";
import { reshape } from "./shape.ts";
import { div } from "./elementwise.ts";

/**
 * `t` summed down to `shape` (the inverse of broadcasting); `t` itself when shapes match.
 * Not recorded: used inside backward functions.
 *
 * @param t A tensor whose shape broadcasts from `shape`.
 * @param shape Target shape.
 * @returns The reduced tensor.
 * @example
 * ```ts
 * import { sumToShape } from "./reduce.ts";
 * import { ones } from "../tensor.ts";
 * sumToShape(ones([2, 3]), [3]).toArray(); // [2, 2, 2]
 * ```
 */
export function sumToShape(t: Tensor, shape: readonly number[]): Tensor {
  if (t.shape.length === shape.length && t.shape.every((d, i) => d === shape[i])) return t;
  const padded = padShape(shape, t.ndim);
  if (padded.every((d, i) => d === t.shape[i])) return reshape(t, shape);
  const out = emptyLike(t, shape);
  t.device.sumTo({ x: t.buffer, xShape: t.shape, out: out.buffer, outShape: padded });
  return out;
}

/**
 * `t` broadcast to `shape` (copied). Not recorded.
 *
 * @param t A tensor whose shape broadcasts to `shape`.
 * @param shape Target shape.
 * @returns The expanded tensor.
 * @example
 * ```ts
 * import { expand } from "./reduce.ts";
 * import { tensor } from "../tensor.ts";
 * expand(tensor([1, 2]), [2, 2]).toArray(); // [1, 2, 1, 2]
 * ```
 */
export function expand(t: Tensor, shape: readonly number[]): Tensor {
  const out = emptyLike(t, shape);
  const zero = full(new Array<number>(shape.length).fill(1), 0, { device: t.device, dtype: t.dtype });
  t.device.binary({
    op: "add",
    a: t.buffer,
    aShape: padShape(t.shape, shape.length),
    b: zero.buffer,
    bShape: zero.shape,
    out: out.buffer,
    outShape: shape,
  });
  zero.dispose();
  return out;
}

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
 * import { tensor } from "../tensor.ts";
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
 * import { tensor } from "../tensor.ts";
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
