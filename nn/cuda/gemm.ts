/**
 * Row-major (batched) GEMM through cuBLAS, which is column-major.
 *
 * A row-major R x C buffer is the column-major C x R matrix, its transpose. So for row-major
 * `C = op(A) op(B)` we ask cuBLAS for `Cᵀ = op(B)ᵀ op(A)ᵀ`: operands swapped, m and n swapped,
 * each operand transposed exactly when the caller asked for it, and leading dimensions equal to
 * the stored row lengths (B: n, or k when transposed; A: k, or m when transposed; C: n).
 *
 * @module
 */

import { CUBLAS_OP_N, CUBLAS_OP_T } from "../../ffi/cublas.ts";
import type { GemmArgs } from "../device/kernels.ts";
import { type CudaBuffer, ptr } from "./buffer.ts";
import type { CudaRuntime } from "./runtime.ts";

const alpha = new Float32Array(1);
const beta = new Float32Array(1);

/**
 * `C = alpha * op(A) * op(B) + beta * C`, `batch` times, on row-major matrices.
 *
 * @param runtime The runtime.
 * @param args The GEMM (row-major, strides in elements).
 * @example
 * ```ts
 * import { gemm } from "./gemm.ts";
 * // gemm(runtime, { transA: false, transB: true, m, n, k, alpha: 1, beta: 0, a, b, c });
 * ```
 */
export function gemm(runtime: CudaRuntime, args: GemmArgs<CudaBuffer>): void {
  const { m, n, k } = args;
  const batch = args.batch ?? 1;
  if (m === 0 || n === 0 || batch === 0) return;
  const a = ptr(args.a);
  const b = ptr(args.b);
  const c = ptr(args.c);
  alpha[0] = args.alpha;
  beta[0] = args.beta;
  const opA = args.transA ? CUBLAS_OP_T : CUBLAS_OP_N;
  const opB = args.transB ? CUBLAS_OP_T : CUBLAS_OP_N;
  // cuBLAS rejects leading dimensions below 1 even when k is 0.
  const lda = Math.max(1, args.transA ? m : k);
  const ldb = Math.max(1, args.transB ? k : n);
  const ldc = n;
  const { blas, check, cublas } = runtime;
  if (batch === 1) {
    check.cublas(
      "cublasSgemm_v2",
      blas.cublasSgemm_v2(cublas, opB, opA, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc),
    );
    return;
  }
  const strideA = BigInt(args.strideA ?? m * k);
  const strideB = BigInt(args.strideB ?? k * n);
  const strideC = BigInt(args.strideC ?? m * n);
  check.cublas(
    "cublasSgemmStridedBatched",
    blas.cublasSgemmStridedBatched(
      cublas,
      opB,
      opA,
      n,
      m,
      k,
      alpha,
      b,
      ldb,
      strideB,
      a,
      lda,
      strideA,
      beta,
      c,
      ldc,
      strideC,
      batch,
    ),
  );
}
