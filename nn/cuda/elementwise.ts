/**
 * Host side of the element-wise kernels (kernels/elementwise.cu): argument packing and launch
 * sizes. Element counts are checked against {@linkcode MAX_ELEMENTS} because the kernels index
 * with ints.
 *
 * @module
 */

import type { ActivationOp, BinaryOp, UnaryOp } from "../device.ts";
import { BLOCK, gridFor, type KernelLibrary, MAX_ELEMENTS } from "./launch.ts";
import { broadcastPlan } from "./shapes.ts";

const BINARY_CODES: Readonly<Record<BinaryOp, number>> = { add: 0, sub: 1, mul: 2, div: 3 };
const UNARY_CODES: Readonly<Record<UnaryOp, number>> = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  abs: 4,
  relu: 5,
  sigmoid: 6,
  tanh: 7,
};
const ACTIVATION_CODES: Readonly<Record<ActivationOp, number>> = { relu: 0, sigmoid: 1, tanh: 2 };

/**
 * Throws when `n` elements are more than the int-indexed kernels handle.
 *
 * @param op The kernel, for the message.
 * @param n Element count.
 * @example
 * ```ts
 * import { checkCount } from "./elementwise.ts";
 * checkCount("axpy", 1024); // fine
 * ```
 */
export function checkCount(op: string, n: number): void {
  if (n > MAX_ELEMENTS) {
    throw new Error(
      `${op}(): ${n} elements is more than the CUDA kernels index (${MAX_ELEMENTS}); split the tensor`,
    );
  }
}

/**
 * `out = a op b` with broadcasting.
 *
 * @param kernels Our kernels.
 * @param op The operation.
 * @param a Left operand.
 * @param aShape Its shape.
 * @param b Right operand.
 * @param bShape Its shape.
 * @param out Output.
 * @param outShape The broadcast shape (same rank).
 * @param n Output elements.
 * @example
 * ```ts
 * import { binary } from "./elementwise.ts";
 * // binary(kernels, "add", a, [2, 3], b, [1, 3], out, [2, 3], 6);
 * ```
 */
export function binary(
  kernels: KernelLibrary,
  op: BinaryOp,
  a: bigint,
  aShape: readonly number[],
  b: bigint,
  bShape: readonly number[],
  out: bigint,
  outShape: readonly number[],
  n: number,
): void {
  if (n === 0) return;
  checkCount("binary", n);
  const plan = broadcastPlan(aShape, bShape, outShape);
  kernels.get("binary_op").launch(gridFor(n), BLOCK, [
    a,
    b,
    out,
    n,
    BINARY_CODES[op],
    plan.size.length,
    plan.size,
    plan.aStride,
    plan.bStride,
  ]);
}

/**
 * `out = op(x)`.
 *
 * @param kernels Our kernels.
 * @param op The operation.
 * @param x Input.
 * @param out Output.
 * @param n Elements.
 * @example
 * ```ts
 * import { unary } from "./elementwise.ts";
 * // unary(kernels, "relu", x, y, n);
 * ```
 */
export function unary(kernels: KernelLibrary, op: UnaryOp, x: bigint, out: bigint, n: number): void {
  if (n === 0) return;
  checkCount("unary", n);
  kernels.get("unary_op").launch(gridFor(n), BLOCK, [x, out, n, UNARY_CODES[op]]);
}

/**
 * `dx = dy * op'(x)` from the activation's output `y`.
 *
 * @param kernels Our kernels.
 * @param op The activation.
 * @param y Forward output.
 * @param dy Output gradient.
 * @param dx Input gradient.
 * @param n Elements.
 * @example
 * ```ts
 * import { activationBackward } from "./elementwise.ts";
 * // activationBackward(kernels, "sigmoid", y, dy, dx, n);
 * ```
 */
export function activationBackward(
  kernels: KernelLibrary,
  op: ActivationOp,
  y: bigint,
  dy: bigint,
  dx: bigint,
  n: number,
): void {
  if (n === 0) return;
  checkCount("activationBackward", n);
  kernels.get("activation_backward").launch(gridFor(n), BLOCK, [y, dy, dx, n, ACTIVATION_CODES[op]]);
}

/**
 * `out = x * scale + shift`.
 *
 * @param kernels Our kernels.
 * @param x Input.
 * @param out Output.
 * @param n Elements.
 * @param scale Multiplier.
 * @param shift Addend.
 * @example
 * ```ts
 * import { affine } from "./elementwise.ts";
 * // affine(kernels, x, y, n, 2, 1); // y = 2x + 1
 * ```
 */
export function affine(
  kernels: KernelLibrary,
  x: bigint,
  out: bigint,
  n: number,
  scale: number,
  shift: number,
): void {
  if (n === 0) return;
  checkCount("affine", n);
  kernels.get("affine").launch(gridFor(n), BLOCK, [x, out, n, scale, shift]);
}

/**
 * `out = x ** exponent`.
 *
 * @param kernels Our kernels.
 * @param x Input.
 * @param out Output.
 * @param n Elements.
 * @param exponent The power.
 * @example
 * ```ts
 * import { pow } from "./elementwise.ts";
 * // pow(kernels, x, y, n, 2);
 * ```
 */
export function pow(kernels: KernelLibrary, x: bigint, out: bigint, n: number, exponent: number): void {
  if (n === 0) return;
  checkCount("pow", n);
  kernels.get("pow_op").launch(gridFor(n), BLOCK, [x, out, n, exponent]);
}

/**
 * `y += alpha * x`.
 *
 * @param kernels Our kernels.
 * @param alpha Scale.
 * @param x Addend.
 * @param y Accumulator.
 * @param n Elements.
 * @example
 * ```ts
 * import { axpy } from "./elementwise.ts";
 * // axpy(kernels, -0.1, grad, param, n);
 * ```
 */
export function axpy(kernels: KernelLibrary, alpha: number, x: bigint, y: bigint, n: number): void {
  if (n === 0) return;
  checkCount("axpy", n);
  kernels.get("axpy").launch(gridFor(n), BLOCK, [x, y, n, alpha]);
}
