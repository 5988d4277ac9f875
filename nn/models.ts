/**
 * The networks by name, for scripts and command lines.
 *
 * @module
 */

import type { BottleneckNet, NetworkOptions, Stem } from "./bottleneck.ts";
import { epsanet101, epsanet50 } from "./epsanet.ts";
import { resnet50 } from "./resnet.ts";

/**
 * Names accepted by {@linkcode createModel}.
 *
 * @example
 * ```ts
 * import { MODEL_NAMES } from "./models.ts";
 * console.log(MODEL_NAMES.join(", ")); // "epsanet50, epsanet101, resnet50"
 * ```
 */
export const MODEL_NAMES: readonly ["epsanet50", "epsanet101", "resnet50"] = [
  "epsanet50",
  "epsanet101",
  "resnet50",
];

/** One of {@linkcode MODEL_NAMES}. */
export type ModelName = typeof MODEL_NAMES[number];

/**
 * Any network {@linkcode createModel} builds: the ResNet-style skeleton every model extends.
 *
 * @example
 * ```ts
 * import { createModel, type Model } from "./models.ts";
 * const net: Model = createModel("resnet50", { numClasses: 10 });
 * ```
 */
export type Model = BottleneckNet;

/**
 * Stems of the networks: `imagenet` (7x7/2 conv + max pool) or `cifar` (3x3/1 conv, no pool).
 *
 * @example
 * ```ts
 * import { STEM_NAMES } from "./models.ts";
 * console.log(STEM_NAMES.join(" | ")); // "imagenet | cifar"
 * ```
 */
export const STEM_NAMES: readonly ["imagenet", "cifar"] = ["imagenet", "cifar"] as const satisfies readonly Stem[];

/**
 * Whether `name` is a known stem.
 *
 * @param name A string from a command line or a checkpoint.
 * @returns True for "imagenet" and "cifar".
 * @example
 * ```ts
 * import { isStemName } from "./models.ts";
 * isStemName("cifar"); // true
 * ```
 */
export function isStemName(name: string): name is Stem {
  return (STEM_NAMES as readonly string[]).includes(name);
}

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
export function createModel(name: ModelName, options: NetworkOptions = {}): Model {
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
