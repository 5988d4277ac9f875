/**
 * cuDNN 9 symbols (legacy v7-style API, bound on the dispatcher `libcudnn.so.9`) and the enum
 * values the CUDA device uses.
 *
 * Handles and descriptors are `"pointer"`; device addresses are `"u64"` (bigint); host `alpha` /
 * `beta` scalars and out-parameters are `"buffer"` (typed arrays). Every function except the
 * version and error-string ones returns a `cudnnStatus_t`. {@linkcode CUDNN} tells the discovery
 * engine (load.ts) where to look, and to preload the `libcudnn_*.so.9` sub-libraries from the same
 * folder (the dispatcher opens them by soname, which `LD_LIBRARY_PATH` set after start-up cannot
 * redirect).
 *
 * @example
 * ```ts
 * import { CUDNN_SYMBOLS } from "./cudnn.ts";
 * const cudnn = Deno.dlopen("libcudnn.so.9", CUDNN_SYMBOLS);
 * console.log(cudnn.symbols.cudnnGetVersion()); // e.g. 92400n for 9.24.0
 * ```
 *
 * @module
 */

import type { LibrarySpec } from "./load.ts";
import { CUDA_LIBS_ENV, CUDA_ROOT_VARIABLES, cudaRootFolders, cudaToolkitFolders } from "./places.ts";

/** `cudnnStatus_t`: success. */
export const CUDNN_STATUS_SUCCESS = 0;
/** `cudnnDataType_t`: 32-bit float. */
export const CUDNN_DATA_FLOAT = 0;
/** `cudnnTensorFormat_t`: NCHW. */
export const CUDNN_TENSOR_NCHW = 0;
/** `cudnnConvolutionMode_t`: cross-correlation, what PyTorch's conv2d computes. */
export const CUDNN_CROSS_CORRELATION = 1;
/** `cudnnMathType_t`: cuDNN's choice (TF32 tensor cores allowed for float on Ampere and later). */
export const CUDNN_DEFAULT_MATH = 0;
/** `cudnnMathType_t`: plain FMA, which keeps float convolutions in true float32. */
export const CUDNN_FMA_MATH = 3;
/** `cudnnBatchNormMode_t`: one mean and variance per channel over (N, H, W). */
export const CUDNN_BATCHNORM_SPATIAL = 1;
/** `cudnnSoftmaxAlgorithm_t`: subtracts the maximum first. */
export const CUDNN_SOFTMAX_ACCURATE = 1;
/** `cudnnSoftmaxAlgorithm_t`: log-softmax. */
export const CUDNN_SOFTMAX_LOG = 2;
/** `cudnnSoftmaxMode_t`: softmax over C for every (n, h, w). */
export const CUDNN_SOFTMAX_MODE_CHANNEL = 1;
/** Size in bytes of `cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t` on x86-64. */
export const CUDNN_ALGO_PERF_BYTES = 48;
/** Byte offsets of the fields of an algorithm perf record. */
export const CUDNN_ALGO_PERF_OFFSETS = {
  /** `int algo` */
  algo: 0,
  /** `cudnnStatus_t status` */
  status: 4,
  /** `float time` (milliseconds) */
  time: 8,
  /** `size_t memory` (workspace bytes) */
  memory: 16,
  /** `cudnnDeterminism_t determinism` */
  determinism: 24,
  /** `cudnnMathType_t mathType` */
  mathType: 28,
} as const;

const P = "pointer";
const U = "u64";
const I = "i32";
const B = "buffer";
const S = "usize";
const D = "f64";

/** The cuDNN functions the CUDA device calls. */
export const CUDNN_SYMBOLS = {
  /** `size_t cudnnGetVersion(void)`: e.g. 92400 for 9.24.0. */
  cudnnGetVersion: { parameters: [], result: S },
  /** `const char *cudnnGetErrorString(cudnnStatus_t status)` */
  cudnnGetErrorString: { parameters: [I], result: P },
  /** `void cudnnGetLastErrorString(char *message, size_t max_size)` */
  cudnnGetLastErrorString: { parameters: [B, S], result: "void" },
  /** `cudnnCreate(cudnnHandle_t *handle)` */
  cudnnCreate: { parameters: [B], result: I },
  /** `cudnnSetStream(cudnnHandle_t handle, cudaStream_t streamId)` */
  cudnnSetStream: { parameters: [P, P], result: I },
  /** `cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t *tensorDesc)` */
  cudnnCreateTensorDescriptor: { parameters: [B], result: I },
  /** `cudnnSetTensor4dDescriptor(desc, cudnnTensorFormat_t format, cudnnDataType_t dataType, n, c, h, w)` */
  cudnnSetTensor4dDescriptor: { parameters: [P, I, I, I, I, I, I], result: I },
  /** `cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t *filterDesc)` */
  cudnnCreateFilterDescriptor: { parameters: [B], result: I },
  /** `cudnnSetFilter4dDescriptor(desc, cudnnDataType_t dataType, cudnnTensorFormat_t format, k, c, h, w)` */
  cudnnSetFilter4dDescriptor: { parameters: [P, I, I, I, I, I, I], result: I },
  /** `cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t *convDesc)` */
  cudnnCreateConvolutionDescriptor: { parameters: [B], result: I },
  /**
   * `cudnnSetConvolution2dDescriptor(desc, pad_h, pad_w, u, v, dilation_h, dilation_w,
   * cudnnConvolutionMode_t mode, cudnnDataType_t computeType)`
   */
  cudnnSetConvolution2dDescriptor: { parameters: [P, I, I, I, I, I, I, I, I], result: I },
  /** `cudnnSetConvolutionGroupCount(cudnnConvolutionDescriptor_t convDesc, int groupCount)` */
  cudnnSetConvolutionGroupCount: { parameters: [P, I], result: I },
  /** `cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t convDesc, cudnnMathType_t mathType)` */
  cudnnSetConvolutionMathType: { parameters: [P, I], result: I },
  /** `cudnnGetConvolution2dForwardOutputDim(convDesc, inputTensorDesc, filterDesc, int *n, *c, *h, *w)` */
  cudnnGetConvolution2dForwardOutputDim: { parameters: [P, P, P, B, B, B, B], result: I },
  /** `cudnnFindConvolutionForwardAlgorithm(handle, xDesc, wDesc, convDesc, yDesc, requested, int *returned, perf*)` */
  cudnnFindConvolutionForwardAlgorithm: { parameters: [P, P, P, P, P, I, B, B], result: I },
  /** `cudnnFindConvolutionBackwardDataAlgorithm(handle, wDesc, dyDesc, convDesc, dxDesc, requested, int *returned, perf*)` */
  cudnnFindConvolutionBackwardDataAlgorithm: { parameters: [P, P, P, P, P, I, B, B], result: I },
  /** `cudnnFindConvolutionBackwardFilterAlgorithm(handle, xDesc, dyDesc, convDesc, dwDesc, requested, int *returned, perf*)` */
  cudnnFindConvolutionBackwardFilterAlgorithm: { parameters: [P, P, P, P, P, I, B, B], result: I },
  /** `cudnnGetConvolutionForwardAlgorithm_v7(...)`: heuristics; same parameters as the Find call. */
  cudnnGetConvolutionForwardAlgorithm_v7: { parameters: [P, P, P, P, P, I, B, B], result: I },
  /** `cudnnGetConvolutionBackwardDataAlgorithm_v7(...)`: heuristics. */
  cudnnGetConvolutionBackwardDataAlgorithm_v7: { parameters: [P, P, P, P, P, I, B, B], result: I },
  /** `cudnnGetConvolutionBackwardFilterAlgorithm_v7(...)`: heuristics. */
  cudnnGetConvolutionBackwardFilterAlgorithm_v7: { parameters: [P, P, P, P, P, I, B, B], result: I },
  /** `cudnnGetConvolutionForwardWorkspaceSize(handle, xDesc, wDesc, convDesc, yDesc, algo, size_t *size)` */
  cudnnGetConvolutionForwardWorkspaceSize: { parameters: [P, P, P, P, P, I, B], result: I },
  /** `cudnnGetConvolutionBackwardDataWorkspaceSize(handle, wDesc, dyDesc, convDesc, dxDesc, algo, size_t *size)` */
  cudnnGetConvolutionBackwardDataWorkspaceSize: { parameters: [P, P, P, P, P, I, B], result: I },
  /** `cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, xDesc, dyDesc, convDesc, dwDesc, algo, size_t *size)` */
  cudnnGetConvolutionBackwardFilterWorkspaceSize: { parameters: [P, P, P, P, P, I, B], result: I },
  /**
   * `cudnnConvolutionForward(handle, const void *alpha, xDesc, x, wDesc, w, convDesc, algo,
   * workSpace, size_t workSpaceSizeInBytes, const void *beta, yDesc, y)`
   */
  cudnnConvolutionForward: { parameters: [P, B, P, U, P, U, P, I, U, S, B, P, U], result: I },
  /**
   * `cudnnConvolutionBackwardData(handle, alpha, wDesc, w, dyDesc, dy, convDesc, algo,
   * workSpace, workSpaceSizeInBytes, beta, dxDesc, dx)`
   */
  cudnnConvolutionBackwardData: { parameters: [P, B, P, U, P, U, P, I, U, S, B, P, U], result: I },
  /**
   * `cudnnConvolutionBackwardFilter(handle, alpha, xDesc, x, dyDesc, dy, convDesc, algo,
   * workSpace, workSpaceSizeInBytes, beta, dwDesc, dw)`
   */
  cudnnConvolutionBackwardFilter: { parameters: [P, B, P, U, P, U, P, I, U, S, B, P, U], result: I },
  /**
   * `cudnnBatchNormalizationForwardTraining(handle, mode, alpha, beta, xDesc, x, yDesc, y,
   * bnScaleBiasMeanVarDesc, bnScale, bnBias, double exponentialAverageFactor, resultRunningMean,
   * resultRunningVariance, double epsilon, resultSaveMean, resultSaveInvVariance)`
   */
  cudnnBatchNormalizationForwardTraining: {
    parameters: [P, I, B, B, P, U, P, U, P, U, U, D, U, U, D, U, U],
    result: I,
  },
  /**
   * `cudnnBatchNormalizationForwardInference(handle, mode, alpha, beta, xDesc, x, yDesc, y,
   * bnScaleBiasMeanVarDesc, bnScale, bnBias, estimatedMean, estimatedVariance, double epsilon)`
   */
  cudnnBatchNormalizationForwardInference: {
    parameters: [P, I, B, B, P, U, P, U, P, U, U, U, U, D],
    result: I,
  },
  /**
   * `cudnnBatchNormalizationBackward(handle, mode, alphaDataDiff, betaDataDiff, alphaParamDiff,
   * betaParamDiff, xDesc, x, dyDesc, dy, dxDesc, dx, dBnScaleBiasDesc, bnScale, dBnScaleResult,
   * dBnBiasResult, double epsilon, savedMean, savedInvVariance)`
   */
  cudnnBatchNormalizationBackward: {
    parameters: [P, I, B, B, B, B, P, U, P, U, P, U, P, U, U, U, D, U, U],
    result: I,
  },
  /** `cudnnSoftmaxForward(handle, algo, mode, alpha, xDesc, x, beta, yDesc, y)` */
  cudnnSoftmaxForward: { parameters: [P, I, I, B, P, U, B, P, U], result: I },
  /** `cudnnSoftmaxBackward(handle, algo, mode, alpha, yDesc, y, dyDesc, dy, beta, dxDesc, dx)` */
  cudnnSoftmaxBackward: { parameters: [P, I, I, B, P, U, P, U, B, P, U], result: I },
} as const;

/** cuDNN sub-libraries in dependency order; a CNN does not need `adv` and `ext`. */
const CUDNN_PARTS = [
  "graph",
  "engines_precompiled",
  "engines_runtime_compiled",
  "engines_tensor_ir",
  "heuristic",
  "ops",
  "cnn",
  "adv",
  "ext",
];
const CUDNN_OPTIONAL_PARTS = new Set(["adv", "ext"]);

/** cuDNN 9: `EPSANET_CUDA_LIBS`, `CUDNN_PATH`, `CUDA_HOME` and friends, pip wheels, the loader path, `/usr/local/cuda*`. */
export const CUDNN: LibrarySpec<typeof CUDNN_SYMBOLS> = {
  name: "cuDNN 9",
  envVar: CUDA_LIBS_ENV,
  override: "first",
  platforms: {
    linux: {
      files: ["libcudnn.so.9"],
      places: [
        { roots: ["CUDNN_PATH", "CUDNN_HOME"], rootFolders: cudaRootFolders },
        { roots: CUDA_ROOT_VARIABLES, rootFolders: cudaRootFolders },
        { wheels: ["nvidia/cudnn/lib"] },
        { loader: true },
        { folders: cudaToolkitFolders },
      ],
      install: "install it with `python3 -m pip install nvidia-cudnn-cu13`",
    },
  },
  symbols: CUDNN_SYMBOLS,
  dependencies(_folder, _file, listing) {
    const parts = listing.map((f) => f.match(/^libcudnn_(\w+)\.so\.9$/)?.[1]).filter((p) => p !== undefined);
    const rank = (p: string): number => (CUDNN_PARTS.includes(p) ? CUDNN_PARTS.indexOf(p) : CUDNN_PARTS.length);
    return parts.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b)).map((part) => ({
      file: `libcudnn_${part}.so.9`,
      optional: !CUDNN_PARTS.includes(part) || CUDNN_OPTIONAL_PARTS.has(part),
    }));
  },
};
