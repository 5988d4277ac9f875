/**
 * The kernel set every device implements, each kernel taking one named argument object. Every
 * argument type is declared once (in the files beside this one, by group), generic over the
 * buffer type `B`: the interface uses `DeviceBuffer`, the CPU device its typed arrays, the CUDA
 * device its device-pointer records.
 *
 * Kernels never allocate their outputs: the caller (an op in `nn/ops/`) allocates every buffer a
 * kernel writes. All tensors are contiguous, row-major (NCHW for images). "Overwrites" means the
 * kernel writes every element of that output.
 *
 * @module
 */

import type { Conv2dBackwardDataArgs, Conv2dBackwardFilterArgs, Conv2dForwardArgs, GemmArgs } from "./dense.ts";
import type {
  ActivationBackwardArgs,
  AffineArgs,
  AxpyArgs,
  BinaryArgs,
  CopyBlocksArgs,
  PermuteArgs,
  PowArgs,
  SumToArgs,
  UnaryArgs,
} from "./elementwise.ts";
import type { BatchNormBackwardArgs, BatchNormInferArgs, BatchNormTrainArgs } from "./norm.ts";
import type { AdamUpdateArgs, SgdUpdateArgs } from "./optim.ts";
import type {
  AdaptiveAvgPool2dBackwardArgs,
  AdaptiveAvgPool2dForwardArgs,
  MaxPool2dBackwardArgs,
  MaxPool2dForwardArgs,
} from "./pool.ts";
import type {
  CrossEntropyBackwardArgs,
  CrossEntropyForwardArgs,
  SoftmaxBackwardArgs,
  SoftmaxForwardArgs,
} from "./softmax.ts";

export type * from "./dense.ts";
export type * from "./elementwise.ts";
export type * from "./norm.ts";
export type * from "./optim.ts";
export type * from "./pool.ts";
export type * from "./softmax.ts";

/**
 * The kernels, by name, over float buffers `B` and int32 buffers `I` (one type on most devices).
 * Every one is synchronous from the caller's point of view; a device with a queue (CUDA) orders
 * them on one stream.
 */
export interface Kernels<B, I = B> {
  /** `out = a op b` with broadcasting. */
  binary(args: BinaryArgs<B>): void;
  /** `out = op(x)`. */
  unary(args: UnaryArgs<B>): void;
  /** `dx = dy * op'(x)` from the activation's output. */
  activationBackward(args: ActivationBackwardArgs<B>): void;
  /** `out = x * scale + shift`. */
  affine(args: AffineArgs<B>): void;
  /** `out = x ** exponent`. */
  pow(args: PowArgs<B>): void;
  /** `y += alpha * x`. */
  axpy(args: AxpyArgs<B>): void;
  /** Sums down to a shape. */
  sumTo(args: SumToArgs<B>): void;
  /** Copies a permutation of the dims. */
  permute(args: PermuteArgs<B>): void;
  /** Copies a block along one axis. */
  copyBlocks(args: CopyBlocksArgs<B>): void;
  /** Row-major (batched) GEMM. */
  gemm(args: GemmArgs<B>): void;
  /** Convolution forward. */
  conv2dForward(args: Conv2dForwardArgs<B>): void;
  /** Convolution gradient of the input. */
  conv2dBackwardData(args: Conv2dBackwardDataArgs<B>): void;
  /** Convolution gradient of the weights. */
  conv2dBackwardFilter(args: Conv2dBackwardFilterArgs<B>): void;
  /** Batch norm with batch statistics. */
  batchNormTrain(args: BatchNormTrainArgs<B>): void;
  /** Batch norm with running statistics. */
  batchNormInfer(args: BatchNormInferArgs<B>): void;
  /** Batch norm backward. */
  batchNormBackward(args: BatchNormBackwardArgs<B>): void;
  /** Max pooling forward. */
  maxPool2dForward(args: MaxPool2dForwardArgs<B>): void;
  /** Max pooling backward. */
  maxPool2dBackward(args: MaxPool2dBackwardArgs<B>): void;
  /** Adaptive average pooling forward. */
  adaptiveAvgPool2dForward(args: AdaptiveAvgPool2dForwardArgs<B>): void;
  /** Adaptive average pooling backward. */
  adaptiveAvgPool2dBackward(args: AdaptiveAvgPool2dBackwardArgs<B>): void;
  /** Softmax forward. */
  softmaxForward(args: SoftmaxForwardArgs<B>): void;
  /** Softmax backward. */
  softmaxBackward(args: SoftmaxBackwardArgs<B>): void;
  /** Cross entropy per sample. */
  crossEntropyForward(args: CrossEntropyForwardArgs<B, I>): void;
  /** Cross-entropy backward. */
  crossEntropyBackward(args: CrossEntropyBackwardArgs<B, I>): void;
  /** One SGD step. */
  sgdUpdate(args: SgdUpdateArgs<B>): void;
  /** One Adam step. */
  adamUpdate(args: AdamUpdateArgs<B>): void;
}

/** The name of a kernel, e.g. `"conv2dForward"`. */
export type KernelName = keyof Kernels<unknown>;
