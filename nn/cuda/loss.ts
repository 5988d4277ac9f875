/**
 * Host side of the cross-entropy kernels (kernels/loss.cu): one warp per row. The targets are an
 * int32 device buffer the caller uploaded once (and checked: an index outside the row would read
 * another row); forward and backward read the same buffer.
 *
 * @module
 */

import type { CrossEntropyBackwardArgs, CrossEntropyForwardArgs } from "../device/kernels.ts";
import { type CudaBuffer, ptr } from "./buffer.ts";
import { checkCount } from "./elementwise.ts";
import { gridFor, type KernelLibrary } from "./launch.ts";

/** Four warps, one row each. */
const THREADS = 128;
const ROWS_PER_BLOCK = THREADS / 32;

function checkTargets(targets: CudaBuffer, batch: number): void {
  if (targets.dtype !== "int32" || targets.length < batch) {
    throw new Error(
      `crossEntropy(): targets must be an int32 buffer of at least ${batch} elements, ` +
        `got ${targets.dtype} of ${targets.length}; upload them with alloc(n, "int32") and write()`,
    );
  }
}

/**
 * Per-sample loss `-(1 - s) * logp[t] - s / C * sum_c logp[c]`.
 *
 * @param kernels Our kernels.
 * @param args Sizes, logits, int32 targets (device), smoothing, losses.
 * @example
 * ```ts
 * import { crossEntropyForward } from "./loss.ts";
 * // crossEntropyForward(kernels, { batch: 8, classes: 10, logits, targets, labelSmoothing: 0.1, losses });
 * ```
 */
export function crossEntropyForward(kernels: KernelLibrary, args: CrossEntropyForwardArgs<CudaBuffer>): void {
  const { batch, classes } = args;
  if (batch === 0) return;
  checkCount("crossEntropy", batch * classes);
  checkTargets(args.targets, batch);
  kernels.get("cross_entropy_forward").launch(gridFor(batch, ROWS_PER_BLOCK), THREADS, [
    ptr(args.logits),
    ptr(args.targets),
    ptr(args.losses),
    batch,
    classes,
    args.labelSmoothing,
  ]);
}

/**
 * `dlogits[i] = dLoss[i] * (softmax(logits[i]) - smoothed one-hot(t_i))`.
 *
 * @param kernels Our kernels.
 * @param args Sizes, logits, int32 targets (the forward's buffer), smoothing, dLoss, dlogits.
 * @example
 * ```ts
 * import { crossEntropyBackward } from "./loss.ts";
 * // crossEntropyBackward(kernels, { batch: 8, classes: 10, logits, targets, labelSmoothing: 0.1, dLoss, dlogits });
 * ```
 */
export function crossEntropyBackward(kernels: KernelLibrary, args: CrossEntropyBackwardArgs<CudaBuffer>): void {
  const { batch, classes } = args;
  if (batch === 0) return;
  checkCount("crossEntropyBackward", batch * classes);
  checkTargets(args.targets, batch);
  kernels.get("cross_entropy_backward").launch(gridFor(batch, ROWS_PER_BLOCK), THREADS, [
    ptr(args.logits),
    ptr(args.targets),
    ptr(args.dLoss),
    ptr(args.dlogits),
    batch,
    classes,
    args.labelSmoothing,
  ]);
}
