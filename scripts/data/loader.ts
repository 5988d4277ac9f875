/**
 * Mini-batches for training and evaluation: seeded, resumable shuffling, optional drop-last and
 * subset limit, and a per-sample transform pipeline.
 *
 * @module
 */

import { Generator } from "../../nn/random.ts";
import type { ImageDataset } from "./dataset.ts";
import type { SampleTransform } from "./transforms.ts";

/**
 * One mini-batch.
 *
 * @example
 * ```ts
 * import type { Batch } from "./loader.ts";
 * const sizeOf = (b: Batch): number => b.images.length / b.count;
 * ```
 */
export interface Batch {
  /** Transformed images, (count, 3, S, S). */
  images: Float32Array;
  /** Class indices, one per image. */
  labels: Int32Array;
  /** Number of images (the last batch may be short unless `dropLast`). */
  count: number;
}

/**
 * Options of {@linkcode BatchLoader}.
 *
 * @example
 * ```ts
 * import type { BatchLoaderOptions } from "./loader.ts";
 * import { testTransform } from "./transforms.ts";
 * const options: BatchLoaderOptions = {
 *   batchSize: 32,
 *   transform: testTransform({ height: 32, width: 32, imageSize: 32, mean: [0, 0, 0], std: [1, 1, 1] }),
 * };
 * ```
 */
export interface BatchLoaderOptions {
  /** Images per batch. */
  batchSize: number;
  /** Per-sample pipeline (its `size` is the output side). */
  transform: SampleTransform;
  /** Visit the samples in a fresh random order each epoch (default false). */
  shuffle?: boolean;
  /** Seed of the loader's generator (default 0); ignored when `generator` is given. */
  seed?: number;
  /** Generator for shuffling and augmentation (default: `new Generator(seed)`). */
  generator?: Generator;
  /** Skip the last batch when it would be short (default false). */
  dropLast?: boolean;
  /** Use only the first `limit` samples of the dataset (default: all). */
  limit?: number;
}

/**
 * Iterates a dataset in mini-batches. Each epoch visits every used sample exactly once. With
 * `shuffle`, the order is a Fisher-Yates permutation drawn from the loader's generator at the
 * start of the epoch; augmentations draw from the same generator, sample by sample. So an epoch
 * depends only on the generator state when it starts: save {@linkcode BatchLoader.getState} after
 * an epoch and {@linkcode BatchLoader.setState} it into a new loader to resume with the same next
 * epoch.
 *
 * @example
 * ```ts
 * import { BatchLoader } from "./loader.ts";
 * import { testTransform } from "./transforms.ts";
 * const dataset = {
 *   name: "tiny", images: new Uint8Array(5 * 3 * 4 * 4), labels: new Uint8Array(5), count: 5,
 *   channels: 3 as const, height: 4, width: 4, classes: ["a"],
 * };
 * const transform = testTransform({ height: 4, width: 4, imageSize: 4, mean: [0, 0, 0], std: [1, 1, 1] });
 * const loader = new BatchLoader(dataset, { batchSize: 2, transform, shuffle: true, seed: 1 });
 * for (const batch of loader.epoch()) console.log(batch.count); // 2, 2, 1
 * ```
 */
export class BatchLoader {
  /** The dataset read from. */
  readonly dataset: ImageDataset;
  /** Samples used per epoch (the dataset size, or `limit`). */
  readonly count: number;
  /** Images per batch. */
  readonly batchSize: number;
  readonly #transform: SampleTransform;
  readonly #shuffle: boolean;
  readonly #dropLast: boolean;
  readonly #rng: Generator;

  /**
   * Creates a loader; nothing is read until an epoch runs.
   *
   * @param dataset Images and labels.
   * @param options Batch size, transform, shuffling, seed, drop-last, limit.
   */
  constructor(dataset: ImageDataset, options: BatchLoaderOptions) {
    const { batchSize, limit = dataset.count } = options;
    if (!Number.isInteger(batchSize) || batchSize < 1) {
      throw new Error(`BatchLoader: batchSize must be a positive integer, got ${batchSize}`);
    }
    if (!Number.isInteger(limit) || limit < 1) {
      throw new Error(`BatchLoader: limit must be a positive integer, got ${limit}`);
    }
    this.dataset = dataset;
    this.count = Math.min(limit, dataset.count);
    this.batchSize = batchSize;
    this.#transform = options.transform;
    this.#shuffle = options.shuffle ?? false;
    this.#dropLast = options.dropLast ?? false;
    this.#rng = options.generator ?? new Generator(options.seed ?? 0);
  }

  /** Batches per epoch. */
  get length(): number {
    return this.#dropLast ? Math.floor(this.count / this.batchSize) : Math.ceil(this.count / this.batchSize);
  }

  /**
   * The generator state; taken between epochs it resumes the next epoch exactly.
   *
   * @returns A copy of the state.
   */
  getState(): number[] {
    return this.#rng.getState();
  }

  /**
   * Restores a state from {@linkcode BatchLoader.getState}.
   *
   * @param state The saved state.
   */
  setState(state: readonly number[]): void {
    this.#rng.setState(state);
  }

  /**
   * One pass over the samples. Batches are fresh arrays, safe to keep.
   *
   * @returns The batches of this epoch, in order.
   */
  *epoch(): IterableIterator<Batch> {
    const order = Int32Array.from({ length: this.count }, (_, i) => i);
    if (this.#shuffle) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = this.#rng.int(i + 1);
        const t = order[i];
        order[i] = order[j];
        order[j] = t;
      }
    }
    const { images, labels, channels, height, width } = this.dataset;
    const inLength = channels * height * width;
    const outLength = 3 * this.#transform.size * this.#transform.size;
    for (let b = 0; b < this.length; b++) {
      const count = Math.min(this.batchSize, this.count - b * this.batchSize);
      const batch: Batch = {
        images: new Float32Array(count * outLength),
        labels: new Int32Array(count),
        count,
      };
      for (let k = 0; k < count; k++) {
        const index = order[b * this.batchSize + k];
        this.#transform.apply(
          images.subarray(index * inLength, (index + 1) * inLength),
          this.#rng,
          batch.images.subarray(k * outLength, (k + 1) * outLength),
        );
        batch.labels[k] = labels[index];
      }
      yield batch;
    }
  }

  /**
   * Same as {@linkcode BatchLoader.epoch}.
   *
   * @returns The batches of one epoch.
   */
  [Symbol.iterator](): IterableIterator<Batch> {
    return this.epoch();
  }
}

/**
 * One epoch of batches from a new {@linkcode BatchLoader}.
 *
 * @param dataset Images and labels.
 * @param options Batch size, transform, shuffling, seed, drop-last, limit.
 * @returns The batches.
 * @example
 * ```ts
 * import { batches } from "./loader.ts";
 * import { testTransform } from "./transforms.ts";
 * const dataset = {
 *   name: "tiny", images: new Uint8Array(3 * 3 * 2 * 2), labels: new Uint8Array([0, 1, 0]), count: 3,
 *   channels: 3 as const, height: 2, width: 2, classes: ["a", "b"],
 * };
 * const transform = testTransform({ height: 2, width: 2, imageSize: 2, mean: [0, 0, 0], std: [1, 1, 1] });
 * for (const batch of batches(dataset, { batchSize: 2, transform })) console.log(batch.labels);
 * ```
 */
export function batches(dataset: ImageDataset, options: BatchLoaderOptions): IterableIterator<Batch> {
  return new BatchLoader(dataset, options).epoch();
}
