/**
 * The kernel set every device implements, each kernel taking one named argument object. Every
 * argument type is declared here once, generic over the buffer type `B`: the interface uses
 * `DeviceBuffer`, the CPU device its typed arrays, the CUDA device its device-pointer records.
 *
 * Kernels never allocate their outputs: the caller (an op in `nn/ops/`) allocates every buffer a
 * kernel writes. All tensors are contiguous, row-major (NCHW for images). "Overwrites" means the
 * kernel writes every element of that output.
 *
 * @module
 */

import type { AxisGeometry, BatchNormGeometry, BlockCopy, Conv2dGeometry, Pool2dGeometry } from "./geometry.ts";

/** Element-wise binary operations (with broadcasting). */
export type BinaryOp = "add" | "sub" | "mul" | "div";
/** Element-wise unary operations. */
export type UnaryOp = "neg" | "exp" | "log" | "sqrt" | "abs" | "relu" | "sigmoid" | "tanh";
/** Activations whose backward a device computes from the saved output. */
export type ActivationOp = "relu" | "sigmoid" | "tanh";

// ---- element-wise and layout

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

// ---- dense math

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

// ---- normalisation

/**
 * Batch norm with batch statistics: writes y, the batch mean and `1/sqrt(biased var + eps)`, and
 * (when given) updates the running stats with momentum, using the unbiased variance.
 */
export interface BatchNormTrainArgs<B> {
  /** The (N, C, H*W) view. */
  geometry: BatchNormGeometry;
  /** Input. */
  x: B;
  /** Per-channel scale. */
  weight: B;
  /** Per-channel shift. */
  bias: B;
  /** Running mean, updated in place; null to leave the running stats alone. */
  runningMean: B | null;
  /** Running unbiased variance, updated in place; null with `runningMean`. */
  runningVar: B | null;
  /** Weight of the batch statistics in the running ones. */
  momentum: number;
  /** Added to the variance. */
  eps: number;
  /** Output. */
  y: B;
  /** Batch mean per channel (written). */
  saveMean: B;
  /** `1 / sqrt(biased var + eps)` per channel (written). */
  saveInvStd: B;
}

/** Batch norm with the running statistics (eval mode). */
export interface BatchNormInferArgs<B> {
  /** The (N, C, H*W) view. */
  geometry: BatchNormGeometry;
  /** Input. */
  x: B;
  /** Per-channel scale. */
  weight: B;
  /** Per-channel shift. */
  bias: B;
  /** Running mean. */
  runningMean: B;
  /** Running variance. */
  runningVar: B;
  /** Added to the variance. */
  eps: number;
  /** Output. */
  y: B;
}

/** Batch norm backward (train mode): dx, dweight and dbias, all overwritten. */
export interface BatchNormBackwardArgs<B> {
  /** The (N, C, H*W) view. */
  geometry: BatchNormGeometry;
  /** Forward input. */
  x: B;
  /** Output gradient. */
  dy: B;
  /** Per-channel scale. */
  weight: B;
  /** Batch mean from the forward. */
  saveMean: B;
  /** Inverse standard deviation from the forward. */
  saveInvStd: B;
  /** The eps the forward used (cuDNN's backward takes it again). */
  eps: number;
  /** Input gradient. */
  dx: B;
  /** Scale gradient. */
  dweight: B;
  /** Shift gradient. */
  dbias: B;
}

// ---- pooling

/** Max pooling forward; padding counts as negative infinity. */
export interface MaxPool2dForwardArgs<B> {
  /** Window, stride and padding. */
  geometry: Pool2dGeometry;
  /** Input (N, C, H, W). */
  x: B;
  /** Output (N, C, Ho, Wo). */
  y: B;
}

/** Routes each output gradient to the first (row-major) maximum of its window (overwrites dx). */
export interface MaxPool2dBackwardArgs<B> {
  /** Window, stride and padding. */
  geometry: Pool2dGeometry;
  /** Forward input. */
  x: B;
  /** Forward output. */
  y: B;
  /** Output gradient. */
  dy: B;
  /** Input gradient. */
  dx: B;
}

/** Adaptive average pooling with PyTorch's window rule (start floor, end ceil). */
export interface AdaptiveAvgPool2dForwardArgs<B> {
  /** Input and output sizes (kernel, stride and padding are ignored). */
  geometry: Pool2dGeometry;
  /** Input (N, C, H, W). */
  x: B;
  /** Output (N, C, Ho, Wo). */
  y: B;
}

/** Backward of adaptive average pooling (overwrites dx). */
export interface AdaptiveAvgPool2dBackwardArgs<B> {
  /** Input and output sizes. */
  geometry: Pool2dGeometry;
  /** Output gradient. */
  dy: B;
  /** Input gradient. */
  dx: B;
}

// ---- softmax and loss

/** Softmax (or log-softmax) along the middle axis of (outer, axis, inner). */
export interface SoftmaxForwardArgs<B> {
  /** The (outer, axis, inner) view. */
  geometry: AxisGeometry;
  /** Input. */
  x: B;
  /** Output. */
  y: B;
  /** Log-softmax instead of softmax. */
  log: boolean;
}

/** Softmax (or log-softmax) backward from its output (overwrites dx). */
export interface SoftmaxBackwardArgs<B> {
  /** The (outer, axis, inner) view. */
  geometry: AxisGeometry;
  /** Forward output. */
  y: B;
  /** Output gradient. */
  dy: B;
  /** Input gradient. */
  dx: B;
  /** Whether the forward was log-softmax. */
  log: boolean;
}

/**
 * Cross entropy per sample with label smoothing `s`:
 * `loss_i = -(1 - s) * logp[i, t_i] - s / C * sum_c logp[i, c]`.
 */
export interface CrossEntropyForwardArgs<B, I = B> {
  /** Rows. */
  batch: number;
  /** Columns. */
  classes: number;
  /** (batch, classes) scores. */
  logits: B;
  /** (batch) int32 class indices, each in [0, classes) (checked by the caller). */
  targets: I;
  /** `s` in [0, 1]. */
  labelSmoothing: number;
  /** (batch) output. */
  losses: B;
}

/** `dlogits[i] = dLoss[i] * (softmax(logits[i]) - smoothed one-hot(t_i))` (overwrites dlogits). */
export interface CrossEntropyBackwardArgs<B, I = B> {
  /** Rows. */
  batch: number;
  /** Columns. */
  classes: number;
  /** (batch, classes) scores. */
  logits: B;
  /** (batch) int32 class indices: the buffer the forward used. */
  targets: I;
  /** `s` in [0, 1]. */
  labelSmoothing: number;
  /** (batch) gradient of each sample's loss. */
  dLoss: B;
  /** (batch, classes) output. */
  dlogits: B;
}

// ---- optimisers

/** Hyper-parameters of one SGD update, with PyTorch's semantics. */
export interface SgdArgs {
  /** Learning rate. */
  lr: number;
  /** Momentum factor (0 disables the buffer). */
  momentum: number;
  /** Dampening of the momentum. */
  dampening: number;
  /** L2 penalty added to the gradient. */
  weightDecay: number;
  /** Nesterov momentum. */
  nesterov: boolean;
  /** First step: the momentum buffer is initialised to the gradient. */
  firstStep: boolean;
}

/** One SGD step on a parameter, in place. */
export interface SgdUpdateArgs<B> extends SgdArgs {
  /** Parameter (updated). */
  param: B;
  /** Its gradient. */
  grad: B;
  /** Momentum buffer (updated), or null when momentum is 0. */
  momentumBuffer: B | null;
}

/** Hyper-parameters of one Adam / AdamW update, with PyTorch's semantics. */
export interface AdamArgs {
  /** Learning rate. */
  lr: number;
  /** Decay of the first moment. */
  beta1: number;
  /** Decay of the second moment. */
  beta2: number;
  /** Added to the denominator. */
  eps: number;
  /** Weight decay: L2 on the gradient (Adam) or decoupled (AdamW). */
  weightDecay: number;
  /** Decoupled weight decay (AdamW). */
  decoupled: boolean;
  /** 1-based step count, for bias correction. */
  step: number;
}

/** One Adam step on a parameter, in place. */
export interface AdamUpdateArgs<B> extends AdamArgs {
  /** Parameter (updated). */
  param: B;
  /** Its gradient. */
  grad: B;
  /** First moment (updated). */
  m: B;
  /** Second moment (updated). */
  v: B;
}

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
