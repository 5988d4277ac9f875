/**
 * Memory accounting: how many tensors are alive on each device, and `memory()`, which adds the
 * device's own byte counts.
 *
 * @module
 */

import type { Device } from "./device.ts";

const liveTensors = new Map<Device, number>();

/**
 * Adds `delta` to the number of live tensors on `device` (the Tensor class calls this when a
 * tensor is created, moved, disposed or collected).
 *
 * @param device The device the tensor's storage is on.
 * @param delta +1 or -1.
 * @example
 * ```ts
 * import { countLiveTensors } from "./memory.ts";
 * import { cpu } from "./cpu/device.ts";
 * countLiveTensors(cpu, 1);
 * countLiveTensors(cpu, -1);
 * ```
 */
export function countLiveTensors(device: Device, delta: number): void {
  liveTensors.set(device, (liveTensors.get(device) ?? 0) + delta);
}

/** Live tensors and bytes on one device. */
export interface MemoryInfo {
  /** Tensors not yet disposed. */
  tensors: number;
  /** Bytes in buffers held by live tensors (and device scratch). */
  bytes: number;
  /** Bytes the device holds from the system, cache included. */
  reservedBytes: number;
  /** Highest `bytes` since the device's last peak reset. */
  peakBytes: number;
}

/**
 * Live tensors and bytes per device, like `tf.memory()`.
 *
 * @returns One entry per device that ever held a tensor, keyed by device name.
 * @example
 * ```ts
 * import { memory } from "./memory.ts";
 * console.log(memory().cpu?.tensors);
 * ```
 */
export function memory(): Record<string, MemoryInfo> {
  const out: Record<string, MemoryInfo> = {};
  for (const [device, tensors] of liveTensors) {
    const m = device.memory();
    out[device.name] = {
      tensors,
      bytes: m.allocatedBytes,
      reservedBytes: m.reservedBytes,
      peakBytes: m.peakAllocatedBytes,
    };
  }
  return out;
}
