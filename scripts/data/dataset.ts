/**
 * The in-memory image dataset every loader returns and every transform reads.
 *
 * @module
 */

/**
 * A split of an image classification dataset, stored as bytes.
 *
 * @example
 * ```ts
 * import type { ImageDataset } from "./dataset.ts";
 * const tiny: ImageDataset = {
 *   name: "tiny",
 *   images: new Uint8Array(2 * 3 * 4 * 4),
 *   labels: new Uint8Array([0, 1]),
 *   count: 2,
 *   channels: 3,
 *   height: 4,
 *   width: 4,
 *   classes: ["a", "b"],
 * };
 * ```
 */
export interface ImageDataset {
  /** Dataset name, such as `"cifar10"` or `"digits"` (the same for both splits). */
  name: string;
  /** Pixels, (N, 3, H, W) in CHW order, 0..255. */
  images: Uint8Array;
  /** Class indices into `classes`, one per image. */
  labels: Uint8Array;
  /** Number of images N. */
  count: number;
  /** Always 3 (grayscale sources are repeated over the channels). */
  channels: 3;
  /** Image height H. */
  height: number;
  /** Image width W. */
  width: number;
  /** Class names. */
  classes: string[];
}

/**
 * The train and test splits of a dataset.
 *
 * @example
 * ```ts
 * import type { DatasetSplits } from "./dataset.ts";
 * const describe = (s: DatasetSplits): string => `${s.train.count} train, ${s.test.count} test`;
 * ```
 */
export interface DatasetSplits {
  /** Training split. */
  train: ImageDataset;
  /** Test split. */
  test: ImageDataset;
}

/**
 * Per-channel mean and standard deviation used to normalise inputs.
 *
 * @example
 * ```ts
 * import type { Normalization } from "./dataset.ts";
 * const identity: Normalization = { mean: [0, 0, 0], std: [1, 1, 1] };
 * ```
 */
export interface Normalization {
  /** Mean of each channel, on the 0..1 scale. */
  mean: readonly [number, number, number];
  /** Standard deviation of each channel, on the 0..1 scale. */
  std: readonly [number, number, number];
}
