/**
 * Argument types of the element-wise and layout kernels (broadcasting ops, activations, sums,
 * permutes, block copies), generic over the buffer type `B`.
 *
 * @module
 */

import type { BlockCopy } from "./geometry.ts";

/** Element-wise binary operations (with broadcasting). */
export type BinaryOp = "add" | "sub" | "mul" | "div";
/** Element-wise unary operations. */
export type UnaryOp = "neg" | "exp" | "log" | "sqrt" | "abs" | "relu" | "sigmoid" | "tanh";
/** Activations whose backward a device computes from the saved output. */
export type ActivationOp = "relu" | "sigmoid" | "tanh";

/** `out = a op b` with NumPy broadcasting; all shapes have the same rank. */
export interface BinaryArgs<B> {
  /** The operation. */
  op: BinaryOp;
  /** Left operand. */
  a: B;
  /** Its shape. */
  aShape: readonly number[];
  /** Right operand. */
  b: B;
  /** Its shape. */
  bShape: readonly number[];
  /** Output (may alias an operand of the output's shape). */
  out: B;
  /** The broadcast shape. */
  outShape: readonly number[];
}

/** `out = op(x)` element-wise. */
export interface UnaryArgs<B> {
  /** The operation. */
  op: UnaryOp;
  /** Input. */
  x: B;
  /** Output (may alias `x`). */
  out: B;
}

/** `dx = dy * op'(x)`, computed from the activation's output `y`. */
export interface ActivationBackwardArgs<B> {
  /** The activation. */
  op: ActivationOp;
  /** Its forward output. */
  y: B;
  /** Gradient of the output. */
  dy: B;
  /** Gradient of the input (may alias `dy`). */
  dx: B;
}

/** `out = x * scale + shift`. */
export interface AffineArgs<B> {
  /** Input. */
  x: B;
  /** Output (may alias `x`). */
  out: B;
  /** Multiplier. */
  scale: number;
  /** Addend. */
  shift: number;
}

/** `out = x ** exponent`. */
export interface PowArgs<B> {
  /** Input. */
  x: B;
  /** Output. */
  out: B;
  /** The power. */
  exponent: number;
}

/** `y += alpha * x` (in place). */
export interface AxpyArgs<B> {
  /** Scale. */
  alpha: number;
  /** Addend. */
  x: B;
  /** Accumulator. */
  y: B;
}

/** Sums `x` down to `outShape` (same rank, reduced dims are 1); overwrites `out`. */
export interface SumToArgs<B> {
  /** Input. */
  x: B;
  /** Its shape. */
  xShape: readonly number[];
  /** Output. */
  out: B;
  /** Target shape. */
  outShape: readonly number[];
}

/** Copies `y = x.permute(perm)`. */
export interface PermuteArgs<B> {
  /** Input. */
  x: B;
  /** Shape of `x`. */
  shape: readonly number[];
  /** Output dim i is input dim `perm[i]`. */
  perm: readonly number[];
  /** Output. */
  y: B;
}

/** Copies a block along one axis (concat, narrow, and their gradients). */
export interface CopyBlocksArgs<B> {
  /** The block. */
  geometry: BlockCopy;
  /** Source. */
  src: B;
  /** Destination (only the block is written). */
  dst: B;
}
