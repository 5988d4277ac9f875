/**
 * The networks by name, for scripts and command lines.
 *
 * @module
 */

import type { BottleneckNet, NetworkOptions } from "./bottleneck.ts";
import { epsanet101, epsanet50 } from "./epsanet.ts";
import { resnet50 } from "./resnet.ts";

/** Names accepted by {@linkcode createModel}. */
export const MODEL_NAMES: readonly ["epsanet50", "epsanet101", "resnet50"] = [
  "epsanet50",
  "epsanet101",
  "resnet50",
];

/** One of {@linkcode MODEL_NAMES}. */
export type ModelName = typeof MODEL_NAMES[number];

/**
 * Whether `name` is a known model.
 *
 * @param name A string from a command line.
 * @returns True for "epsanet50", "epsanet101" and "resnet50".
 * @example
 * ```ts
 * import { isModelName } from "./models.ts";
 * isModelName("resnet50"); // true
 * ```
 */
export function isModelName(name: string): name is ModelName {
  return (MODEL_NAMES as readonly string[]).includes(name);
}

/**
 * Builds a network by name.
 *
 * @param name "epsanet50", "epsanet101" or "resnet50".
 * @param options numClasses, stem.
 * @returns The network, in train mode, on the default device.
 * @example
 * ```ts
 * import { createModel } from "./models.ts";
 * const net = createModel("epsanet50", { numClasses: 10, stem: "cifar" });
 * ```
 */
export function createModel(name: ModelName, options: NetworkOptions = {}): BottleneckNet {
  switch (name) {
    case "epsanet50":
      return epsanet50(options);
    case "epsanet101":
      return epsanet101(options);
    case "resnet50":
      return resnet50(options);
  }
  throw new Error(`Unknown model "${name}"; use one of ${MODEL_NAMES.join(", ")}`);
}
