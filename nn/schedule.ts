/**
 * Learning-rate schedules, stepped once per epoch, with PyTorch's closed forms.
 *
 * @module
 */

import type { Optimizer } from "./optim.ts";

/**
 * Base class: remembers the initial lr and the epoch count, and sets `optimizer.lr`.
 *
 * @example
 * ```ts
 * import { StepLR } from "./schedule.ts";
 * // const schedule = new StepLR(optimizer, { stepSize: 30 }); each epoch: schedule.step();
 * ```
 */
export abstract class LrSchedule {
  /** The optimiser whose lr is set. */
  readonly optimizer: Optimizer;
  /** The lr at construction. */
  readonly baseLr: number;
  /** Epochs stepped so far. */
  epoch = 0;

  /**
   * Takes the optimiser's current lr as the base lr.
   *
   * @param optimizer The optimiser to drive.
   */
  constructor(optimizer: Optimizer) {
    this.optimizer = optimizer;
    this.baseLr = optimizer.lr;
  }

  /**
   * The lr for an epoch.
   *
   * @param epoch Epochs completed.
   */
  abstract lrAt(epoch: number): number;

  /** Advances one epoch and sets the optimiser's lr. */
  step(): void {
    this.epoch++;
    this.optimizer.lr = this.lrAt(this.epoch);
  }

  /**
   * Jumps to an epoch (used when resuming).
   *
   * @param epoch Epochs completed.
   */
  setEpoch(epoch: number): void {
    this.epoch = epoch;
    this.optimizer.lr = this.lrAt(epoch);
  }
}

/**
 * Multiplies the lr by `gamma` every `stepSize` epochs, like `torch.optim.lr_scheduler.StepLR`.
 *
 * @example
 * ```ts
 * import { StepLR } from "./schedule.ts";
 * import { SGD } from "./optim.ts";
 * import { tensor } from "./creation.ts";
 * const opt = new SGD([tensor([1], [1], { requiresGrad: true })], { lr: 1 });
 * const s = new StepLR(opt, { stepSize: 2, gamma: 0.5 });
 * s.step(); s.step(); // opt.lr === 0.5
 * ```
 */
export class StepLR extends LrSchedule {
  /** Epochs between decays. */
  readonly stepSize: number;
  /** Decay factor. */
  readonly gamma: number;

  /**
   * Creates the schedule; the optimiser's current lr is the base lr.
   *
   * @param optimizer The optimiser.
   * @param options stepSize, gamma (default 0.1).
   */
  constructor(optimizer: Optimizer, options: { stepSize: number; gamma?: number }) {
    super(optimizer);
    if (!Number.isInteger(options.stepSize) || options.stepSize < 1) {
      throw new Error(`StepLR: stepSize must be a positive integer, got ${options.stepSize}`);
    }
    this.stepSize = options.stepSize;
    this.gamma = options.gamma ?? 0.1;
  }

  /** The learning rate after `epoch` epochs. */
  lrAt(epoch: number): number {
    return this.baseLr * Math.pow(this.gamma, Math.floor(epoch / this.stepSize));
  }
}

/**
 * Cosine annealing from the base lr to `etaMin` over `tMax` epochs, like
 * `torch.optim.lr_scheduler.CosineAnnealingLR` (its closed form).
 *
 * @example
 * ```ts
 * import { CosineAnnealingLR } from "./schedule.ts";
 * import { SGD } from "./optim.ts";
 * import { tensor } from "./creation.ts";
 * const opt = new SGD([tensor([1], [1], { requiresGrad: true })], { lr: 1 });
 * const s = new CosineAnnealingLR(opt, { tMax: 2 });
 * s.step(); // opt.lr === 0.5
 * ```
 */
export class CosineAnnealingLR extends LrSchedule {
  /** Epochs of one half cosine. */
  readonly tMax: number;
  /** Final lr. */
  readonly etaMin: number;

  /**
   * Creates the schedule; the optimiser's current lr is the base lr.
   *
   * @param optimizer The optimiser.
   * @param options tMax, etaMin (default 0).
   */
  constructor(optimizer: Optimizer, options: { tMax: number; etaMin?: number }) {
    super(optimizer);
    if (!Number.isInteger(options.tMax) || options.tMax < 1) {
      throw new Error(`CosineAnnealingLR: tMax must be a positive integer, got ${options.tMax}`);
    }
    this.tMax = options.tMax;
    this.etaMin = options.etaMin ?? 0;
  }

  /** The learning rate after `epoch` epochs. */
  lrAt(epoch: number): number {
    return this.etaMin + ((this.baseLr - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}
