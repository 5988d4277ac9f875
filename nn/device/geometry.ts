/**
 * Geometries: the shapes a kernel works on, as plain numbers. Ops compute them once per call and
 * pass them to the kernels inside the argument objects of `./kernels.ts`.
 *
 * @module
 */

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

/**
 * Whether a convolution touches no element: a zero batch, channel count or spatial size. Devices
 * return before calling a library (cuDNN rejects zero-sized descriptors) and zero any non-empty
 * output (a weight gradient over an empty batch is 0).
 *
 * @param g The geometry.
 * @returns True when input or output is empty.
 * @example
 * ```ts
 * import { isEmptyConv } from "./geometry.ts";
 * isEmptyConv({ batch: 0, inChannels: 3, inHeight: 8, inWidth: 8, outChannels: 4, outHeight: 8, outWidth: 8,
 *   kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padH: 1, padW: 1, dilationH: 1, dilationW: 1, groups: 1 }); // true
 * ```
 */
export function isEmptyConv(g: Conv2dGeometry): boolean {
  return g.batch * g.inChannels * g.inHeight * g.inWidth * g.outChannels * g.outHeight * g.outWidth === 0;
}

/**
 * Whether a pooling window slides over nothing (a zero batch, channel count or spatial size).
 *
 * @param g The geometry.
 * @returns True when input or output is empty.
 * @example
 * ```ts
 * import { isEmptyPool } from "./geometry.ts";
 * isEmptyPool({ batch: 2, channels: 0, inHeight: 4, inWidth: 4, outHeight: 2, outWidth: 2,
 *   kernelH: 2, kernelW: 2, strideH: 2, strideW: 2, padH: 0, padW: 0 }); // true
 * ```
 */
export function isEmptyPool(g: Pool2dGeometry): boolean {
  return g.batch * g.channels * g.inHeight * g.inWidth * g.outHeight * g.outWidth === 0;
}

/**
 * Whether a batch norm or softmax view holds no element.
 *
 * @param g A batch norm geometry (batch, channels, spatial) or an axis geometry (outer, axis, inner).
 * @returns True when one of its sizes is 0.
 * @example
 * ```ts
 * import { isEmptyView } from "./geometry.ts";
 * isEmptyView({ batch: 0, channels: 16, spatial: 49 }); // true
 * isEmptyView({ outer: 8, axis: 10, inner: 1 }); // false
 * ```
 */
export function isEmptyView(g: BatchNormGeometry | AxisGeometry): boolean {
  return "batch" in g ? g.batch * g.channels * g.spatial === 0 : g.outer * g.axis * g.inner === 0;
}
