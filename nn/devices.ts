/**
 * Choosing devices: the default device, and device specs such as `"cpu"`, `"cuda"`, `"auto"`.
 *
 * @module
 */

import type { Device } from "./device.ts";
import { cpu } from "./cpu/device.ts";

let current: Device = cpu;

/**
 * The device new tensors go to when no device is given (the CPU unless changed).
 *
 * @returns The default device.
 * @example
 * ```ts
 * import { defaultDevice } from "./devices.ts";
 * console.log(defaultDevice().name); // "cpu"
 * ```
 */
export function defaultDevice(): Device {
  return current;
}

/**
 * Sets the device new tensors go to.
 *
 * @param device A device or a spec (`"cpu"`, `"cuda"`, `"auto"`).
 * @returns The device now in use.
 * @example
 * ```ts
 * import { setDefaultDevice } from "./devices.ts";
 * setDefaultDevice("cpu");
 * ```
 */
export function setDefaultDevice(device: Device | string): Device {
  current = resolveDevice(device);
  return current;
}

/**
 * Turns a device spec into a device.
 *
 * @param spec A device, or `"cpu"`.
 * @returns The device.
 * @throws When the spec names no available device.
 * @example
 * ```ts
 * import { resolveDevice } from "./devices.ts";
 * const d = resolveDevice("cpu");
 * ```
 */
export function resolveDevice(spec: Device | string): Device {
  if (typeof spec !== "string") return spec;
  if (spec === "cpu") return cpu;
  throw new Error(`Unknown device "${spec}"; use "cpu"`);
}
