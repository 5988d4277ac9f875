/**
 * The Device interface: the kernel set every device (CPU, CUDA) implements.
 *
 * Kernels work on opaque {@linkcode DeviceBuffer}s plus plain numbers that describe shapes. They
 * never allocate their outputs: the caller (an op in `nn/ops/`) allocates every buffer a kernel
 * writes, so a device can serve memory from its caching allocator. All tensors are contiguous,
 * row-major (NCHW for images).
 *
 * @module
 */

/** Element types a tensor can hold. `float64` is supported on the CPU device only. */
export type DType = "float32" | "float64";

/** Bytes per element of each dtype. */
export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = { float32: 4, float64: 8 };

/**
 * How a {@linkcode Device.sumTo} reduction looks once size-1 dims are dropped and neighbouring dims
 * that are both kept or both reduced are merged: alternating runs, outermost first. Devices plan
 * their loops (CPU) or kernels (CUDA) from it.
 *
 * @param xShape Shape of the input.
 * @param outShape Target shape (same rank; reduced dims are 1).
 * @returns Run sizes and whether each run is reduced.
 * @example
 * ```ts
 * import { collapseReduction } from "./device.ts";
 * collapseReduction([8, 16, 7, 7], [1, 16, 1, 1]); // { sizes: [8, 16, 49], reduced: [true, false, true] }
 * ```
 */
export function collapseReduction(
  xShape: readonly number[],
  outShape: readonly number[],
): { sizes: number[]; reduced: boolean[] } {
  const sizes: number[] = [];
  const reduced: boolean[] = [];
  for (let i = 0; i < xShape.length; i++) {
    if (xShape[i] === 1) continue;
    const r = outShape[i] === 1;
    const last = sizes.length - 1;
    if (last >= 0 && reduced[last] === r) sizes[last] *= xShape[i];
    else {
      sizes.push(xShape[i]);
      reduced.push(r);
    }
  }
  return { sizes, reduced };
}

/**
 * Memory that lives on a device. Opaque outside the device that made it: the CPU device hands out
 * typed arrays, the CUDA device device-pointer records.
 */
export interface DeviceBuffer {
  /** Number of elements. */
  readonly length: number;
}

/** Element-wise binary operations (with broadcasting). */
export type BinaryOp = "add" | "sub" | "mul" | "div";
/** Element-wise unary operations. */
export type UnaryOp = "neg" | "exp" | "log" | "sqrt" | "abs" | "relu" | "sigmoid" | "tanh";
/** Activations whose backward a device computes from the saved output. */
export type ActivationOp = "relu" | "sigmoid" | "tanh";

/** Shapes and hyper-parameters of one 2-D convolution, as every conv kernel receives them. */
export interface Conv2dGeometry {
  /** Batch size N. */
  batch: number;
  /** Input channels C (all groups). */
  inChannels: number;
  /** Input height H. */
  inHeight: number;
  /** Input width W. */
  inWidth: number;
  /** Output channels K (all groups). */
  outChannels: number;
  /** Output height. */
  outHeight: number;
  /** Output width. */
  outWidth: number;
  /** Kernel height. */
  kernelH: number;
  /** Kernel width. */
  kernelW: number;
  /** Vertical stride. */
  strideH: number;
  /** Horizontal stride. */
  strideW: number;
  /** Zero padding on top and bottom. */
  padH: number;
  /** Zero padding on left and right. */
  padW: number;
  /** Vertical dilation. */
  dilationH: number;
  /** Horizontal dilation. */
  dilationW: number;
  /** Groups; divides both channel counts. */
  groups: number;
}

/** Shapes of a 2-D pooling window over an NCHW tensor. */
export interface Pool2dGeometry {
  /** Batch size N. */
  batch: number;
  /** Channels C. */
  channels: number;
  /** Input height. */
  inHeight: number;
  /** Input width. */
  inWidth: number;
  /** Output height. */
  outHeight: number;
  /** Output width. */
  outWidth: number;
  /** Window height. */
  kernelH: number;
  /** Window width. */
  kernelW: number;
  /** Vertical stride. */
  strideH: number;
  /** Horizontal stride. */
  strideW: number;
  /** Implicit padding (negative infinity for max pooling) on top and bottom. */
  padH: number;
  /** Implicit padding on left and right. */
  padW: number;
}

/** An NCHW tensor seen as (N, C, H*W), the view batch norm works on. */
export interface BatchNormGeometry {
  /** Batch size N. */
  batch: number;
  /** Channels C. */
  channels: number;
  /** Spatial size H*W. */
  spatial: number;
}

/** A contiguous tensor seen as (outer, axis, inner): softmax runs along `axis`. */
export interface AxisGeometry {
  /** Product of the dimensions before the axis. */
  outer: number;
  /** Length of the axis. */
  axis: number;
  /** Product of the dimensions after the axis. */
  inner: number;
}

/** A block copy between two tensors seen as (outer, axis, inner): concat, narrow and their grads. */
export interface BlockCopy {
  /** Product of the dimensions before the axis (equal in source and destination). */
  outer: number;
  /** Product of the dimensions after the axis (equal in source and destination). */
  inner: number;
  /** Axis length of the source. */
  srcAxis: number;
  /** Axis length of the destination. */
  dstAxis: number;
  /** First source index along the axis. */
  srcStart: number;
  /** First destination index along the axis. */
  dstStart: number;
  /** Number of indices along the axis to copy. */
  length: number;
}

/** A row-major GEMM: `C = alpha * op(A) * op(B) + beta * C`, repeated `batch` times. */
export interface GemmArgs {
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
  a: DeviceBuffer;
  /** Right matrix. */
  b: DeviceBuffer;
  /** Output matrix. */
  c: DeviceBuffer;
  /** Number of independent products (default 1). */
  batch?: number;
  /** Element offsets between consecutive products (default: the matrix sizes; 0 reuses one matrix). */
  strideA?: number;
  /** See `strideA`. */
  strideB?: number;
  /** See `strideA`. */
  strideC?: number;
}

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

/** Memory a device holds, in bytes. */
export interface DeviceMemory {
  /** Bytes in live buffers. */
  allocatedBytes: number;
  /** Bytes held from the system, live or cached for reuse. */
  reservedBytes: number;
  /** Highest `allocatedBytes` since the last reset. */
  peakAllocatedBytes: number;
}

/**
 * The kernel set. Every method is synchronous from the caller's point of view; a device with a
 * queue (CUDA) orders kernels on one stream and only waits in {@linkcode Device.read}.
 */
export interface Device {
  /** `"cpu"` or `"cuda"`. */
  readonly type: "cpu" | "cuda";
  /** Display name, e.g. `"cpu"` or `"cuda:0"`. */
  readonly name: string;
  /** Dtypes this device can hold. */
  readonly dtypes: readonly DType[];
  /** One line about the hardware and native libraries behind this device. */
  describe(): string;

  // ---- memory
  /** A buffer of `length` elements; contents undefined unless `zero`. */
  alloc(length: number, dtype: DType, zero?: boolean): DeviceBuffer;
  /** Returns a buffer to the device (or its cache). */
  free(buffer: DeviceBuffer): void;
  /** Copies host values into a buffer (same dtype, same length). */
  write(buffer: DeviceBuffer, values: Float32Array | Float64Array): void;
  /** Copies a buffer to a new host array (waits for pending work). */
  read(buffer: DeviceBuffer): Float32Array | Float64Array;
  /** Sets every element to `value`. */
  fill(buffer: DeviceBuffer, value: number): void;
  /** Copies `src` into `dst` (same length and dtype). */
  copy(src: DeviceBuffer, dst: DeviceBuffer): void;
  /** Bytes held by this device's allocator. */
  memory(): DeviceMemory;
  /** Resets `peakAllocatedBytes` to the current allocation. */
  resetPeakMemory(): void;
  /** Releases cached, unused memory back to the system. */
  emptyCache(): void;
  /** Waits until every queued kernel has finished. */
  synchronize(): void;

  // ---- element-wise
  /** `out = a op b` with NumPy broadcasting; all shapes have the same rank. */
  binary(
    op: BinaryOp,
    a: DeviceBuffer,
    aShape: readonly number[],
    b: DeviceBuffer,
    bShape: readonly number[],
    out: DeviceBuffer,
    outShape: readonly number[],
  ): void;
  /** `out = op(x)` element-wise. */
  unary(op: UnaryOp, x: DeviceBuffer, out: DeviceBuffer): void;
  /** `dx = dy * op'(x)`, computed from the activation's output `y`. */
  activationBackward(op: ActivationOp, y: DeviceBuffer, dy: DeviceBuffer, dx: DeviceBuffer): void;
  /** `out = x * scale + shift`. */
  affine(x: DeviceBuffer, out: DeviceBuffer, scale: number, shift: number): void;
  /** `out = x ** exponent`. */
  pow(x: DeviceBuffer, out: DeviceBuffer, exponent: number): void;
  /** `y += alpha * x` (in place). */
  axpy(alpha: number, x: DeviceBuffer, y: DeviceBuffer): void;
  /** Sums `x` down to `outShape` (same rank, reduced dims are 1). */
  sumTo(
    x: DeviceBuffer,
    xShape: readonly number[],
    out: DeviceBuffer,
    outShape: readonly number[],
  ): void;
  /** Copies `y = x.permute(perm)`. */
  permute(x: DeviceBuffer, shape: readonly number[], perm: readonly number[], y: DeviceBuffer): void;
  /** Copies a block along one axis (concat, narrow, and their gradients). */
  copyBlocks(src: DeviceBuffer, dst: DeviceBuffer, copy: BlockCopy): void;

  // ---- dense math
  /** Row-major (batched) GEMM. */
  gemm(args: GemmArgs): void;
  /** Convolution forward: `y = conv(x, w)`; x (N,C,H,W), w (K,C/g,kh,kw), y (N,K,Ho,Wo). */
  conv2dForward(g: Conv2dGeometry, x: DeviceBuffer, w: DeviceBuffer, y: DeviceBuffer): void;
  /** Gradient of the input: `dx = convᵀ(dy, w)` (overwrites dx). */
  conv2dBackwardData(g: Conv2dGeometry, dy: DeviceBuffer, w: DeviceBuffer, dx: DeviceBuffer): void;
  /** Gradient of the weights (overwrites dw). */
  conv2dBackwardFilter(g: Conv2dGeometry, x: DeviceBuffer, dy: DeviceBuffer, dw: DeviceBuffer): void;

  // ---- normalisation, pooling, softmax, loss
  /**
   * Batch norm with batch statistics. Writes y, the batch mean and 1/sqrt(biased var + eps), and
   * (when given) updates the running stats with momentum, using the unbiased variance.
   */
  batchNormTrain(
    g: BatchNormGeometry,
    x: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    runningMean: DeviceBuffer | null,
    runningVar: DeviceBuffer | null,
    momentum: number,
    eps: number,
    y: DeviceBuffer,
    saveMean: DeviceBuffer,
    saveInvStd: DeviceBuffer,
  ): void;
  /** Batch norm with the running statistics. */
  batchNormInfer(
    g: BatchNormGeometry,
    x: DeviceBuffer,
    weight: DeviceBuffer,
    bias: DeviceBuffer,
    runningMean: DeviceBuffer,
    runningVar: DeviceBuffer,
    eps: number,
    y: DeviceBuffer,
  ): void;
  /** Batch norm backward (train mode): dx, dweight and dbias (all overwritten). */
  batchNormBackward(
    g: BatchNormGeometry,
    x: DeviceBuffer,
    dy: DeviceBuffer,
    weight: DeviceBuffer,
    saveMean: DeviceBuffer,
    saveInvStd: DeviceBuffer,
    dx: DeviceBuffer,
    dweight: DeviceBuffer,
    dbias: DeviceBuffer,
  ): void;
  /** Max pooling; padding counts as negative infinity. */
  maxPool2dForward(g: Pool2dGeometry, x: DeviceBuffer, y: DeviceBuffer): void;
  /** Routes each output gradient to the first maximum of its window (overwrites dx). */
  maxPool2dBackward(
    g: Pool2dGeometry,
    x: DeviceBuffer,
    y: DeviceBuffer,
    dy: DeviceBuffer,
    dx: DeviceBuffer,
  ): void;
  /** Adaptive average pooling with PyTorch's window rule (start floor, end ceil). */
  adaptiveAvgPool2dForward(g: Pool2dGeometry, x: DeviceBuffer, y: DeviceBuffer): void;
  /** Backward of adaptive average pooling (overwrites dx). */
  adaptiveAvgPool2dBackward(g: Pool2dGeometry, dy: DeviceBuffer, dx: DeviceBuffer): void;
  /** Softmax (or log-softmax) along the middle axis. */
  softmaxForward(g: AxisGeometry, x: DeviceBuffer, y: DeviceBuffer, log: boolean): void;
  /** Softmax (or log-softmax) backward from its output. */
  softmaxBackward(
    g: AxisGeometry,
    y: DeviceBuffer,
    dy: DeviceBuffer,
    dx: DeviceBuffer,
    log: boolean,
  ): void;
  /**
   * Cross entropy per sample with label smoothing:
   * `loss_i = -(1 - s) * logp[i, t_i] - s / C * sum_c logp[i, c]`.
   */
  crossEntropyForward(
    batch: number,
    classes: number,
    logits: DeviceBuffer,
    targets: Int32Array,
    labelSmoothing: number,
    losses: DeviceBuffer,
  ): void;
  /** `dlogits[i] = dLoss[i] * (softmax(logits[i]) - smoothed one-hot(t_i))`. */
  crossEntropyBackward(
    batch: number,
    classes: number,
    logits: DeviceBuffer,
    targets: Int32Array,
    labelSmoothing: number,
    dLoss: DeviceBuffer,
    dlogits: DeviceBuffer,
  ): void;

  // ---- optimisers (in place)
  /** One SGD step on a parameter. */
  sgdUpdate(
    param: DeviceBuffer,
    grad: DeviceBuffer,
    momentumBuffer: DeviceBuffer | null,
    args: SgdArgs,
  ): void;
  /** One Adam step on a parameter; `m` and `v` are its moment buffers. */
  adamUpdate(
    param: DeviceBuffer,
    grad: DeviceBuffer,
    m: DeviceBuffer,
    v: DeviceBuffer,
    args: AdamArgs,
  ): void;
}
