/**
 * `Storage`: a device buffer shared by a tensor and its views, freed when its last user lets go.
 *
 * @module
 */

import type { Device, DeviceBuffer, DType } from "./device.ts";

/**
 * Memory shared by a tensor and its views, with a count of the tensors that use it.
 *
 * @example
 * ```ts
 * import { Storage } from "./storage.ts";
 * import { cpu } from "./cpu/device.ts";
 * const storage = new Storage(cpu, "float32", 4, cpu.alloc(4, "float32"));
 * storage.release(); // the last reference: the buffer returns to the device
 * ```
 */
export class Storage {
  /** The device holding the buffer. */
  readonly device: Device;
  /** Element type. */
  readonly dtype: DType;
  /** Number of elements. */
  readonly length: number;
  /** The device buffer; null once released. */
  buffer: DeviceBuffer | null;
  /** Tensors that use this storage. */
  refs = 1;

  /**
   * Takes over a freshly allocated buffer, with one reference (the tensor that will wrap it).
   *
   * @param device Owner of the buffer.
   * @param dtype Element type.
   * @param length Number of elements.
   * @param buffer The buffer (taken over).
   */
  constructor(device: Device, dtype: DType, length: number, buffer: DeviceBuffer) {
    this.device = device;
    this.dtype = dtype;
    this.length = length;
    this.buffer = buffer;
  }

  /** Drops one reference; frees the buffer at zero. */
  release(): void {
    if (--this.refs === 0 && this.buffer !== null) {
      this.device.free(this.buffer);
      this.buffer = null;
    }
  }
}
