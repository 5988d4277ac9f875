/**
 * The arguments of one host GEMM, shared by the BLAS, WebAssembly and TypeScript implementations
 * (a file of its own so that nn/cpu/wasm/gemm.ts need not import nn/cpu/gemm.ts, which imports it).
 *
 * @module
 */

import type { GemmArgs } from "../device/dense.ts";

/** A CPU buffer. */
export type FloatArray = Float32Array | Float64Array;

/**
 * Arguments of one row-major GEMM on host arrays: the device-generic {@linkcode GemmArgs} without
 * batching, plus the element offset of each matrix in its array.
 */
export type HostGemm = Omit<GemmArgs<FloatArray>, "batch" | "strideA" | "strideB" | "strideC"> & {
  /** Offset of A's first element. */
  aOffset: number;
  /** Offset of B's first element. */
  bOffset: number;
  /** Offset of C's first element. */
  cOffset: number;
};
