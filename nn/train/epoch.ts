/**
 * One training epoch over host batches, resumable mid-epoch: the loop around
 * {@linkcode trainStep} with hooks before and after each step, an abort signal checked between
 * steps, and a stop on a NaN or infinite loss.
 *
 * @module
 */

import type { Device } from "../device.ts";
import type { Module } from "../module.ts";
import type { Optimizer } from "../optim.ts";
import { tidy } from "../scope.ts";
import { batchImages, type HostBatch, yieldToEventLoop } from "./batches.ts";
import { trainStep } from "./step.ts";

/**
 * One finished step of {@linkcode trainEpoch}.
 *
 * @example
 * ```ts
 * import type { EpochStep } from "./epoch.ts";
 * const imagesPerSecond = (s: EpochStep): number => s.count / (s.ms / 1000);
 * ```
 */
export interface EpochStep {
  /** Batch within the epoch, 1-based. */
  batch: number;
  /** Optimiser steps taken in all, this one included. */
  step: number;
  /** The batch's mean loss. */
  loss: number;
  /** The batch's top-1 hits. */
  correct: number;
  /** Images in the batch. */
  count: number;
  /** Wall time since the previous step ended (data, forward, backward, update), in ms. */
  ms: number;
  /** `performance.now()` at the end of the step. */
  now: number;
}

/**
 * Options of {@linkcode trainEpoch}.
 *
 * @example
 * ```ts
 * import type { TrainEpochOptions } from "./epoch.ts";
 * const hooks: Partial<TrainEpochOptions> = { afterStep: (s) => console.log(s.step, s.loss) };
 * ```
 */
export interface TrainEpochOptions {
  /** The network, in train mode, on `device`. */
  model: Module;
  /** The optimiser of the model's parameters. */
  optimizer: Optimizer;
  /** The epoch's batches, in order. */
  batches: Iterable<HostBatch>;
  /** [C, H, W] of one image. */
  imageShape: readonly number[];
  /** Where the batches go. */
  device: Device;
  /** The epoch, 1-based (for messages). */
  epoch: number;
  /** Optimiser steps taken before this call. */
  step: number;
  /** Batches of this epoch already trained: drawn (so a shuffling source replays its random draws) but skipped. */
  skip?: number;
  /** Label smoothing of the loss (default 0). */
  labelSmoothing?: number;
  /** Checked before each step; when aborted, the epoch returns early. */
  signal?: AbortSignal;
  /** Called before each step (e.g. to set the lr); `batch` and `step` are those of the coming step. */
  beforeStep?: (next: { batch: number; step: number }) => void;
  /** Called after each step. */
  afterStep?: (done: EpochStep) => void | Promise<void>;
}

/**
 * The loss became NaN or infinite; the step that saw it made no update.
 *
 * @example
 * ```ts
 * import { NonFiniteLossError } from "./epoch.ts";
 * const error = new NonFiniteLossError({ loss: NaN, epoch: 1, batch: 3, step: 3, lr: 0.1 });
 * console.log(error.message); // "Loss became NaN at epoch 1, batch 3 (step 3, lr 0.1); lower the learning rate"
 * ```
 */
export class NonFiniteLossError extends Error {
  /** Where it happened: `Loss became NaN at epoch 1, batch 3 (step 3, lr 0.1)`. */
  readonly where: string;

  /**
   * Describes where the loss went bad.
   *
   * @param at The loss, its epoch, batch, step and the learning rate then.
   */
  constructor(at: { loss: number; epoch: number; batch: number; step: number; lr: number }) {
    const where = `Loss became ${at.loss} at epoch ${at.epoch}, batch ${at.batch} (step ${at.step}, lr ${at.lr})`;
    super(`${where}; lower the learning rate`);
    this.name = "NonFiniteLossError";
    this.where = where;
  }
}

/**
 * Trains one epoch (or what is left of it): for each batch after `skip`, one
 * {@linkcode trainStep}, then `afterStep`, then a yield to the event loop so that a Ctrl-C
 * listener can abort `signal`.
 *
 * @param options Model, optimiser, batches, position, hooks.
 * @returns Batches of the epoch done (skipped ones included) and optimiser steps taken in all.
 * @throws A {@linkcode NonFiniteLossError} when a loss is NaN or infinite (that step made no update).
 * @example
 * ```ts
 * import { trainEpoch } from "./epoch.ts";
 * import { createOptimizer } from "./factories.ts";
 * import { createModel } from "../models.ts";
 * import { cpu } from "../cpu/device.ts";
 * const model = createModel("resnet50", { numClasses: 2, stem: "cifar" });
 * const optimizer = createOptimizer("sgd", model.parameters(), { lr: 0.01 });
 * const batch = { images: new Float32Array(2 * 3 * 8 * 8), labels: new Int32Array([0, 1]), count: 2 };
 * const { step } = await trainEpoch({ model, optimizer, batches: [batch, batch], imageShape: [3, 8, 8], device: cpu, epoch: 1, step: 0 });
 * ```
 */
export async function trainEpoch(options: TrainEpochOptions): Promise<{ batchesDone: number; step: number }> {
  const { model, optimizer, imageShape, device } = options;
  const skip = options.skip ?? 0;
  let batchesDone = 0;
  let step = options.step;
  let last = performance.now();
  for (const batch of options.batches) {
    if (batchesDone < skip) {
      batchesDone++; // replays the source's random draws up to where an earlier run stopped
      if (batchesDone === skip) last = performance.now();
      continue;
    }
    if (options.signal?.aborted) break;
    options.beforeStep?.({ batch: batchesDone + 1, step: step + 1 });
    const { loss, correct } = tidy(() =>
      trainStep(model, optimizer, batchImages(batch, imageShape, device), batch.labels, {
        labelSmoothing: options.labelSmoothing,
      })
    );
    if (!Number.isFinite(loss)) {
      throw new NonFiniteLossError({
        loss,
        epoch: options.epoch,
        batch: batchesDone + 1,
        step: step + 1,
        lr: optimizer.lr,
      });
    }
    batchesDone++;
    step++;
    const now = performance.now();
    const ms = now - last;
    last = now;
    await options.afterStep?.({ batch: batchesDone, step, loss, correct, count: batch.count, ms, now });
    await yieldToEventLoop();
  }
  return { batchesDone, step };
}
