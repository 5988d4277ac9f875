/**
 * Batches on the host, as data loaders hand them out, and their upload to a device.
 *
 * @module
 */

import type { Device } from "../device.ts";
import { tensor } from "../creation.ts";
import type { Tensor } from "../tensor.ts";

/**
 * A batch of images and labels in host memory.
 *
 * @example
 * ```ts
 * import type { HostBatch } from "./batches.ts";
 * const batch: HostBatch = { images: new Float32Array(2 * 3 * 8 * 8), labels: new Int32Array([0, 1]), count: 2 };
 * ```
 */
export interface HostBatch {
  /** (count, C, H, W) pixels, row-major. */
  images: Float32Array;
  /** Class indices, one per image. */
  labels: Int32Array;
  /** Images in the batch. */
  count: number;
}

/**
 * Anything that hands out the batches of an epoch (the scripts' `BatchLoader`, an array's wrapper).
 *
 * @example
 * ```ts
 * import type { BatchSource, HostBatch } from "./batches.ts";
 * const fixed = (batches: HostBatch[]): BatchSource => ({ length: batches.length, epoch: () => batches });
 * ```
 */
export interface BatchSource {
  /** Batches per epoch. */
  readonly length: number;
  /** The batches of the next epoch, in order. */
  epoch(): Iterable<HostBatch>;
}

/**
 * Uploads a batch's images as a (count, C, H, W) tensor.
 *
 * @param batch The batch.
 * @param imageShape [C, H, W] of one image.
 * @param device Where the tensor goes.
 * @returns The images; the caller disposes them (or runs inside `tidy`).
 * @example
 * ```ts
 * import { batchImages } from "./batches.ts";
 * import { cpu } from "../cpu/device.ts";
 * const images = batchImages({ images: new Float32Array(3 * 4 * 4), labels: new Int32Array([0]), count: 1 }, [3, 4, 4], cpu);
 * console.log(images.shape); // [1, 3, 4, 4]
 * ```
 */
export function batchImages(batch: HostBatch, imageShape: readonly number[], device: Device): Tensor {
  return tensor(batch.images, [batch.count, ...imageShape], { device }); // (B, C, H, W)
}

/**
 * Lets pending callbacks (signal listeners, timers) run before a long loop continues.
 *
 * @returns A promise that resolves on the next macrotask.
 * @example
 * ```ts
 * import { yieldToEventLoop } from "./batches.ts";
 * for (let step = 0; step < 3; step++) await yieldToEventLoop();
 * ```
 */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}
