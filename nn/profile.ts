/**
 * Time per kind of kernel (conv forward, batch norm, GEMM, ...), measured by wrapping a device's
 * methods. Every kernel of the Device interface has a kind (checked by the type of the table). On a queued device (CUDA) each timed call is bracketed by synchronisations, which
 * slows the run but attributes time correctly.
 *
 * @module
 */

import type { Device, KernelName, MemoryMethodName } from "./device.ts";

/** What a profile groups calls by. */
export type KernelKind =
  | "conv fwd"
  | "conv bwd-data"
  | "conv bwd-filter"
  | "batch norm"
  | "gemm"
  | "optimizer"
  | "activation"
  | "element-wise"
  | "reduce"
  | "copy"
  | "pool"
  | "softmax"
  | "loss"
  | "memory"
  | "transfer";

/** The kind of every kernel: a kernel added to the Device interface without one fails the type check. */
const KERNEL_KINDS: Readonly<Record<KernelName, KernelKind>> = {
  conv2dForward: "conv fwd",
  conv2dBackwardData: "conv bwd-data",
  conv2dBackwardFilter: "conv bwd-filter",
  batchNormTrain: "batch norm",
  batchNormInfer: "batch norm",
  batchNormBackward: "batch norm",
  gemm: "gemm",
  adamUpdate: "optimizer",
  sgdUpdate: "optimizer",
  unary: "activation",
  activationBackward: "activation",
  binary: "element-wise",
  affine: "element-wise",
  pow: "element-wise",
  axpy: "element-wise",
  sumTo: "reduce",
  copyBlocks: "copy",
  permute: "copy",
  maxPool2dForward: "pool",
  maxPool2dBackward: "pool",
  adaptiveAvgPool2dForward: "pool",
  adaptiveAvgPool2dBackward: "pool",
  softmaxForward: "softmax",
  softmaxBackward: "softmax",
  crossEntropyForward: "loss",
  crossEntropyBackward: "loss",
};

/** The kind of every memory method. */
const MEMORY_KINDS: Readonly<Record<MemoryMethodName, KernelKind>> = {
  copy: "copy",
  alloc: "memory",
  free: "memory",
  fill: "memory",
  write: "transfer",
  read: "transfer",
};

const KINDS: Readonly<Record<KernelName | MemoryMethodName, KernelKind>> = { ...KERNEL_KINDS, ...MEMORY_KINDS };

/** Accumulated time and calls of one kernel kind. */
export interface ProfileEntry {
  /** Kernel kind, e.g. "conv fwd". */
  kind: KernelKind;
  /** Milliseconds spent. */
  ms: number;
  /** Number of calls. */
  calls: number;
}

/** A running profile; call `stop()` to restore the device and `entries()` to read it. */
export interface Profiler {
  /** Entries sorted by time, largest first. */
  entries(): ProfileEntry[];
  /** Clears the counters (e.g. after warm-up). */
  reset(): void;
  /** Restores the device's methods. */
  stop(): void;
}

/**
 * Starts timing every kernel call of `device`.
 *
 * @param device The device to instrument (its methods are wrapped until `stop()`).
 * @returns The profiler.
 * @example
 * ```ts
 * import { profileDevice } from "./profile.ts";
 * import { cpu } from "./cpu/device.ts";
 * const profiler = profileDevice(cpu);
 * // ... run a training step ...
 * console.table(profiler.entries());
 * profiler.stop();
 * ```
 */
export function profileDevice(device: Device): Profiler {
  const totals = new Map<KernelKind, ProfileEntry>();
  const wrapped: [string, boolean, unknown][] = [];
  const queued = device.type !== "cpu";
  for (const [method, kind] of Object.entries(KINDS)) {
    const original: unknown = Reflect.get(device, method);
    if (typeof original !== "function") continue;
    const own = Object.hasOwn(device, method);
    Reflect.set(device, method, (...args: unknown[]) => {
      if (queued) device.synchronize();
      const start = performance.now();
      const result = original.apply(device, args);
      if (queued) device.synchronize();
      let entry = totals.get(kind);
      if (!entry) totals.set(kind, entry = { kind, ms: 0, calls: 0 });
      entry.ms += performance.now() - start;
      entry.calls++;
      return result;
    });
    wrapped.push([method, own, original]);
  }
  return {
    entries: () => [...totals.values()].sort((a, b) => b.ms - a.ms).map((e) => ({ ...e })),
    reset: () => totals.clear(),
    stop: () => {
      for (const [method, own, original] of wrapped) {
        if (own) Reflect.set(device, method, original);
        else Reflect.deleteProperty(device, method);
      }
    },
  };
}
