/**
 * Argument types of the dense kernels: GEMM and 2-D convolution, generic over the buffer type `B`.
 *
 * @module
 */

import type { Conv2dGeometry } from "./geometry.ts";

/** A row-major GEMM: `C = alpha * op(A) * op(B) + beta * C`, repeated `batch` times. */
export interface GemmArgs<B> {
  /** Use Aᵀ: A is stored (k, m) instead of (m, k). */
  transA: boolean;
  /** Use Bᵀ: B is stored (n, k) instead of (k, n). */
  transB: boolean;
  /** Rows of C. */
  m: number;
  /** Columns of C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Scale of the product. */
  alpha: number;
  /** Scale of the existing C (0: C is not read). */
  beta: number;
  /** Left matrix. */
  a: B;
  /** Right matrix. */
  b: B;
  /** Output matrix. */
  c: B;
  /** Number of independent products (default 1). */
  batch?: number;
  /** Element offsets between consecutive products (default: the matrix sizes; 0 reuses one matrix). */
  strideA?: number;
  /** See `strideA`. */
  strideB?: number;
  /** See `strideA`. */
  strideC?: number;
}

/** Convolution forward: `y = conv(x, w)`; x (N,C,H,W), w (K,C/g,kh,kw), y (N,K,Ho,Wo) overwritten. */
export interface Conv2dForwardArgs<B> {
  /** Shapes, strides, padding, dilation, groups. */
  geometry: Conv2dGeometry;
  /** Input (N, C, H, W). */
  x: B;
  /** Weights (K, C/groups, kh, kw). */
  w: B;
  /** Output (N, K, Ho, Wo). */
  y: B;
}

/** Gradient of the input: `dx = convᵀ(dy, w)` (overwrites dx). */
export interface Conv2dBackwardDataArgs<B> {
  /** Shapes, strides, padding, dilation, groups. */
  geometry: Conv2dGeometry;
  /** Output gradient (N, K, Ho, Wo). */
  dy: B;
  /** Weights (K, C/groups, kh, kw). */
  w: B;
  /** Input gradient (N, C, H, W). */
  dx: B;
}

/** Gradient of the weights (overwrites dw; zero for an empty batch). */
export interface Conv2dBackwardFilterArgs<B> {
  /** Shapes, strides, padding, dilation, groups. */
  geometry: Conv2dGeometry;
  /** Forward input (N, C, H, W). */
  x: B;
  /** Output gradient (N, K, Ho, Wo). */
  dy: B;
  /** Weight gradient (K, C/groups, kh, kw). */
  dw: B;
}
