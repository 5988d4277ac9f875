/**
 * The arguments of one host GEMM, shared by the BLAS, WebAssembly and TypeScript implementations
 * (a file of its own so that nn/cpu/wasm/gemm.ts need not import nn/cpu/gemm.ts, which imports it).
 *
 * @module
 */

/** A CPU buffer. */
export type FloatArray = Float32Array | Float64Array;

/** Arguments of one row-major GEMM on host arrays, offsets in elements. */
export interface HostGemm {
  /** Use Aᵀ (A stored k x m). */
  transA: boolean;
  /** Use Bᵀ (B stored n x k). */
  transB: boolean;
  /** Rows of C. */
  m: number;
  /** Columns of C. */
  n: number;
  /** Inner dimension. */
  k: number;
  /** Product scale. */
  alpha: number;
  /** Left matrix. */
  a: FloatArray;
  /** Offset of A's first element. */
  aOffset: number;
  /** Right matrix. */
  b: FloatArray;
  /** Offset of B's first element. */
  bOffset: number;
  /** Scale of the existing C; 0 means C is not read. */
  beta: number;
  /** Output. */
  c: FloatArray;
  /** Offset of C's first element. */
  cOffset: number;
}
