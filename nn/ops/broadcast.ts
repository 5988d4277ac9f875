/**
 * Broadcasting and its inverse, not recorded: `expand` copies a tensor out to a broadcast shape,
 * `sumToShape` sums a broadcast gradient back down. The backward functions of the element-wise
 * ops and of `sum` use them.
 *
 * @module
 */

import type { Tensor } from "../tensor.ts";
import { reshape } from "./shape.ts";
import { emptyLike, fullLike, padShape } from "./util.ts";

/**
 * `t` summed down to `shape` (the inverse of broadcasting); `t` itself when shapes match.
 * Not recorded: used inside backward functions.
 *
 * @param t A tensor whose shape broadcasts from `shape`.
 * @param shape Target shape.
 * @returns The reduced tensor.
 * @example
 * ```ts
 * import { sumToShape } from "./broadcast.ts";
 * import { ones } from "../creation.ts";
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
 * import { expand } from "./broadcast.ts";
 * import { tensor } from "../creation.ts";
 * expand(tensor([1, 2]), [2, 2]).toArray(); // [1, 2, 1, 2]
 * ```
 */
export function expand(t: Tensor, shape: readonly number[]): Tensor {
  const out = emptyLike(t, shape);
  const zero = fullLike(t, new Array<number>(shape.length).fill(1), 0);
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
