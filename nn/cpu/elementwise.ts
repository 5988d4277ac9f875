/**
 * Element-wise CPU kernels: broadcasting binary ops, unary ops, activation gradients, axpy.
 *
 * Broadcasting collapses the shapes first (adjacent dims that broadcast alike merge), so the common
 * cases, same shape and per-channel (N, C, 1, 1), become one or two plain loops.
 *
 * @module
 */

import type { ActivationOp, BinaryOp, UnaryOp } from "../device.ts";
import type { FloatArray } from "./gemm.ts";

/**
 * A broadcast between operands of the same rank, reduced to the fewest dims.
 * `aStrides`/`bStrides` are element strides (0 where the operand broadcasts).
 */
interface Collapsed {
  sizes: number[];
  aStrides: number[];
  bStrides: number[];
}

function stridesOf(shape: readonly number[], outShape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = shape[i] === 1 && outShape[i] !== 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

function collapse(
  aShape: readonly number[],
  bShape: readonly number[],
  outShape: readonly number[],
): Collapsed {
  const as = stridesOf(aShape, outShape);
  const bs = stridesOf(bShape, outShape);
  const sizes: number[] = [];
  const aStrides: number[] = [];
  const bStrides: number[] = [];
  for (let i = 0; i < outShape.length; i++) {
    const size = outShape[i];
    if (size === 1) continue;
    const last = sizes.length - 1;
    if (
      last >= 0 && aStrides[last] === as[i] * size && bStrides[last] === bs[i] * size
    ) {
      sizes[last] *= size;
      aStrides[last] = as[i];
      bStrides[last] = bs[i];
    } else {
      sizes.push(size);
      aStrides.push(as[i]);
      bStrides.push(bs[i]);
    }
  }
  if (sizes.length === 0) return { sizes: [1], aStrides: [1], bStrides: [1] };
  return { sizes, aStrides, bStrides };
}

/**
 * `out = a op b` with broadcasting (shapes of equal rank).
 *
 * @param op The operation.
 * @param a Left operand.
 * @param aShape Its shape.
 * @param b Right operand.
 * @param bShape Its shape.
 * @param out Output (may alias `a` or `b` when shapes match).
 * @param outShape Broadcast shape.
 * @example
 * ```ts
 * import { binary } from "./elementwise.ts";
 * const out = new Float32Array(4);
 * binary("add", new Float32Array([1, 2, 3, 4]), [2, 2], new Float32Array([10, 20]), [2, 1], out, [2, 2]);
 * // out = [11, 12, 23, 24]
 * ```
 */
export function binary(
  op: BinaryOp,
  a: FloatArray,
  aShape: readonly number[],
  b: FloatArray,
  bShape: readonly number[],
  out: FloatArray,
  outShape: readonly number[],
): void {
  const { sizes, aStrides, bStrides } = collapse(aShape, bShape, outShape);
  const rank = sizes.length;
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
 * @param op The operation.
 * @param x Input.
 * @param out Output (may alias `x`).
 * @example
 * ```ts
 * import { unary } from "./elementwise.ts";
 * const y = new Float32Array(2);
 * unary("relu", new Float32Array([-1, 2]), y); // y = [0, 2]
 * ```
 */
export function unary(op: UnaryOp, x: FloatArray, out: FloatArray): void {
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
      // NaN stays NaN, as in PyTorch.
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
 * `dx = dy * op'(x)` from the activation's output `y`.
 *
 * @param op The activation.
 * @param y Its forward output.
 * @param dy Gradient of the output.
 * @param dx Gradient of the input (may alias `dy`).
 * @example
 * ```ts
 * import { activationBackward } from "./elementwise.ts";
 * const dx = new Float32Array(2);
 * activationBackward("relu", new Float32Array([0, 2]), new Float32Array([5, 5]), dx); // [0, 5]
 * ```
 */
export function activationBackward(
  op: ActivationOp,
  y: FloatArray,
  dy: FloatArray,
  dx: FloatArray,
): void {
  const n = y.length;
  switch (op) {
    case "relu":
      if (y instanceof Float32Array && dy instanceof Float32Array && dx instanceof Float32Array) {
        reluBackwardBits(bits(y), bits(dy), bits(dx), n);
        return;
      }
      for (let i = 0; i < n; i++) dx[i] = y[i] > 0 ? dy[i] : 0;
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
 * per element made the plain loop ~5x slower. A set sign bit (negative, -0) gives +0; positive
 * values and NaN pass through, as in PyTorch.
 */
function reluBits(x: Int32Array, out: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = x[i];
    out[i] = v & ~(v >> 31);
  }
}

/*
 * dx = y > 0 ? dy : 0 on bits, for y = relu(x) (never negative or -0): y > 0 exactly when its bits
 * are a positive integer, so (y - 1) >> 31 is 0 there and -1 at y = +0.
 */
function reluBackwardBits(y: Int32Array, dy: Int32Array, dx: Int32Array, n: number): void {
  for (let i = 0; i < n; i++) dx[i] = dy[i] & ~((y[i] - 1) >> 31);
}

/**
 * `out = x * scale + shift`.
 *
 * @param x Input.
 * @param out Output (may alias `x`).
 * @param scale Multiplier.
 * @param shift Addend.
 * @example
 * ```ts
 * import { affine } from "./elementwise.ts";
 * const y = new Float32Array(1);
 * affine(new Float32Array([2]), y, 3, 1); // y = [7]
 * ```
 */
export function affine(x: FloatArray, out: FloatArray, scale: number, shift: number): void {
  const n = x.length;
  if (shift === 0) { for (let i = 0; i < n; i++) out[i] = x[i] * scale; }
  else for (let i = 0; i < n; i++) out[i] = x[i] * scale + shift;
}

/**
 * `out = x ** exponent`.
 *
 * @param x Input.
 * @param out Output.
 * @param exponent The power.
 * @example
 * ```ts
 * import { pow } from "./elementwise.ts";
 * const y = new Float32Array(1);
 * pow(new Float32Array([3]), y, 2); // y = [9]
 * ```
 */
export function pow(x: FloatArray, out: FloatArray, exponent: number): void {
  const n = x.length;
  if (exponent === 2) { for (let i = 0; i < n; i++) out[i] = x[i] * x[i]; }
  else for (let i = 0; i < n; i++) out[i] = Math.pow(x[i], exponent);
}

/**
 * `y += alpha * x`.
 *
 * @param alpha Scale.
 * @param x Addend.
 * @param y Accumulator.
 * @example
 * ```ts
 * import { axpy } from "./elementwise.ts";
 * const y = new Float32Array([1]);
 * axpy(2, new Float32Array([3]), y); // y = [7]
 * ```
 */
export function axpy(alpha: number, x: FloatArray, y: FloatArray): void {
  const n = x.length;
  if (alpha === 1) { for (let i = 0; i < n; i++) y[i] += x[i]; }
  else for (let i = 0; i < n; i++) y[i] += alpha * x[i];
}
