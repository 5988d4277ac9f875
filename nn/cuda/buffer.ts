/**
 * The CUDA device's buffers: device addresses with their length, dtype and allocator size.
 *
 * @module
 */

import type { CudaRuntime } from "./runtime.ts";

/** A float32 or int32 buffer in device memory. */
export interface CudaBuffer {
  /** Device address. */
  readonly ptr: bigint;
  /** Number of elements. */
  readonly length: number;
  /** Element type (4 bytes each). */
  readonly dtype: "float32" | "int32";
  /** Bytes reserved for it (its allocator size class). */
  readonly bytes: number;
}

/**
 * The address of a buffer, with a clear error for a buffer of another device.
 *
 * @param buffer A buffer that should come from the CUDA device.
 * @returns Its device address.
 * @example
 * ```ts
 * import { ptr } from "./buffer.ts";
 * ptr({ ptr: 0x1000n, length: 4, dtype: "float32", bytes: 512 }); // 4096n
 * ```
 */
export function ptr(buffer: CudaBuffer): bigint {
  const address = buffer.ptr;
  if (typeof address !== "bigint") {
    throw new Error('The CUDA device received a buffer of another device; move tensors with .to("cuda")');
  }
  return address;
}

/**
 * Zeroes a buffer in stream order (an output that an empty input leaves at 0).
 *
 * @param runtime The runtime.
 * @param buffer The buffer.
 * @example
 * ```ts
 * import { zeroBuffer } from "./buffer.ts";
 * // zeroBuffer(runtime, dw);
 * ```
 */
export function zeroBuffer(runtime: CudaRuntime, buffer: CudaBuffer): void {
  if (buffer.length === 0) return;
  runtime.check.cu(
    "cuMemsetD32Async",
    runtime.cu.cuMemsetD32Async(ptr(buffer), 0, BigInt(buffer.length), runtime.stream),
  );
}
