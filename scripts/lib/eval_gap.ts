/**
 * The warning for an eval accuracy far below the training accuracy, the signature of batch-norm
 * running statistics that lag the weights after a short run (PyTorch shows the same).
 *
 * @module
 */

/** Train top-1 minus test top-1 (fractions) above which the warning is printed. */
export const EVAL_GAP_WARNING = 0.3;

/**
 * One warning line when test top-1 is far below train top-1, else null.
 *
 * @param trainTop1 Training top-1 of the epoch (train mode), a fraction.
 * @param testTop1 Test top-1 (eval mode), a fraction.
 * @param steps Optimiser steps taken so far.
 * @returns A line starting with `warning:`, or null.
 * @example
 * ```ts
 * import { evalGapWarning } from "./eval_gap.ts";
 * console.log(evalGapWarning(0.77, 0.1, 32)); // "warning: test top-1 10.00% is far below ..."
 * ```
 */
export function evalGapWarning(trainTop1: number, testTop1: number, steps: number): string | null {
  if (!(trainTop1 - testTop1 > EVAL_GAP_WARNING)) return null;
  return `warning: test top-1 ${(100 * testTop1).toFixed(2)}% is far below train top-1 ${
    (100 * trainTop1).toFixed(2)
  }% after ${steps} steps; batch-norm running statistics may lag the weights in a short run (train longer, ` +
    `or lower the learning rate)`;
}
