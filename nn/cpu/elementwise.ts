/**
 * Element-wise CPU kernels: broadcasting binary ops, unary ops, activation gradients, axpy.
 *
 * Broadcasting collapses the shapes first with the shared planner (adjacent dims that broadcast
 * alike merge), so the common cases, same shape and per-channel (N, C, 1, 1), become one or two
 * plain loops.
 *
 * @module
 */

import type {
  ActivationBackwardArgs,
  AffineArgs,
  AxpyArgs,
  BinaryArgs,
  BinaryOp,
  PowArgs,
  UnaryArgs,
} from "../device/kernels.ts";
import { broadcastPlan } from "../device/plan.ts";
import type { FloatArray } from "./gemm.ts";

/**
 * `out = a op b` with broadcasting (shapes of equal rank).
 *
 * @param args Operation, operands, output and their shapes.
 * @example
 * ```ts
 * import { binary } from "./elementwise.ts";
 * const out = new Float32Array(4);
 * binary({ op: "add", a: new Float32Array([1, 2, 3, 4]), aShape: [2, 2], b: new Float32Array([10, 20]),
 *   bShape: [2, 1], out, outShape: [2, 2] }); // out = [11, 12, 23, 24]
 * ```
 */
export function binary(args: BinaryArgs<FloatArray>): void {
  const { op, a, b, out } = args;
  const { size: sizes, aStride: aStrides, bStride: bStrides } = broadcastPlan(args.aShape, args.bShape, args.outShape);
  const rank = sizes.length;
  if (rank === 0) {
    binaryRun(op, a, 0, 1, b, 0, 1, out, 0, 1);
    return;
  }
  const inner = sizes[rank - 1];
  const sa = aStrides[rank - 1];
  const sb = bStrides[rank - 1];
  if (rank === 1) {
    binaryRun(op, a, 0, sa, b, 0, sb, out, 0, inner);
    return;
  }
  const counter = new Array<number>(rank - 1).fill(0);
  let outer = 1;
  for (let d = 0; d < rank - 1; d++) outer *= sizes[d];
  let ao = 0;
  let bo = 0;
  for (let row = 0; row < outer; row++) {
    binaryRun(op, a, ao, sa, b, bo, sb, out, row * inner, inner);
    for (let d = rank - 2; d >= 0; d--) {
      ao += aStrides[d];
      bo += bStrides[d];
      if (++counter[d] < sizes[d]) break;
      ao -= aStrides[d] * sizes[d];
      bo -= bStrides[d] * sizes[d];
      counter[d] = 0;
    }
  }
}

function binaryRun(
  op: BinaryOp,
  a: FloatArray,
  ao: number,
  sa: number,
  b: FloatArray,
  bo: number,
  sb: number,
  out: FloatArray,
  oo: number,
  n: number,
): void {
  if (sa !== 0 && sb !== 0) {
    switch (op) {
      case "add":
        for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] + b[bo + i];
        return;
      case "sub":
        for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] - b[bo + i];
        return;
      case "mul":
        for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] * b[bo + i];
        return;
      case "div":
        for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] / b[bo + i];
        return;
    }
  }
  if (sa === 0 && sb === 0) {
    const value = op === "add"
      ? a[ao] + b[bo]
      : op === "sub"
      ? a[ao] - b[bo]
      : op === "mul"
      ? a[ao] * b[bo]
      : a[ao] / b[bo];
    out.fill(value, oo, oo + n);
    return;
  }
  if (sb === 0) {
    const s = b[bo];
    switch (op) {
      case "add":
        for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] + s;
        return;
      case "sub":
        for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] - s;
        return;
      case "mul":
        for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] * s;
        return;
      case "div":
        for (let i = 0; i < n; i++) out[oo + i] = a[ao + i] / s;
        return;
    }
  }
  const s = a[ao];
  switch (op) {
    case "add":
      for (let i = 0; i < n; i++) out[oo + i] = s + b[bo + i];
      return;
    case "sub":
      for (let i = 0; i < n; i++) out[oo + i] = s - b[bo + i];
      return;
    case "mul":
      for (let i = 0; i < n; i++) out[oo + i] = s * b[bo + i];
      return;
    case "div":
      for (let i = 0; i < n; i++) out[oo + i] = s / b[bo + i];
      return;
  }
}

/**
 * `out = op(x)`.
 *
 * @param args Operation, input and output (may alias).
 * @example
 * ```ts
 * import { unary } from "./elementwise.ts";
 * const y = new Float32Array(2);
 * unary({ op: "relu", x: new Float32Array([-1, 2]), out: y }); // y = [0, 2]
 * ```
 */
export function unary(args: UnaryArgs<FloatArray>): void {
  const { op, x, out } = args;
  const n = x.length;
  switch (op) {
    case "neg":
      for (let i = 0; i < n; i++) out[i] = -x[i];
      return;
    case "exp":
      for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]);
      return;
    case "log":
      for (let i = 0; i < n; i++) out[i] = Math.log(x[i]);
      return;
    case "sqrt":
      for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]);
      return;
    case "abs":
      for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]);
      return;
    case "relu":
      if (x instanceof Float32Array && out instanceof Float32Array) {
        reluBits(bits(x), bits(out), n);
        return;
      }
      // As in PyTorch: NaN and -0 pass through (neither is < 0).
      for (let i = 0; i < n; i++) {
        const v = x[i];
        out[i] = v < 0 ? 0 : v;
      }
      return;
    case "sigmoid":
      for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-x[i]));
      return;
    case "tanh":
      for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]);
      return;
  }
}

/**
 * `dx = dy * op'(x)` from the activation's output `y`. For ReLU, `dx = y > 0 || y is NaN ? dy : 0`,
 * PyTorch's `threshold_backward`.
 *
 * @param args Activation, its output, the output gradient and the input gradient (may alias dy).
 * @example
 * ```ts
 * import { activationBackward } from "./elementwise.ts";
 * const dx = new Float32Array(2);
 * activationBackward({ op: "relu", y: new Float32Array([0, 2]), dy: new Float32Array([5, 5]), dx }); // [0, 5]
 * ```
 */
export function activationBackward(args: ActivationBackwardArgs<FloatArray>): void {
  const { op, y, dy, dx } = args;
  const n = y.length;
  switch (op) {
    case "relu":
      if (y instanceof Float32Array && dy instanceof Float32Array && dx instanceof Float32Array) {
        reluBackwardBits(bits(y), bits(dy), bits(dx), n);
        return;
      }
      for (let i = 0; i < n; i++) dx[i] = y[i] <= 0 ? 0 : dy[i];
      return;
    case "sigmoid":
      for (let i = 0; i < n; i++) {
        const v = y[i];
        dx[i] = dy[i] * v * (1 - v);
      }
      return;
    case "tanh":
      for (let i = 0; i < n; i++) {
        const v = y[i];
        dx[i] = dy[i] * (1 - v * v);
      }
      return;
  }
}

/** The float32 bits of an array, as int32 (same memory). */
function bits(a: Float32Array): Int32Array {
  return new Int32Array(a.buffer, a.byteOffset, a.length);
}

/*
 * ReLU on float bits, without branches: activations have random signs, and a mispredicted branch
 * per element made the plain loop ~5x slower. Only a negative number becomes +0: its bits v, as an
 * int, lie in [-2^31 + 1, -2^23] (sign set, magnitude in (0, inf]). In wrapping int32 arithmetic,
 * `(v + 2^23 - 1) >> 31` is -1 for v <= -2^23 (and for positive NaNs), and `(v + 2^31 - 1) >> 31`
 * is -1 for -0 (v = -2^31) and every v > 0, so together they select exactly the negative numbers:
 * -0 and NaN of either sign pass through, as in PyTorch.
 */
function reluBits(x: Int32Array, out: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = v & ~(((v + 8388607) >> 31) & ~((v + 2147483647) >> 31));
  }
}

/*
 * dx = y <= 0 ? 0 : dy on bits, without branches: dy passes where y is positive (its bits a
 * positive int: `((v - 1) | v) >> 31` is 0 exactly there, also for -0 = -2^31) or NaN.
 */
function reluBackwardBits(y: Int32Array, dy: Int32Array, dx: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = y[i];
    const nan = (0x7f800000 - (v & 0x7fffffff)) >> 31;
    dx[i] = dy[i] & (~(((v - 1) | v) >> 31) | nan);
  }
}

/**
 * `out = x * scale + shift`.
 *
 * @param args Input, output (may alias), multiplier and addend.
 * @example
 * ```ts
 * import { affine } from "./elementwise.ts";
 * const y = new Float32Array(1);
 * affine({ x: new Float32Array([2]), out: y, scale: 3, shift: 1 }); // y = [7]
 * ```
 */
export function affine(args: AffineArgs<FloatArray>): void {
  const { x, out, scale, shift } = args;
  const n = x.length;
  if (shift === 0) { for (let i = 0; i < n; i++) out[i] = x[i] * scale; }
  else for (let i = 0; i < n; i++) out[i] = x[i] * scale + shift;
}

/**
 * `out = x ** exponent`.
 *
 * @param args Input, output and the power.
 * @example
 * ```ts
 * import { pow } from "./elementwise.ts";
 * const y = new Float32Array(1);
 * pow({ x: new Float32Array([3]), out: y, exponent: 2 }); // y = [9]
 * ```
 */
export function pow(args: PowArgs<FloatArray>): void {
  const { x, out, exponent } = args;
  const n = x.length;
  if (exponent === 2) { for (let i = 0; i < n; i++) out[i] = x[i] * x[i]; }
  else for (let i = 0; i < n; i++) out[i] = Math.pow(x[i], exponent);
}

/**
 * `y += alpha * x`.
 *
 * @param args Scale, addend and accumulator.
 * @example
 * ```ts
 * import { axpy } from "./elementwise.ts";
 * const y = new Float32Array([1]);
 * axpy({ alpha: 2, x: new Float32Array([3]), y }); // y = [7]
 * ```
 */
export function axpy(args: AxpyArgs<FloatArray>): void {
  const { alpha, x, y } = args;
  const n = x.length;
  if (alpha === 1) { for (let i = 0; i < n; i++) y[i] += x[i]; }
  else for (let i = 0; i < n; i++) y[i] += alpha * x[i];
}
