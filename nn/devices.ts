/**
 * Choosing devices: the default device, and device specs such as `"cpu"`, `"cuda"`, `"auto"`.
 *
 * @module
 */

import { LibraryNotFoundError } from "../ffi/load.ts";
import { noticeOnce } from "../ffi/notice.ts";
import type { Device } from "./device.ts";
import { cpu } from "./cpu/device.ts";
import { cudaDevice } from "./cuda/device.ts";

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
 * @param spec A device, `"cpu"`, `"cuda"` / `"cuda:0"` (the GPU; throws when CUDA is unavailable),
 * or `"auto"` (the GPU when CUDA works, else the CPU, saying why on stderr once; an
 * `EPSANET_CUDA_LIBS` that cannot be used throws).
 * @returns The device.
 * @throws When the spec names no available device.
 * @example
 * ```ts
 * import { resolveDevice } from "./devices.ts";
 * const d = resolveDevice("auto");
 * ```
 */
export function resolveDevice(spec: Device | string): Device {
  if (typeof spec !== "string") return spec;
  if (spec === "cpu") return cpu;
  if (spec === "cuda" || spec === "cuda:0") return cudaDevice();
  if (spec === "auto") return autoDevice();
  throw new Error(`Unknown device "${spec}"; use "cpu", "cuda", "cuda:0" or "auto"`);
}

let cudaState: { available: boolean; reason: string; error: unknown } | undefined;

function probeCuda(): { available: boolean; reason: string; error: unknown } {
  if (cudaState === undefined) {
    try {
      cudaDevice();
      cudaState = { available: true, reason: "", error: undefined };
    } catch (error) {
      const summary = error instanceof LibraryNotFoundError ? error.summary : undefined;
      const message = error instanceof Error ? error.message : String(error);
      cudaState = { available: false, reason: summary ?? message.split("\n")[0], error };
    }
  }
  return cudaState;
}

function autoDevice(): Device {
  const { available, reason, error } = probeCuda();
  if (available) return cudaDevice();
  // An explicit EPSANET_CUDA_LIBS that cannot be used is the user's mistake, not a reason to fall back.
  if (error instanceof LibraryNotFoundError && error.variable !== undefined) throw error;
  noticeOnce(
    "CUDA",
    `CUDA unavailable (${reason}); using the CPU`,
    error instanceof LibraryNotFoundError ? error.tried : [],
  );
  return cpu;
}

/**
 * Whether the CUDA device can be used here (libraries found, driver and GPU working). Computed
 * once; never throws.
 *
 * @returns `true` when `resolveDevice("cuda")` would succeed.
 * @example
 * ```ts
 * import { cudaAvailable } from "./devices.ts";
 * console.log(cudaAvailable() ? "GPU" : "CPU only");
 * ```
 */
export function cudaAvailable(): boolean {
  return probeCuda().available;
}
