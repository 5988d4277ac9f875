/**
 * Helpers shared by the ops: argument checks with clear messages, dim normalisation, broadcast
 * shapes, output allocation.
 *
 * @module
 */

import type { Device, DType } from "../device.ts";
import { empty, type Tensor } from "../tensor.ts";

/**
 * Checks that tensors share a device and dtype; the error names the op.
 *
 * @param op The op's name.
 * @param tensors Its inputs.
 * @returns The common device.
 * @example
 * ```ts
 * import { sameDevice } from "./util.ts";
 * // const device = sameDevice("add", a, b);
 * ```
 */
export function sameDevice(op: string, ...tensors: Tensor[]): Device {
  const first = tensors[0];
  for (const t of tensors) {
    if (t.device !== first.device) {
      throw new Error(
        `${op}(): tensors are on different devices (${first.device.name}, ${t.device.name}); move them with .to()`,
      );
    }
    if (t.dtype !== first.dtype) {
      throw new Error(
        `${op}(): tensors have different dtypes (${first.dtype}, ${t.dtype}); convert with .to()`,
      );
    }
  }
  return first.device;
}

/**
 * A dim in [0, rank), from a possibly negative index.
 *
 * @param op The op's name.
 * @param dim The dim (negative counts from the end).
 * @param rank Number of dims.
 * @returns The normalised dim.
 * @example
 * ```ts
 * import { normalizeDim } from "./util.ts";
 * normalizeDim("sum", -1, 3); // 2
 * ```
 */
export function normalizeDim(op: string, dim: number, rank: number): number {
  const d = dim < 0 ? dim + rank : dim;
  if (!Number.isInteger(dim) || d < 0 || d >= rank) {
    throw new Error(`${op}(): dim ${dim} is out of range for a tensor with ${rank} dims`);
  }
  return d;
}

/**
 * The broadcast shape of two shapes (NumPy rules).
 *
 * @param op The op's name.
 * @param a First shape.
 * @param b Second shape.
 * @returns The broadcast shape.
 * @example
 * ```ts
 * import { broadcastShapes } from "./util.ts";
 * broadcastShapes("add", [2, 1, 4], [3, 1]); // [2, 3, 4]
 * ```
 */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}(): shapes [${a}] and [${b}] cannot broadcast (dim ${i}: ${da} vs ${db})`);
    }
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/**
 * `shape` padded with leading 1s to `rank` dims.
 *
 * @param shape A shape.
 * @param rank Target rank (at least shape.length).
 * @returns The padded shape.
 * @example
 * ```ts
 * import { padShape } from "./util.ts";
 * padShape([3], 3); // [1, 1, 3]
 * ```
 */
export function padShape(shape: readonly number[], rank: number): number[] {
  return [...new Array<number>(rank - shape.length).fill(1), ...shape];
}

/**
 * A fresh output tensor on `like`'s device and dtype.
 *
 * @param like A tensor to take device and dtype from.
 * @param shape The output shape.
 * @param zero Zero-fill it.
 * @returns The tensor.
 * @example
 * ```ts
 * import { emptyLike } from "./util.ts";
 * // const y = emptyLike(x, x.shape);
 * ```
 */
export function emptyLike(
  like: { dtype: DType; device: Device },
  shape: readonly number[],
  zero = false,
): Tensor {
  return empty(shape, like.dtype, like.device, zero);
}

/**
 * A fresh tensor filled with `value` on `like`'s device and dtype (not a leaf the user sees: the
 * ops use it for scalars and broadcast sources).
 *
 * @param like A tensor to take device and dtype from.
 * @param shape The shape.
 * @param value The fill value.
 * @returns The tensor.
 * @example
 * ```ts
 * import { fullLike } from "./util.ts";
 * // const half = fullLike(x, [], 0.5);
 * ```
 */
export function fullLike(like: { dtype: DType; device: Device }, shape: readonly number[], value: number): Tensor {
  const t = empty(shape, like.dtype, like.device);
  like.device.fill(t.buffer, value);
  return t;
}

/**
 * Checks a positive integer argument; the error names the op and the value.
 *
 * @param op The op or layer.
 * @param name The argument.
 * @param value Its value.
 * @param min Smallest allowed value (default 1).
 * @example
 * ```ts
 * import { checkInteger } from "./util.ts";
 * checkInteger("Conv2d", "inChannels", 3);
 * ```
 */
export function checkInteger(op: string, name: string, value: number, min = 1): void {
  if (!Number.isInteger(value) || value < min) {
    throw new Error(`${op}: ${name} must be an integer >= ${min}, got ${value}`);
  }
}

/**
 * Checks that a tensor has the given rank.
 *
 * @param op The op's name.
 * @param t The tensor.
 * @param rank Expected rank.
 * @param layout Dims, for the message (e.g. "(N, C, H, W)").
 * @example
 * ```ts
 * import { checkRank } from "./util.ts";
 * // checkRank("conv2d", x, 4, "(N, C, H, W)");
 * ```
 */
export function checkRank(op: string, t: Tensor, rank: number, layout: string): void {
  if (t.ndim !== rank) {
    throw new Error(`${op}(): expected a ${rank}-D input ${layout}, got shape [${t.shape}]`);
  }
}
