/**
 * Host side of the element-wise kernels (kernels/elementwise.cu): argument packing and launch
 * sizes. Element counts are checked against {@linkcode MAX_ELEMENTS} because the kernels index
 * with ints.
 *
 * @module
 */

import type {
  ActivationBackwardArgs,
  ActivationOp,
  AffineArgs,
  AxpyArgs,
  BinaryArgs,
  BinaryOp,
  PowArgs,
  UnaryArgs,
  UnaryOp,
} from "../device/kernels.ts";
import { broadcastPlan } from "../device/plan.ts";
import { type CudaBuffer, ptr } from "./buffer.ts";
import { BLOCK, gridFor, type KernelLibrary, MAX_DIMS, MAX_ELEMENTS } from "./launch.ts";

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
 * Throws when a collapsed plan needs more dims than the kernels' `Dims` struct holds.
 *
 * @param op The kernel, for the message.
 * @param rank Dims after merging.
 * @example
 * ```ts
 * import { fitsDims } from "./elementwise.ts";
 * fitsDims("binary", 3); // fine
 * ```
 */
export function fitsDims(op: string, rank: number): void {
  if (rank > MAX_DIMS) {
    throw new Error(
      `${op}(): the shapes need ${rank} dims after merging, the CUDA kernels take ${MAX_DIMS}; ` +
        `reshape the tensors first`,
    );
  }
}

/**
 * `out = a op b` with broadcasting.
 *
 * @param kernels Our kernels.
 * @param args Operation, operands, output and shapes.
 * @example
 * ```ts
 * import { binary } from "./elementwise.ts";
 * // binary(kernels, { op: "add", a, aShape: [2, 3], b, bShape: [1, 3], out, outShape: [2, 3] });
 * ```
 */
export function binary(kernels: KernelLibrary, args: BinaryArgs<CudaBuffer>): void {
  const n = args.out.length;
  if (n === 0) return;
  checkCount("binary", n);
  const plan = broadcastPlan(args.aShape, args.bShape, args.outShape);
  fitsDims("binary", plan.size.length);
  kernels.get("binary_op").launch(gridFor(n), BLOCK, [
    ptr(args.a),
    ptr(args.b),
    ptr(args.out),
    n,
    BINARY_CODES[args.op],
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
 * @param args Operation, input, output.
 * @example
 * ```ts
 * import { unary } from "./elementwise.ts";
 * // unary(kernels, { op: "relu", x, out });
 * ```
 */
export function unary(kernels: KernelLibrary, args: UnaryArgs<CudaBuffer>): void {
  const n = args.x.length;
  if (n === 0) return;
  checkCount("unary", n);
  kernels.get("unary_op").launch(gridFor(n), BLOCK, [ptr(args.x), ptr(args.out), n, UNARY_CODES[args.op]]);
}

/**
 * `dx = dy * op'(x)` from the activation's output `y`.
 *
 * @param kernels Our kernels.
 * @param args Activation, forward output, output gradient, input gradient.
 * @example
 * ```ts
 * import { activationBackward } from "./elementwise.ts";
 * // activationBackward(kernels, { op: "sigmoid", y, dy, dx });
 * ```
 */
export function activationBackward(kernels: KernelLibrary, args: ActivationBackwardArgs<CudaBuffer>): void {
  const n = args.y.length;
  if (n === 0) return;
  checkCount("activationBackward", n);
  kernels.get("activation_backward").launch(gridFor(n), BLOCK, [
    ptr(args.y),
    ptr(args.dy),
    ptr(args.dx),
    n,
    ACTIVATION_CODES[args.op],
  ]);
}

/**
 * `out = x * scale + shift`.
 *
 * @param kernels Our kernels.
 * @param args Input, output, multiplier, addend.
 * @example
 * ```ts
 * import { affine } from "./elementwise.ts";
 * // affine(kernels, { x, out: y, scale: 2, shift: 1 }); // y = 2x + 1
 * ```
 */
export function affine(kernels: KernelLibrary, args: AffineArgs<CudaBuffer>): void {
  const n = args.x.length;
  if (n === 0) return;
  checkCount("affine", n);
  kernels.get("affine").launch(gridFor(n), BLOCK, [ptr(args.x), ptr(args.out), n, args.scale, args.shift]);
}

/**
 * `out = x ** exponent`.
 *
 * @param kernels Our kernels.
 * @param args Input, output, power.
 * @example
 * ```ts
 * import { pow } from "./elementwise.ts";
 * // pow(kernels, { x, out: y, exponent: 2 });
 * ```
 */
export function pow(kernels: KernelLibrary, args: PowArgs<CudaBuffer>): void {
  const n = args.x.length;
  if (n === 0) return;
  checkCount("pow", n);
  kernels.get("pow_op").launch(gridFor(n), BLOCK, [ptr(args.x), ptr(args.out), n, args.exponent]);
}

/**
 * `y += alpha * x`.
 *
 * @param kernels Our kernels.
 * @param args Scale, addend, accumulator.
 * @example
 * ```ts
 * import { axpy } from "./elementwise.ts";
 * // axpy(kernels, { alpha: -0.1, x: grad, y: param });
 * ```
 */
export function axpy(kernels: KernelLibrary, args: AxpyArgs<CudaBuffer>): void {
  const n = args.x.length;
  if (n === 0) return;
  checkCount("axpy", n);
  kernels.get("axpy").launch(gridFor(n), BLOCK, [ptr(args.x), ptr(args.y), n, args.alpha]);
}
