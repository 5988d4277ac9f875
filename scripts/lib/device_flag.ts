/**
 * Device choice for the scripts' `--device auto|cpu|cuda` flag.
 *
 * @module
 */

import { type Device, resolveDevice } from "../../mod.ts";
import { errorLine, UsageError } from "./args.ts";

/**
 * Checks a `--device` value without touching any hardware.
 *
 * @param spec The value as typed.
 * @returns The value.
 * @throws A {@linkcode UsageError} unless it is auto, cpu, cuda or cuda:0.
 * @example
 * ```ts
 * import { checkDeviceSpec } from "./device_flag.ts";
 * checkDeviceSpec("cuda"); // "cuda"
 * ```
 */
export function checkDeviceSpec(spec: string): string {
  if (!/^(auto|cpu|cuda(:0)?)$/.test(spec)) {
    throw new UsageError(`--device must be auto, cpu or cuda, got "${spec}"`);
  }
  return spec;
}

/**
 * The device for a `--device` value. `"auto"` is the GPU when CUDA works and the CPU otherwise;
 * where the library does not know `"auto"` yet, it is the CPU.
 *
 * @param spec `"auto"`, `"cpu"`, `"cuda"` or `"cuda:0"`.
 * @returns The device.
 * @throws An Error naming the flag when the device cannot be used (e.g. `--device cuda` without CUDA).
 * @example
 * ```ts
 * import { pickDevice } from "./device_flag.ts";
 * console.log(pickDevice("cpu").name); // "cpu"
 * ```
 */
export function pickDevice(spec: string): Device {
  try {
    return resolveDevice(spec);
  } catch (error) {
    if (spec === "auto" && /^Unknown device/.test(errorLine(error))) return resolveDevice("cpu");
    throw new Error(`--device ${spec}: ${errorLine(error)}`);
  }
}
