/**
 * The Device interface: memory, plus the kernel set of `./device/kernels.ts`, each kernel taking
 * one named argument object.
 *
 * A device is generic over its buffer type: the CPU device's buffers are typed arrays, the CUDA
 * device's are device-pointer records. Code above the devices (tensors, ops) sees the opaque
 * {@linkcode DeviceBuffer} and never looks inside.
 *
 * @module
 */

import type { Kernels } from "./device/kernels.ts";

export type * from "./device/geometry.ts";
export { isEmptyConv, isEmptyPool, isEmptyView } from "./device/geometry.ts";
export type * from "./device/kernels.ts";

/**
 * Element types a buffer can hold. Tensors hold a float type (`float64` on the CPU device only);
 * `int32` buffers carry class indices (cross-entropy targets) on every device.
 */
export type DType = "float32" | "float64" | "int32";

/** Bytes per element of each dtype. */
export const BYTES_PER_ELEMENT: Readonly<Record<DType, number>> = { float32: 4, float64: 8, int32: 4 };

/** Host arrays that go into and come out of a device. */
export type HostArray = Float32Array | Float64Array | Int32Array;

/**
 * Memory that lives on a device. Opaque outside the device that made it: the CPU device hands out
 * typed arrays, the CUDA device device-pointer records.
 */
export interface DeviceBuffer {
  /** Number of elements. */
  readonly length: number;
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

/** The memory methods of a device (positional: one or two arguments each). */
export interface DeviceMemoryMethods<B extends DeviceBuffer> {
  /** A buffer of `length` elements; contents undefined unless `zero`. */
  alloc(length: number, dtype: DType, zero?: boolean): B;
  /** Returns a buffer to the device (or its cache). */
  free(buffer: B): void;
  /** Copies host values into a buffer (same length; an int32 buffer takes an Int32Array). */
  write(buffer: B, values: HostArray): void;
  /** Copies a buffer to a new host array of its dtype (waits for pending work). */
  read(buffer: B): HostArray;
  /** Sets every element of a float buffer to `value`. */
  fill(buffer: B, value: number): void;
  /** Copies `src` into `dst` (same length and dtype). */
  copy(src: B, dst: B): void;
}

/** The name of a memory method, e.g. `"alloc"`. */
export type MemoryMethodName = keyof DeviceMemoryMethods<DeviceBuffer>;

/**
 * A device: memory methods and the kernels. Every method is synchronous from the caller's point
 * of view; a device with a queue (CUDA) orders kernels on one stream and only waits in
 * {@linkcode Device.read}.
 */
export interface Device<B extends DeviceBuffer = DeviceBuffer> extends DeviceMemoryMethods<B>, Kernels<B> {
  /** `"cpu"` or `"cuda"`. */
  readonly type: "cpu" | "cuda";
  /** Display name, e.g. `"cpu"` or `"cuda:0"`. */
  readonly name: string;
  /** Dtypes a tensor on this device can hold. */
  readonly dtypes: readonly DType[];
  /** One line about the hardware and native libraries behind this device. */
  describe(): string;
  /** Bytes held by this device's allocator. */
  memory(): DeviceMemory;
  /** Resets `peakAllocatedBytes` to the current allocation. */
  resetPeakMemory(): void;
  /** Releases cached, unused memory back to the system. */
  emptyCache(): void;
  /** Waits until every queued kernel has finished. */
  synchronize(): void;
}
