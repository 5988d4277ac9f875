/**
 * cuDNN tensor and filter descriptors, created once per shape and kept for the life of the
 * process (cuDNN only reads them, so one descriptor serves every call of its shape).
 *
 * @module
 */

import { CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW } from "../../ffi/cudnn.ts";
import type { CudaRuntime } from "./runtime.ts";

/**
 * Caches of packed float32 NCHW descriptors.
 *
 * @example
 * ```ts
 * import { Descriptors } from "./descriptors.ts";
 * // const descriptors = new Descriptors(runtime);
 * // const x = descriptors.tensor(8, 64, 56, 56);
 * ```
 */
export class Descriptors {
  #runtime: CudaRuntime;
  #tensors = new Map<string, Deno.PointerValue>();
  #filters = new Map<string, Deno.PointerValue>();
  #out = new BigUint64Array(1);

  /**
   * Empty caches.
   *
   * @param runtime The runtime whose cuDNN creates the descriptors.
   */
  constructor(runtime: CudaRuntime) {
    this.#runtime = runtime;
  }

  /**
   * A packed (n, c, h, w) float32 tensor descriptor.
   *
   * @param n Batch.
   * @param c Channels.
   * @param h Height.
   * @param w Width.
   * @returns The descriptor.
   */
  tensor(n: number, c: number, h: number, w: number): Deno.PointerValue {
    const key = `${n},${c},${h},${w}`;
    let desc = this.#tensors.get(key);
    if (desc !== undefined) return desc;
    const { dnn, check } = this.#runtime;
    check.cudnn("cudnnCreateTensorDescriptor", dnn.cudnnCreateTensorDescriptor(this.#out));
    desc = Deno.UnsafePointer.create(this.#out[0]);
    check.cudnn(
      "cudnnSetTensor4dDescriptor",
      dnn.cudnnSetTensor4dDescriptor(desc, CUDNN_TENSOR_NCHW, CUDNN_DATA_FLOAT, n, c, h, w),
    );
    this.#tensors.set(key, desc);
    return desc;
  }

  /**
   * A (k, c, h, w) float32 filter descriptor, PyTorch's weight layout.
   *
   * @param k Output channels.
   * @param c Input channels per group.
   * @param h Kernel height.
   * @param w Kernel width.
   * @returns The descriptor.
   */
  filter(k: number, c: number, h: number, w: number): Deno.PointerValue {
    const key = `${k},${c},${h},${w}`;
    let desc = this.#filters.get(key);
    if (desc !== undefined) return desc;
    const { dnn, check } = this.#runtime;
    check.cudnn("cudnnCreateFilterDescriptor", dnn.cudnnCreateFilterDescriptor(this.#out));
    desc = Deno.UnsafePointer.create(this.#out[0]);
    // Unlike the tensor call, the data type comes before the format here.
    check.cudnn(
      "cudnnSetFilter4dDescriptor",
      dnn.cudnnSetFilter4dDescriptor(desc, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NCHW, k, c, h, w),
    );
    this.#filters.set(key, desc);
    return desc;
  }
}

/** Host `alpha = 1` for cuDNN / cuBLAS calls on float32 data. */
export const ONE: Float32Array = Float32Array.of(1);
/** Host `beta = 0`: the output is overwritten, not read. */
export const ZERO: Float32Array = Float32Array.of(0);
