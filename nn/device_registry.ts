/**
 * The device registry: the default device, and device specs such as `"cpu"`, `"cuda"`, `"auto"`.
 *
 * The CPU device is always here and is the default. Other devices register themselves when their
 * module is imported (nn/cuda/register.ts registers `"cuda"`; mod.ts imports it), so a program
 * that only needs the CPU never loads the CUDA module graph.
 *
 * @module
 */

import { LibraryNotFoundError } from "../ffi/load.ts";
import { noticeOnce } from "../ffi/notice.ts";
import type { Device } from "./device.ts";
import { cpu } from "./cpu/device.ts";

/** Opens a registered device; throws an Error with a one-line message when it cannot be used. */
export type DeviceOpener = () => Device;

const openers = new Map<string, DeviceOpener>();
let current: Device = cpu;

/**
 * Makes a device kind known to {@linkcode resolveDevice}: `kind` and `kind:0` then open it, and
 * `"auto"` tries it (for `"cuda"`) before the CPU.
 *
 * @param kind The spec that names the device (`"cuda"`).
 * @param open Returns the device, or throws a one-line Error saying why it is unavailable.
 * @example
 * ```ts
 * import { registerDevice, resolveDevice } from "./device_registry.ts";
 * import { cpu } from "./cpu/device.ts";
 * registerDevice("host", () => cpu);
 * resolveDevice("host:0"); // cpu
 * ```
 */
export function registerDevice(kind: string, open: DeviceOpener): void {
  openers.set(kind, open);
  if (kind === "cuda") cudaState = undefined;
}

/**
 * The device new tensors go to when no device is given (the CPU unless changed).
 *
 * @returns The default device.
 * @example
 * ```ts
 * import { defaultDevice } from "./device_registry.ts";
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
 * import { setDefaultDevice } from "./device_registry.ts";
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
 * @param spec A device, `"cpu"`, `"cuda"` / `"cuda:0"` (the GPU; throws when CUDA is unavailable
 * or its module is not imported), or `"auto"` (the GPU when CUDA works, else the CPU, saying why
 * on stderr once; an `EPSANET_CUDA_LIBS` that cannot be used throws).
 * @returns The device.
 * @throws When the spec names no available device.
 * @example
 * ```ts
 * import { resolveDevice } from "./device_registry.ts";
 * const d = resolveDevice("auto");
 * ```
 */
export function resolveDevice(spec: Device | string): Device {
  if (typeof spec !== "string") return spec;
  if (spec === "cpu") return cpu;
  if (spec === "auto") return autoDevice();
  const kind = spec.endsWith(":0") ? spec.slice(0, -2) : spec;
  const open = openers.get(kind);
  if (open !== undefined) return open();
  if (kind === "cuda") throw new Error(CUDA_NOT_LOADED);
  throw new Error(`Unknown device "${spec}"; use "cpu", "cuda", "cuda:0" or "auto"`);
}

const CUDA_NOT_LOADED = 'The CUDA device is not loaded; import mod.ts or nn/cuda/register.ts before asking for "cuda"';

let cudaState: { available: boolean; reason: string; error: unknown } | undefined;

function probeCuda(): { available: boolean; reason: string; error: unknown } {
  if (cudaState === undefined) {
    const open = openers.get("cuda");
    try {
      if (open === undefined) throw new Error(CUDA_NOT_LOADED);
      open();
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
  if (available) return openers.get("cuda")!();
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
 * Whether the CUDA device can be used here (its module imported, libraries found, driver and GPU
 * working). Computed once; never throws.
 *
 * @returns `true` when `resolveDevice("cuda")` would succeed.
 * @example
 * ```ts
 * import { cudaAvailable } from "./device_registry.ts";
 * console.log(cudaAvailable() ? "GPU" : "CPU only");
 * ```
 */
export function cudaAvailable(): boolean {
  return probeCuda().available;
}
