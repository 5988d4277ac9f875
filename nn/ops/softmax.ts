/**
 * Softmax and log-softmax along a dim.
 *
 * @module
 */

import type { AxisGeometry } from "../device.ts";
import { record } from "../autograd.ts";
import type { Tensor } from "../tensor.ts";
import { emptyLike, normalizeDim } from "./util.ts";

function axisGeometry(op: string, x: Tensor, dim: number): AxisGeometry {
  const d = normalizeDim(op, dim, x.ndim);
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < d; i++) outer *= x.shape[i];
  for (let i = d + 1; i < x.ndim; i++) inner *= x.shape[i];
  return { outer, axis: x.shape[d], inner };
}

function softmaxOp(name: string, x: Tensor, dim: number, log: boolean): Tensor {
  const g = axisGeometry(name, x, dim);
  const y = emptyLike(x, x.shape);
  x.device.softmaxForward({ geometry: g, x: x.buffer, y: y.buffer, log });
  return record(y, name, [x], (dy) => {
    const dx = emptyLike(x, x.shape);
    x.device.softmaxBackward({ geometry: g, y: y.buffer, dy: dy.buffer, dx: dx.buffer, log });
    return [dx];
  });
}

/**
 * Softmax along `dim` (subtracting the max first, for stability).
 *
 * @param x Input.
 * @param dim The dim (negative counts from the end).
 * @returns Probabilities that sum to 1 along `dim`.
 * @example
 * ```ts
 * import { softmax } from "./softmax.ts";
 * import { tensor } from "../creation.ts";
 * softmax(tensor([0, 0]), 0).toArray(); // [0.5, 0.5]
 * ```
 */
export function softmax(x: Tensor, dim: number): Tensor {
  return softmaxOp("softmax", x, dim, false);
}

/**
 * Log-softmax along `dim`.
 *
 * @param x Input.
 * @param dim The dim.
 * @returns `log(softmax(x))`, computed stably.
 * @example
 * ```ts
 * import { logSoftmax } from "./softmax.ts";
 * import { tensor } from "../creation.ts";
 * logSoftmax(tensor([0, 0]), 0).toArray(); // [-0.693..., -0.693...]
 * ```
 */
export function logSoftmax(x: Tensor, dim: number): Tensor {
  return softmaxOp("logSoftmax", x, dim, true);
}
