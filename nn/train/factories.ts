/**
 * Optimisers and learning-rate schedules by name, beside `createModel`: the name lists that
 * command lines offer, their type guards, and factories that build them from plain options.
 *
 * @module
 */

import { Adam, type Optimizer, SGD } from "../optim.ts";
import { CosineAnnealingLR, type LrSchedule, StepLR } from "../schedule.ts";
import type { Tensor } from "../tensor.ts";

/**
 * Names accepted by {@linkcode createOptimizer}.
 *
 * @example
 * ```ts
 * import { OPTIMIZER_NAMES } from "./factories.ts";
 * console.log(OPTIMIZER_NAMES.join(" | ")); // "adam | sgd"
 * ```
 */
export const OPTIMIZER_NAMES: readonly ["adam", "sgd"] = ["adam", "sgd"];

/** One of {@linkcode OPTIMIZER_NAMES}. */
export type OptimizerName = typeof OPTIMIZER_NAMES[number];

/**
 * Names accepted by {@linkcode createSchedule}: `none` keeps the lr, `step` multiplies it by
 * `gamma` every `stepSize` epochs, `cosine` anneals it to 0 over the run, updated every step.
 *
 * @example
 * ```ts
 * import { SCHEDULE_NAMES } from "./factories.ts";
 * console.log(SCHEDULE_NAMES.join(" | ")); // "none | step | cosine"
 * ```
 */
export const SCHEDULE_NAMES: readonly ["none", "step", "cosine"] = ["none", "step", "cosine"];

/** One of {@linkcode SCHEDULE_NAMES}. */
export type ScheduleName = typeof SCHEDULE_NAMES[number];

/**
 * Whether `name` is a known optimiser.
 *
 * @param name A string from a command line or a saved config.
 * @returns True for the names of {@linkcode OPTIMIZER_NAMES}.
 * @example
 * ```ts
 * import { isOptimizerName } from "./factories.ts";
 * isOptimizerName("sgd"); // true
 * ```
 */
export function isOptimizerName(name: string): name is OptimizerName {
  return (OPTIMIZER_NAMES as readonly string[]).includes(name);
}

/**
 * Whether `name` is a known learning-rate schedule.
 *
 * @param name A string from a command line or a saved config.
 * @returns True for the names of {@linkcode SCHEDULE_NAMES}.
 * @example
 * ```ts
 * import { isScheduleName } from "./factories.ts";
 * isScheduleName("cosine"); // true
 * ```
 */
export function isScheduleName(name: string): name is ScheduleName {
  return (SCHEDULE_NAMES as readonly string[]).includes(name);
}

/**
 * Options of {@linkcode createOptimizer}.
 *
 * @example
 * ```ts
 * import type { OptimizerOptions } from "./factories.ts";
 * const options: OptimizerOptions = { lr: 0.1, momentum: 0.9, weightDecay: 5e-4 };
 * ```
 */
export interface OptimizerOptions {
  /** Learning rate. */
  lr: number;
  /** SGD momentum (default 0; SGD only). */
  momentum?: number;
  /** L2 weight decay (default 0). */
  weightDecay?: number;
}

/**
 * Builds an optimiser by name: `adam` is {@linkcode Adam} (L2 weight decay added to the gradient),
 * `sgd` is {@linkcode SGD} with optional momentum.
 *
 * @param name One of {@linkcode OPTIMIZER_NAMES}.
 * @param params The parameters to optimise (such as `model.parameters()`).
 * @param options lr, momentum (SGD), weightDecay.
 * @returns The optimiser.
 * @throws An Error for an unknown name or when momentum is given to Adam.
 * @example
 * ```ts
 * import { createOptimizer } from "./factories.ts";
 * import { tensor } from "../creation.ts";
 * const optimizer = createOptimizer("sgd", [tensor([1], [1], { requiresGrad: true })], { lr: 0.1, momentum: 0.9 });
 * ```
 */
export function createOptimizer(name: OptimizerName, params: Iterable<Tensor>, options: OptimizerOptions): Optimizer {
  const weightDecay = options.weightDecay ?? 0;
  switch (name) {
    case "sgd":
      return new SGD(params, { lr: options.lr, momentum: options.momentum ?? 0, weightDecay });
    case "adam":
      if (options.momentum !== undefined) throw new Error("createOptimizer(): momentum applies to sgd only");
      return new Adam(params, { lr: options.lr, weightDecay });
  }
  throw new Error(`Unknown optimizer "${name}"; use one of ${OPTIMIZER_NAMES.join(", ")}`);
}

/**
 * Options of {@linkcode createSchedule}.
 *
 * @example
 * ```ts
 * import type { ScheduleOptions } from "./factories.ts";
 * const options: ScheduleOptions = { epochs: 30, stepSize: 10, gamma: 0.1 };
 * ```
 */
export interface ScheduleOptions {
  /** Epochs of the run (cosine anneals over them). */
  epochs: number;
  /** Step schedule: epochs between decays (default 1). */
  stepSize?: number;
  /** Step schedule: decay factor (default 0.1). */
  gamma?: number;
}

/**
 * Builds a learning-rate schedule by name for an optimiser (its current lr is the base lr).
 *
 * @param name One of {@linkcode SCHEDULE_NAMES}.
 * @param optimizer The optimiser whose lr the schedule sets.
 * @param options epochs, stepSize and gamma (step only).
 * @returns The schedule, or null for `none`.
 * @throws An Error for an unknown name.
 * @example
 * ```ts
 * import { createOptimizer, createSchedule } from "./factories.ts";
 * import { tensor } from "../creation.ts";
 * const optimizer = createOptimizer("adam", [tensor([1], [1], { requiresGrad: true })], { lr: 1e-3 });
 * const schedule = createSchedule("cosine", optimizer, { epochs: 10 });
 * schedule?.setEpoch(5); // optimizer.lr === 5e-4
 * ```
 */
export function createSchedule(name: ScheduleName, optimizer: Optimizer, options: ScheduleOptions): LrSchedule | null {
  switch (name) {
    case "none":
      return null;
    case "step":
      return new StepLR(optimizer, { stepSize: options.stepSize ?? 1, gamma: options.gamma ?? 0.1 });
    case "cosine":
      return new CosineAnnealingLR(optimizer, { tMax: options.epochs });
  }
  throw new Error(`Unknown schedule "${name}"; use one of ${SCHEDULE_NAMES.join(", ")}`);
}

/**
 * Where a schedule stands at a run's position, in epochs: cosine moves every step (fractional
 * epochs), step once per epoch. It depends only on the position, so resuming needs no state.
 *
 * @param name The schedule.
 * @param position Optimiser steps taken, batches per epoch, epochs completed.
 * @returns The epoch to pass to `LrSchedule.setEpoch`.
 * @example
 * ```ts
 * import { scheduleEpoch } from "./factories.ts";
 * scheduleEpoch("cosine", { step: 15, batchesPerEpoch: 10, epochsDone: 1 }); // 1.5
 * scheduleEpoch("step", { step: 15, batchesPerEpoch: 10, epochsDone: 1 }); // 1
 * ```
 */
export function scheduleEpoch(
  name: ScheduleName,
  position: { step: number; batchesPerEpoch: number; epochsDone: number },
): number {
  return name === "cosine" ? position.step / position.batchesPerEpoch : position.epochsDone;
}
