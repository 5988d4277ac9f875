/**
 * cuBLAS symbols (v2 API, `libcublas.so.13` or `.so.12`) and the enum values the CUDA device uses.
 *
 * `libcublas` exports both the legacy v1 API (no handle argument) and the v2 API; `cublas_v2.h`
 * maps `cublasSgemm` to `cublasSgemm_v2`, so the `_v2` names are bound. Functions that never had
 * a v1 form (`cublasSetMathMode`, `cublasSgemmStridedBatched`, `cublasGetStatusName`) have no suffix.
 * Every function except the status-string ones returns a `cublasStatus_t`. {@linkcode CUBLAS} tells
 * the discovery engine (load.ts) where to look, and to preload `libcublasLt` from the same folder.
 *
 * @example
 * ```ts
 * import { CUBLAS_SYMBOLS } from "./cublas.ts";
 * const cublas = Deno.dlopen("libcublas.so.13", CUBLAS_SYMBOLS);
 * const name = cublas.symbols.cublasGetStatusName(0); // "CUBLAS_STATUS_SUCCESS"
 * ```
 *
 * @module
 */

import type { LibrarySpec } from "./load.ts";
import { CUDA_LIBS_ENV, CUDA_ROOT_VARIABLES, cudaRootFolders, cudaToolkitFolders } from "./places.ts";

/** `cublasStatus_t`: success. */
export const CUBLAS_STATUS_SUCCESS = 0;
/** `cublasOperation_t`: use the matrix as stored. */
export const CUBLAS_OP_N = 0;
/** `cublasOperation_t`: use the transpose. */
export const CUBLAS_OP_T = 1;
/** `cublasMath_t`: float32 GEMMs stay float32 (no TF32 tensor cores). */
export const CUBLAS_DEFAULT_MATH = 0;
/** `cublasMath_t`: allows TF32 tensor cores for float32 GEMMs. */
export const CUBLAS_TF32_TENSOR_OP_MATH = 3;

const P = "pointer";
const U = "u64";
const I = "i32";
const B = "buffer";
const L = "i64";

/** The cuBLAS functions the CUDA device calls. */
export const CUBLAS_SYMBOLS = {
  /** `const char *cublasGetStatusName(cublasStatus_t status)` */
  cublasGetStatusName: { parameters: [I], result: P },
  /** `const char *cublasGetStatusString(cublasStatus_t status)` */
  cublasGetStatusString: { parameters: [I], result: P },
  /** `cublasCreate_v2(cublasHandle_t *handle)` */
  cublasCreate_v2: { parameters: [B], result: I },
  /** `cublasGetVersion_v2(cublasHandle_t handle, int *version)`: major * 10000 + minor * 100 + patch. */
  cublasGetVersion_v2: { parameters: [P, B], result: I },
  /** `cublasSetStream_v2(cublasHandle_t handle, cudaStream_t streamId)` */
  cublasSetStream_v2: { parameters: [P, P], result: I },
  /** `cublasSetMathMode(cublasHandle_t handle, cublasMath_t mode)` */
  cublasSetMathMode: { parameters: [P, I], result: I },
  /**
   * `cublasSgemm_v2(handle, transa, transb, int m, int n, int k, const float *alpha,
   * const float *A, int lda, const float *B, int ldb, const float *beta, float *C, int ldc)`
   */
  cublasSgemm_v2: { parameters: [P, I, I, I, I, I, B, U, I, U, I, B, U, I], result: I },
  /**
   * `cublasSgemmStridedBatched(handle, transa, transb, m, n, k, alpha, A, lda,
   * long long strideA, B, ldb, long long strideB, beta, C, ldc, long long strideC, int batchCount)`
   */
  cublasSgemmStridedBatched: {
    parameters: [P, I, I, I, I, I, B, U, I, L, U, I, L, B, U, I, L, I],
    result: I,
  },
} as const;

/** cuBLAS 13 or 12: `EPSANET_CUDA_LIBS`, `CUDA_HOME` and friends, pip wheels, the loader path, `/usr/local/cuda*`. */
export const CUBLAS: LibrarySpec<typeof CUBLAS_SYMBOLS> = {
  name: "cuBLAS",
  envVar: CUDA_LIBS_ENV,
  override: "first",
  platforms: {
    linux: {
      files: ["libcublas.so.13", "libcublas.so.12"],
      places: [
        { roots: CUDA_ROOT_VARIABLES, rootFolders: cudaRootFolders },
        { wheels: ["nvidia/cu13/lib", "nvidia/cublas/lib"] },
        { loader: true },
        { folders: cudaToolkitFolders },
      ],
      install: "install it with `python3 -m pip install nvidia-cublas`",
    },
  },
  symbols: CUBLAS_SYMBOLS,
  dependencies(_folder, file, listing) {
    const major = file.match(/\.so\.(\d+)/)?.[1];
    const lt = `libcublasLt.so.${major}`;
    return major && listing.includes(lt) ? [{ file: lt, optional: false }] : [];
  },
};
