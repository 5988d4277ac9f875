/**
 * CBLAS symbols (OpenBLAS or any BLAS with the C interface) and the enums they take.
 *
 * @module
 */

/** `CBLAS_ORDER`: row-major storage. */
export const CBLAS_ROW_MAJOR = 101;
/** `CBLAS_TRANSPOSE`: use the matrix as stored. */
export const CBLAS_NO_TRANS = 111;
/** `CBLAS_TRANSPOSE`: use the transpose. */
export const CBLAS_TRANS = 112;

/** The CBLAS functions we call; the `openblas_*` ones are optional (other BLASes lack them). */
export const CBLAS_SYMBOLS = {
  /** `void cblas_sgemm(order, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)` */
  cblas_sgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f32",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f32",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  /** `void cblas_dgemm(...)`: as `cblas_sgemm` with doubles. */
  cblas_dgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f64",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f64",
      "buffer",
      "i32",
    ],
    result: "void",
  },
  /** `char *openblas_get_config(void)` */
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
  /** `char *openblas_get_corename(void)` */
  openblas_get_corename: { parameters: [], result: "pointer", optional: true },
  /** `int openblas_get_num_threads(void)` */
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
} as const;
