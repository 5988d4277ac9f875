/**
 * The CPU device's two kernel tables. The TypeScript table runs every dtype (float64 for gradient
 * checks goes here). The float32 table is built once, at the first float32 kernel: oneDNN's
 * convolutions, batch norm, max pooling and Adam when the library opens, the TypeScript kernels
 * for the rest (GEMMs go through `gemm.ts`, which opens a BLAS once).
 *
 * @module
 */

import type { GemmArgs, Kernels } from "../device/kernels.ts";
import * as conv from "./conv.ts";
import * as elementwise from "./elementwise.ts";
import { type FloatArray, gemm } from "./gemm.ts";
import * as layout from "./layout.ts";
import * as norm from "./norm.ts";
import { oneDnnConvBackwardData, oneDnnConvBackwardWeights, oneDnnConvForward } from "./onednn/conv.ts";
import { oneDnnBatchNormBackward, oneDnnBatchNormInfer, oneDnnBatchNormTrain } from "./onednn/norm.ts";
import { oneDnnAdamUpdate } from "./onednn/optim.ts";
import { oneDnnMaxPoolForward } from "./onednn/pool.ts";
import { loadOneDnn } from "./onednn/runtime.ts";
import * as optim from "./optim.ts";
import * as pool from "./pool.ts";
import * as softmax from "./softmax.ts";

/** A CPU kernel table: float buffers are typed arrays, targets Int32Arrays. */
export type CpuKernels = Kernels<FloatArray, Int32Array>;

/**
 * Row-major (batched) GEMM on host arrays: one `gemm.ts` call per product.
 *
 * @param args The GEMM.
 * @example
 * ```ts
 * import { batchedGemm } from "./kernels.ts";
 * const c = new Float32Array(1);
 * batchedGemm({ transA: false, transB: false, m: 1, n: 1, k: 2, alpha: 1, beta: 0,
 *   a: new Float32Array([1, 2]), b: new Float32Array([3, 4]), c }); // c = [11]
 * ```
 */
export function batchedGemm(args: GemmArgs<FloatArray>): void {
  const { transA, transB, m, n, k, alpha, beta, a, b, c } = args;
  const batch = args.batch ?? 1;
  const strideA = args.strideA ?? m * k;
  const strideB = args.strideB ?? k * n;
  const strideC = args.strideC ?? m * n;
  for (let i = 0; i < batch; i++) {
    gemm({
      transA,
      transB,
      m,
      n,
      k,
      alpha,
      a,
      aOffset: i * strideA,
      b,
      bOffset: i * strideB,
      beta,
      c,
      cOffset: i * strideC,
    });
  }
}

/**
 * The TypeScript kernels (every dtype).
 *
 * @example
 * ```ts
 * import { typescriptKernels } from "./kernels.ts";
 * const y = new Float64Array(2);
 * typescriptKernels.unary({ op: "relu", x: Float64Array.of(-1, 2), out: y }); // y = [0, 2]
 * ```
 */
export const typescriptKernels: CpuKernels = {
  binary: elementwise.binary,
  unary: elementwise.unary,
  activationBackward: elementwise.activationBackward,
  affine: elementwise.affine,
  pow: elementwise.pow,
  axpy: elementwise.axpy,
  sumTo: layout.sumTo,
  permute: layout.permute,
  copyBlocks: layout.copyBlocks,
  gemm: batchedGemm,
  conv2dForward: conv.conv2dForward,
  conv2dBackwardData: conv.conv2dBackwardData,
  conv2dBackwardFilter: conv.conv2dBackwardFilter,
  batchNormTrain: norm.batchNormTrain,
  batchNormInfer: norm.batchNormInfer,
  batchNormBackward: norm.batchNormBackward,
  maxPool2dForward: pool.maxPool2dForward,
  maxPool2dBackward: pool.maxPool2dBackward,
  adaptiveAvgPool2dForward: pool.adaptiveAvgPool2dForward,
  adaptiveAvgPool2dBackward: pool.adaptiveAvgPool2dBackward,
  softmaxForward: softmax.softmaxForward,
  softmaxBackward: softmax.softmaxBackward,
  crossEntropyForward: softmax.crossEntropyForward,
  crossEntropyBackward: softmax.crossEntropyBackward,
  sgdUpdate: optim.sgdUpdate,
  adamUpdate: optim.adamUpdate,
};

/**
 * The float32 table: oneDNN where it opens (each entry falls back to TypeScript for the shapes
 * oneDNN refuses), TypeScript otherwise. Call once; the device keeps the result.
 *
 * @returns The table.
 * @example
 * ```ts
 * import { float32Kernels } from "./kernels.ts";
 * const kernels = float32Kernels(); // opens oneDNN when permitted and installed
 * ```
 */
export function float32Kernels(): CpuKernels {
  const rt = loadOneDnn();
  if (!rt) return typescriptKernels;
  const ts = typescriptKernels;
  return {
    ...ts,
    conv2dForward: (a) => oneDnnConvForward(rt, a),
    conv2dBackwardData: (a) => oneDnnConvBackwardData(rt, a),
    conv2dBackwardFilter: (a) => oneDnnConvBackwardWeights(rt, a),
    batchNormTrain: (a) => oneDnnBatchNormTrain(rt, a) || ts.batchNormTrain(a),
    batchNormInfer: (a) => oneDnnBatchNormInfer(rt, a) || ts.batchNormInfer(a),
    batchNormBackward: (a) => oneDnnBatchNormBackward(rt, a) || ts.batchNormBackward(a),
    maxPool2dForward: (a) => oneDnnMaxPoolForward(rt, a) || ts.maxPool2dForward(a),
    adamUpdate: (a) => oneDnnAdamUpdate(rt, a) || ts.adamUpdate(a),
  };
}
